//! The reference sections of `report.html` (cost, shared capacity, every number, the scenario,
//! definitions), the number and text formatting the page shares, and its CSS.

use crate::input::scenario::Scenario;
use crate::model::time::human;
use crate::output::charts::{self, ChartError};
use crate::output::report::Report;
use crate::run::metrics::Metric;
use std::fmt::Write as _;

/// Cost next to latency, when the scenario prices sessions (metrics in dollars).
pub(super) fn cost(page: &mut String, r: &Report) -> Result<(), ChartError> {
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
pub(super) fn resources(page: &mut String, r: &Report) {
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

pub(super) fn numbers(page: &mut String, r: &Report) {
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

pub(super) fn scenario(page: &mut String, scenario: &Scenario, r: &Report) {
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

pub(super) fn definitions(page: &mut String, r: &Report) {
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
         <code>docs/agent-loop-model.md</code>.</p>\n</section>\n",
    );
}

/// The unit's name as the JSON report writes it (`s`, `fraction`, `count`, ...), so a unit the
/// simulator adds is shown plainly rather than breaking this module.
pub(super) fn unit_name<T: serde::Serialize>(unit: &T) -> String {
    serde_json::to_value(unit)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

pub(super) fn value(v: f64, unit: &str) -> String {
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

pub(super) fn capitalized(s: &str) -> String {
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
