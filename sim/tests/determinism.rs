//! A seed reproduces a run exactly, whatever the thread count.

mod common;

use sim::report::Report;
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
