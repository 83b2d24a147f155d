//! The end-to-end cases through the real dispatcher and worker handlers, on every backend.

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
use workers::watch::ResultWatcher;
use workers::{
    Backend, Delivery, Dispatcher, DispatcherSettings, ResultMessage, TaskRecord, TaskRequest,
    TaskStatus, ToolBox, WorkMessage, WorkerSettings,
};

struct Setup {
    h: Harness,
    counting: Arc<Counting>,
    tools: ToolBox,
    dispatcher: Dispatcher,
}

fn setup(h: Harness) -> Setup {
    let counting = Arc::new(Counting::default());
    let tools = ToolBox::builtin().with("synthetic", counting.clone());
    let dispatcher = h
        .backend
        .dispatcher(tools.clone(), DispatcherSettings::default())
        .unwrap();
    Setup {
        h,
        counting,
        tools,
        dispatcher,
    }
}

fn pool(backend: &Backend, tools: &ToolBox, worker_id: &str, concurrency: usize) -> WorkerPool {
    let mut options = PoolOptions::new(worker_id);
    options.concurrency = Some(concurrency);
    options.wait = Duration::from_secs(1);
    options.lease_margin_ms = Some(TEST_LEASE_MARGIN_MS);
    WorkerPool::start(backend, tools, &["synthetic".to_string()], &options).unwrap()
}

async fn submit(
    dispatcher: &Dispatcher,
    conversation: &str,
    arguments: serde_json::Value,
) -> String {
    dispatcher
        .submit(TaskRequest::new(conversation, "synthetic", arguments))
        .await
        .unwrap()
        .task_id
}

async fn get(backend: &Backend, task_id: &str) -> TaskRecord {
    backend
        .store
        .get(task_id)
        .await
        .unwrap()
        .expect("the task exists")
}

async fn wait_for(
    backend: &Backend,
    task_id: &str,
    limit: Duration,
    done: impl Fn(&TaskRecord) -> bool,
) -> TaskRecord {
    let reached = eventually(limit, || async { done(&get(backend, task_id).await) }).await;
    let record = get(backend, task_id).await;
    assert!(
        reached,
        "task did not reach the expected state in {limit:?}: {record:#?}"
    );
    record
}

fn finished(r: &TaskRecord) -> bool {
    r.status.is_terminal() && r.result_published
}

/// Every message on the results queue now (deleting them), until a receive comes back empty.
async fn drain_results(backend: &Backend) -> Vec<ResultMessage> {
    let mut out = Vec::new();
    loop {
        let got = backend
            .results
            .receive(10, Duration::from_secs(1))
            .await
            .unwrap();
        if got.is_empty() {
            return out;
        }
        for m in got {
            out.push(ResultMessage::parse(&m.body).unwrap());
            backend.results.delete(&m.receipt_handle).await.unwrap();
        }
    }
}

async fn queue_is_empty(backend: &Backend) -> bool {
    let d = backend.work_queues["synthetic"].depth().await.unwrap();
    d.visible == 0 && d.in_flight == 0
}

async fn same_message_three_times_runs_once(h: Harness) {
    let s = setup(h);
    let backend = &s.h.backend;
    let task_id = submit(&s.dispatcher, "c1", json!({"sleep_ms": 200})).await;
    let body = WorkMessage::new(&task_id, "synthetic").to_body();
    for _ in 0..2 {
        backend.work_queues["synthetic"].send(&body).await.unwrap();
    }
    let workers = pool(backend, &s.tools, "w", 3);
    let record = wait_for(backend, &task_id, Duration::from_secs(15), finished).await;
    assert!(
        eventually(Duration::from_secs(10), || queue_is_empty(backend)).await,
        "all 3 copies acknowledged"
    );
    workers.stop().await;
    assert_eq!(record.status, TaskStatus::Succeeded);
    assert_eq!(record.attempts, 1);
    assert_eq!(s.counting.runs_of(&task_id), 1, "the tool ran once");
    let results = drain_results(backend).await;
    assert_eq!(results.len(), 1, "one result: {results:#?}");
    assert_eq!(results[0].task_id, task_id);
}

async fn a_dead_worker_is_taken_over(h: Harness) {
    let s = setup(h);
    let backend = &s.h.backend;
    s.counting.hang_first.store(1, Ordering::SeqCst);
    let task_id = submit(&s.dispatcher, "c1", json!({"echo": "survives"})).await;

    let settings = WorkerSettings {
        worker_id: "doomed".into(),
        lease_margin_ms: Some(TEST_LEASE_MARGIN_MS),
    };
    let doomed = Arc::new(backend.worker("synthetic", &s.tools, settings).unwrap());
    let message = backend.work_queues["synthetic"]
        .receive(1, Duration::from_secs(2))
        .await
        .unwrap()
        .remove(0);
    let delivery = Delivery {
        message_id: message.message_id,
        body: message.body,
        receive_count: message.receive_count,
    };
    let run = tokio::spawn(async move { doomed.handle(&delivery, None).await });
    assert!(
        eventually(Duration::from_secs(5), || async {
            s.counting.total.load(Ordering::SeqCst) == 1
        })
        .await
    );
    // The worker dies mid-run: no terminal write, no delete.
    run.abort();
    let orphan = get(backend, &task_id).await;
    assert_eq!(
        (orphan.status, orphan.lease_owner.as_deref()),
        (TaskStatus::Running, Some("doomed"))
    );

    let rescuers = pool(backend, &s.tools, "rescuer", 2);
    let record = wait_for(backend, &task_id, Duration::from_secs(20), finished).await;
    rescuers.stop().await;
    assert_eq!(record.status, TaskStatus::Succeeded);
    assert_eq!(record.attempts, 2);
    assert_eq!(record.lease_owner.as_deref(), Some("rescuer"));
    assert_eq!(record.result.as_ref().unwrap()["echo"]["echo"], "survives");
    assert_eq!(
        s.counting.runs_of(&task_id),
        2,
        "the dead run and the one that finished"
    );
    assert_eq!(drain_results(backend).await.len(), 1);
}

async fn poison_messages_end_in_the_dlq(h: Harness) {
    let s = setup(h);
    let backend = &s.h.backend;
    let queue = &backend.work_queues["synthetic"];
    let dlq = &backend.dead_letter_queues["synthetic"];
    // A record whose work message is garbled: it names the task, so the task is failed at once.
    let named = TaskRecord {
        version: 1,
        task_id: ulid::Ulid::generate().to_string(),
        conversation_id: "c1".into(),
        tool: "synthetic".into(),
        arguments: json!({}),
        status: TaskStatus::Pending,
        revision: 1,
        idempotency_key: None,
        deadline_ms: None,
        created_at_ms: 1,
        updated_at_ms: 1,
        started_at_ms: None,
        finished_at_ms: None,
        attempts: 0,
        lease_owner: None,
        lease_expires_at_ms: None,
        result: None,
        error: None,
        result_published: false,
        expires_at: 4_000_000_000,
    };
    backend.store.create(&named).await.unwrap();
    queue
        .send(&json!({"version": 99, "task_id": named.task_id, "tool": "synthetic"}).to_string())
        .await
        .unwrap();
    queue.send("this is not a work message").await.unwrap();
    let good = submit(&s.dispatcher, "c1", json!({})).await;

    let workers = pool(backend, &s.tools, "w", 2);
    let moved = eventually(Duration::from_secs(30), || async {
        dlq.depth().await.unwrap().visible == 1
    })
    .await;
    assert!(moved, "the poison message reached the DLQ");
    assert!(eventually(Duration::from_secs(10), || queue_is_empty(backend)).await);
    workers.stop().await;

    assert_eq!(
        dlq.receive(1, Duration::from_secs(1)).await.unwrap()[0].body,
        "this is not a work message"
    );
    let failed = get(backend, &named.task_id).await;
    assert_eq!(failed.status, TaskStatus::Failed);
    let error = failed.error.unwrap();
    assert_eq!(error.kind, ErrorKind::MalformedMessage);
    assert!(
        error
            .message
            .contains("protocol version 99 is not supported"),
        "{}",
        error.message
    );
    assert_eq!(get(backend, &good).await.status, TaskStatus::Succeeded);
    assert_eq!(s.counting.runs_of(&good), 1);
    assert_eq!(s.counting.runs_of(&named.task_id), 0);
    let mut statuses: Vec<_> = drain_results(backend)
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
    let task_id = submit(&s.dispatcher, "c1", json!({})).await;
    let outcome = s.dispatcher.cancel(&task_id).await.unwrap();
    assert!(outcome.cancelled);
    assert_eq!(outcome.record.status, TaskStatus::Cancelled);
    let again = s.dispatcher.cancel(&task_id).await.unwrap();
    assert!(!again.cancelled, "a terminal task stays as it is");

    let workers = pool(backend, &s.tools, "w", 1);
    assert!(eventually(Duration::from_secs(10), || queue_is_empty(backend)).await);
    workers.stop().await;
    assert_eq!(
        s.counting.total.load(Ordering::SeqCst),
        0,
        "the tool never ran"
    );
    let record = get(backend, &task_id).await;
    assert_eq!((record.status, record.attempts), (TaskStatus::Cancelled, 0));
    let results = drain_results(backend).await;
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].status, TaskStatus::Cancelled);
}

async fn a_thousand_tasks_through_four_workers(h: Harness) {
    let s = setup(h);
    let backend = &s.h.backend;
    // As in production, workers and the watcher run while tasks arrive (moto's SQS also slows down
    // with queue length, so this keeps the queues short).
    let workers: Vec<WorkerPool> = (1..=4)
        .map(|i| pool(backend, &s.tools, &format!("worker-{i}"), 1))
        .collect();
    let mut watcher = backend.watcher("conv-a");
    let watching = tokio::spawn(async move {
        let printed = watch_until(&mut watcher, 1000, Duration::from_secs(240)).await;
        (watcher, printed)
    });
    let submitted: Vec<String> = futures::stream::iter(0..1000)
        .map(|i| submit(&s.dispatcher, "conv-a", json!({"echo": i})))
        .buffer_unordered(8)
        .collect()
        .await;
    let (mut watcher, mut printed) = watching.await.unwrap();
    // Duplicated result messages (a publisher that died after sending) are printed once.
    for result in printed.iter().take(5) {
        backend.results.send(&result.to_body()).await.unwrap();
    }
    for _ in 0..2 {
        printed.extend(watcher.poll(Duration::from_secs(1)).await.unwrap());
    }
    for w in workers {
        w.stop().await;
    }
    assert_eq!(printed.len(), 1000, "each result printed exactly once");
    let printed_ids: HashSet<&str> = printed.iter().map(|r| r.task_id.as_str()).collect();
    assert_eq!(printed_ids.len(), 1000);

    let runs = s.counting.runs.lock().unwrap().clone();
    assert_eq!(s.counting.total.load(Ordering::SeqCst), 1000);
    for task_id in &submitted {
        assert_eq!(runs.get(task_id), Some(&1), "task {task_id} executed once");
        assert!(printed_ids.contains(task_id.as_str()));
    }
    let mut terminal = 0;
    let mut cursor = None;
    loop {
        let page = s
            .dispatcher
            .list("conv-a", 100, cursor.as_deref())
            .await
            .unwrap();
        terminal += page
            .tasks
            .iter()
            .filter(|t| t.status == TaskStatus::Succeeded)
            .count();
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(terminal, 1000, "terminal records");
}

async fn watch_leaves_other_conversations_alone(h: Harness) {
    let backend = &h.backend;
    let result = |conversation: &str| ResultMessage {
        version: 1,
        task_id: ulid::Ulid::generate().to_string(),
        conversation_id: conversation.into(),
        tool: "synthetic".into(),
        status: TaskStatus::Succeeded,
        result: Some(json!({})),
        error: None,
        created_at_ms: 1,
        finished_at_ms: 2,
    };
    let mut sent_a = Vec::new();
    for i in 0..30 {
        // Other conversations' results first, so a watcher has to look past them.
        let r = result(if i < 15 { "conv-b" } else { "conv-a" });
        backend.results.send(&r.to_body()).await.unwrap();
        if r.conversation_id == "conv-a" {
            sent_a.push(r);
        }
    }
    backend.results.send(&sent_a[0].to_body()).await.unwrap();
    let mut watch_a = backend.watcher("conv-a");
    let printed_a = watch_until(&mut watch_a, 15, Duration::from_secs(30)).await;
    assert!(
        watch_a.poll(Duration::ZERO).await.unwrap().is_empty(),
        "the duplicate is not printed"
    );
    assert_eq!(
        printed_a.iter().map(|r| &r.task_id).collect::<HashSet<_>>(),
        sent_a.iter().map(|r| &r.task_id).collect::<HashSet<_>>()
    );
    let mut watch_b = backend.watcher("conv-b");
    let printed_b = watch_until(&mut watch_b, 15, Duration::from_secs(30)).await;
    assert!(printed_b.iter().all(|r| r.conversation_id == "conv-b"));
    assert_eq!(backend.results.depth().await.unwrap().visible, 0);
}

async fn cancel_while_running_discards_the_late_result(h: Harness) {
    let s = setup(h);
    let backend = &s.h.backend;
    let task_id = submit(&s.dispatcher, "c1", json!({"sleep_ms": 600})).await;
    let workers = pool(backend, &s.tools, "w", 1);
    assert!(
        eventually(Duration::from_secs(10), || async {
            s.counting.runs_of(&task_id) == 1
        })
        .await
    );
    let outcome = s.dispatcher.cancel(&task_id).await.unwrap();
    assert!(outcome.cancelled);
    assert!(eventually(Duration::from_secs(15), || queue_is_empty(backend)).await);
    workers.stop().await;
    let record = get(backend, &task_id).await;
    assert_eq!(record.status, TaskStatus::Cancelled);
    assert_eq!(record.result, None, "the run's late result was discarded");
    let results = drain_results(backend).await;
    assert_eq!(results.len(), 1, "{results:#?}");
    assert_eq!(results[0].status, TaskStatus::Cancelled);
}

/// What `tasks watch` prints, until `count` results arrived.
async fn watch_until(
    watcher: &mut ResultWatcher,
    count: usize,
    limit: Duration,
) -> Vec<ResultMessage> {
    let start = Instant::now();
    let mut printed = Vec::new();
    while printed.len() < count {
        assert!(
            start.elapsed() < limit,
            "got {} of {count} results in {limit:?}",
            printed.len()
        );
        printed.extend(watcher.poll(Duration::from_secs(1)).await.unwrap());
    }
    printed
}

macro_rules! on_every_backend {
    ($($test:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let h = super::harness(super::Kind::Memory, stringify!($test)).await.unwrap();
                    super::$test(h).await;
                }
            )*
        }
        mod moto {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let Some(h) = super::harness(super::Kind::Moto, stringify!($test)).await else { return };
                    super::$test(h).await;
                }
            )*
        }
    };
}

on_every_backend!(
    same_message_three_times_runs_once,
    a_dead_worker_is_taken_over,
    poison_messages_end_in_the_dlq,
    cancel_before_start_never_runs,
    a_thousand_tasks_through_four_workers,
    watch_leaves_other_conversations_alone,
    cancel_while_running_discards_the_late_result,
);
