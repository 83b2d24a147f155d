//! The human-readable renderings of a [`Report`]: the verdict sentences, the terminal table,
//! Markdown and CSV, with their number formatting.

use super::{PairSummary, Report};
use crate::model::time::human;
use crate::run::metrics::{Metric, Unit};
use std::fmt::Write as _;

impl Report {
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
            "\nDefinitions: `docs/agent-loop-model.md`. Every policy sees the same random \
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
