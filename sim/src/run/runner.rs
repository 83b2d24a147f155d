//! Runs many sessions: shards them over threads and merges their metrics exactly. Scenarios
//! whose sessions share capacity run in one world instead ([`crate::run::world`]).

use crate::input::scenario::Scenario;
use crate::run::metrics::Metric;
use crate::run::options::{CHUNK_SESSIONS, RunError, RunOptions};
use crate::run::session::SessionDriver;
use crate::run::tally::{RunResults, Tally};
use rayon::prelude::*;

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
    let empty = || Tally::new(n_policies, &active);
    let chunks = opts.sessions.div_ceil(CHUNK_SESSIONS);
    let tally = pool.install(|| {
        (0..chunks)
            .into_par_iter()
            .fold(
                || {
                    (
                        empty(),
                        SessionDriver::new(scenario, &opts.policies, opts.seed),
                    )
                },
                |(mut tally, mut driver), chunk| {
                    let first = chunk * CHUNK_SESSIONS;
                    let last = (first + CHUNK_SESSIONS).min(opts.sessions);
                    for session in first..last {
                        driver.run_all(session, |p, outcome, detail, extras| {
                            tally.record(p, outcome, detail, extras)
                        });
                        tally.pair_session();
                    }
                    progress(last - first);
                    (tally, driver)
                },
            )
            .map(|(tally, _)| tally)
            .reduce(empty, |mut a, b| {
                a.merge(&b);
                a
            })
    });
    Ok(tally.into_results(opts.sessions, opts.seed, &opts.policies, Vec::new()))
}
