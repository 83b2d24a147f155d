//! Reports: the results of a run as JSON (the stable schema), a terminal table, Markdown or CSV.

use crate::metrics::{Estimate, Metric, Stream, Unit};
use crate::runner::RunResults;
use crate::scenario::Scenario;
use crate::time::human;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use std::fmt::Write as _;

/// Identifies the JSON layout; bump it when a field changes meaning or goes away.
pub const SCHEMA: &str = "asynctools.results/v1";

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub scenario: ScenarioInfo,
    pub run: RunInfo,
    pub policies: Vec<PolicyReport>,
    pub comparisons: Vec<Comparison>,
}

/// Shared capacity: how busy the model and each tool were under one policy.
#[derive(Debug, Clone, Serialize)]
pub struct Resources {
    pub policy: String,
    pub resources: Vec<crate::world::Resource>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioInfo {
    pub name: String,
    pub description: String,
    pub file: String,
    pub calls: usize,
    pub depth: usize,
    pub rounds: Option<usize>,
    pub tools: Vec<ToolInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ToolInfo {
    pub name: String,
    pub latency: String,
    /// Mean latency in seconds, where finite.
    pub mean_s: Option<f64>,
    pub calls: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub sessions: u64,
    pub seed: u64,
    pub policies: Vec<String>,
    /// Sessions shared capacity and ran in one world, in arrival order.
    pub shared_capacity: bool,
    pub arrival: String,
    pub streamed_dispatch: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyReport {
    pub name: String,
    /// Shared capacity only: utilisation of the model and each tool.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<crate::world::Resource>,
    pub kind: crate::policy::PolicyKind,
    pub batch_window_s: f64,
    pub metrics: Ordered<Summary>,
}

/// A metric's distribution, in the metric's unit.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Summary {
    pub unit: Unit,
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub min: f64,
    pub max: f64,
}

/// Baseline versus candidate, paired session by session.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub baseline: String,
    pub candidate: String,
    pub sessions: u64,
    pub metrics: Ordered<PairSummary>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct PairSummary {
    pub unit: Unit,
    /// Mean of baseline/candidate per session: > 1 means the candidate is lower (better, except
    /// for `turns`, where lower means fewer LLM requests).
    pub ratio: Estimate,
    /// Mean of baseline − candidate per session, in `unit`.
    pub difference: Estimate,
    /// Sessions where the candidate's value is strictly lower.
    pub candidate_lower: f64,
    pub ties: f64,
    /// Sessions left out of the ratio because the candidate's value was 0 and the baseline's not.
    pub undefined_ratios: u64,
}

/// A JSON object whose keys keep the metric order.
#[derive(Debug, Clone)]
pub struct Ordered<T>(pub Vec<(Metric, T)>);

impl<T: Serialize> Serialize for Ordered<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k.name(), v)?;
        }
        map.end()
    }
}

impl<T> Ordered<T> {
    pub fn get(&self, metric: Metric) -> Option<&T> {
        self.0.iter().find(|(m, _)| *m == metric).map(|(_, v)| v)
    }
}

fn summarize(metric: Metric, s: &Stream) -> Summary {
    let k = metric.scale();
    Summary {
        unit: metric.unit(),
        count: s.count(),
        mean: s.mean() * k,
        p50: s.quantile(0.5) as f64 * k,
        p90: s.quantile(0.9) as f64 * k,
        p99: s.quantile(0.99) as f64 * k,
        p999: s.quantile(0.999) as f64 * k,
        min: s.min() as f64 * k,
        max: s.max() as f64 * k,
    }
}

impl Report {
    pub fn new(scenario: &Scenario, results: &RunResults) -> Report {
        let tools = scenario
            .tools
            .iter()
            .enumerate()
            .map(|(i, t)| ToolInfo {
                name: t.name.clone(),
                latency: t.latency.dist.describe(),
                mean_s: t.latency.dist.mean_ns().map(|m| m / 1e9),
                calls: scenario.plan.calls.iter().filter(|c| c.tool == i).count(),
            })
            .collect();
        let policies = results
            .policies
            .iter()
            .zip(&results.metrics)
            .enumerate()
            .map(|(i, (p, m))| PolicyReport {
                name: p.name(),
                resources: results.resources.get(i).cloned().unwrap_or_default(),
                kind: p.kind,
                batch_window_s: p.batch_window as f64 / 1e9,
                metrics: Ordered(
                    m.active()
                        .iter()
                        .map(|&metric| (metric, summarize(metric, m.get(metric))))
                        .collect(),
                ),
            })
            .collect();
        let comparisons = results
            .pair_indices
            .iter()
            .zip(&results.pairs)
            .map(|(&(a, b), pair)| Comparison {
                baseline: results.policies[a].name(),
                candidate: results.policies[b].name(),
                sessions: results.sessions,
                metrics: Ordered(
                    pair.metrics()
                        .map(|metric| {
                            let s = pair.get(metric);
                            let micro = matches!(metric.unit(), Unit::Seconds | Unit::Usd);
                            let k = metric.scale();
                            let d = s.difference(micro);
                            (
                                metric,
                                PairSummary {
                                    unit: metric.unit(),
                                    ratio: s.ratio(),
                                    difference: Estimate {
                                        mean: d.mean * k,
                                        ci95_low: d.ci95_low * k,
                                        ci95_high: d.ci95_high * k,
                                    },
                                    candidate_lower: s.candidate_better_fraction(),
                                    ties: s.tie_fraction(),
                                    undefined_ratios: s.undefined(),
                                },
                            )
                        })
                        .collect(),
                ),
            })
            .collect();
        Report {
            schema: SCHEMA,
            scenario: ScenarioInfo {
                name: scenario.name.clone(),
                description: scenario.description.clone(),
                file: scenario.file.clone(),
                calls: scenario.plan.len(),
                depth: scenario.plan.depth(),
                rounds: scenario.plan.rounds,
                tools,
            },
            run: RunInfo {
                sessions: results.sessions,
                seed: results.seed,
                policies: results.policies.iter().map(|p| p.name()).collect(),
                shared_capacity: scenario.is_shared(),
                arrival: match &scenario.arrival {
                    crate::scenario::Arrival::AllAtOnce => "all_at_once".into(),
                    crate::scenario::Arrival::Poisson { rate_per_s } => {
                        format!("poisson({rate_per_s}/s)")
                    }
                    crate::scenario::Arrival::Closed { users, .. } => {
                        format!("closed({users} users)")
                    }
                },
                streamed_dispatch: scenario.model.streamed_dispatch,
            },
            policies,
            comparisons,
        }
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a report always serializes");
        s.push('\n');
        s
    }

    /// The comparison the headline is about: sync → async if both ran, else the last pair.
    pub fn headline(&self) -> Option<&Comparison> {
        self.comparisons
            .iter()
            .find(|c| c.baseline == "sync" && c.candidate.starts_with("async"))
            .or_else(|| self.comparisons.last())
    }

    fn policy_mean(&self, policy: &str, metric: Metric) -> Option<f64> {
        let p = self.policies.iter().find(|p| p.name == policy)?;
        p.metrics.get(metric).map(|s| s.mean)
    }

    /// Plain sentences that say what the headline comparison means, including where the
    /// candidate does not pay off.
    pub fn verdict(&self) -> Vec<String> {
        let Some(c) = self.headline() else {
            return Vec::new();
        };
        let (b, a) = (&c.baseline, &c.candidate);
        let mut out = Vec::new();
        let get = |m| c.metrics.get(m).copied();
        if let Some(s) = get(Metric::Makespan) {
            out.push(speed_sentence(a, b, "finishes", s));
        }
        if let Some(s) = get(Metric::FirstUpdate) {
            out.push(speed_sentence(a, b, "shows the first tool result", s));
        }
        if let Some(s) = get(Metric::ResultDelay) {
            out.push(format!(
                "A finished result waits {} less on average before the model reads it with {a} \
                 (95% CI {} to {}).",
                human(s.difference.mean * 1e9),
                human(s.difference.ci95_low * 1e9),
                human(s.difference.ci95_high * 1e9)
            ));
        }
        if let Some(s) = get(Metric::ReplyLatency) {
            out.push(speed_sentence(
                a,
                b,
                "answers the user's follow-up questions",
                s,
            ));
        }
        if let (Some(s), Some(pb), Some(pa)) = (
            get(Metric::CostUsd),
            self.policy_mean(b, Metric::CostUsd),
            self.policy_mean(a, Metric::CostUsd),
        ) {
            out.push(format!(
                "Cost per session: {a} {}, {b} {} ({a} costs {:.2}× as much, {} per 1,000 sessions).",
                format_usd(pa),
                format_usd(pb),
                1.0 / s.ratio.mean,
                format_usd((pa - pb) * 1000.0)
            ));
        }
        if let Some(s) = get(Metric::Turns) {
            let more = -s.difference.mean;
            if more > 0.0 {
                out.push(format!(
                    "The price: {a} takes {more:.2} more model turns (LLM requests) per session \
                     than {b} ({:.2}× as many); each costs time to first token and tokens.",
                    1.0 / s.ratio.mean
                ));
            }
        }
        out
    }

    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let r = &self.run;
        let _ = writeln!(
            out,
            "{}: {} sessions, seed {}, {} calls per session",
            self.scenario.name, r.sessions, r.seed, self.scenario.calls
        );
        let mut table = comfy_table::Table::new();
        table.load_style(comfy_table::presets::UTF8_BORDERS_ONLY);
        let mut header = vec!["metric".to_string(), String::new()];
        header.extend(self.policies.iter().map(|p| p.name.clone()));
        table.set_header(header);
        for &(metric, _) in &self.policies[0].metrics.0 {
            for (i, stat) in ["p50", "p99", "mean"].into_iter().enumerate() {
                let mut row = vec![
                    if i == 0 {
                        metric.name().to_string()
                    } else {
                        String::new()
                    },
                    stat.to_string(),
                ];
                for p in &self.policies {
                    let s = p.metrics.get(metric).expect("every metric is reported");
                    let v = match stat {
                        "p50" => s.p50,
                        "p99" => s.p99,
                        _ => s.mean,
                    };
                    row.push(format_value(v, s.unit));
                }
                table.add_row(row);
            }
        }
        let _ = writeln!(out, "{table}");
        for c in &self.comparisons {
            let mut t = comfy_table::Table::new();
            t.load_style(comfy_table::presets::UTF8_BORDERS_ONLY);
            t.set_header(vec![
                format!("{} → {}", c.baseline, c.candidate),
                format!("{}/{} [95% CI]", c.baseline, c.candidate),
                format!("{} − {} [95% CI]", c.baseline, c.candidate),
                format!("{} lower", c.candidate),
            ]);
            for (metric, s) in &c.metrics.0 {
                t.add_row(vec![
                    metric.name().to_string(),
                    format!(
                        "{:.3}× [{:.3}, {:.3}]",
                        s.ratio.mean, s.ratio.ci95_low, s.ratio.ci95_high
                    ),
                    format!(
                        "{} [{}, {}]",
                        format_value(s.difference.mean, s.unit),
                        format_value(s.difference.ci95_low, s.unit),
                        format_value(s.difference.ci95_high, s.unit)
                    ),
                    format!("{:.1}%", s.candidate_lower * 100.0),
                ]);
            }
            let _ = writeln!(out, "\n{t}");
        }
        if self.policies.iter().any(|p| !p.resources.is_empty()) {
            let mut t = comfy_table::Table::new();
            t.load_style(comfy_table::presets::UTF8_BORDERS_ONLY);
            t.set_header(vec![
                "policy",
                "resource",
                "capacity",
                "utilisation",
                "mean busy",
                "cold starts",
            ]);
            for p in &self.policies {
                for r in &p.resources {
                    t.add_row(vec![
                        p.name.clone(),
                        r.name.clone(),
                        r.capacity.map_or("∞".into(), |c| c.to_string()),
                        r.utilisation
                            .map_or("".into(), |u| format!("{:.1}%", u * 100.0)),
                        format!("{:.2}", r.mean_busy),
                        r.cold_starts.to_string(),
                    ]);
                }
            }
            let _ = writeln!(
                out,
                "\nshared capacity, arrivals {}:\n{t}",
                self.run.arrival
            );
        }
        let verdict = self.verdict();
        if !verdict.is_empty() {
            let _ = writeln!(out);
            for line in verdict {
                let _ = writeln!(out, "{line}");
            }
        }
        out
    }

    fn resources_markdown(&self, out: &mut String) {
        if self.policies.iter().all(|p| p.resources.is_empty()) {
            return;
        }
        let _ = writeln!(
            out,
            "## Shared capacity ({})\n\n| policy | resource | capacity | utilisation | mean busy | uses | cold starts |\n|---|---|---:|---:|---:|---:|---:|",
            self.run.arrival
        );
        for p in &self.policies {
            for r in &p.resources {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {:.2} | {} | {} |",
                    p.name,
                    r.name,
                    r.capacity.map_or("∞".into(), |c| c.to_string()),
                    r.utilisation
                        .map_or("".into(), |u| format!("{:.1}%", u * 100.0)),
                    r.mean_busy,
                    r.uses,
                    r.cold_starts
                );
            }
        }
        let _ = writeln!(out);
    }

    pub fn to_markdown(&self, scenario_source: Option<&str>) -> String {
        let mut out = String::new();
        let s = &self.scenario;
        let _ = writeln!(out, "# {}: sync vs async agent loops\n", s.name);
        if !s.description.is_empty() {
            let _ = writeln!(out, "{}\n", s.description.trim());
        }
        let _ = writeln!(
            out,
            "{} sessions, seed {}, scenario `{}`: {} calls per session, dependency depth {}.\n",
            self.run.sessions, self.run.seed, s.file, s.calls, s.depth
        );
        let verdict = self.verdict();
        if !verdict.is_empty() {
            let _ = writeln!(out, "## In short\n");
            for line in verdict {
                let _ = writeln!(out, "- {line}");
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out, "## Metrics per policy\n");
        let mut header = "| metric | stat |".to_string();
        let mut rule = "|---|---|".to_string();
        for p in &self.policies {
            let _ = write!(header, " {} |", p.name);
            rule.push_str("---:|");
        }
        let _ = writeln!(out, "{header}\n{rule}");
        for &(metric, _) in &self.policies[0].metrics.0 {
            for stat in ["p50", "p90", "p99", "p99.9", "mean", "max"] {
                let _ = write!(out, "| {} | {stat} |", metric.name());
                for p in &self.policies {
                    let m = p.metrics.get(metric).expect("every metric is reported");
                    let v = match stat {
                        "p50" => m.p50,
                        "p90" => m.p90,
                        "p99" => m.p99,
                        "p99.9" => m.p999,
                        "mean" => m.mean,
                        _ => m.max,
                    };
                    let _ = write!(out, " {} |", format_value(v, m.unit));
                }
                let _ = writeln!(out);
            }
        }
        let _ = writeln!(out);
        for c in &self.comparisons {
            let _ = writeln!(
                out,
                "## {} → {} (paired, session by session)\n",
                c.baseline, c.candidate
            );
            let _ = writeln!(
                out,
                "| metric | {b}/{a} mean [95% CI] | {b} − {a} mean [95% CI] | {a} lower in |\n|---|---:|---:|---:|",
                b = c.baseline,
                a = c.candidate
            );
            for (metric, s) in &c.metrics.0 {
                let _ = writeln!(
                    out,
                    "| {} | {:.3}× [{:.3}, {:.3}] | {} [{}, {}] | {:.1}% |",
                    metric.name(),
                    s.ratio.mean,
                    s.ratio.ci95_low,
                    s.ratio.ci95_high,
                    format_value(s.difference.mean, s.unit),
                    format_value(s.difference.ci95_low, s.unit),
                    format_value(s.difference.ci95_high, s.unit),
                    s.candidate_lower * 100.0
                );
            }
            let _ = writeln!(out);
        }
        self.resources_markdown(&mut out);
        let _ = writeln!(out, "## What the metrics mean\n");
        for &(metric, _) in &self.policies[0].metrics.0 {
            let _ = writeln!(out, "- **{}**: {}.", metric.name(), metric.meaning());
        }
        let _ = writeln!(
            out,
            "\nDefinitions: `shared/design/agent-loop-model.md`. Every policy sees the same random \
             draws for a session (common random numbers), so comparisons are paired.\n"
        );
        let _ = writeln!(
            out,
            "## Tools\n\n| tool | latency | mean | calls per session |\n|---|---|---:|---:|"
        );
        for t in &s.tools {
            let mean = t.mean_s.map_or("∞".to_string(), |m| human(m * 1e9));
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                t.name, t.latency, mean, t.calls
            );
        }
        if let Some(src) = scenario_source {
            let _ = writeln!(out, "\n## Scenario\n\n```toml\n{}\n```", src.trim_end());
        }
        out
    }

    /// Long-format CSV: one value per row, ready for a spreadsheet or a data frame.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("table,baseline,policy,metric,statistic,value,unit\n");
        let unit = |u: Unit| match u {
            Unit::Seconds => "s",
            Unit::Fraction => "fraction",
            Unit::Count => "count",
            Unit::Usd => "usd",
        };
        for p in &self.policies {
            for (metric, s) in &p.metrics.0 {
                for (stat, v) in [
                    ("count", s.count as f64),
                    ("mean", s.mean),
                    ("p50", s.p50),
                    ("p90", s.p90),
                    ("p99", s.p99),
                    ("p99.9", s.p999),
                    ("min", s.min),
                    ("max", s.max),
                ] {
                    let u = if stat == "count" {
                        "count"
                    } else {
                        unit(s.unit)
                    };
                    let _ = writeln!(out, "summary,,{},{},{stat},{v},{u}", p.name, metric.name());
                }
            }
        }
        for c in &self.comparisons {
            for (metric, s) in &c.metrics.0 {
                for (stat, v, u) in [
                    ("ratio_mean", s.ratio.mean, "ratio"),
                    ("ratio_ci95_low", s.ratio.ci95_low, "ratio"),
                    ("ratio_ci95_high", s.ratio.ci95_high, "ratio"),
                    ("difference_mean", s.difference.mean, unit(s.unit)),
                    ("difference_ci95_low", s.difference.ci95_low, unit(s.unit)),
                    ("difference_ci95_high", s.difference.ci95_high, unit(s.unit)),
                    ("candidate_lower", s.candidate_lower, "fraction"),
                ] {
                    let _ = writeln!(
                        out,
                        "comparison,{},{},{},{stat},{v},{u}",
                        c.baseline,
                        c.candidate,
                        metric.name()
                    );
                }
            }
        }
        out
    }
}

fn speed_sentence(a: &str, b: &str, what: &str, s: PairSummary) -> String {
    let r = s.ratio;
    if r.ci95_low > 1.0 {
        format!(
            "{a} {what} {:.2}× sooner than {b} on average (95% CI {:.2}–{:.2}), {} sooner per session.",
            r.mean,
            r.ci95_low,
            r.ci95_high,
            human(s.difference.mean * 1e9)
        )
    } else if r.ci95_high < 1.0 {
        format!(
            "{a} {what} later than {b}: {b}/{a} = {:.2}× (95% CI {:.2}–{:.2}), {} later per session. \
             Here async does not pay off.",
            r.mean,
            r.ci95_low,
            r.ci95_high,
            human(-s.difference.mean * 1e9)
        )
    } else {
        format!(
            "{a} and {b} {what} at about the same time ({b}/{a} = {:.2}×, 95% CI {:.2}–{:.2}).",
            r.mean, r.ci95_low, r.ci95_high
        )
    }
}

fn format_value(v: f64, unit: Unit) -> String {
    if v.is_nan() {
        return "n/a".into();
    }
    match unit {
        Unit::Seconds => human(v * 1e9),
        Unit::Fraction => format!("{:.1}%", v * 100.0),
        Unit::Count => format!("{v:.2}"),
        Unit::Usd => format_usd(v),
    }
}

/// Dollars with enough digits to compare sessions that cost fractions of a cent.
fn format_usd(v: f64) -> String {
    let (sign, a) = if v < 0.0 { ("-", -v) } else { ("", v) };
    if a == 0.0 {
        "$0".into()
    } else if a >= 1.0 {
        format!("{sign}${a:.2}")
    } else if a >= 0.01 {
        format!("{sign}${a:.4}")
    } else {
        format!("{sign}${a:.3e}")
    }
}
