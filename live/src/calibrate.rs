//! Calibration: the overheads the pipeline really has, measured per call in a live run, written
//! as a scenario overlay (an `[overheads]` table) that `run`, `compare` and `live` accept.
//!
//! The overheads are defined so that the simulator, given them, reproduces each call's arrival:
//! the simulator computes `available = issued + pre + latency + post`. So, in scenario time,
//! - async `dispatch` (pre) = tool start − issue: acknowledgement, enqueue, receive, claim;
//! - async `delivery` (post) = arrival − (tool start + drawn latency): whatever the tool's run
//!   took beyond its draw (timer granularity), the terminal write, publishing, the results
//!   queue and the agent's receive;
//! - `sync_invocation` (pre, blocking loops) = arrival − issue − drawn latency: the blocking
//!   loops here call through the same pipeline and wait, so they pay both.

use crate::records::LiveRun;
use sim::model::policy::Policy;
use sim::model::time::Nanos;
use std::fmt::Write as _;

/// An overlay keeps at most this many samples per overhead: evenly spaced order statistics, which
/// keep the distribution's shape and keep the file small.
pub const MAX_SAMPLES: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fit {
    /// Resample the measured overheads (exact shape, as many samples as [`MAX_SAMPLES`]).
    #[default]
    Empirical,
    /// A lognormal by the mean and standard deviation of the logs (compact, smooth tail).
    Lognormal,
}

impl std::str::FromStr for Fit {
    type Err = String;
    fn from_str(s: &str) -> Result<Fit, String> {
        match s {
            "empirical" => Ok(Fit::Empirical),
            "lognormal" => Ok(Fit::Lognormal),
            other => Err(format!("unknown fit {other:?}: use empirical or lognormal")),
        }
    }
}

/// Measured overheads per call, scenario nanoseconds.
#[derive(Debug, Clone, Default)]
pub struct Calibration {
    pub sync_invocation: Vec<Nanos>,
    pub async_dispatch: Vec<Nanos>,
    pub async_delivery: Vec<Nanos>,
}

impl Calibration {
    pub fn from_run(run: &LiveRun) -> Calibration {
        let mut c = Calibration::default();
        for call in &run.calls {
            let policy: &Policy = &run.options.policies[call.policy];
            if policy.is_blocking() {
                c.sync_invocation.push(
                    call.arrival
                        .saturating_sub(call.issued)
                        .saturating_sub(call.run),
                );
            } else if let Some(start) = call.tool_start {
                c.async_dispatch.push(start.saturating_sub(call.issued));
                c.async_delivery
                    .push(call.arrival.saturating_sub(start).saturating_sub(call.run));
            }
        }
        c
    }

    /// The overlay text: an `[overheads]` table with a key per overhead that was measured (a
    /// run without blocking policies leaves the scenario's `sync_invocation` as it is).
    pub fn overlay(&self, fit: Fit, header: &str) -> String {
        let mut out = String::new();
        for line in header.lines() {
            let _ = writeln!(out, "# {line}");
        }
        let _ = writeln!(
            out,
            "# Durations are scenario time (wall time / time scale). Apply with --overlay FILE.\n"
        );
        let _ = writeln!(out, "[overheads]");
        for (key, values) in [
            ("sync_invocation", &self.sync_invocation),
            ("async_dispatch", &self.async_dispatch),
            ("async_delivery", &self.async_delivery),
        ] {
            if values.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "# {key}: {} calls, median {}, mean {}",
                values.len(),
                sim::model::time::human(median(values) as f64),
                sim::model::time::human(mean(values))
            );
            let _ = writeln!(out, "{key} = {}", dist_toml(values, fit));
        }
        out
    }
}

pub fn median(values: &[Nanos]) -> Nanos {
    let mut v = values.to_vec();
    v.sort_unstable();
    match v.len() {
        0 => 0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2,
    }
}

fn mean(values: &[Nanos]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64
    }
}

/// Durations as whole microseconds ("1234us"): exact enough (scenario µs) and always parseable.
fn us(ns: f64) -> String {
    format!("\"{}us\"", (ns / 1e3).round().max(0.0) as u64)
}

fn dist_toml(values: &[Nanos], fit: Fit) -> String {
    match fit {
        Fit::Empirical => {
            let mut v = values.to_vec();
            v.sort_unstable();
            let picked: Vec<Nanos> = if v.len() <= MAX_SAMPLES {
                v
            } else {
                (0..MAX_SAMPLES)
                    .map(|i| v[i * (v.len() - 1) / (MAX_SAMPLES - 1)])
                    .collect()
            };
            let samples: Vec<String> = picked.iter().map(|&x| us(x as f64)).collect();
            format!(
                "{{ dist = \"empirical\", samples = [{}] }}",
                samples.join(", ")
            )
        }
        Fit::Lognormal => {
            // A zero overhead has no log; a microsecond stands in for it.
            let logs: Vec<f64> = values.iter().map(|&x| (x.max(1_000) as f64).ln()).collect();
            let n = logs.len() as f64;
            let mu = logs.iter().sum::<f64>() / n;
            let var = logs.iter().map(|l| (l - mu).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
            format!(
                "{{ dist = \"lognormal\", median = {}, sigma = {:.4} }}",
                us(mu.exp()),
                var.sqrt()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlays_parse_as_scenario_overheads() {
        let c = Calibration {
            sync_invocation: vec![],
            async_dispatch: vec![1_000_000, 2_000_000, 3_000_000],
            async_delivery: (0..5000).map(|i| i * 1000).collect(),
        };
        let base = "name = \"t\"\n[model]\nturn = \"1s\"\n[tools.a]\nlatency = \"2s\"\n\
                    [plan]\nrounds = [[\"a\"]]\n[overheads]\nsync_invocation = \"7ms\"\n";
        for fit in [Fit::Empirical, Fit::Lognormal] {
            let text = c.overlay(fit, "test");
            let s = sim::input::overlay::apply(base, "b.toml", &[("o.toml".into(), text.clone())])
                .unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(s.overheads.sync_invocation.dist.mean_ns(), Some(7e6));
            let m = s.overheads.async_dispatch.dist.mean_ns().unwrap();
            assert!((m - 2e6).abs() < 0.2e6, "{m}");
        }
        assert_eq!(median(&[3, 1, 2]), 2);
    }
}
