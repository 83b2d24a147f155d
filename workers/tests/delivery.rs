//! Nothing is lost between the table and the queues: the result router (each result handed over
//! exactly once, across restarts; reconcile from the table), the file sink, and the sweeper
//! (messages lost between a table write and a send are sent again).

#[macro_use]
mod common;

use async_trait::async_trait;
use common::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use workers::clock::{FakeClock, now_ms};
use workers::delivery::{FileSink, VecSink};
use workers::poller::{PoolOptions, WorkerPool};
use workers::record::{NewTask, Outcome};
use workers::sweeper::{Remedy, SweepReport, SweepSettings, emf_line, find_stuck, sweep};
use workers::{
    Backend, DispatcherSettings, ResultMessage, ResultSink, TaskRecord, TaskStatus, ToolBox,
};

/// A file in the system's temp directory, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> TempFile {
        TempFile(std::env::temp_dir().join(format!(
            "asynctools-{name}-{}.jsonl",
            ulid::Ulid::generate()
        )))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Task ids in a results file, in order.
fn ids_in(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).expect("whole JSON lines");
            value["task_id"].as_str().unwrap().to_string()
        })
        .collect()
}

/// Runs `count` synthetic tasks of Alice's to completion (published, not yet handed over).
async fn finished_tasks(backend: &Backend, count: usize) -> Vec<String> {
    let tools = ToolBox::builtin();
    let d = backend
        .dispatcher(tools.clone(), DispatcherSettings::default())
        .unwrap();
    let caller = alice();
    let mut ids = Vec::new();
    for i in 0..count {
        ids.push(submit_as(&d, &caller, "c1", "synthetic", json!({"echo": i})).await);
    }
    let workers = pool(backend, &tools, "w", 2);
    for id in &ids {
        wait_for(backend, id, Duration::from_secs(30), finished).await;
    }
    workers.stop().await;
    ids
}

/// Hands over to a file, and "dies" right after writing its `die_at`-th result: before the router
/// can mark it delivered or delete its message.
struct DiesAfterWriting {
    inner: FileSink,
    written: usize,
    die_at: usize,
}

#[async_trait]
impl ResultSink for DiesAfterWriting {
    fn already_has(&self, task_id: &str) -> bool {
        self.inner.already_has(task_id)
    }

    async fn hand_over(&mut self, result: ResultMessage) -> anyhow::Result<()> {
        self.inner.hand_over(result).await?;
        self.written += 1;
        if self.written == self.die_at {
            anyhow::bail!("killed between the write and the mark");
        }
        Ok(())
    }
}

/// Point 6: a router killed between a hand-over and its mark, restarted on the same file, hands
/// each result over exactly once.
async fn each_result_is_handed_over_once_across_a_router_restart(h: Harness) {
    let backend = &h.backend;
    let ids = finished_tasks(backend, 12).await;
    let file = TempFile::new("restart");
    let mut dying = DiesAfterWriting {
        inner: FileSink::open(&file.0).unwrap(),
        written: 0,
        die_at: 5,
    };
    let mut first = backend
        .router(ALICE, DEFAULT_CONSUMER)
        .unwrap()
        .with_holder("replica-1");
    let mut died = false;
    for _ in 0..40 {
        match first.poll(&mut dying, Duration::from_millis(500)).await {
            Ok(_) => {}
            Err(e) => {
                assert!(
                    e.to_string()
                        .contains("killed between the write and the mark"),
                    "{e}"
                );
                died = true;
                break;
            }
        }
    }
    assert!(died, "the sink died mid-stream");
    drop(first);
    drop(dying);
    let written = ids_in(&file.0);
    assert_eq!(written.len(), 5);
    let unmarked = written.last().unwrap().clone();
    assert!(
        !get(backend, &unmarked).await.delivered,
        "killed before the mark"
    );

    // Restart: a new router on the same file, under the replica's name (so it takes its lease
    // back at once). The table still lists what was not marked; the file knows what was written.
    let mut sink = FileSink::open(&file.0).unwrap();
    let mut second = backend
        .router(ALICE, DEFAULT_CONSUMER)
        .unwrap()
        .with_holder("replica-1");
    second.reconcile(&mut sink).await.unwrap();
    for _ in 0..3 {
        second
            .poll(&mut sink, Duration::from_millis(300))
            .await
            .unwrap();
    }
    let mut written = ids_in(&file.0);
    assert_eq!(written.len(), 12, "{written:?}");
    written.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(written, expected, "each result exactly once in the file");
    assert!(second.stats.duplicates_dropped >= 1, "{:?}", second.stats);
    for id in &ids {
        assert!(get(backend, id).await.delivered, "{id} marked delivered");
    }
    assert!(
        backend
            .store
            .list_undelivered(ALICE, DEFAULT_CONSUMER, 100, None)
            .await
            .unwrap()
            .tasks
            .is_empty()
    );
}

/// Two copies of one result in the same receive batch (a publisher that died between its send and
/// its note, then published again) are handed over once.
async fn two_copies_in_one_batch_are_handed_over_once(h: Harness) {
    let backend = &h.backend;
    let ids = finished_tasks(backend, 2).await;
    let queue = backend.replies.queue(DEFAULT_CONSUMER).unwrap();
    for id in &ids {
        let copy = ResultMessage::for_record(&get(backend, id).await);
        queue.send(&copy.to_body()).await.unwrap();
    }
    let mut router = backend.router(ALICE, DEFAULT_CONSUMER).unwrap();
    let mut sink = VecSink::default();
    for _ in 0..4 {
        router
            .poll(&mut sink, Duration::from_millis(500))
            .await
            .unwrap();
    }
    let mut handed: Vec<&str> = sink.0.iter().map(|r| r.task_id.as_str()).collect();
    handed.sort();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(handed, expected);
    assert_eq!(router.stats.duplicates_dropped, 2, "{:?}", router.stats);
    let depth = queue.depth().await.unwrap();
    assert_eq!((depth.visible, depth.in_flight), (0, 0));
}

/// Replicas of one consumer process (two routers of one owner and consumer) hand each result over
/// once between them, even with every result published twice: one holds the lease and routes,
/// the other stands by, and takes over when the first stops.
async fn two_router_replicas_hand_each_result_over_once(h: Harness) {
    let backend = &h.backend;
    let ids = finished_tasks(backend, 6).await;
    let queue = backend.replies.queue(DEFAULT_CONSUMER).unwrap();
    for id in &ids {
        let copy = ResultMessage::for_record(&get(backend, id).await);
        queue.send(&copy.to_body()).await.unwrap();
    }
    let routers = [
        backend.router(ALICE, DEFAULT_CONSUMER).unwrap(),
        backend.router(ALICE, DEFAULT_CONSUMER).unwrap(),
    ];
    let runs = routers.map(|mut router| async move {
        let mut sink = VecSink::default();
        router.reconcile(&mut sink).await.unwrap();
        for _ in 0..6 {
            router
                .poll(&mut sink, Duration::from_millis(300))
                .await
                .unwrap();
        }
        (router, sink)
    });
    let [(mut first, a), (mut second, b)] = futures::future::join_all(runs)
        .await
        .try_into()
        .ok()
        .unwrap();
    let mut handed: Vec<String> = a.0.iter().chain(&b.0).map(|r| r.task_id.clone()).collect();
    handed.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(handed, expected, "each result once between the replicas");
    assert!(
        a.0.is_empty() || b.0.is_empty(),
        "one replica routed, the other stood by: {} and {}",
        a.0.len(),
        b.0.len()
    );
    assert!(first.stats.standing_by + second.stats.standing_by > 0);
    // The routing replica stops cleanly: the other takes over at once.
    let (active, standby) = if a.0.is_empty() {
        (&mut second, &mut first)
    } else {
        (&mut first, &mut second)
    };
    active.release().await;
    assert!(
        standby.has_lease().await.unwrap(),
        "taken over once released"
    );
}

#[tokio::test]
async fn a_file_sink_cuts_a_torn_last_line_and_skips_what_it_has() {
    let file = TempFile::new("torn");
    let line = |id: &str| {
        json!({"version": 1, "task_id": id, "owner": ALICE, "reply_to": "default",
               "conversation_id": "c1", "tool": "synthetic", "status": "SUCCEEDED",
               "result": {"ok": true}, "created_at_ms": 1, "finished_at_ms": 2})
        .to_string()
    };
    let (a, b, torn, c) = (
        ulid::Ulid::generate().to_string(),
        ulid::Ulid::generate().to_string(),
        ulid::Ulid::generate().to_string(),
        ulid::Ulid::generate().to_string(),
    );
    let complete = format!("{}\n{}\n", line(&a), line(&b));
    let torn_line = line(&torn);
    std::fs::write(&file.0, format!("{complete}{}", &torn_line[..40])).unwrap();
    let mut sink = FileSink::open(&file.0).unwrap();
    assert_eq!(
        std::fs::read_to_string(&file.0).unwrap(),
        complete,
        "the torn last line is cut"
    );
    assert!(sink.already_has(&a) && sink.already_has(&b));
    assert!(!sink.already_has(&torn), "a torn line was not handed over");
    let result: ResultMessage = serde_json::from_str(&line(&c)).unwrap();
    sink.hand_over(result.clone()).await.unwrap();
    assert!(sink.already_has(&c));
    drop(sink);
    assert_eq!(ids_in(&file.0), vec![a.clone(), b.clone(), c.clone()]);
    let reopened = FileSink::open(&file.0).unwrap();
    for id in [&a, &b, &c] {
        assert!(reopened.already_has(id));
    }
    // A router skips what the file has, without writing it again.
    let backend = Backend::in_memory(test_catalog());
    let ids = finished_tasks(&backend, 1).await;
    let mut with_it = FileSink::open(&file.0).unwrap();
    with_it
        .hand_over(ResultMessage::for_record(&get(&backend, &ids[0]).await))
        .await
        .unwrap();
    let mut router = backend.router(ALICE, DEFAULT_CONSUMER).unwrap();
    router
        .poll(&mut with_it, Duration::from_millis(500))
        .await
        .unwrap();
    assert_eq!(router.stats.handed_over, 0);
    assert_eq!(router.stats.duplicates_dropped, 1);
    assert!(
        get(&backend, &ids[0]).await.delivered,
        "marked all the same"
    );
    assert_eq!(ids_in(&file.0).len(), 4);
    // A complete line that is not a result is an error naming the line, not silently skipped.
    let bad = TempFile::new("bad");
    std::fs::write(&bad.0, format!("{}\nnot json\n", line(&a))).unwrap();
    let err = FileSink::open(&bad.0).err().unwrap().to_string();
    assert!(err.ends_with(":2: not a result line"), "{err}");
    // A missing file is created.
    let fresh = TempFile::new("fresh");
    assert!(!FileSink::open(&fresh.0).unwrap().already_has(&a));
    assert!(fresh.0.exists());
}

/// Point 6: a terminal task whose reply message was lost is found in the table and handed over.
async fn reconcile_finds_a_result_whose_message_was_lost(h: Harness) {
    let backend = &h.backend;
    let ids = finished_tasks(backend, 1).await;
    // The message is lost (deleted unread).
    assert_eq!(drain_raw(backend, DEFAULT_CONSUMER).await.len(), 1);
    let mut router = backend.router(ALICE, DEFAULT_CONSUMER).unwrap();
    let mut sink = VecSink::default();
    assert_eq!(
        router
            .poll(&mut sink, Duration::from_millis(500))
            .await
            .unwrap(),
        0
    );
    assert_eq!(router.reconcile(&mut sink).await.unwrap(), 1);
    assert_eq!(sink.0.len(), 1);
    assert_eq!(sink.0[0].task_id, ids[0]);
    assert_eq!(sink.0[0].result.as_ref().unwrap()["echo"]["echo"], 0);
    assert_eq!(router.stats.reconciled, 1);
    assert!(get(backend, &ids[0]).await.delivered);
    assert_eq!(router.reconcile(&mut sink).await.unwrap(), 0, "once");
    // Another router of the same owner and consumer (a restarted process) does not repeat it.
    let mut again = backend.router(ALICE, DEFAULT_CONSUMER).unwrap();
    assert_eq!(again.reconcile(&mut sink).await.unwrap(), 0);
    assert_eq!(sink.0.len(), 1);
}

/// Point 6: a result nobody watches stays: its message waits on the reply queue (nobody receives
/// it, so it never nears the DLQ), the table keeps it undelivered, the sweeper leaves it alone, and
/// when the message is gone (retention ran out) a router started later still gets it.
async fn a_result_nobody_watches_is_not_lost(h: Harness) {
    let backend = &h.backend;
    let ids = finished_tasks(backend, 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let reply = backend.replies.get(DEFAULT_CONSUMER).unwrap();
    let dlq = reply.dead_letter.clone().expect("reply queues have a DLQ");
    let depth = reply.queue.depth().await.unwrap();
    assert_eq!(
        (depth.visible, depth.in_flight),
        (1, 0),
        "waiting, unreceived"
    );
    let sweep_settings = SweepSettings {
        older_than_ms: 500,
        ..SweepSettings::default()
    };
    let report = sweep(
        backend.store.as_ref(),
        &backend.work_queues,
        &backend.replies,
        sweep_settings,
    )
    .await
    .unwrap();
    assert_eq!(
        (report.requeued, report.republished),
        (0, 0),
        "published: nothing for the sweeper"
    );
    // Retention runs out: the message is gone.
    let queue = reply.queue.clone();
    let gone = queue
        .receive(1, Duration::from_secs(1), None)
        .await
        .unwrap()
        .remove(0);
    queue.delete(&gone.receipt_handle).await.unwrap();
    let undelivered = backend
        .store
        .list_undelivered(ALICE, DEFAULT_CONSUMER, 10, None)
        .await
        .unwrap();
    assert_eq!(
        undelivered.tasks.len(),
        1,
        "the table still has it undelivered"
    );
    // A router started later (its `run` reconciles first).
    let mut router = backend.router(ALICE, DEFAULT_CONSUMER).unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(async move {
        let mut sink = VecSink::default();
        router
            .run(&mut sink, Duration::from_millis(300), stopped)
            .await
            .unwrap();
        (router, sink)
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.send(true).unwrap();
    let (router, sink) = tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("run stops")
        .unwrap();
    assert_eq!(sink.0.len(), 1);
    assert_eq!(sink.0[0].task_id, ids[0]);
    assert_eq!(router.stats.reconciled, 1);
    let dlq_depth = dlq.depth().await.unwrap();
    assert_eq!(
        (dlq_depth.visible, dlq_depth.in_flight),
        (0, 0),
        "no DLQ involvement"
    );
}

// ---- The sweeper ----

fn record_at(created_at_ms: u64, tool: &str) -> TaskRecord {
    let id = ulid::Ulid::generate().to_string();
    let task = NewTask::new(id, ALICE, "c1", tool, json!({"echo": "swept"}));
    TaskRecord::pending(task, created_at_ms, 1)
}

async fn sweep_now(backend: &Backend, older_than_ms: u64) -> SweepReport {
    sweep_at(backend, older_than_ms, now_ms()).await
}

/// A sweep whose clock stands at `at_ms`: what is due does not hang on the machine's speed.
async fn sweep_at(backend: &Backend, older_than_ms: u64, at_ms: u64) -> SweepReport {
    let report = sweep(
        backend.store.as_ref(),
        &backend.work_queues,
        &backend.replies,
        SweepSettings {
            older_than_ms,
            clock: FakeClock::at(at_ms),
            ..SweepSettings::default()
        },
    )
    .await
    .unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    report
}

/// Point 7: a PENDING task whose work message was never sent (the dispatcher died between its put
/// and its send) is left alone while young, re-enqueued past the bound, and then runs.
async fn a_pending_task_without_a_message_is_requeued_and_runs(h: Harness) {
    let backend = &h.backend;
    let queue = backend.work_queues["synthetic"].clone();
    let t0 = now_ms();
    let orphan = record_at(t0, "synthetic");
    backend.store.create(&orphan).await.unwrap();
    let report = sweep_at(backend, 1_000, t0).await;
    assert_eq!(
        (report.scanned, report.requeued),
        (0, 0),
        "young: left alone"
    );
    assert_eq!(report.oldest_open_age_s, Some(0));
    assert_eq!(queue.depth().await.unwrap().visible, 0);
    let report = sweep_at(backend, 1_000, t0 + 1_200).await;
    assert_eq!((report.scanned, report.requeued), (1, 1));
    assert_eq!(report.stuck.len(), 1);
    assert_eq!(
        (
            report.stuck[0].task_id.as_str(),
            report.stuck[0].remedy,
            report.stuck[0].status
        ),
        (
            orphan.task_id.as_str(),
            Remedy::Requeue,
            TaskStatus::Pending
        )
    );
    assert_eq!(queue.depth().await.unwrap().visible, 1);
    let noted = get(backend, &orphan.task_id).await;
    assert!(
        noted.enqueued_at_ms > orphan.enqueued_at_ms,
        "the re-enqueue is noted"
    );
    // Just re-enqueued: the next sweep waits another bound.
    assert_eq!(sweep_at(backend, 1_000, t0 + 2_100).await.requeued, 0);
    assert_eq!(sweep_at(backend, 1_000, t0 + 2_200).await.requeued, 1);
    let tools = ToolBox::builtin();
    let workers = pool(backend, &tools, "w", 1);
    let done = wait_for(backend, &orphan.task_id, Duration::from_secs(20), finished).await;
    workers.stop().await;
    assert_eq!((done.status, done.attempts), (TaskStatus::Succeeded, 1));
    assert_eq!(done.result.unwrap()["echo"]["echo"], "swept");
    let report = sweep_now(backend, 1_000).await;
    assert_eq!(
        (report.scanned, report.oldest_open_age_s),
        (0, None),
        "nothing open"
    );
}

/// Point 7: a RUNNING task whose lease expired (its worker died, and its message went missing) is
/// re-enqueued and taken over; one under a live lease is left alone.
async fn a_running_task_whose_lease_expired_is_requeued_and_taken_over(h: Harness) {
    let backend = &h.backend;
    let now = now_ms();
    let dead = record_at(now - 10_000, "synthetic");
    backend.store.create(&dead).await.unwrap();
    let claimed = dead.claim("dead-worker", now - 9_000, 1_000).unwrap();
    backend.store.transition(&dead, &claimed).await.unwrap();
    let alive = record_at(now - 10_000, "synthetic");
    backend.store.create(&alive).await.unwrap();
    let holding = alive.claim("live-worker", now, 600_000).unwrap();
    backend.store.transition(&alive, &holding).await.unwrap();
    let report = sweep_now(backend, 1_000).await;
    assert_eq!((report.scanned, report.requeued), (2, 1), "{report:?}");
    assert_eq!(report.stuck[0].task_id, dead.task_id);
    assert_eq!(report.stuck[0].status, TaskStatus::Running);
    assert!(report.oldest_open_age_s >= Some(10));
    let tools = ToolBox::builtin();
    let workers = pool(backend, &tools, "rescuer", 1);
    let done = wait_for(backend, &dead.task_id, Duration::from_secs(20), finished).await;
    workers.stop().await;
    assert_eq!(done.status, TaskStatus::Succeeded);
    assert_eq!(
        (done.attempts, done.lease_owner.as_deref()),
        (2, Some("rescuer"))
    );
    assert_eq!(
        get(backend, &alive.task_id).await,
        holding,
        "the live one is untouched"
    );
}

/// Point 7: a terminal task whose result was never published (its worker died between the
/// terminal write and the send) is published; one whose publisher still holds its lease is not.
async fn a_terminal_unpublished_task_is_published(h: Harness) {
    let backend = &h.backend;
    let now = now_ms();
    let write = |record: TaskRecord, lease_until: u64| async move {
        backend.store.create(&record).await.unwrap();
        let claimed = record
            .claim(
                "dead-worker",
                now - 9_000,
                lease_until.saturating_sub(now - 9_000),
            )
            .unwrap();
        backend.store.transition(&record, &claimed).await.unwrap();
        let done = claimed
            .finish(Outcome::Succeeded(json!({"answer": 42})), now - 8_000)
            .unwrap();
        backend.store.transition(&claimed, &done).await.unwrap();
        done
    };
    let orphan = write(record_at(now - 10_000, "synthetic"), now - 8_000).await;
    let publishing = write(record_at(now - 10_000, "synthetic"), now + 600_000).await;
    let report = sweep_now(backend, 1_000).await;
    assert_eq!((report.republished, report.requeued), (1, 0), "{report:?}");
    assert_eq!(report.stuck.len(), 1);
    assert_eq!(
        (report.stuck[0].task_id.as_str(), report.stuck[0].remedy),
        (orphan.task_id.as_str(), Remedy::Publish)
    );
    assert!(get(backend, &orphan.task_id).await.result_published);
    assert_eq!(
        get(backend, &publishing.task_id).await,
        publishing,
        "left to its publisher"
    );
    let mut router = backend.router(ALICE, DEFAULT_CONSUMER).unwrap();
    let got = route_until(&mut router, 1, Duration::from_secs(10)).await;
    assert_eq!(got[0].task_id, orphan.task_id);
    assert_eq!(got[0].result, Some(json!({"answer": 42})));
    // Published now: out of the open index, so the next sweep does not see it.
    let report = sweep_now(backend, 1_000).await;
    assert_eq!(
        (report.scanned, report.republished),
        (1, 0),
        "only the one being published"
    );
}

/// Point 7: `find_stuck` classifies like `sweep` and changes nothing.
async fn find_stuck_lists_without_acting(h: Harness) {
    let backend = &h.backend;
    let old = record_at(now_ms() - 120_000, "synthetic");
    backend.store.create(&old).await.unwrap();
    let young = record_at(now_ms(), "synthetic");
    backend.store.create(&young).await.unwrap();
    let report = find_stuck(backend.store.as_ref(), SweepSettings::default())
        .await
        .unwrap();
    assert_eq!(report.stuck.len(), 1, "{report:?}");
    let stuck = &report.stuck[0];
    assert_eq!(
        (
            stuck.task_id.as_str(),
            stuck.remedy,
            stuck.owner.as_str(),
            stuck.tool.as_str()
        ),
        (old.task_id.as_str(), Remedy::Requeue, ALICE, "synthetic")
    );
    assert!(stuck.age_s >= 120);
    assert!(report.oldest_open_age_s >= Some(120));
    // Listed as needing a requeue, but nothing was done.
    assert_eq!(report.requeued, 0);
    assert!(work_queue_is_empty(backend, "synthetic").await);
    assert_eq!(get(backend, &old.task_id).await, old);
    assert_eq!(get(backend, &young.task_id).await, young);
}

/// The local worker pool runs the sweeper too: a task with no message runs without anyone sweeping
/// by hand.
async fn a_pool_with_a_sweeper_recovers_a_task_by_itself(h: Harness) {
    let backend = &h.backend;
    let orphan = record_at(now_ms(), "synthetic");
    backend.store.create(&orphan).await.unwrap();
    let mut options = PoolOptions::new("sweeping");
    options.concurrency = Some(1);
    options.wait = Duration::from_secs(1);
    options.recovery_ms = Some(STEADY_RECOVERY_MS);
    options.sweep_every = Some(Duration::from_millis(300));
    options.sweep = SweepSettings {
        older_than_ms: 500,
        ..SweepSettings::default()
    };
    let workers = WorkerPool::start(
        backend,
        &ToolBox::builtin(),
        &["synthetic".to_string()],
        &options,
    )
    .unwrap();
    let done = wait_for(backend, &orphan.task_id, Duration::from_secs(20), finished).await;
    tokio::time::timeout(Duration::from_secs(10), workers.stop())
        .await
        .expect("the pool, sweeper included, stops");
    assert_eq!(done.status, TaskStatus::Succeeded);
}

#[test]
fn emf_line_carries_the_sweep_metrics() {
    let check = |report: &SweepReport, oldest: u64, requeued: u64, republished: u64| {
        let line = emf_line("MyStack", report, 1_796_000_000_000);
        assert!(!line.contains('\n'), "one line");
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["_aws"]["Timestamp"], 1_796_000_000_000u64);
        let directives = value["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 1);
        let directive = &directives[0];
        assert_eq!(directive["Namespace"], "AsyncTools");
        assert_eq!(directive["Dimensions"], json!([["Stack"]]));
        let metrics: HashMap<&str, &str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["Name"].as_str().unwrap(), m["Unit"].as_str().unwrap()))
            .collect();
        assert_eq!(
            metrics,
            HashMap::from([
                ("OldestOpenTaskAgeSeconds", "Seconds"),
                ("RequeuedTasks", "Count"),
                ("RepublishedTasks", "Count"),
                ("ResultTooLargeTasks", "Count"),
                ("UnfixableTasks", "Count"),
            ])
        );
        // Every dimension and metric a directive names is a member of the root object.
        assert_eq!(value["Stack"], "MyStack");
        assert_eq!(value["OldestOpenTaskAgeSeconds"], oldest);
        assert_eq!(value["RequeuedTasks"], requeued);
        assert_eq!(value["RepublishedTasks"], republished);
        for name in metrics.keys() {
            assert!(value[*name].is_u64(), "{name} is a number");
        }
    };
    check(&SweepReport::default(), 0, 0, 0);
    let busy = SweepReport {
        scanned: 9,
        requeued: 3,
        republished: 2,
        oldest_open_age_s: Some(125),
        ..SweepReport::default()
    };
    check(&busy, 125, 3, 2);
}

/// The reply settler (the deployed MCP server's router): a message whose result is in the table is
/// acknowledged, a redelivered copy too, and the task stays undelivered for the MCP server to hand
/// to its model; what it cannot vouch for stays on the queue as a batch item failure (then the
/// reply DLQ), and a task that is gone is dropped.
async fn the_reply_settler_acknowledges_and_keeps_what_it_cannot_settle(h: Harness) {
    use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
    use workers::lambda::settle::handle_reply_batch;
    let ids = finished_tasks(&h.backend, 3).await;
    let published = drain_raw(&h.backend, DEFAULT_CONSUMER).await;
    assert_eq!(published.len(), 3);
    let body = |m: &ResultMessage| serde_json::to_string(m).unwrap();
    let mut bodies: Vec<(String, String)> = published
        .iter()
        .map(|m| (format!("ok-{}", m.task_id), body(m)))
        .collect();
    bodies.push(("copy".into(), body(&published[0])));
    bodies.push(("malformed".into(), "{not json".into()));
    let mut elsewhere = published[1].clone();
    elsewhere.reply_to = "mcp".into();
    bodies.push(("elsewhere".into(), body(&elsewhere)));
    let mut forged = published[2].clone();
    forged.owner = bob().principal;
    bodies.push(("forged".into(), body(&forged)));
    let mut gone = published[0].clone();
    gone.task_id = ulid::Ulid::generate().to_string();
    bodies.push(("gone".into(), body(&gone)));
    let event = || {
        let mut event = SqsEvent::default();
        event.records = bodies
            .iter()
            .map(|(id, body)| {
                let mut m = SqsMessage::default();
                m.message_id = Some(id.clone());
                m.body = Some(body.clone());
                m
            })
            .collect();
        event
    };
    for round in 0..2 {
        let response =
            handle_reply_batch(h.backend.store.as_ref(), DEFAULT_CONSUMER, event()).await;
        let mut kept: Vec<String> = response
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect();
        kept.sort();
        assert_eq!(kept, ["elsewhere", "forged", "malformed"], "round {round}");
        for id in &ids {
            assert!(
                !get(&h.backend, id).await.delivered,
                "round {round}: {id} left for its model"
            );
        }
    }
    let d = h
        .backend
        .dispatcher(ToolBox::builtin(), DispatcherSettings::default())
        .unwrap();
    let left = d
        .undelivered(&alice(), DEFAULT_CONSUMER, 10, None)
        .await
        .unwrap();
    let mut left: Vec<String> = left.tasks.into_iter().map(|t| t.task_id).collect();
    left.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(
        left, expected,
        "every result stays for the MCP server to hand over"
    );
}

on_every_backend!(
    two_router_replicas_hand_each_result_over_once,
    the_reply_settler_acknowledges_and_keeps_what_it_cannot_settle,
    each_result_is_handed_over_once_across_a_router_restart,
    two_copies_in_one_batch_are_handed_over_once,
    reconcile_finds_a_result_whose_message_was_lost,
    a_result_nobody_watches_is_not_lost,
    a_pending_task_without_a_message_is_requeued_and_runs,
    a_running_task_whose_lease_expired_is_requeued_and_taken_over,
    a_terminal_unpublished_task_is_published,
    find_stuck_lists_without_acting,
    a_pool_with_a_sweeper_recovers_a_task_by_itself,
);
