//! Time-dependent rules, checked at the exact millisecond with a fake clock: every component reads
//! the time from the clock in its settings, so these fail if one reads the machine's clock instead
//! (the fake clock stands years away from it).

use serde_json::json;
use std::sync::Arc;
use workers::clock::{FakeClock, SharedClock};
use workers::record::ErrorKind;
use workers::sweeper::{SweepSettings, sweep};
use workers::{
    Backend, Caller, Catalog, Delivery, Dispatcher, DispatcherSettings, PipelineError, TaskRequest,
    TaskStatus, ToolBox, WorkMessage, WorkerSettings,
};

/// 2033-05-18: far from any machine's clock.
const T0: u64 = 2_000_000_000_000;

fn setup(clock: &Arc<FakeClock>) -> (Backend, Dispatcher, Caller) {
    let backend = Backend::in_memory(Arc::new(Catalog::embedded().clone()));
    let settings = DispatcherSettings {
        task_ttl_days: 1,
        clock: clock.clone(),
        ..DispatcherSettings::default()
    };
    let dispatcher = backend.dispatcher(ToolBox::builtin(), settings).unwrap();
    (backend, dispatcher, Caller::new("alice").unwrap())
}

async fn submit(dispatcher: &Dispatcher, caller: &Caller, deadline_ms: Option<u64>) -> String {
    let request = TaskRequest {
        deadline_ms,
        ..TaskRequest::new("c1", "synthetic", json!({}))
    };
    dispatcher.submit(caller, request).await.unwrap().task_id
}

#[tokio::test]
async fn a_task_is_gone_exactly_at_its_ttl_not_a_millisecond_before() {
    let clock = FakeClock::at(T0);
    let (_, dispatcher, alice) = setup(&clock);
    let task_id = submit(&dispatcher, &alice, None).await;
    let record = dispatcher.get(&alice, &task_id).await.unwrap();
    assert_eq!(
        record.created_at_ms, T0,
        "created on the dispatcher's clock"
    );
    let gone_at_ms = (T0 / 1000 + 86_400) * 1000;
    assert_eq!(record.expires_at * 1000, gone_at_ms, "one day of TTL");

    clock.set(gone_at_ms - 1);
    assert!(dispatcher.get(&alice, &task_id).await.is_ok());
    clock.set(gone_at_ms);
    let err = dispatcher.get(&alice, &task_id).await.unwrap_err();
    assert!(
        matches!(err, PipelineError::NotFound(ref id) if *id == task_id),
        "{err}"
    );
}

#[tokio::test]
async fn a_task_starts_until_its_deadline_and_times_out_from_it() {
    let clock = FakeClock::at(T0);
    let (backend, dispatcher, alice) = setup(&clock);
    let deadline = T0 + 5_000;
    let before = submit(&dispatcher, &alice, Some(deadline)).await;
    let at = submit(&dispatcher, &alice, Some(deadline)).await;
    let settings = WorkerSettings {
        clock: clock.clone(),
        ..WorkerSettings::new("w")
    };
    let worker = backend
        .worker("synthetic", &ToolBox::builtin(), settings)
        .unwrap();
    let delivery = |task_id: &str| Delivery {
        message_id: format!("m-{task_id}"),
        body: WorkMessage::new(task_id, "synthetic").to_body(),
        receive_count: 1,
        receipt_handle: None,
    };

    clock.set(deadline - 1);
    worker.handle(&delivery(&before), None).await;
    let started = backend.store.get(&before).await.unwrap().unwrap();
    assert_eq!(
        started.attempts, 1,
        "claimed a millisecond before the deadline"
    );
    assert_eq!(started.started_at_ms, Some(deadline - 1));

    clock.set(deadline);
    worker.handle(&delivery(&at), None).await;
    let late = backend.store.get(&at).await.unwrap().unwrap();
    assert_eq!(late.status, TaskStatus::TimedOut);
    assert_eq!(late.attempts, 0, "never started");
    let error = late.error.unwrap();
    assert_eq!(error.kind, ErrorKind::TimedOut);
    assert_eq!(
        error.message,
        "the task's deadline passed before it started"
    );
    assert_eq!(late.finished_at_ms, Some(deadline));
}

#[tokio::test]
async fn the_sweeper_requeues_a_dead_workers_task_exactly_when_its_lease_expires() {
    let clock = FakeClock::at(T0);
    let (backend, dispatcher, alice) = setup(&clock);
    let task_id = submit(&dispatcher, &alice, None).await;
    // A worker claims it with a 30 s lease at T0 + 100, then dies.
    let pending = backend.store.get(&task_id).await.unwrap().unwrap();
    let claimed = pending.claim("dead-worker", T0 + 100, 30_000).unwrap();
    backend.store.transition(&pending, &claimed).await.unwrap();
    let lease_end = T0 + 100 + 30_000;
    let shared: SharedClock = clock.clone();
    let settings = SweepSettings {
        older_than_ms: 1_000,
        clock: shared,
        ..SweepSettings::default()
    };
    let sweep_now = || {
        sweep(
            backend.store.as_ref(),
            &backend.work_queues,
            &backend.replies,
            settings.clone(),
        )
    };

    clock.set(lease_end - 1);
    let report = sweep_now().await.unwrap();
    assert_eq!((report.scanned, report.requeued), (1, 0), "{report:?}");
    assert_eq!(report.oldest_open_age_s, Some(30));

    clock.set(lease_end);
    let report = sweep_now().await.unwrap();
    assert_eq!(report.requeued, 1, "{report:?}");
    let requeued = backend.store.get(&task_id).await.unwrap().unwrap();
    assert_eq!(
        requeued.enqueued_at_ms, lease_end,
        "noted on the sweeper's clock"
    );
    let depth = backend.work_queues["synthetic"].depth().await.unwrap();
    assert_eq!(
        depth.visible, 2,
        "the dispatcher's message and the sweeper's"
    );
}
