//! The end-to-end cases through the real dispatcher, worker and router, on every backend:
//! duplicates, crashed workers, poison messages, cancels, a thousand tasks, reply queues per
//! consumer, the heartbeat (leases and visibility renewed while a worker lives) and a clean stop.

mod common;

use common::*;
use futures::StreamExt;
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use workers::poller::{PoolOptions, WorkerPool};
use workers::record::ErrorKind;
use workers::{
    Caller, Delivery, Dispatcher, DispatcherSettings, TaskRecord, TaskRequest, TaskStatus, ToolBox,
    WorkMessage, WorkerSettings,
};

struct Setup {
    h: Harness,
    counting: Arc<Counting>,
    tools: ToolBox,
    dispatcher: Dispatcher,
    caller: Caller,
}

/// The dispatcher and tools with `Counting` as `synthetic` (and as `research`, for long runs).
fn setup(h: Harness) -> Setup {
    let counting = Arc::new(Counting::default());
    let tools = ToolBox::builtin()
        .with("synthetic", counting.clone())
        .with("research", counting.clone());
    let dispatcher = h
        .backend
        .dispatcher(tools.clone(), DispatcherSettings::default())
        .unwrap();
    Setup {
        h,
        counting,
        tools,
        dispatcher,
        caller: alice(),
    }
}

impl Setup {
    async fn submit(&self, conversation: &str, arguments: serde_json::Value) -> String {
        submit_as(
            &self.dispatcher,
            &self.caller,
            conversation,
            "synthetic",
            arguments,
        )
        .await
    }
}

async fn same_message_three_times_runs_once(h: Harness) {
    let s = setup(h);
    let backend = &s.h.backend;
    let task_id = s.submit("c1", json!({"sleep_ms": 200})).await;
    let body = WorkMessage::new(&task_id, "synthetic").to_body();
    for _ in 0..2 {
        backend.work_queues["synthetic"].send(&body).await.unwrap();
    }
    let workers = pool(backend, &s.tools, "w", 3);
    let record = wait_for(backend, &task_id, Duration::from_secs(15), finished).await;
    assert!(
        eventually(Duration::from_secs(15), || work_queue_is_empty(
            backend,
            "synthetic"
        ))
        .await,
        "all 3 copies acknowledged"
    );
    workers.stop().await;
    assert_eq!(record.status, TaskStatus::Succeeded);
    assert_eq!(record.attempts, 1);
    assert_eq!(s.counting.runs_of(&task_id), 1, "the tool ran once");
    let results = drain_raw(backend, DEFAULT_CONSUMER).await;
    assert_eq!(results.len(), 1, "one result published: {results:#?}");
    assert_eq!(results[0].task_id, task_id);
    assert_eq!(results[0].owner, ALICE);
}

/// Point 8: a worker that dies mid-run (its future aborted, no terminal write, no delete) strands
/// its task for about `recovery_ms` (600 ms), not for the work queue's visibility timeout (60 s
/// here); while it lived, nobody took the task over.
async fn a_dead_worker_is_taken_over_after_the_recovery_period(h: Harness) {
    let s = setup(h);
    let backend = &s.h.backend;
    s.counting.hang_first.store(1, Ordering::SeqCst);
    // `research` (10 s timeout in the test catalog, Counting here) so the hung run outlives the
    // three recovery periods below.
    let task_id = submit_as(
        &s.dispatcher,
        &s.caller,
        "c1",
        "research",
        json!({"echo": "survives"}),
    )
    .await;

    let settings = WorkerSettings {
        recovery_ms: Some(TEST_RECOVERY_MS),
        ..WorkerSettings::new("doomed")
    };
    let doomed = Arc::new(backend.worker("research", &s.tools, settings).unwrap());
    // Received as the poller does: hidden for the recovery period, renewed by the heartbeat.
    let message = loop {
        let mut got = backend.work_queues["research"]
            .receive(
                1,
                Duration::from_secs(2),
                Some(Duration::from_millis(TEST_RECOVERY_MS)),
            )
            .await
            .unwrap();
        if let Some(m) = got.pop() {
            break m;
        }
    };
    let delivery = Delivery {
        message_id: message.message_id,
        body: message.body,
        receive_count: message.receive_count,
        receipt_handle: Some(message.receipt_handle),
    };
    let run = tokio::spawn(async move { doomed.handle(&delivery, None).await });
    assert!(
        eventually(Duration::from_secs(5), || async {
            s.counting.total.load(Ordering::SeqCst) == 1
        })
        .await
    );
    // The rescuers poll from now on: they must not take the task over while its worker lives.
    let rescuers = pool_for(backend, &s.tools, "research", "rescuer", 2);
    // Three recovery periods alive (the heartbeat renews lease and visibility): not taken over.
    tokio::time::sleep(Duration::from_millis(3 * TEST_RECOVERY_MS)).await;
    let alive = get(backend, &task_id).await;
    assert_eq!(
        (alive.status, alive.attempts, alive.lease_owner.as_deref()),
        (TaskStatus::Running, 1, Some("doomed"))
    );
    assert_eq!(s.counting.runs_of(&task_id), 1);
    // The worker dies mid-run.
    run.abort();
    let died = Instant::now();
    let taken = wait_for(backend, &task_id, Duration::from_secs(20), |r| {
        r.attempts == 2
    })
    .await;
    let stranded = died.elapsed();
    assert!(
        stranded < Duration::from_secs(15),
        "stranded {stranded:?}: the recovery period (600 ms, 1 s on SQS) decides, not the \
         queue's 60 s visibility timeout"
    );
    assert_eq!(taken.lease_owner.as_deref(), Some("rescuer"));
    let record = wait_for(backend, &task_id, Duration::from_secs(20), finished).await;
    assert!(
        eventually(Duration::from_secs(10), || work_queue_is_empty(
            backend, "research"
        ))
        .await
    );
    rescuers.stop().await;
    assert_eq!(record.status, TaskStatus::Succeeded);
    assert_eq!(record.attempts, 2);
    assert_eq!(record.result.as_ref().unwrap()["echo"]["echo"], "survives");
    assert_eq!(
        s.counting.runs_of(&task_id),
        2,
        "the dead run and the one that finished"
    );
    assert_eq!(drain_raw(backend, DEFAULT_CONSUMER).await.len(), 1);
}

/// Point 8: a run of several recovery periods is not taken over while its worker lives, and its
/// message is never delivered again (the heartbeat keeps it hidden). A 2 s recovery period here
/// (SQS visibility is whole seconds; a loaded moto can take most of a second per call), renewed
/// every third of it.
async fn a_long_run_is_not_taken_over_while_its_worker_lives(h: Harness) {
    let s = setup(h);
    let backend = &s.h.backend;
    // `research` (10 s timeout in the test catalog) runs Counting: 7 s is 3.5 recovery periods.
    let task_id = submit_as(
        &s.dispatcher,
        &s.caller,
        "c1",
        "research",
        json!({"sleep_ms": 7_000}),
    )
    .await;
    let start = |worker_id: &str| {
        let mut options = PoolOptions::new(worker_id);
        options.concurrency = Some(2);
        options.wait = Duration::from_secs(1);
        options.recovery_ms = Some(2_000);
        WorkerPool::start(backend, &s.tools, &["research".to_string()], &options).unwrap()
    };
    let (first, second) = (start("first"), start("second"));
    let record = wait_for(backend, &task_id, Duration::from_secs(20), finished).await;
    let (first_stats, second_stats) = (first.stats.clone(), second.stats.clone());
    first.stop().await;
    second.stop().await;
    assert_eq!(record.status, TaskStatus::Succeeded);
    assert_eq!(record.attempts, 1, "never taken over");
    assert_eq!(s.counting.runs_of(&task_id), 1);
    let deliveries =
        first_stats.messages.load(Ordering::SeqCst) + second_stats.messages.load(Ordering::SeqCst);
    // Renewed every third of the period, the message stays hidden; a renewal that a loaded moto
    // answers late can let it out once, and that delivery is retried (it is the holder's own
    // message), never run: the attempts and runs above are what must hold.
    assert!(
        deliveries <= 2,
        "the message was received {deliveries} times: its visibility was not renewed while the tool ran"
    );
    assert!(work_queue_is_empty(backend, "research").await);
}

async fn poison_messages_end_in_the_dlq(h: Harness) {
    let s = setup(h);
    let backend = &s.h.backend;
    let queue = &backend.work_queues["synthetic"];
    let dlq = &backend.dead_letter_queues["synthetic"];
    // Tasks recorded directly in the store, so only the messages below name them.
    let recorded = |conversation: &str| {
        TaskRecord::pending(
            workers::record::NewTask {
                task_id: ulid::Ulid::generate().to_string(),
                owner: ALICE.into(),
                reply_to: DEFAULT_CONSUMER.into(),
                conversation_id: conversation.into(),
                tool: "synthetic".into(),
                arguments: json!({}),
                idempotency_key: None,
                deadline_ms: None,
            },
            workers::clock::now_ms(),
            1,
        )
    };
    // A malformed message that names its task: the task is failed at once.
    let named = recorded("c1");
    backend.store.create(&named).await.unwrap();
    queue
        .send(
            &json!({"version": 1, "task_id": named.task_id, "tool": "synthetic", "colour": "red"})
                .to_string(),
        )
        .await
        .unwrap();
    // A message of a newer protocol version: retried (a newer worker of a rolling deploy would
    // take it), so it ends in the DLQ and its task stays PENDING. (Before issue 10 its task was
    // failed: deliberately changed.)
    let newer = recorded("c1");
    backend.store.create(&newer).await.unwrap();
    queue
        .send(&json!({"version": 99, "task_id": newer.task_id, "tool": "synthetic"}).to_string())
        .await
        .unwrap();
    queue.send("this is not a work message").await.unwrap();
    let good = s.submit("c1", json!({})).await;

    let workers = pool(backend, &s.tools, "w", 2);
    let moved = eventually(Duration::from_secs(40), || async {
        dlq.depth().await.unwrap().visible == 2
    })
    .await;
    assert!(moved, "both poison messages reached the DLQ");
    assert!(
        eventually(Duration::from_secs(10), || work_queue_is_empty(
            backend,
            "synthetic"
        ))
        .await
    );
    workers.stop().await;

    let mut dead: Vec<String> = Vec::new();
    for _ in 0..5 {
        for m in dlq.receive(10, Duration::from_secs(1), None).await.unwrap() {
            dead.push(m.body);
        }
        if dead.len() == 2 {
            break;
        }
    }
    dead.sort();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(dead.contains(&"this is not a work message".to_string()));
    assert!(
        dead.iter().any(|b| b.contains("\"version\":99")),
        "{dead:?}"
    );

    let failed = get(backend, &named.task_id).await;
    assert_eq!(failed.status, TaskStatus::Failed);
    let error = failed.error.unwrap();
    assert_eq!(error.kind, ErrorKind::MalformedMessage);
    assert!(
        error.message.contains("unknown field `colour`"),
        "{}",
        error.message
    );
    let waiting = get(backend, &newer.task_id).await;
    assert_eq!((waiting.status, waiting.attempts), (TaskStatus::Pending, 0));
    assert_eq!(get(backend, &good).await.status, TaskStatus::Succeeded);
    assert_eq!(s.counting.runs_of(&good), 1);
    assert_eq!(s.counting.runs_of(&named.task_id), 0);
    assert_eq!(s.counting.runs_of(&newer.task_id), 0);
    let mut statuses: Vec<_> = drain_raw(backend, DEFAULT_CONSUMER)
        .await
        .into_iter()
        .map(|r| (r.task_id, r.status))
        .collect();
    statuses.sort();
    let mut expected = vec![
        (named.task_id.clone(), TaskStatus::Failed),
        (good, TaskStatus::Succeeded),
    ];
    expected.sort();
    assert_eq!(statuses, expected);
}

async fn cancel_before_start_never_runs(h: Harness) {
    let s = setup(h);
    let backend = &s.h.backend;
    let task_id = s.submit("c1", json!({})).await;
    let outcome = s.dispatcher.cancel(&s.caller, &task_id).await.unwrap();
    assert!(outcome.cancelled);
    assert_eq!(outcome.record.status, TaskStatus::Cancelled);
    let again = s.dispatcher.cancel(&s.caller, &task_id).await.unwrap();
    assert!(!again.cancelled, "a terminal task stays as it is");

    let workers = pool(backend, &s.tools, "w", 1);
    assert!(
        eventually(Duration::from_secs(10), || work_queue_is_empty(
            backend,
            "synthetic"
        ))
        .await
    );
    workers.stop().await;
    assert_eq!(
        s.counting.total.load(Ordering::SeqCst),
        0,
        "the tool never ran"
    );
    let record = get(backend, &task_id).await;
    assert_eq!((record.status, record.attempts), (TaskStatus::Cancelled, 0));
    let results = drain_raw(backend, DEFAULT_CONSUMER).await;
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].status, TaskStatus::Cancelled);
}

async fn a_thousand_tasks_through_four_workers(h: Harness) {
    let s = setup(h);
    let backend = &s.h.backend;
    // As in production, workers and the router run while tasks arrive (moto's SQS also slows down
    // with queue length, so this keeps the queues short).
    let workers: Vec<WorkerPool> = (1..=4)
        .map(|i| pool(backend, &s.tools, &format!("worker-{i}"), 1))
        .collect();
    let mut router = backend.router(ALICE, DEFAULT_CONSUMER).unwrap();
    let routing = tokio::spawn(async move {
        let handed = route_until(&mut router, 1000, Duration::from_secs(300)).await;
        (router, handed)
    });
    let submitted: Vec<String> = futures::stream::iter(0..1000)
        .map(|i| s.submit("conv-a", json!({"echo": i})))
        .buffer_unordered(8)
        .collect()
        .await;
    let (mut router, mut handed) = routing.await.unwrap();
    // Duplicated result messages (a publisher that died after sending) are handed over once.
    let reply_queue = backend.replies.queue(DEFAULT_CONSUMER).unwrap();
    for result in handed.iter().take(5) {
        reply_queue.send(&result.to_body()).await.unwrap();
    }
    let mut sink = workers::delivery::VecSink::default();
    for _ in 0..3 {
        router
            .poll(&mut sink, Duration::from_millis(500))
            .await
            .unwrap();
    }
    handed.extend(sink.0);
    for w in workers {
        w.stop().await;
    }
    assert_eq!(handed.len(), 1000, "each result handed over exactly once");
    assert!(router.stats.duplicates_dropped >= 5, "{:?}", router.stats);
    let handed_ids: HashSet<&str> = handed.iter().map(|r| r.task_id.as_str()).collect();
    assert_eq!(handed_ids.len(), 1000);

    let runs = s.counting.runs.lock().unwrap().clone();
    assert_eq!(s.counting.total.load(Ordering::SeqCst), 1000);
    for task_id in &submitted {
        assert_eq!(runs.get(task_id), Some(&1), "task {task_id} executed once");
        assert!(handed_ids.contains(task_id.as_str()));
    }
    let mut settled = 0;
    let mut cursor = None;
    loop {
        let page = s
            .dispatcher
            .list(&s.caller, "conv-a", 100, cursor.as_deref())
            .await
            .unwrap();
        settled += page
            .tasks
            .iter()
            .filter(|t| t.status == TaskStatus::Succeeded && t.is_settled())
            .count();
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(settled, 1000, "terminal, published and delivered records");
    let undelivered = s
        .dispatcher
        .undelivered(&s.caller, DEFAULT_CONSUMER, 10, None)
        .await
        .unwrap();
    assert!(undelivered.tasks.is_empty());
}

/// Replaces the per-conversation watchers: a consumer's router gets every result of its owner on
/// that consumer's reply queue (any conversation, each once), and only those.
async fn each_consumer_gets_its_own_results(h: Harness) {
    let s = setup(h);
    let backend = &s.h.backend;
    let mut on_default = Vec::new();
    let mut on_other = Vec::new();
    for i in 0..10 {
        let conversation = if i % 2 == 0 { "conv-a" } else { "conv-b" };
        let mut request = TaskRequest::new(conversation, "synthetic", json!({"echo": i}));
        if i >= 6 {
            request.reply_to = Some("other".into());
        }
        let ack = s.dispatcher.submit(&s.caller, request).await.unwrap();
        if i >= 6 {
            on_other.push((ack.task_id, conversation));
        } else {
            on_default.push((ack.task_id, conversation));
        }
    }
    let workers = pool(backend, &s.tools, "w", 2);
    let mut default_router = backend.router(ALICE, DEFAULT_CONSUMER).unwrap();
    let mut other_router = backend.router(ALICE, "other").unwrap();
    let got_default = route_until(&mut default_router, 6, Duration::from_secs(30)).await;
    let got_other = route_until(&mut other_router, 4, Duration::from_secs(30)).await;
    workers.stop().await;
    let as_pairs = |got: &[workers::ResultMessage]| -> HashSet<(String, String)> {
        got.iter()
            .map(|r| (r.task_id.clone(), r.conversation_id.clone()))
            .collect()
    };
    let expected = |sent: &[(String, &str)]| -> HashSet<(String, String)> {
        sent.iter()
            .map(|(id, c)| (id.clone(), c.to_string()))
            .collect()
    };
    assert_eq!(as_pairs(&got_default), expected(&on_default));
    assert_eq!(as_pairs(&got_other), expected(&on_other));
    assert!(got_other.iter().all(|r| r.reply_to == "other"));
    // A duplicate is dropped, and nothing else is waiting on either queue.
    backend
        .replies
        .queue(DEFAULT_CONSUMER)
        .unwrap()
        .send(&got_default[0].to_body())
        .await
        .unwrap();
    let mut sink = workers::delivery::VecSink::default();
    for router in [&mut default_router, &mut other_router] {
        router
            .poll(&mut sink, Duration::from_millis(500))
            .await
            .unwrap();
    }
    assert!(sink.0.is_empty(), "{:?}", sink.0);
    assert_eq!(default_router.stats.duplicates_dropped, 1);
    for consumer in [DEFAULT_CONSUMER, "other"] {
        let depth = backend
            .replies
            .queue(consumer)
            .unwrap()
            .depth()
            .await
            .unwrap();
        assert_eq!((depth.visible, depth.in_flight), (0, 0), "{consumer}");
    }
}

async fn cancel_while_running_discards_the_late_result(h: Harness) {
    let s = setup(h);
    let backend = &s.h.backend;
    // `research` (10 s timeout) runs Counting: long enough for a cancel on a loaded moto.
    let task_id = submit_as(
        &s.dispatcher,
        &s.caller,
        "c1",
        "research",
        json!({"sleep_ms": 3_000}),
    )
    .await;
    let workers = pool_for(backend, &s.tools, "research", "w", 1);
    assert!(
        eventually(Duration::from_secs(10), || async {
            s.counting.runs_of(&task_id) == 1
        })
        .await
    );
    let outcome = s.dispatcher.cancel(&s.caller, &task_id).await.unwrap();
    assert!(outcome.cancelled);
    assert!(
        eventually(Duration::from_secs(15), || work_queue_is_empty(
            backend, "research"
        ))
        .await
    );
    workers.stop().await;
    let record = get(backend, &task_id).await;
    assert_eq!(record.status, TaskStatus::Cancelled);
    assert_eq!(record.result, None, "the run's late result was discarded");
    let results = drain_raw(backend, DEFAULT_CONSUMER).await;
    assert_eq!(results.len(), 1, "{results:#?}");
    assert_eq!(results[0].status, TaskStatus::Cancelled);
}

/// Point 8: a cancel while the tool runs reaches it through `ToolContext.cancelled` (at the next
/// heartbeat), and whatever it returns afterwards is discarded.
async fn a_cancel_reaches_the_running_tool(h: Harness) {
    let backend = &h.backend;
    let probe = Arc::new(AwaitsCancel::default());
    let tools = ToolBox::builtin().with("research", probe.clone());
    let dispatcher = backend
        .dispatcher(tools.clone(), DispatcherSettings::default())
        .unwrap();
    let caller = alice();
    let task_id = submit_as(&dispatcher, &caller, "c1", "research", json!({})).await;
    let workers = pool_for(backend, &tools, "research", "w", 1);
    assert!(
        eventually(Duration::from_secs(10), || async {
            probe.started.load(Ordering::SeqCst) == 1
        })
        .await
    );
    assert!(!probe.saw_cancel.load(Ordering::SeqCst));
    let outcome = dispatcher.cancel(&caller, &task_id).await.unwrap();
    assert!(outcome.cancelled);
    assert!(
        eventually(Duration::from_secs(10), || async {
            probe.saw_cancel.load(Ordering::SeqCst)
        })
        .await,
        "the tool's token was cancelled"
    );
    assert!(
        eventually(Duration::from_secs(15), || work_queue_is_empty(
            backend, "research"
        ))
        .await
    );
    workers.stop().await;
    let record = get(backend, &task_id).await;
    assert_eq!(record.status, TaskStatus::Cancelled);
    assert_eq!(record.result, None, "the tool's late result was discarded");
    assert_eq!(record.error.unwrap().kind, ErrorKind::Cancelled);
    assert_eq!(probe.started.load(Ordering::SeqCst), 1);
    let results = drain_raw(backend, DEFAULT_CONSUMER).await;
    assert_eq!(results.len(), 1, "{results:#?}");
    assert_eq!(
        (results[0].status, &results[0].result),
        (TaskStatus::Cancelled, &None)
    );
}

/// Point 8: `WorkerPool::stop` finishes the work in flight, releases what receives bring during the
/// stop, and leaves nothing in flight.
async fn stop_finishes_in_flight_work_and_leaves_nothing_in_flight(h: Harness) {
    let s = setup(h);
    let backend = &s.h.backend;
    let queue = backend.work_queues["research"].clone();
    let mut options = PoolOptions::new("stopping");
    // `research` has batch size 1: two loops run a task each, the third long-polls.
    options.concurrency = Some(3);
    options.wait = Duration::from_secs(3);
    options.recovery_ms = Some(STEADY_RECOVERY_MS);
    let workers =
        WorkerPool::start(backend, &s.tools, &["research".to_string()], &options).unwrap();
    let research = |i: u64| {
        submit_as(
            &s.dispatcher,
            &s.caller,
            "c1",
            "research",
            json!({"sleep_ms": 800, "echo": i}),
        )
    };
    let running = vec![research(1).await, research(2).await];
    assert!(
        eventually(Duration::from_secs(10), || async {
            s.counting.total.load(Ordering::SeqCst) == 2
        })
        .await
    );
    let stopping = tokio::spawn(workers.stop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Arrives during the stop: the polling loop may receive one, and must release it.
    let late = vec![research(3).await, research(4).await];
    tokio::time::timeout(Duration::from_secs(30), stopping)
        .await
        .expect("the stop finishes")
        .unwrap();
    for task_id in &running {
        let record = get(backend, task_id).await;
        assert!(
            record.status == TaskStatus::Succeeded && record.result_published,
            "finished before the stop returned: {record:#?}"
        );
    }
    for task_id in &late {
        let record = get(backend, task_id).await;
        assert_eq!((record.status, record.attempts), (TaskStatus::Pending, 0));
    }
    assert_eq!(
        s.counting.total.load(Ordering::SeqCst),
        2,
        "no late task ran"
    );
    let depth = queue.depth().await.unwrap();
    assert_eq!(
        (depth.visible, depth.in_flight),
        (2, 0),
        "nothing left in flight; the late tasks wait, visible, for the next worker"
    );
    let results = drain_raw(backend, DEFAULT_CONSUMER).await;
    let ids: HashSet<String> = results.into_iter().map(|r| r.task_id).collect();
    assert_eq!(ids, running.into_iter().collect::<HashSet<_>>());
    // And the next worker gets them at once.
    let next = pool_for(backend, &s.tools, "research", "next", 2);
    for task_id in &late {
        wait_for(backend, task_id, Duration::from_secs(15), finished).await;
    }
    next.stop().await;
}

macro_rules! on_every_backend {
    ($($test:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let h = super::harness_with(super::Kind::Memory, stringify!($test), super::options_for(stringify!($test))).await.unwrap();
                    super::$test(h).await;
                }
            )*
        }
        mod moto {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let Some(h) = super::harness_with(super::Kind::Moto, stringify!($test), super::options_for(stringify!($test))).await else { return };
                    super::$test(h).await;
                }
            )*
        }
    };
}

/// Harness options per test: the takeover test has a long work-queue visibility timeout, so only
/// the recovery period can bring its message back soon; the consumer test a second reply queue.
fn options_for(test: &str) -> HarnessOptions {
    let mut options = HarnessOptions::default();
    match test {
        "a_dead_worker_is_taken_over_after_the_recovery_period" => options.work_visibility_s = 60,
        "each_consumer_gets_its_own_results" => options.consumers.push("other".into()),
        _ => {}
    }
    options
}

on_every_backend!(
    same_message_three_times_runs_once,
    a_dead_worker_is_taken_over_after_the_recovery_period,
    a_long_run_is_not_taken_over_while_its_worker_lives,
    poison_messages_end_in_the_dlq,
    cancel_before_start_never_runs,
    a_thousand_tasks_through_four_workers,
    each_consumer_gets_its_own_results,
    cancel_while_running_discards_the_late_result,
    a_cancel_reaches_the_running_tool,
    stop_finishes_in_flight_work_and_leaves_nothing_in_flight,
);
