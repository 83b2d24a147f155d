//! Runs many sessions: shards them over threads and merges their metrics exactly. Scenarios
//! whose sessions share capacity run in one world instead ([`crate::run::world`]).

use crate::input::scenario::Scenario;
use crate::run::metrics::Metric;
use crate::run::options::{CHUNK_SESSIONS, RunError, RunOptions};
use crate::run::session::SessionDriver;
use crate::run::tally::{RunResults, Tally};
use std::sync::atomic::{AtomicU64, Ordering};

/// Simulates `opts.sessions` sessions of `scenario` under every policy. `progress` is told how
/// many sessions each finished chunk held; it is called from worker threads. Scenarios whose
/// sessions share capacity run in one world per policy, in arrival order (worlds on separate threads).
pub fn simulate(
    scenario: &Scenario,
    opts: &RunOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<RunResults, RunError> {
    let threads = opts.check()?;
    let active = Metric::active(scenario);
    if scenario.is_shared() {
        return crate::run::world::simulate_shared(scenario, opts, &active, progress);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| RunError::ThreadPool(e.to_string()))?;
    let n_policies = opts.policies.len();
    let chunks = opts.sessions.div_ceil(CHUNK_SESSIONS);
    // Each thread keeps one tally for the whole run and takes chunks until none is left, so
    // the tallies (a few MiB of histogram buckets each) are allocated, zeroed and merged once
    // per thread, not once per piece of work. Tallies are exact integer counts: which thread
    // ran which chunk changes nothing in the merged result.
    let next_chunk = AtomicU64::new(0);
    let tallies = pool.broadcast(|_| {
        let mut tally = Tally::new(n_policies, &active);
        let mut driver = SessionDriver::new(scenario, &opts.policies, opts.seed);
        loop {
            let chunk = next_chunk.fetch_add(1, Ordering::Relaxed);
            if chunk >= chunks {
                return tally;
            }
            let first = chunk * CHUNK_SESSIONS;
            let last = (first + CHUNK_SESSIONS).min(opts.sessions);
            for session in first..last {
                driver.run_all(session, |p, outcome, detail, extras| {
                    tally.record(p, outcome, detail, extras)
                });
                tally.pair_session();
            }
            progress(last - first);
        }
    });
    let mut tallies = tallies.into_iter();
    let mut tally = tallies.next().expect("a pool has at least one thread");
    for other in tallies {
        tally.merge(&other);
    }
    Ok(tally.into_results(opts.sessions, opts.seed, &opts.policies, Vec::new()))
}
