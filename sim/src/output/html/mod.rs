//! `report.html`: one self-contained page (inline SVG and CSS, no scripts, fonts or images
//! fetched) that a person can read without the code: the verdict with confidence intervals,
//! the distributions, whole sample sessions on a timeline, where the model's time goes, every
//! number, and the scenario itself.
//!
//! Metrics are rendered from the [`Report`]'s ordered maps and
//! [`Metric::ALL`](crate::run::metrics::Metric::ALL), so a metric the simulator adds shows up
//! here without a change. The output is a pure function of its inputs: no timestamps, so a
//! seed reproduces the page byte for byte.

use crate::input::scenario::Scenario;
use crate::model::time::human;
use crate::output::charts::{self, CdfSeries, ChartError, Interval, Stack};
use crate::output::report::{Comparison, Report};
use crate::run::samples::{
    DEFAULT_PICKS, IdleBreakdown, SampleSession, SessionSource, idle_breakdown, pick,
};
use crate::run::tally::RunResults;
use std::fmt::Write as _;
use tables::{capitalized, cost, definitions, numbers, resources, scenario, unit_name, value};

mod sweep;
mod tables;

pub use sweep::sweep_html;
pub use tables::{CSS, esc};

/// Quantile the CDF charts' x axis stops at: the last half-percent would squash the rest.
const CDF_X_QUANTILE: f64 = 0.995;
const CDF_POINTS: usize = 200;

/// Everything the page shows.
pub struct HtmlInputs<'a> {
    pub scenario: &'a Scenario,
    pub results: &'a RunResults,
    pub report: &'a Report,
    /// Traced under every policy of `results`, in its order.
    pub samples: &'a [SampleSession],
    pub idle: &'a [IdleBreakdown],
    /// Where the sessions came from, when not drawn from the scenario (a replay file).
    pub source_note: Option<String>,
}

/// Traces the samples and the idle breakdown from `source`, then renders the page.
pub fn report_html(
    scenario: &Scenario,
    results: &RunResults,
    source: &dyn SessionSource,
    source_note: Option<String>,
) -> Result<String, ChartError> {
    let report = Report::new(scenario, results);
    let baseline = headline_indices(&report, results).map_or(0, |(b, _)| b);
    let samples = pick(source, &results.policies, baseline, &DEFAULT_PICKS);
    let idle = idle_breakdown(source, &results.policies);
    render(&HtmlInputs {
        scenario,
        results,
        report: &report,
        samples: &samples,
        idle: &idle,
        source_note,
    })
}

/// Indices in `results.policies` of the headline comparison's baseline and candidate.
pub fn headline_indices(report: &Report, results: &RunResults) -> Option<(usize, usize)> {
    let c = report.headline()?;
    let index = |name: &str| results.policies.iter().position(|p| p.name() == name);
    Some((index(&c.baseline)?, index(&c.candidate)?))
}

pub fn render(inputs: &HtmlInputs) -> Result<String, ChartError> {
    let r = inputs.report;
    let mut page = String::with_capacity(256 * 1024);
    let title = format!("{}: sync vs async agent loops", r.scenario.name);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        esc(&title)
    );
    let _ = writeln!(page, "<h1>{}</h1>", esc(&title));
    if !r.scenario.description.trim().is_empty() {
        let _ = writeln!(
            page,
            "<p class=\"lead\">{}</p>",
            esc(r.scenario.description.trim())
        );
    }
    let _ = writeln!(
        page,
        "<p class=\"facts\">{} sessions{}, seed {}, {} tool calls per session (dependency depth \
         {}); policies: {}. Every policy runs on the same random draws, so each comparison is \
         paired session by session.</p>",
        r.run.sessions,
        inputs
            .source_note
            .as_deref()
            .map(|n| format!(" ({})", esc(n)))
            .unwrap_or_default(),
        r.run.seed,
        r.scenario.calls,
        r.scenario.depth,
        esc(&r.run.policies.join(", "))
    );
    let has_unit = |unit: &str| {
        r.policies
            .iter()
            .flat_map(|p| &p.metrics.0)
            .any(|(_, s)| unit_name(&s.unit) == unit)
    };
    let mut nav = vec![
        ("summary", "Summary"),
        ("distributions", "Distributions"),
        ("timelines", "Timelines"),
        ("idle", "Idle time"),
    ];
    if has_unit("usd") {
        nav.push(("cost", "Cost"));
    }
    if r.policies.iter().any(|p| !p.resources.is_empty()) {
        nav.push(("resources", "Shared capacity"));
    }
    nav.extend([
        ("numbers", "All numbers"),
        ("scenario", "Scenario"),
        ("definitions", "Definitions"),
    ]);
    page.push_str("<nav>");
    for (id, label) in nav {
        let _ = write!(page, "<a href=\"#{id}\">{label}</a>");
    }
    page.push_str("</nav>\n");
    summary(&mut page, inputs)?;
    distributions(&mut page, inputs)?;
    timelines(&mut page, inputs)?;
    idle(&mut page, inputs)?;
    cost(&mut page, r)?;
    resources(&mut page, r);
    numbers(&mut page, r);
    scenario(&mut page, inputs.scenario, r);
    definitions(&mut page, r);
    let _ = writeln!(
        page,
        "<footer>asynctools {}: <code>asynctools compare {}</code></footer>\n</main>\n</body>\n</html>",
        env!("CARGO_PKG_VERSION"),
        esc(&r.scenario.file)
    );
    Ok(page)
}

fn summary(page: &mut String, inputs: &HtmlInputs) -> Result<(), ChartError> {
    let r = inputs.report;
    page.push_str("<section id=\"summary\">\n<h2>Summary</h2>\n");
    let Some(c) = r.headline() else {
        page.push_str(
            "<p>Only one policy ran, so there is nothing to compare; run \
             <code>asynctools compare</code> for sync against async.</p>\n</section>\n",
        );
        return Ok(());
    };
    let verdict = r.verdict();
    if !verdict.is_empty() {
        page.push_str("<div class=\"verdict\"><ul>\n");
        for line in verdict {
            let _ = writeln!(page, "<li>{}</li>", esc(&line));
        }
        page.push_str("</ul></div>\n");
    }
    let rows: Vec<Interval> = c
        .metrics
        .0
        .iter()
        .map(|(m, s)| Interval {
            label: m.name().to_string(),
            mean: s.ratio.mean,
            low: s.ratio.ci95_low,
            high: s.ratio.ci95_high,
        })
        .collect();
    let _ = writeln!(
        page,
        "<figure id=\"chart-speedups\" class=\"chart\">{}<figcaption>Speedup of {a} over {b}, \
         per session: {b}'s value divided by {a}'s, averaged over sessions, with its 95% \
         confidence interval. Right of the dashed 1× line, {a} is lower (better, except for \
         <code>turns</code>, where lower means fewer LLM requests).</figcaption></figure>",
        charts::speedups(&rows, &c.baseline, &c.candidate)?,
        a = esc(&c.candidate),
        b = esc(&c.baseline)
    );
    comparison_table(page, c);
    let others: Vec<&Comparison> = r
        .comparisons
        .iter()
        .filter(|o| !std::ptr::eq(*o, c))
        .collect();
    if !others.is_empty() {
        page.push_str("<details><summary>The other comparisons</summary>\n");
        for o in others {
            let _ = writeln!(
                page,
                "<h3>{} → {}</h3>",
                esc(&o.baseline),
                esc(&o.candidate)
            );
            comparison_table(page, o);
        }
        page.push_str("</details>\n");
    }
    page.push_str("</section>\n");
    Ok(())
}

fn comparison_table(page: &mut String, c: &Comparison) {
    let (b, a) = (esc(&c.baseline), esc(&c.candidate));
    let _ = writeln!(
        page,
        "<table class=\"numbers\"><thead><tr><th>metric</th><th>{b}/{a} [95% CI]</th>\
         <th>{b} − {a} [95% CI]</th><th>sessions where {a} is lower</th><th class=\"text\">what it measures</th>\
         </tr></thead><tbody>"
    );
    for (metric, s) in &c.metrics.0 {
        let unit = unit_name(&s.unit);
        let _ = writeln!(
            page,
            "<tr><td><code>{}</code></td><td>{:.3}× [{:.3}, {:.3}]</td><td>{} [{}, {}]</td>\
             <td>{:.1}%</td><td class=\"text\">{}</td></tr>",
            metric.name(),
            s.ratio.mean,
            s.ratio.ci95_low,
            s.ratio.ci95_high,
            value(s.difference.mean, &unit),
            value(s.difference.ci95_low, &unit),
            value(s.difference.ci95_high, &unit),
            s.candidate_lower * 100.0,
            esc(metric.meaning())
        );
    }
    page.push_str("</tbody></table>\n");
}

fn distributions(page: &mut String, inputs: &HtmlInputs) -> Result<(), ChartError> {
    let r = inputs.report;
    page.push_str(
        "<section id=\"distributions\">\n<h2>Distributions</h2>\n<p>Each line is the share \
         of sessions (or, for <code>result_delay</code>, of calls) at or below a value: a line \
         further left and steeper is faster and more predictable. The gap between two lines \
         at 50% is the difference of medians; at 90%, of the slow tail.</p>\n<div class=\"grid\">\n",
    );
    let Some(first) = r.policies.first() else {
        page.push_str("</div>\n</section>\n");
        return Ok(());
    };
    for (metric, summary) in &first.metrics.0 {
        if unit_name(&summary.unit) != "s" {
            continue;
        }
        let series: Vec<CdfSeries> = inputs
            .results
            .policies
            .iter()
            .zip(&inputs.results.metrics)
            .map(|(p, m)| CdfSeries {
                name: p.name(),
                points: m
                    .get(*metric)
                    .cdf_points(CDF_POINTS)
                    .into_iter()
                    .map(|(v, q)| (v as f64 * metric.scale(), q))
                    .collect(),
            })
            .collect();
        let x_max = inputs
            .results
            .metrics
            .iter()
            .map(|m| m.get(*metric).quantile(CDF_X_QUANTILE) as f64 * metric.scale())
            .fold(0.0, f64::max);
        let _ = writeln!(
            page,
            "<figure id=\"cdf-{name}\" class=\"chart\"><h3><code>{name}</code></h3>{}\
             <figcaption>{}. The axis stops at the 99.5th percentile.</figcaption></figure>",
            charts::cdf(&format!("{} (s)", metric.name()), &series, x_max)?,
            esc(&capitalized(metric.meaning())),
            name = metric.name()
        );
    }
    page.push_str("</div>\n</section>\n");
    Ok(())
}

fn timelines(page: &mut String, inputs: &HtmlInputs) -> Result<(), ChartError> {
    page.push_str("<section id=\"timelines\">\n<h2>Timelines of sample sessions</h2>\n");
    let names: Vec<String> = inputs.results.policies.iter().map(|p| p.name()).collect();
    // Sync against async when both ran, else every policy (at most three stay readable).
    let shown: Vec<usize> = match headline_indices(inputs.report, inputs.results) {
        Some((b, a)) => vec![b, a],
        None => (0..names.len().min(3)).collect(),
    };
    let shown_names: Vec<String> = shown.iter().map(|&i| names[i].clone()).collect();
    let _ = writeln!(
        page,
        "<p>The same session (same tool latencies and turn times) under {}, on one time axis. \
         Purple bars are model turns; each ends with output the user sees (green triangle). \
         Blue bars are tools running, grey their dispatch and delivery overheads, and black \
         dots the moment a result reaches the agent. Yellow is a result that has arrived but \
         waits for the model to read it; red shading is the model sitting idle. Sessions are \
         picked by {}'s makespan among the first {} sessions.{}</p>",
        esc(&shown_names.join(" and ")),
        esc(shown_names.first().map_or("", String::as_str)),
        crate::run::samples::MAX_CANDIDATES.min(inputs.results.sessions),
        if inputs.scenario.is_shared() {
            " These sessions run on their own here: the queueing for shared capacity that the \
             run's metrics include is not drawn."
        } else {
            ""
        }
    );
    for sample in inputs.samples {
        let mut view = sample.clone();
        view.traces = shown
            .iter()
            .filter_map(|&i| sample.traces.get(i).cloned())
            .collect();
        let makespans: Vec<String> = view
            .traces
            .iter()
            .zip(&shown_names)
            .map(|(t, n)| format!("{} {}", esc(n), human(t.outcome.makespan as f64)))
            .collect();
        let _ = writeln!(
            page,
            "<figure id=\"timeline-{}\" class=\"chart wide\"><h3>Session {}: {} (makespan {})</h3>\
             {}</figure>",
            sample.session,
            sample.session,
            esc(&sample.label),
            makespans.join(", "),
            charts::timeline(&view, &shown_names)?
        );
    }
    page.push_str("</section>\n");
    Ok(())
}

fn idle(page: &mut String, inputs: &HtmlInputs) -> Result<(), ChartError> {
    page.push_str("<section id=\"idle\">\n<h2>Where the model's time goes</h2>\n");
    if inputs.idle.is_empty() {
        page.push_str("</section>\n");
        return Ok(());
    }
    let n = inputs.idle[0].sessions;
    let _ = writeln!(
        page,
        "<p>Mean per session over the first {n} sessions. The bar's length is the makespan: \
         the model is either taking a turn, or idle. Idle time splits into waiting while a \
         result has already arrived but the loop does not let the model read it yet (the cost \
         of waiting for all calls), and waiting with nothing to read (tools still running).{}</p>",
        if inputs.scenario.is_shared() {
            " Measured on sessions run on their own, without the shared-capacity queueing."
        } else {
            ""
        }
    );
    let bars: Vec<Stack> = inputs
        .idle
        .iter()
        .map(|b| Stack {
            label: b.policy.clone(),
            parts: vec![
                ("model busy (turns)".into(), b.busy_s),
                (
                    "idle: a result waits unread".into(),
                    b.idle_result_waiting_s,
                ),
                ("idle: tools running".into(), b.idle_tools_running_s),
            ],
        })
        .collect();
    let colors = [
        plotters::style::RGBColor(106, 76, 147),
        plotters::style::RGBColor(240, 200, 40),
        plotters::style::RGBColor(213, 94, 0).mix_with_white(0.55),
    ];
    let _ = writeln!(
        page,
        "<figure id=\"chart-idle\" class=\"chart\">{}</figure>",
        charts::stacked_bars("seconds per session (mean)", &bars, &colors)?
    );
    page.push_str(
        "<table class=\"numbers\"><thead><tr><th>policy</th><th>makespan</th><th>model busy</th>\
         <th>idle, result waiting</th><th>idle, tools running</th><th>idle share</th></tr>\
         </thead><tbody>\n",
    );
    for b in inputs.idle {
        let idle = b.idle_result_waiting_s + b.idle_tools_running_s;
        let share = if b.makespan_s > 0.0 {
            idle / b.makespan_s * 100.0
        } else {
            0.0
        };
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{share:.1}%</td></tr>",
            esc(&b.policy),
            value(b.makespan_s, "s"),
            value(b.busy_s, "s"),
            value(b.idle_result_waiting_s, "s"),
            value(b.idle_tools_running_s, "s")
        );
    }
    page.push_str("</tbody></table>\n</section>\n");
    Ok(())
}

/// Mixing towards white, for the lighter shade of a colour.
trait MixWithWhite {
    fn mix_with_white(self, amount: f64) -> Self;
}

impl MixWithWhite for plotters::style::RGBColor {
    fn mix_with_white(self, amount: f64) -> Self {
        let m = |c: u8| (c as f64 + (255.0 - c as f64) * amount).round() as u8;
        plotters::style::RGBColor(m(self.0), m(self.1), m(self.2))
    }
}
