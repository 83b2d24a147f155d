//! `sweep.html`: the page for a parameter sweep, built from the same pieces as `report.html`.

use super::{CSS, esc};
use crate::output::charts::{self, ChartError};
use crate::run::metrics::Metric;
use std::fmt::Write as _;

/// `sweep.html`: the speedup of every paired metric along the swept parameters, with the
/// crossovers named; self-contained like `report.html`.
pub fn sweep_html(r: &crate::output::sweep::SweepReport) -> Result<String, ChartError> {
    let keys: Vec<&str> = r.axes.iter().map(|a| a.axis.key.as_str()).collect();
    let title = format!("{}: sweep of {}", r.scenario, keys.join(" × "));
    let (b, a) = (esc(&r.baseline), esc(&r.candidate));
    let mut page = String::with_capacity(128 * 1024);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n\
         <title>{t}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n<h1>{t}</h1>\n\
         <p class=\"facts\">Speedup of {a} over {b}: {b}'s value divided by {a}'s, per \
         session, averaged ({} sessions per step, seed {}, the same draws at every step). Above \
         1×, {a} is lower (faster); a crossover is where a curve crosses 1×, interpolated between \
         the two steps around it.</p>\n",
        r.sessions,
        r.seed,
        t = esc(&title)
    );
    page.push_str("<div class=\"verdict\"><ul>\n");
    for line in r.crossover_sentences() {
        let _ = writeln!(page, "<li>{}</li>", esc(&line));
    }
    let _ = writeln!(
        page,
        "</ul></div>\n<div class=\"{}\">",
        if r.axes.len() == 2 { "stack" } else { "grid" }
    );
    let metrics: Vec<Metric> = r
        .points
        .first()
        .map(|p| p.metrics.0.iter().map(|(m, _)| *m).collect())
        .unwrap_or_default();
    let x_axis = &r.axes[0];
    for metric in metrics {
        let ratio = |p: &crate::output::sweep::Point| p.metrics.get(metric).map(|s| s.ratio);
        let chart = if let Some(y_axis) = r.axes.get(1) {
            let nx = x_axis.values.len();
            let rows: Vec<Vec<f64>> = r
                .points
                .chunks(nx)
                .map(|row| {
                    row.iter()
                        .map(|p| ratio(p).map_or(f64::NAN, |e| e.mean))
                        .collect()
                })
                .collect();
            let frontier: Vec<(f64, usize)> = r
                .crossovers
                .iter()
                .filter(|c| c.metric == metric.name())
                .filter_map(|c| {
                    let y = c.at_other?;
                    Some((c.value, y_axis.values.iter().position(|v| *v == y)?))
                })
                .collect();
            charts::heatmap(
                &format!("{}: {}/{}", metric.name(), r.baseline, r.candidate),
                &x_axis.axis.title(),
                &y_axis.axis.title(),
                &x_axis.values,
                &y_axis.values,
                &rows,
                &frontier,
            )?
        } else {
            let series = charts::BandSeries {
                name: metric.name().to_string(),
                points: r
                    .points
                    .iter()
                    .filter_map(|p| {
                        let e = ratio(p)?;
                        Some((p.at[0], e.mean, e.ci95_low, e.ci95_high))
                    })
                    .collect(),
            };
            let crossings: Vec<f64> = r
                .crossovers
                .iter()
                .filter(|c| c.metric == metric.name())
                .map(|c| c.value)
                .collect();
            charts::sweep_line(
                &x_axis.axis.title(),
                &format!("{}/{}", r.baseline, r.candidate),
                &series,
                &crossings,
            )?
        };
        let how = if r.axes.len() == 2 {
            format!(
                " Blue: {a} lower; orange: {b} lower; white: equal. Black dots: the crossover \
                 along {} at each value of {}.",
                esc(&x_axis.axis.key),
                esc(&r.axes[1].axis.key)
            )
        } else {
            " Shaded: the 95% confidence band; dashed: 1× and the crossovers.".to_string()
        };
        let _ = writeln!(
            page,
            "<figure id=\"sweep-{name}\" class=\"chart{wide}\">{chart}<figcaption><code>{name}</code>: \
             {}.{how}</figcaption></figure>",
            esc(metric.meaning()),
            name = metric.name(),
            wide = if r.axes.len() == 2 { " wide" } else { "" }
        );
    }
    page.push_str("</div>\n<h2>Every step</h2>\n<table class=\"numbers\"><thead><tr>");
    for k in &keys {
        let _ = write!(page, "<th>{}</th>", esc(k));
    }
    if let Some(p) = r.points.first() {
        for (m, _) in &p.metrics.0 {
            let _ = write!(page, "<th>{} [95% CI]</th>", m.name());
        }
    }
    page.push_str("</tr></thead><tbody>\n");
    for p in &r.points {
        page.push_str("<tr>");
        for (axis, x) in r.axes.iter().zip(&p.at) {
            let _ = write!(page, "<td>{}</td>", esc(&axis.axis.show(*x)));
        }
        for (_, s) in &p.metrics.0 {
            let _ = write!(
                page,
                "<td>{:.3}× [{:.3}, {:.3}]</td>",
                s.ratio.mean, s.ratio.ci95_low, s.ratio.ci95_high
            );
        }
        page.push_str("</tr>\n");
    }
    let _ = writeln!(
        page,
        "</tbody></table>\n<h2>The scenario</h2>\n<p><code>{}</code>, before the swept values \
         replace its own:</p>\n<pre class=\"toml\">{}</pre>\n<footer>asynctools {}</footer>\n\
         </main>\n</body>\n</html>",
        esc(&r.file),
        esc(r.source.trim_end()),
        env!("CARGO_PKG_VERSION")
    );
    Ok(page)
}
