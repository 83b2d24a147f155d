//! Live replay on the in-memory backend: the simulator, once calibrated, predicts the pipeline.

use live::{BackendKind, Calibration, Fit, LiveOptions, LiveReport, run_live};
use sim::input::scenario::Scenario;
use sim::model::policy::Policy;
use std::path::Path;
use std::sync::Arc;
use workers::{Backend, Catalog};

fn scenario(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(name);
    Scenario::from_file(&path).unwrap()
}

fn policies() -> Vec<Policy> {
    ["sequential", "sync", "async"]
        .iter()
        .map(|p| Policy::parse(p).unwrap())
        .collect()
}

fn memory() -> Backend {
    Backend::in_memory(Arc::new(Catalog::embedded().clone()))
}

/// Calibrates on one set of sessions, then checks a second live run (other sessions: another
/// seed) against the calibrated simulation.
async fn calibrated_matches(name: &str, sessions: u64, scale: f64, stagger_s: f64) {
    // One live run at a time: two at once on two cores skew each other's wall-clock timings
    // between the calibration run and the checked one.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_AT_A_TIME.lock().await;
    let s = scenario(name);
    let mut options = LiveOptions {
        sessions,
        seed: s.seed,
        policies: policies(),
        time_scale: scale,
        backend: BackendKind::Memory,
        // About twenty sessions overlap: many sessions in a few seconds of wall time.
        stagger: Some((stagger_s * 1e9) as u64),
    };
    let first = run_live(&s, &memory(), &options).await.unwrap();
    let overlay = Calibration::from_run(&first).overlay(Fit::Empirical, "test");
    let calibrated =
        sim::input::overlay::apply(&s.source, &s.file, &[("calibration".into(), overlay)]).unwrap();
    options.seed = s.seed + 1;
    let second = run_live(&s, &memory(), &options).await.unwrap();
    let report = LiveReport::new(&calibrated, &second, vec!["calibration".into()]);
    eprintln!("{}", report.to_table());
    assert!(second.not_run_once().is_empty());
    for p in &report.policies {
        for metric in ["makespan", "first_update"] {
            let row = report.row(&p.policy, metric).unwrap();
            let e = row.rel_error_p50.unwrap();
            assert!(
                e.abs() < 0.05,
                "{name} {} {metric}: p50 error {:+.1}%",
                p.policy,
                e * 100.0
            );
        }
    }
    // Every sync-vs-async difference, not only these two: same sign, or both immaterial.
    for d in &report.differences {
        assert!(d.same_sign, "{name} {}: {d:?}", d.metric);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn research_assistant_calibrated_within_5_percent() {
    // Scale 0.1: a run takes seconds, and scheduling jitter stays a small part of each call.
    calibrated_matches("research-assistant.toml", 40, 0.1, 1.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_5x4_calibrated_within_5_percent() {
    // Its async first update is ~2.5 scenario seconds: at scale 0.02 that is 50 ms of wall time,
    // where a millisecond of scheduling jitter on a busy 2-core machine is already 2%.
    calibrated_matches("bench-5x4.toml", 30, 0.05, 6.0).await;
}
