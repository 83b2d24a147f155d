//! A seed reproduces a run exactly, whatever the thread count.

mod common;

use sim::output::report::Report;
use sim::{Policy, RunOptions, simulate};

fn json(threads: usize, sessions: u64, seed: u64) -> String {
    let scenario = sim::Scenario::from_file(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/trip-planner-dag.toml"
    )))
    .unwrap();
    let opts = RunOptions {
        sessions,
        seed,
        threads: Some(threads),
        policies: vec![
            Policy::SEQUENTIAL,
            Policy::SYNC,
            Policy::ASYNC,
            Policy::ASYNC.with_batch_window(200_000_000),
        ],
    };
    Report::new(&scenario, &simulate(&scenario, &opts, &|_| {}).unwrap()).to_json()
}

#[test]
fn same_seed_same_json_on_any_thread_count() {
    // Not a multiple of the shard size, so shards differ in length.
    let one = json(1, 30_001, 9);
    assert_eq!(one, json(2, 30_001, 9));
    assert_eq!(one, json(3, 30_001, 9));
    assert_ne!(one, json(2, 30_001, 10), "another seed gives other results");
}

#[test]
fn a_traced_session_matches_the_aggregate_run() {
    let scenario = common::one_round(3, "{ dist = \"exponential\", mean = \"1s\" }");
    for policy in [Policy::SEQUENTIAL, Policy::SYNC, Policy::ASYNC] {
        let opts = RunOptions {
            sessions: 1,
            seed: 5,
            threads: Some(1),
            policies: vec![policy.clone()],
        };
        let results = simulate(&scenario, &opts, &|_| {}).unwrap();
        let trace = sim::run::session::trace_session(&scenario, 5, 0, &policy);
        let makespan = results.metrics[0].get(sim::run::metrics::Metric::Makespan);
        assert_eq!(makespan.max(), trace.outcome.makespan);
        assert_eq!(trace.turns.len() as u32, trace.outcome.turns);
        assert_eq!(trace.calls.len(), 3);
    }
}
