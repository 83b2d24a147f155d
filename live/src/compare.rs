//! Simulated vs measured, side by side: the same sessions (same seed, same session indices, same
//! draws) simulated and run live, summarised per metric and policy ([`crate::values`]).

use crate::options::BackendKind;
use crate::records::LiveRun;
use crate::values::{METRICS, Stats, Values, measured_values, simulate_values, unit};
use serde::Serialize;
use sim::Scenario;
use sim::model::policy::PolicyRole;
use sim::model::time::Nanos;
use std::fmt::Write as _;

/// A paired difference smaller than this fraction of the baseline's p50 has no meaningful sign.
pub const MATERIAL: f64 = 0.02;

/// Identifies the JSON layout of a live report; bump it when a field changes meaning.
pub const SCHEMA: &str = "asynctools.live/v1";

/// (measured − simulated) / simulated; `None` when the simulated value is 0.
fn rel(measured: f64, simulated: f64) -> Option<f64> {
    (simulated != 0.0).then(|| (measured - simulated) / simulated)
}

#[derive(Debug, Clone, Serialize)]
pub struct MetricRow {
    pub metric: &'static str,
    /// `s` for times, `count` for turns.
    pub unit: &'static str,
    pub simulated: Stats,
    pub measured: Stats,
    pub rel_error_p50: Option<f64>,
    pub rel_error_mean: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyRows {
    pub policy: String,
    pub metrics: Vec<MetricRow>,
}

/// A sync-vs-async difference, simulated and measured: the median of the paired differences.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    pub metric: &'static str,
    pub baseline: String,
    pub policy: String,
    /// Median over sessions of (policy − baseline).
    pub simulated: f64,
    pub measured: f64,
    /// Below this size (2% of the baseline's simulated p50) a difference is "none": its sign is
    /// noise at the sizes a live run measures, and the p50s themselves are held to 5%.
    pub material: f64,
    /// Same sign, or both smaller than `material` (the simulator and the pipeline agree that
    /// there is no material difference).
    pub same_sign: bool,
}

/// What the pipeline cost, per call, in scenario seconds.
#[derive(Debug, Clone, Serialize)]
pub struct Overheads {
    /// Tool start − issue (async policies).
    pub dispatch: Option<Stats>,
    /// Result arrival − (tool start + drawn latency) (async policies).
    pub delivery: Option<Stats>,
    /// Result arrival − issue − drawn latency (blocking policies: what sync_invocation stands for).
    pub sync_invocation: Option<Stats>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tasks {
    pub submitted: usize,
    pub succeeded: usize,
    /// Tasks whose tool ran exactly once.
    pub executed_once: usize,
    pub duplicate_results: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LiveReport {
    pub schema: &'static str,
    pub scenario: String,
    pub file: String,
    pub backend: BackendKind,
    pub sessions: u64,
    pub seed: u64,
    pub time_scale: f64,
    pub wall_s: f64,
    /// Overlay files the simulated side was computed with.
    pub overlays: Vec<String>,
    pub tasks: Tasks,
    pub overheads: Overheads,
    pub policies: Vec<PolicyRows>,
    pub differences: Vec<Difference>,
}

impl LiveReport {
    /// Compares `run` with the simulation of the same sessions of `scenario` (which may carry
    /// overlays: a calibration, say).
    pub fn new(scenario: &Scenario, run: &LiveRun, overlays: Vec<String>) -> LiveReport {
        let o = &run.options;
        let simulated = simulate_values(scenario, o.seed, o.sessions, &o.policies);
        let measured = measured_values(run);
        let policies: Vec<PolicyRows> = o
            .policies
            .iter()
            .enumerate()
            .map(|(p, policy)| PolicyRows {
                policy: policy.name(),
                metrics: METRICS
                    .iter()
                    .enumerate()
                    .map(|(m, &metric)| {
                        let metric = metric.name();
                        let sim = Stats::of(&simulated[p].by_metric[m]);
                        let live = Stats::of(&measured[p].by_metric[m]);
                        MetricRow {
                            metric,
                            unit: unit(METRICS[m]),
                            simulated: sim,
                            measured: live,
                            rel_error_p50: rel(live.p50, sim.p50),
                            rel_error_mean: rel(live.mean, sim.mean),
                        }
                    })
                    .collect(),
            })
            .collect();
        // Paired, as the simulator compares policies: the median over sessions (calls, for
        // result_delay) of each session's own difference. The policies share every draw, so
        // this is far steadier than a difference of two medians on tens of sessions.
        let mut differences = Vec::new();
        for (b, base) in o.policies.iter().enumerate() {
            for (a, other) in o.policies.iter().enumerate() {
                if base.kind.role() != PolicyRole::Baseline
                    || other.kind.role() != PolicyRole::Candidate
                {
                    continue;
                }
                for (m, metric) in METRICS.iter().map(|m| m.name()).enumerate() {
                    let paired = |v: &[Values]| {
                        let d: Vec<f64> = v[a].by_metric[m]
                            .iter()
                            .zip(&v[b].by_metric[m])
                            .map(|(x, y)| x - y)
                            .collect();
                        Stats::of(&d).p50
                    };
                    let simulated_d = paired(&simulated);
                    let measured_d = paired(&measured);
                    let material = MATERIAL * policies[b].metrics[m].simulated.p50.abs();
                    differences.push(Difference {
                        metric,
                        baseline: base.name(),
                        policy: other.name(),
                        simulated: simulated_d,
                        measured: measured_d,
                        material,
                        same_sign: simulated_d.signum() == measured_d.signum()
                            || simulated_d.abs().max(measured_d.abs()) < material,
                    });
                }
            }
        }
        let cal = crate::calibrate::Calibration::from_run(run);
        let stats = |v: &[Nanos]| {
            (!v.is_empty())
                .then(|| Stats::of(&v.iter().map(|&x| x as f64 / 1e9).collect::<Vec<_>>()))
        };
        let not_once = run.not_run_once().len();
        LiveReport {
            schema: SCHEMA,
            scenario: scenario.name.clone(),
            file: scenario.file.clone(),
            backend: o.backend,
            sessions: o.sessions,
            seed: o.seed,
            time_scale: o.time_scale,
            wall_s: run.wall.as_secs_f64(),
            overlays,
            tasks: Tasks {
                submitted: run.calls.len(),
                succeeded: run.calls.iter().filter(|c| c.status == "SUCCEEDED").count(),
                executed_once: run.calls.len() - not_once,
                duplicate_results: run.duplicate_results,
            },
            overheads: Overheads {
                dispatch: stats(&cal.async_dispatch),
                delivery: stats(&cal.async_delivery),
                sync_invocation: stats(&cal.sync_invocation),
            },
            policies,
            differences,
        }
    }

    pub fn row(&self, policy: &str, metric: &str) -> Option<&MetricRow> {
        self.policies
            .iter()
            .find(|p| p.policy == policy)?
            .metrics
            .iter()
            .find(|m| m.metric == metric)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a live report always serializes") + "\n"
    }

    /// The side-by-side table for the terminal.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} ({}): {} sessions × {} policies live on the {} backend, time scale {} ({:.1} s wall)",
            self.scenario,
            self.file,
            self.sessions,
            self.policies.len(),
            self.backend.name(),
            self.time_scale,
            self.wall_s
        );
        if !self.overlays.is_empty() {
            let _ = writeln!(out, "simulated with overlay {}", self.overlays.join(", "));
        }
        let t = &self.tasks;
        let _ = writeln!(
            out,
            "tasks: {} submitted, {} succeeded, {} executed exactly once, {} duplicate results \
             ignored",
            t.submitted, t.succeeded, t.executed_once, t.duplicate_results
        );
        let _ = writeln!(
            out,
            "times in scenario seconds; error = (measured − simulated) / simulated\n"
        );
        let _ = writeln!(
            out,
            "{:<14} {:<13} {:>10} {:>10} {:>8}   {:>10} {:>10} {:>8}",
            "policy", "metric", "sim p50", "live p50", "error", "sim mean", "live mean", "error"
        );
        let pct = |e: Option<f64>| e.map_or("—".to_string(), |e| format!("{:+.1}%", e * 100.0));
        for p in &self.policies {
            for m in &p.metrics {
                let _ = writeln!(
                    out,
                    "{:<14} {:<13} {:>10.3} {:>10.3} {:>8}   {:>10.3} {:>10.3} {:>8}",
                    p.policy,
                    m.metric,
                    m.simulated.p50,
                    m.measured.p50,
                    pct(m.rel_error_p50),
                    m.simulated.mean,
                    m.measured.mean,
                    pct(m.rel_error_mean)
                );
            }
        }
        if !self.differences.is_empty() {
            let _ = writeln!(
                out,
                "\nmedian paired difference (policy − baseline, per session), scenario seconds:"
            );
            for d in &self.differences {
                let verdict = if !d.same_sign {
                    "  (SIGN DIFFERS)"
                } else if d.simulated.abs().max(d.measured.abs()) < d.material {
                    "  (no material difference: both under 2% of the baseline)"
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "  {:<13} {} − {}: simulated {:+.3}, measured {:+.3}{verdict}",
                    d.metric, d.policy, d.baseline, d.simulated, d.measured,
                );
            }
        }
        let o = &self.overheads;
        let _ = writeln!(
            out,
            "\npipeline overheads per call, scenario seconds (p50 / mean):"
        );
        for (name, s) in [
            ("async dispatch", o.dispatch),
            ("async delivery", o.delivery),
            ("sync invocation", o.sync_invocation),
        ] {
            if let Some(s) = s {
                let _ = writeln!(out, "  {name:<16} {:.4} / {:.4}", s.p50, s.mean);
            }
        }
        out
    }
}
