//! A sweep's report for people and programs: JSON, a terminal table, Markdown, and the
//! crossovers in words.

use super::{Crossover, SweepReport};
use crate::run::metrics::Metric;
use std::fmt::Write as _;

impl SweepReport {
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a sweep always serializes");
        s.push('\n');
        s
    }

    fn metric_names(&self) -> Vec<Metric> {
        self.points
            .first()
            .map(|p| p.metrics.0.iter().map(|(m, _)| *m).collect())
            .unwrap_or_default()
    }

    /// What "lower" means for a metric, in words.
    fn lower_word(metric: &str) -> &'static str {
        match Metric::ALL
            .iter()
            .find(|m| m.name() == metric)
            .map(|m| m.unit())
        {
            Some(crate::run::metrics::Unit::Seconds) => "faster",
            Some(crate::run::metrics::Unit::Usd) => "cheaper",
            _ => "lower",
        }
    }

    /// The crossovers as sentences (one per metric; two-axis sweeps list the crossover at each
    /// value of the second axis); says so when there are none.
    pub fn crossover_sentences(&self) -> Vec<String> {
        let axis = &self.axes[0].axis;
        let (b, a) = (&self.baseline, &self.candidate);
        let mut out = Vec::new();
        let mut none = Vec::new();
        for metric in self.metric_names() {
            let found: Vec<&Crossover> = self
                .crossovers
                .iter()
                .filter(|c| c.metric == metric.name())
                .collect();
            if found.is_empty() {
                none.push(metric.name());
                continue;
            }
            let word = Self::lower_word(metric.name());
            let one_way = found
                .iter()
                .all(|c| c.candidate_stops_being_lower == found[0].candidate_stops_being_lower);
            if let (Some(other), true) = (self.axes.get(1), one_way) {
                let turn = if found[0].candidate_stops_being_lower {
                    "stops"
                } else {
                    "starts"
                };
                let list: Vec<String> = found
                    .iter()
                    .map(|c| {
                        format!(
                            "{} when {} = {}",
                            axis.show(c.value),
                            other.axis.key,
                            other.axis.show(c.at_other.unwrap_or(f64::NAN))
                        )
                    })
                    .collect();
                out.push(format!(
                    "{}: {a} {turn} being {word} than {b} at {} ≈ {}.",
                    metric.name(),
                    axis.key,
                    list.join(", ")
                ));
                continue;
            }
            let places: Vec<String> = found
                .iter()
                .map(|c| {
                    let turn = if c.candidate_stops_being_lower {
                        format!("{a} stops being {word}")
                    } else {
                        format!("{a} becomes {word}")
                    };
                    let other = match (c.at_other, self.axes.get(1)) {
                        (Some(y), Some(ax)) => {
                            format!(" when {} = {}", ax.axis.key, ax.axis.show(y))
                        }
                        _ => String::new(),
                    };
                    format!(
                        "{turn} than {b} at {} ≈ {}{other} (between steps {} and {})",
                        axis.key,
                        axis.show(c.value),
                        axis.show(c.between[0]),
                        axis.show(c.between[1])
                    )
                })
                .collect();
            out.push(format!("{}: {}.", metric.name(), places.join("; ")));
        }
        if !none.is_empty() {
            out.push(format!(
                "No crossover in this range for {}.",
                none.join(", ")
            ));
        }
        out
    }

    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}: {} → {} speedup ({}/{} per session, mean), {} sessions per step, seed {}",
            self.scenario,
            self.baseline,
            self.candidate,
            self.baseline,
            self.candidate,
            self.sessions,
            self.seed
        );
        let mut table = comfy_table::Table::new();
        table.load_style(comfy_table::presets::UTF8_BORDERS_ONLY);
        let mut header: Vec<String> = self.axes.iter().map(|a| a.axis.key.clone()).collect();
        header.extend(self.metric_names().iter().map(|m| m.name().to_string()));
        table.set_header(header);
        for p in &self.points {
            let mut row: Vec<String> = self
                .axes
                .iter()
                .zip(&p.at)
                .map(|(a, x)| a.axis.show(*x))
                .collect();
            row.extend(p.metrics.0.iter().map(|(_, s)| {
                // A star: the 95% interval includes 1×, no difference shown.
                let star = if s.ratio.ci95_low <= 1.0 && s.ratio.ci95_high >= 1.0 {
                    "*"
                } else {
                    ""
                };
                format!("{:.3}×{star}", s.ratio.mean)
            }));
            table.add_row(row);
        }
        let _ = writeln!(out, "{table}");
        let _ = writeln!(
            out,
            "* the 95% confidence interval includes 1×. Intervals: --format json or markdown, and sweep.html (--out).\n"
        );
        for line in self.crossover_sentences() {
            let _ = writeln!(out, "{line}");
        }
        out
    }

    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# {}: sweep of {}\n\n{}/{} per session (mean [95% CI]); > 1 means {} is lower. {} \
             sessions per step, seed {}.\n",
            self.scenario,
            self.axes
                .iter()
                .map(|a| a.axis.key.as_str())
                .collect::<Vec<_>>()
                .join(" × "),
            self.baseline,
            self.candidate,
            self.candidate,
            self.sessions,
            self.seed
        );
        for line in self.crossover_sentences() {
            let _ = writeln!(out, "- {line}");
        }
        let _ = writeln!(out);
        let mut header = String::from("|");
        let mut rule = String::from("|");
        for a in &self.axes {
            let _ = write!(header, " {} |", a.axis.key);
            rule.push_str("---:|");
        }
        for m in self.metric_names() {
            let _ = write!(header, " {} |", m.name());
            rule.push_str("---:|");
        }
        let _ = writeln!(out, "{header}\n{rule}");
        for p in &self.points {
            let mut line = String::from("|");
            for (a, x) in self.axes.iter().zip(&p.at) {
                let _ = write!(line, " {} |", a.axis.show(*x));
            }
            for (_, s) in &p.metrics.0 {
                let _ = write!(
                    line,
                    " {:.3}× [{:.3}, {:.3}] |",
                    s.ratio.mean, s.ratio.ci95_low, s.ratio.ci95_high
                );
            }
            let _ = writeln!(out, "{line}");
        }
        out
    }
}
