//! The comparison a report leads with: plain sync against async in any form, found among
//! policies listed in any order, and the last pair when there is no such comparison.

#[path = "common/report.rs"]
mod fixture;

use sim::model::policy::Policy;
use sim::output::report::Report;
use sim::run::options::RunOptions;
use sim::simulate;

fn headline(policies: Vec<Policy>) -> Option<(String, String)> {
    let scenario = fixture::scenario(false);
    let opts = RunOptions {
        sessions: 20,
        seed: scenario.seed,
        threads: Some(1),
        policies,
    };
    let results = simulate(&scenario, &opts, &|_| {}).unwrap();
    let report = Report::new(&scenario, &results);
    report
        .headline()
        .map(|c| (c.baseline.clone(), c.candidate.clone()))
}

fn pair(baseline: &str, candidate: &str) -> Option<(String, String)> {
    Some((baseline.to_string(), candidate.to_string()))
}

#[test]
fn sync_against_a_batched_streamed_async_leads_over_earlier_pairs() {
    let batched = Policy::ASYNC
        .with_batch_window(100_000_000)
        .with_streaming(true);
    let policies = vec![
        Policy::SYNC.with_streaming(true),
        Policy::SEQUENTIAL,
        Policy::SYNC,
        batched,
    ];
    assert_eq!(
        headline(policies),
        pair("sync", "async+batch(100ms)+stream")
    );
}

#[test]
fn without_plain_sync_the_last_pair_leads() {
    let policies = vec![
        Policy::SYNC.with_streaming(true),
        Policy::ASYNC,
        Policy::SEQUENTIAL,
    ];
    assert_eq!(headline(policies), pair("async", "sequential"));
}
