//! The values a live report compares, per policy and metric: simulated (the session driver, on
//! the same draws) and measured (the live run). Quantiles are exact: the runs are small, so a
//! p50 is the median of the session values, not a histogram bucket.

use crate::records::LiveRun;
use serde::Serialize;
use sim::Scenario;
use sim::model::agent::Outcome;
use sim::model::policy::Policy;
use sim::model::time::Nanos;
use sim::run::metrics::{Metric, Unit};
use sim::run::session::SessionDriver;

/// The metrics compared, in report order (definitions: docs/agent-loop-model.md): the paired
/// metrics a live run measures (not reply latency or cost, which it does not model).
pub const METRICS: &[Metric] = Metric::PAIRED.split_at(6).0;

/// The unit a metric's values are in: `s` for times, `count` for turns.
pub fn unit(metric: Metric) -> &'static str {
    match metric.unit() {
        Unit::Count => "count",
        _ => "s",
    }
}

/// Per metric (in [`METRICS`] order), the values of one policy's sessions (result_delay: one
/// per call).
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

    fn push(&mut self, outcome: &Outcome, mut result_delays: impl Iterator<Item = Nanos>) {
        let s = |ns: Nanos| ns as f64 / 1e9;
        for (m, metric) in METRICS.iter().enumerate() {
            let values = &mut self.by_metric[m];
            match metric {
                Metric::Makespan => values.push(s(outcome.makespan)),
                Metric::FirstUpdate => values.push(s(outcome.first_update)),
                Metric::ResultDelay => values.extend(result_delays.by_ref().map(s)),
                Metric::MaxSilence => values.push(s(outcome.max_silence)),
                Metric::ModelIdle => values.push(s(outcome.model_idle())),
                Metric::Turns => values.push(f64::from(outcome.turns)),
                _ => unreachable!("not a live metric"),
            }
        }
    }
}

/// Simulates sessions `0..sessions` of `scenario` under each policy: the values `compare`
/// aggregates, kept per session.
pub fn simulate_values(
    scenario: &Scenario,
    seed: u64,
    sessions: u64,
    policies: &[Policy],
) -> Vec<Values> {
    let mut driver = SessionDriver::new(scenario, policies, seed);
    let mut out = vec![Values::new(); policies.len()];
    for session in 0..sessions {
        driver.run_all(session, |p, outcome, detail, _| {
            out[p].push(outcome, detail.calls.iter().map(|c| c.result_delay()));
        });
    }
    out
}

/// The measured values of a live run, per policy.
pub fn measured_values(run: &LiveRun) -> Vec<Values> {
    let mut out = vec![Values::new(); run.options.policies.len()];
    for s in &run.sessions {
        out[s.policy].push(&s.outcome, s.result_delays.iter().copied());
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

    #[test]
    fn every_metric_gets_its_values() {
        let outcome = Outcome {
            makespan: 3_000_000_000,
            first_update: 1_000_000_000,
            max_silence: 2_000_000_000,
            model_busy: 500_000_000,
            turns: 4,
            ..Outcome::default()
        };
        let mut v = Values::new();
        v.push(&outcome, [250_000_000, 750_000_000].into_iter());
        assert_eq!(
            v.by_metric,
            vec![
                vec![3.0],
                vec![1.0],
                vec![0.25, 0.75],
                vec![2.0],
                vec![2.5],
                vec![4.0]
            ]
        );
        assert_eq!(
            METRICS.iter().map(|&m| unit(m)).collect::<Vec<_>>(),
            ["s", "s", "s", "s", "s", "count"]
        );
        assert_eq!(METRICS.last(), Some(&Metric::Turns));
    }
}
