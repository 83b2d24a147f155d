//! Calibration recovers a known overhead: a fixed delay injected into the pipeline's queues shows
//! up, within 10%, in the overheads the overlay describes.

use async_trait::async_trait;
use live::{BackendKind, Calibration, LiveOptions, run_live};
use sim::input::scenario::Scenario;
use sim::model::policy::Policy;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use workers::ports::MessageQueue;
use workers::replies::{ReplyQueue, ReplyQueues};
use workers::testkit::{HookedQueue, QueueHook};
use workers::{Backend, Catalog, QueueError};

/// Sends take this much longer: the network hop or service time of a slower queue.
struct SlowSend(Duration);

#[async_trait]
impl QueueHook for SlowSend {
    async fn send(&self, inner: &dyn MessageQueue, body: &str) -> Result<String, QueueError> {
        tokio::time::sleep(self.0).await;
        inner.send(body).await
    }
}

fn backend(work_delay: Duration, results_delay: Duration) -> Backend {
    let mut b = Backend::in_memory(Arc::new(Catalog::embedded().clone()));
    let work = b.work_queues["synthetic"].clone();
    b.work_queues.insert(
        "synthetic".into(),
        Arc::new(HookedQueue::new(work, SlowSend(work_delay))),
    );
    // `live` hands results over on the consumer "live" of a memory backend.
    let replies = b.replies.queue("live").unwrap();
    b.replies = Arc::new(
        ReplyQueues::fixed(BTreeMap::from([(
            "live".to_string(),
            ReplyQueue {
                queue: Arc::new(HookedQueue::new(replies, SlowSend(results_delay))),
                dead_letter: None,
            },
        )]))
        .unwrap(),
    );
    b
}

fn median_s(values: &[u64]) -> f64 {
    live::calibrate::median(values) as f64 / 1e9
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calibration_finds_an_injected_delay_within_10_percent() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/research-assistant.toml");
    let scenario = Scenario::from_file(&path).unwrap();
    let scale = 0.05;
    let options = LiveOptions {
        sessions: 20,
        seed: scenario.seed,
        policies: vec![
            Policy::parse("sync").unwrap(),
            Policy::parse("async").unwrap(),
        ],
        time_scale: scale,
        backend: BackendKind::Memory,
        stagger: None,
    };
    let (work, results) = (Duration::from_millis(20), Duration::from_millis(30));
    let base = run_live(
        &scenario,
        &backend(Duration::ZERO, Duration::ZERO),
        &options,
    )
    .await
    .unwrap();
    let slow = run_live(&scenario, &backend(work, results), &options)
        .await
        .unwrap();
    let (b, s) = (Calibration::from_run(&base), Calibration::from_run(&slow));
    // In scenario time, the injected delays are wall / scale.
    let checks = [
        ("async_dispatch", &b.async_dispatch, &s.async_dispatch, work),
        (
            "async_delivery",
            &b.async_delivery,
            &s.async_delivery,
            results,
        ),
        (
            "sync_invocation",
            &b.sync_invocation,
            &s.sync_invocation,
            work + results,
        ),
    ];
    for (name, before, after, injected) in checks {
        let expected = injected.as_secs_f64() / scale;
        let found = median_s(after) - median_s(before);
        eprintln!("{name}: injected {expected:.3} s, found {found:.3} s");
        assert!(
            (found - expected).abs() <= 0.10 * expected,
            "{name}: injected {expected:.3} s (scenario), calibration found {found:.3} s"
        );
    }
    // And the overlay carries it: its samples are the measured overheads.
    let text = s.overlay(live::Fit::Lognormal, "test");
    let calibrated =
        sim::input::overlay::apply(&scenario.source, &scenario.file, &[("o".into(), text)])
            .unwrap();
    let median = match calibrated.overheads.async_dispatch.dist {
        sim::model::dist::Dist::Lognormal { median, .. } => median.as_secs_f64(),
        ref d => panic!("{d:?}"),
    };
    assert!(median >= 0.9 * work.as_secs_f64() / scale, "{median}");
}
