//! `report.html`: one self-contained page (inline SVG and CSS, no scripts, fonts or images
//! fetched) that a person can read without the code: the verdict with confidence intervals,
//! the distributions, whole sample sessions on a timeline, where the model's time goes, every
//! number, and the scenario itself.
//!
//! Metrics are rendered from the [`Report`]'s ordered maps and [`Metric::ALL`], so a metric the
//! simulator adds shows up here without a change. The output is a pure function of its inputs:
//! no timestamps, so a seed reproduces the page byte for byte.

use crate::charts::{self, CdfSeries, ChartError, Interval, Stack};
use crate::metrics::Metric;
use crate::report::{Comparison, Report};
use crate::runner::RunResults;
use crate::samples::{
    DEFAULT_PICKS, IdleBreakdown, SampleSession, SessionSource, idle_breakdown, pick,
};
use crate::scenario::Scenario;
use crate::time::human;
use std::fmt::Write as _;

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
        crate::samples::MAX_CANDIDATES.min(inputs.results.sessions),
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

/// Cost next to latency, when the scenario prices sessions (metrics in dollars).
fn cost(page: &mut String, r: &Report) -> Result<(), ChartError> {
    let Some(first) = r.policies.first() else {
        return Ok(());
    };
    let usd: Vec<Metric> = first
        .metrics
        .0
        .iter()
        .filter(|(_, s)| unit_name(&s.unit) == "usd")
        .map(|(m, _)| *m)
        .collect();
    let Some(&total) = usd.first() else {
        return Ok(());
    };
    page.push_str(
        "<section id=\"cost\">\n<h2>Cost next to latency</h2>\n<p>Mean dollars per session \
         against mean makespan: down and to the left is better on both.</p>\n",
    );
    let points: Vec<charts::CostPoint> = r
        .policies
        .iter()
        .filter_map(|p| {
            Some(charts::CostPoint {
                policy: p.name.clone(),
                usd: p.metrics.get(total)?.mean,
                seconds: p.metrics.get(Metric::Makespan)?.mean,
            })
        })
        .collect();
    let _ = writeln!(
        page,
        "<figure id=\"chart-cost\" class=\"chart\">{}</figure>",
        charts::cost_latency(
            &points,
            &format!("{} per session (mean, $)", total.name()),
            "makespan (mean, s)"
        )?
    );
    page.push_str("<table class=\"numbers\"><thead><tr><th class=\"text\">policy</th>");
    for m in &usd {
        let _ = write!(page, "<th>{} (mean)</th>", m.name());
    }
    let _ = writeln!(
        page,
        "<th>{} per 1,000 sessions</th><th>makespan p50</th><th>first_update p50</th></tr>\
         </thead><tbody>",
        total.name()
    );
    for p in &r.policies {
        let _ = write!(page, "<tr><td class=\"text\">{}</td>", esc(&p.name));
        for m in &usd {
            let v = p.metrics.get(*m).map_or(f64::NAN, |s| s.mean);
            let _ = write!(page, "<td>{}</td>", value(v, "usd"));
        }
        let per_1000 = p.metrics.get(total).map_or(f64::NAN, |s| s.mean * 1000.0);
        let p50 = |m| p.metrics.get(m).map_or(f64::NAN, |s| s.p50);
        let _ = writeln!(
            page,
            "<td>{}</td><td>{}</td><td>{}</td></tr>",
            value(per_1000, "usd"),
            value(p50(Metric::Makespan), "s"),
            value(p50(Metric::FirstUpdate), "s")
        );
    }
    page.push_str("</tbody></table>\n</section>\n");
    Ok(())
}

/// Shared capacity: how busy the model and each tool were, as the JSON report has it (its
/// fields shown as they are, so new ones appear without a change here).
fn resources(page: &mut String, r: &Report) {
    let Ok(json) = serde_json::to_value(r) else {
        return;
    };
    let rows: Vec<(&str, &serde_json::Map<String, serde_json::Value>)> = json["policies"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| {
            let name = p["name"].as_str().unwrap_or("?");
            p["resources"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(move |res| Some((name, res.as_object()?)))
        })
        .collect();
    let Some((_, first)) = rows.first() else {
        return;
    };
    // The resource's name first, then its numbers.
    let mut columns: Vec<&String> = first.keys().filter(|k| *k != "name").collect();
    if let Some((name, _)) = first.get_key_value("name") {
        columns.insert(0, name);
    }
    let _ = write!(
        page,
        "<section id=\"resources\">\n<h2>Shared capacity</h2>\n<p>Sessions shared the model \
         and the tools (arrivals: {}); how busy each was under each policy.</p>\n\
         <table class=\"numbers\"><thead><tr><th class=\"text\">policy</th>",
        esc(&r.run.arrival)
    );
    for c in &columns {
        let _ = write!(page, "<th>{}</th>", esc(c));
    }
    page.push_str("</tr></thead><tbody>\n");
    for (policy, res) in &rows {
        let _ = write!(page, "<tr><td class=\"text\">{}</td>", esc(policy));
        for c in &columns {
            let cell = match res.get(*c) {
                Some(serde_json::Value::String(s)) => esc(s),
                Some(serde_json::Value::Null) | None => "∞".into(),
                Some(serde_json::Value::Number(n)) => match n.as_f64() {
                    Some(x) if n.is_f64() => format!("{x:.3}"),
                    _ => n.to_string(),
                },
                Some(other) => esc(&other.to_string()),
            };
            let _ = write!(page, "<td>{cell}</td>");
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</tbody></table>\n</section>\n");
}

fn numbers(page: &mut String, r: &Report) {
    page.push_str(
        "<section id=\"numbers\">\n<h2>All numbers</h2>\n<p>Per session (per call for \
         <code>result_delay</code>, per message or attempt where the definition says so); \
         percentiles from a histogram with three significant digits, means exact.</p>\n\
         <table class=\"numbers\"><thead><tr><th>metric</th><th class=\"text\">policy</th>\
         <th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>mean</th><th>max</th></tr>\
         </thead><tbody>\n",
    );
    let Some(first) = r.policies.first() else {
        page.push_str("</tbody></table>\n</section>\n");
        return;
    };
    for (metric, _) in &first.metrics.0 {
        for (k, p) in r.policies.iter().enumerate() {
            let Some(s) = p.metrics.get(*metric) else {
                continue;
            };
            let unit = unit_name(&s.unit);
            let _ = write!(
                page,
                "<tr{}><td>{}</td><td class=\"text\">{}</td>",
                if k == 0 { " class=\"first\"" } else { "" },
                if k == 0 {
                    format!("<code>{}</code>", metric.name())
                } else {
                    String::new()
                },
                esc(&p.name)
            );
            for v in [s.p50, s.p90, s.p99, s.p999, s.mean, s.max] {
                let _ = write!(page, "<td>{}</td>", value(v, &unit));
            }
            page.push_str("</tr>\n");
        }
    }
    page.push_str("</tbody></table>\n</section>\n");
}

fn scenario(page: &mut String, scenario: &Scenario, r: &Report) {
    page.push_str(
        "<section id=\"scenario\">\n<h2>The scenario</h2>\n<table class=\"numbers\"><thead><tr>\
         <th>tool</th><th>latency</th><th>mean</th><th>calls per session</th></tr></thead><tbody>\n",
    );
    for t in &r.scenario.tools {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&t.name),
            esc(&t.latency),
            t.mean_s.map_or("∞".to_string(), |m| human(m * 1e9)),
            t.calls
        );
    }
    let _ = writeln!(
        page,
        "</tbody></table>\n<p>Model turn: {} (plus the per-result, per-call and context costs \
         below). The file as run, <code>{}</code>:</p>\n<pre class=\"toml\">{}</pre>\n</section>",
        esc(&scenario.model.base.dist.describe()),
        esc(&scenario.file),
        esc(scenario.source.trim_end())
    );
}

fn definitions(page: &mut String, r: &Report) {
    page.push_str("<section id=\"definitions\">\n<h2>Definitions</h2>\n<dl>\n");
    let reported: Vec<Metric> = r
        .policies
        .first()
        .map(|p| p.metrics.0.iter().map(|(m, _)| *m).collect())
        .unwrap_or_else(|| Metric::CORE.to_vec());
    for metric in reported {
        let _ = writeln!(
            page,
            "<dt><code>{}</code></dt><dd>{}.</dd>",
            metric.name(),
            esc(metric.meaning())
        );
    }
    page.push_str(
        "</dl>\n<p><b>sequential</b>: one call per turn, wait for it. <b>sync</b>: issue every \
         ready call, wait for all of them, read them all in the next turn. <b>async</b>: issue \
         and return at once; whenever the model is idle and a result waits, take a turn that \
         reads every waiting result. Speedups are means of per-session ratios with \
         normal-approximation 95% confidence intervals. The full contract: \
         <code>shared/design/agent-loop-model.md</code>.</p>\n</section>\n",
    );
}

/// The unit's name as the JSON report writes it (`s`, `fraction`, `count`, ...), so a unit the
/// simulator adds is shown plainly rather than breaking this module.
fn unit_name<T: serde::Serialize>(unit: &T) -> String {
    serde_json::to_value(unit)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn value(v: f64, unit: &str) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    if v == 0.0 && unit == "s" {
        return "0 s".into();
    }
    match unit {
        "s" => human(v * 1e9),
        "fraction" => format!("{:.1}%", v * 100.0),
        "count" => format!("{v:.2}"),
        "usd" => usd(v),
        other => format!("{v:.4} {other}"),
    }
}

/// Dollars with four significant digits: $0.04438, $44.38, −$0.0119.
fn usd(v: f64) -> String {
    let sign = if v < 0.0 { "−" } else { "" };
    let a = v.abs();
    let decimals = if a >= 1.0 || a == 0.0 {
        2
    } else {
        (3 - a.log10().floor() as i32).clamp(2, 12) as usize
    };
    format!("{sign}${a:.decimals$}")
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// System fonts only: nothing is fetched.
pub const CSS: &str = r#"
:root { --ink: #222; --muted: #666; --rule: #e3e3e3; --accent: #0072b2; --warm: #e69f00; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fafafa;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 20px; margin: 36px 0 8px; padding-top: 8px; border-top: 1px solid var(--rule); }
h3 { font-size: 15px; margin: 16px 0 4px; }
p.lead { font-size: 17px; margin: 4px 0; }
p.facts { color: var(--muted); margin: 4px 0 12px; }
nav { display: flex; flex-wrap: wrap; gap: 14px; font-size: 14px; padding: 8px 0; }
nav a { color: var(--accent); text-decoration: none; }
.verdict { background: #f2f7fb; border-left: 4px solid var(--accent); padding: 6px 16px; margin: 12px 0; }
.verdict li { margin: 6px 0; font-size: 16px; }
figure { margin: 12px 0; }
figure.chart svg { max-width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: 13px; max-width: 720px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(500px, 1fr)); gap: 12px 20px; }
table.numbers { border-collapse: collapse; margin: 12px 0; font-size: 14px; }
table.numbers th, table.numbers td { padding: 4px 10px; border-bottom: 1px solid var(--rule); text-align: right; }
table.numbers th:first-child, table.numbers td:first-child { text-align: left; }
table.numbers th.text, table.numbers td.text { text-align: left; white-space: normal; }
table.numbers td { white-space: nowrap; }
table.numbers tr.first td { border-top: 1px solid #bbb; }
table.numbers thead th { background: #f4f4f4; }
pre.toml { background: #f6f6f6; padding: 12px 14px; overflow-x: auto; font-size: 13px; line-height: 1.4; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.92em; }
details { margin: 12px 0; }
dl dt { font-weight: 600; margin-top: 6px; }
dl dd { margin: 0 0 4px 20px; }
footer { margin-top: 36px; color: var(--muted); font-size: 13px; }
"#;

/// `sweep.html`: the speedup of every paired metric along the swept parameters, with the
/// crossovers named; self-contained like `report.html`.
pub fn sweep_html(r: &crate::sweep::SweepReport) -> Result<String, ChartError> {
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
        let ratio = |p: &crate::sweep::Point| p.metrics.get(metric).map(|s| s.ratio);
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
