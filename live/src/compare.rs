//! Simulated vs measured, side by side: the same sessions (same seed, same session indices, same
//! draws) simulated and run live, summarised per metric and policy.
//!
//! Quantiles here are exact (the runs are small), so a live report's p50 is the median of the
//! session values, not an hdrhistogram bucket.

use crate::runner::{BackendKind, LiveRun};
use serde::Serialize;
use sim::agent::{Workspace, simulate_session};
use sim::draws::SessionDraws;
use sim::policy::{Policy, PolicyKind};
use sim::scenario::Scenario;
use sim::time::Nanos;
use std::fmt::Write as _;

/// A paired difference smaller than this fraction of the baseline's p50 has no meaningful sign.
pub const MATERIAL: f64 = 0.02;

/// Identifies the JSON layout of a live report; bump it when a field changes meaning.
pub const SCHEMA: &str = "asynctools.live/v1";

/// The metrics compared, in report order (definitions: shared/design/agent-loop-model.md).
pub const METRICS: [&str; 6] = [
    "makespan",
    "first_update",
    "result_delay",
    "max_silence",
    "model_idle",
    "turns",
];

/// Per metric, the values of one policy's sessions (result_delay: one per call).
#[derive(Debug, Clone, Default)]
pub struct Values {
    pub by_metric: Vec<Vec<f64>>,
}

impl Values {
    fn new() -> Values {
        Values {
            by_metric: vec![Vec::new(); METRICS.len()],
        }
    }

    fn push(&mut self, outcome: &sim::agent::Outcome, result_delays: &[Nanos]) {
        let s = |ns: Nanos| ns as f64 / 1e9;
        self.by_metric[0].push(s(outcome.makespan));
        self.by_metric[1].push(s(outcome.first_update));
        self.by_metric[2].extend(result_delays.iter().map(|&d| s(d)));
        self.by_metric[3].push(s(outcome.max_silence));
        self.by_metric[4].push(s(outcome.model_idle()));
        self.by_metric[5].push(f64::from(outcome.turns));
    }
}

/// Simulates sessions `0..sessions` of `scenario` under each policy with the simulator's own
/// session code: the values `compare` aggregates, kept per session.
pub fn simulate_values(
    scenario: &Scenario,
    seed: u64,
    sessions: u64,
    policies: &[Policy],
) -> Vec<Values> {
    let setups = sim::runner::setups(scenario, policies);
    let needs = sim::runner::needs(policies);
    let mut draws = SessionDraws::default();
    let mut ws = Workspace::default();
    let mut out = vec![Values::new(); policies.len()];
    for session in 0..sessions {
        draws.draw(scenario, seed, session, needs);
        for (p, setup) in setups.iter().enumerate() {
            let outcome = simulate_session(
                setup,
                sim::runner::inputs(scenario, setup.policy, &mut draws),
                &mut ws,
            );
            let delays: Vec<Nanos> = ws.session.calls.iter().map(|c| c.result_delay()).collect();
            out[p].push(&outcome, &delays);
        }
    }
    out
}

/// The measured values of a live run, per policy.
pub fn measured_values(run: &LiveRun) -> Vec<Values> {
    let mut out = vec![Values::new(); run.options.policies.len()];
    for s in &run.sessions {
        out[s.policy].push(&s.outcome, &s.result_delays);
    }
    out
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Stats {
    pub count: usize,
    pub p50: f64,
    pub mean: f64,
    pub p90: f64,
}

impl Stats {
    pub fn of(values: &[f64]) -> Stats {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let q = |p: f64| {
            if v.is_empty() {
                return 0.0;
            }
            // Linear interpolation between order statistics (type 7, as numpy's default).
            let h = p * (v.len() - 1) as f64;
            let lo = h.floor() as usize;
            let hi = h.ceil() as usize;
            v[lo] + (h - lo as f64) * (v[hi] - v[lo])
        };
        Stats {
            count: v.len(),
            p50: q(0.5),
            mean: if v.is_empty() {
                0.0
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            },
            p90: q(0.9),
        }
    }
}

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
                        let sim = Stats::of(&simulated[p].by_metric[m]);
                        let live = Stats::of(&measured[p].by_metric[m]);
                        MetricRow {
                            metric,
                            unit: if metric == "turns" { "count" } else { "s" },
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
                if base.kind != PolicyKind::Sync || other.kind != PolicyKind::Async {
                    continue;
                }
                for (m, &metric) in METRICS.iter().enumerate() {
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
            match self.backend {
                BackendKind::Memory => "memory",
                BackendKind::Aws => "aws",
            },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_quantiles() {
        let s = Stats::of(&[3.0, 1.0, 2.0, 4.0]);
        assert_eq!(s.p50, 2.5);
        assert_eq!(s.mean, 2.5);
        assert_eq!(Stats::of(&[5.0]).p90, 5.0);
        assert_eq!(Stats::of(&[]).count, 0);
    }
}
