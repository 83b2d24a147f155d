//! Sizing a live run from its own simulation: how far apart sessions start, and how many calls
//! are in flight at once (so the local worker runs enough receive loops).

use crate::options::LiveOptions;
use crate::values::{Stats, simulate_values};
use sim::Scenario;
use sim::input::scenario::{Latency, Overheads};
use sim::model::dist::Dist;
use sim::model::time::Nanos;
use sim::run::session::SessionDriver;

/// The simulated mean makespan over the run's sessions and policies.
pub fn mean_makespan(scenario: &Scenario, options: &LiveOptions) -> Nanos {
    let values = simulate_values(scenario, options.seed, options.sessions, &options.policies);
    let all: Vec<f64> = values.iter().flat_map(|v| v.by_metric[0].clone()).collect();
    (Stats::of(&all).mean * 1e9) as Nanos
}

/// The most calls in flight at once over the whole run, from the simulation of the same
/// sessions without overheads (the pipeline supplies those), started `stagger` apart.
pub fn peak_in_flight(scenario: &Scenario, options: &LiveOptions, stagger: Nanos) -> usize {
    let mut s = scenario.clone();
    let zero = Latency::new(Dist::zero()).expect("zero is valid");
    s.overheads = Overheads {
        sync_invocation: zero.clone(),
        async_dispatch: zero.clone(),
        async_delivery: zero,
    };
    let mut driver = SessionDriver::new(&s, &options.policies, options.seed);
    // +1 at a call's start, −1 at its end; ends sort before starts at the same instant.
    let mut edges: Vec<(Nanos, i32)> = Vec::new();
    for session in 0..options.sessions {
        let start = session.saturating_mul(stagger);
        driver.run_all(session, |_, _, detail, _| {
            for c in &detail.calls {
                edges.push((start + c.started, 1));
                edges.push((start + c.finished, -1));
            }
        });
    }
    edges.sort_unstable();
    let (mut now, mut peak) = (0i64, 0i64);
    for (_, d) in edges {
        now += i64::from(d);
        peak = peak.max(now);
    }
    peak as usize
}
