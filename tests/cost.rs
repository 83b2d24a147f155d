//! Issue 25's request budget, pinned on moto: the cost meter (workers/examples/cost_meter) runs
//! this build's `asynctools` (the happy path: N `sentiment` tasks through `tasks submit`, one
//! `asynctools worker`, one `tasks watch --count N`; and the same with a 1 KiB synthetic argument
//! and result), counts every request from moto's own request log, and this test holds the figures
//! per task to the issue's targets (`meter::TARGETS`, one const block shared with `make bench`).
//! A change that adds a write, a read or an SQS call per task fails it.
//!
//! Background requests are not a task's: receives that bring nothing, the worker's sweeper queries,
//! the router's reconcile queries and lease writes; they depend on time, not on tasks, and
//! `make bench` reports them separately (and amortised over 50 tasks).
//!
//! The same measurement holds the simulator's cost model to the meter (issue 25, item 3): the
//! counts `sim::model::pipeline_counts::PipelineCounts::MEASURED` (the simulator's defaults) stay
//! those the meter measures, and a simulated async call costs what the meter prices a task at.
//!
//! The test lives in the root package so that `CARGO_BIN_EXE_asynctools` is this build's binary,
//! built fresh by cargo for the test; it reuses the meter's code from the example.

#[path = "../workers/examples/cost_meter/mod.rs"]
mod meter;

use meter::{Options, Scenario, TARGETS};
use sim::model::pipeline_counts::PipelineCounts;
use sim::run::metrics::Metric;
use sim::{Policy, RunOptions, simulate};
use std::path::PathBuf;

const TASKS: usize = 20;

#[test]
fn requests_per_task_on_moto_stay_within_issue_25s_targets() {
    let Some(moto_server) = meter::find_moto(None) else {
        let required = std::env::var("ASYNCTOOLS_REQUIRE_MOTO").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "cost: moto_server not found (run `make venv`); ASYNCTOOLS_REQUIRE_MOTO=1 makes this a failure"
        );
        eprintln!("cost: SKIPPED (no moto_server; run `make venv`)");
        return;
    };
    let options = Options {
        asynctools: PathBuf::from(env!("CARGO_BIN_EXE_asynctools")),
        label: "this build".into(),
        moto_server,
        tasks: TASKS,
        scenarios: vec![Scenario::Happy, Scenario::Kib1],
        idle_s: 0,
        verbose: false,
    };
    let build = meter::measure(&options).expect("the meter runs");
    eprintln!("{}", meter::report::render(std::slice::from_ref(&build)));
    let report = |key: &str| {
        let entry = build
            .scenarios
            .iter()
            .find(|s| s.key == key)
            .unwrap_or_else(|| panic!("no {key} scenario"));
        entry
            .report
            .as_ref()
            .unwrap_or_else(|| panic!("scenario {key} failed: {:?}", entry.error))
    };
    let happy = report("happy");
    let kib1 = report("kib1");
    // The meter's own consistency: its copy of the table ends as moto's does (so item sizes, and
    // with them the write units, are right), and every request passed a proxy.
    for r in [happy, kib1] {
        assert_eq!(
            r.model_check.mismatched, 0,
            "{}: the meter's table model differs from moto's table: {:?}",
            r.key, r.model_check.examples
        );
        assert!(
            !r.notes.iter().any(|n| n.contains("did not pass a proxy")),
            "{}: {:?}",
            r.key,
            r.notes
        );
    }
    let measured = [
        (
            "DynamoDB write requests per task",
            happy.per_task.dynamodb_write_requests.task,
            TARGETS.dynamodb_write_requests,
        ),
        (
            "DynamoDB read requests per task",
            happy.per_task.dynamodb_read_requests.task,
            TARGETS.dynamodb_read_requests,
        ),
        (
            "SQS sends + deletes + visibility changes per task",
            happy.per_task.sqs_sends_deletes_visibility.task,
            TARGETS.sqs_sends_deletes_visibility,
        ),
        (
            "DynamoDB write units per 1 KiB task, indexes included",
            kib1.per_task.write_units_total.task,
            TARGETS.write_units_1kib,
        ),
    ];
    let over: Vec<String> = measured
        .iter()
        .filter(|(_, value, limit)| *value > limit + 1e-9)
        .map(|(what, value, limit)| format!("{what}: {value:.2} > {limit}"))
        .collect();
    for (what, value, limit) in &measured {
        eprintln!("cost: {what}: {value:.2} (target ≤ {limit})");
    }
    assert!(
        over.is_empty(),
        "over issue 25's targets:\n  {}",
        over.join("\n  ")
    );

    // The simulator's defaults are what was measured: DynamoDB exactly (the same writes of the same
    // items every run), SQS within a request (deletes share requests as timing allows).
    let measured = meter::pipeline_counts(&build).expect("counts from the happy path");
    let defaults = PipelineCounts::MEASURED;
    assert_eq!(
        (measured.write_units, measured.read_units),
        (defaults.write_units, defaults.read_units),
        "DynamoDB units per call changed: update PipelineCounts::MEASURED (sim/src/model/pipeline_counts.rs) with `cost_meter --overlay`"
    );
    assert!(
        (measured.sqs_requests - defaults.sqs_requests).abs() <= 1.0,
        "SQS requests per call: measured {:.2}, the simulator charges {:.2}",
        measured.sqs_requests,
        defaults.sqs_requests
    );

    // One async call simulated, priced as the meter prices a task (arm64 Lambda, the tool's own
    // compute left out: a 1 ms run), against the meter's dollars per task.
    let prices = meter::Prices::default();
    let sentiment_mb = workers::Catalog::embedded()
        .get("sentiment")
        .expect("sentiment is in the catalog")
        .memory_mb;
    let scenario = format!(
        "[model]\nturn = \"1s\"\n[tools.sentiment]\nlatency = \"1ms\"\nmemory_mb = {sentiment_mb}\n\
         [plan]\nrounds = [[\"sentiment\"]]\n[cost]\ninput_usd_per_mtok = 0.0\noutput_usd_per_mtok = 0.0\n\
         lambda_usd_per_gb_s = {}\nlambda_usd_per_request = {}\nsqs_usd_per_request = {}\n\
         dynamodb_usd_per_write_unit = {}\ndynamodb_usd_per_read_unit = {}\n",
        prices.lambda_usd_per_gb_s,
        prices.lambda_usd_per_request,
        prices.sqs_usd_per_request,
        prices.dynamodb_usd_per_write_unit,
        prices.dynamodb_usd_per_read_unit,
    );
    let scenario = sim::Scenario::parse(&scenario, "cost.toml").expect("the scenario parses");
    let options = RunOptions {
        sessions: 1,
        seed: 1,
        threads: Some(1),
        policies: vec![Policy::ASYNC],
    };
    let results = simulate(&scenario, &options, &|_| {}).expect("it simulates");
    let simulated_usd = results.metrics[0].get(Metric::InfraCostUsd).mean() * 1e-12;
    let metered_usd = happy.per_task.usd_per_million.total.task / 1e6;
    eprintln!(
        "cost: an async call: simulated ${:.3}/M, metered ${:.3}/M",
        simulated_usd * 1e6,
        metered_usd * 1e6
    );
    assert!(
        (simulated_usd - metered_usd).abs() <= 0.05 * metered_usd,
        "the simulator prices an async call at ${:.3}/M, the meter at ${:.3}/M (more than 5% apart)",
        simulated_usd * 1e6,
        metered_usd * 1e6
    );
}
