//! The shared world on several threads: the same bytes on any thread count, and errors that
//! stop every thread.

use super::*;
use crate::model::policy::Policy;
use crate::output::report::Report;
use std::sync::atomic::{AtomicU64, Ordering};

const SHARED: &str = r#"
    seed = 9
    [model]
    turn = { dist = "lognormal", median = "300ms", sigma = 0.5 }
    concurrency = 6
    requests_per_s = 40.0
    [tools.search]
    latency = { dist = "lognormal", median = "1s", sigma = 0.8 }
    concurrency = 4
    cold_start = "300ms"
    keep_warm = "2s"
    [tools.lookup]
    latency = { dist = "exponential", mean = "100ms" }
    concurrency = 2
    failure_rate = 0.05
    retries = 1
    [plan]
    rounds = [["search", "lookup"], ["lookup"]]
    [workload]
    arrival = "poisson"
    rate_per_s = 3.0
    [user]
    followups = 1
    gap = { dist = "exponential", mean = "2s" }
"#;

fn run(text: &str, sessions: u64, threads: usize) -> (Result<String, RunError>, u64) {
    run_policies(
        text,
        sessions,
        threads,
        &["sync", "async", "sequential", "async+stream"],
    )
}

fn run_policies(
    text: &str,
    sessions: u64,
    threads: usize,
    policies: &[&str],
) -> (Result<String, RunError>, u64) {
    let scenario = crate::Scenario::parse(text, "shared.toml").unwrap_or_else(|e| panic!("{e}"));
    let policies = policies.iter().map(|p| Policy::parse(p).unwrap()).collect();
    let opts = RunOptions {
        sessions,
        seed: scenario.seed,
        threads: Some(threads),
        policies,
    };
    let progress = AtomicU64::new(0);
    let result = crate::simulate(&scenario, &opts, &|n| {
        progress.fetch_add(n, Ordering::Relaxed);
    })
    .map(|r| Report::new(&scenario, &r).to_json());
    (result, progress.into_inner())
}

#[test]
fn many_chunks_give_the_same_bytes_on_any_thread_count() {
    let sessions = 3 * CHUNK_SESSIONS + 123;
    let (one, progress) = run(SHARED, sessions, 1);
    let one = one.unwrap();
    assert_eq!(
        progress,
        3 * CHUNK_SESSIONS,
        "world 0 reports each full chunk"
    );
    for threads in [2, 3, 8] {
        assert_eq!(run(SHARED, sessions, threads).0.unwrap(), one);
    }
}

#[test]
fn one_world_with_a_thread_drawing_ahead_gives_the_same_bytes() {
    // one thread: the world draws as it goes; two: the other thread draws through the feed
    // (with every overhead drawn, so each list of a session's draws is copied from the feed)
    let text = format!(
        "{SHARED}\n[overheads]\nasync_dispatch = {{ dist = \"lognormal\", median = \"30ms\", sigma = 0.4 }}\n\
         async_delivery = {{ dist = \"exponential\", mean = \"40ms\" }}\n"
    );
    let sessions = 5 * CHUNK_SESSIONS + 7;
    let own = run_policies(&text, sessions, 1, &["async"]).0.unwrap();
    let fed = run_policies(&text, sessions, 2, &["async"]).0.unwrap();
    assert_eq!(own, fed);
}

#[test]
fn too_many_active_sessions_stop_every_thread() {
    let flood = SHARED.replace("rate_per_s = 3.0", "rate_per_s = 1e6");
    for threads in [1, 2, 4] {
        let (result, _) = run(&flood, 2 * MAX_ACTIVE_SESSIONS, threads);
        assert_eq!(
            result.unwrap_err(),
            RunError::TooManyActive {
                active: MAX_ACTIVE_SESSIONS + 1,
                limit: MAX_ACTIVE_SESSIONS
            }
        );
    }
}
