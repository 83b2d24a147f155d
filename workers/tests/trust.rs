//! Issue 24 ("trust, round 3"): each failure it names, reproduced and fixed, on the memory
//! backend and moto. (The owner scope is in `owners.rs`, router replicas and other owners'
//! messages in `delivery.rs` and `owners.rs`.)

#[macro_use]
mod common;

use async_trait::async_trait;
use common::*;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use workers::ports::{MessageQueue, QueueDepth, ReceivedMessage};
use workers::sweeper::{SweepSettings, sweep};
use workers::{Dispatcher, DispatcherSettings, QueueError, TaskRequest, TaskStatus, ToolBox};

/// A work queue whose sends fail, as SQS's do when it throttles or cannot be reached.
struct RefusingSends(Arc<dyn MessageQueue>);

#[async_trait]
impl MessageQueue for RefusingSends {
    fn name(&self) -> &str {
        self.0.name()
    }
    async fn send(&self, _body: &str) -> Result<String, QueueError> {
        Err(QueueError::Backend {
            queue: self.0.name().to_string(),
            source: anyhow::anyhow!("ThrottlingException: Rate exceeded"),
        })
    }
    async fn receive(
        &self,
        max_messages: u32,
        wait: Duration,
        visibility: Option<Duration>,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        self.0.receive(max_messages, wait, visibility).await
    }
    async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        self.0.delete(receipt_handle).await
    }
    async fn change_visibility(
        &self,
        receipt_handle: &str,
        timeout: Duration,
    ) -> Result<(), QueueError> {
        self.0.change_visibility(receipt_handle, timeout).await
    }
    async fn depth(&self) -> Result<QueueDepth, QueueError> {
        self.0.depth().await
    }
}

/// Item 7: a dispatcher that wrote the record but could not enqueue it answered 500, and a client
/// retrying without an idempotency key made the tool run twice. It answers with the task now; the
/// sweeper enqueues it, and it runs once.
async fn a_lost_enqueue_answers_with_the_task_which_then_runs_once(h: Harness) {
    let backend = &h.backend;
    let mut work_queues = backend.work_queues.clone();
    let real = work_queues["synthetic"].clone();
    work_queues.insert(
        "synthetic".into(),
        Arc::new(RefusingSends(real.clone())) as Arc<dyn MessageQueue>,
    );
    let dispatcher = Dispatcher::new(
        backend.catalog.clone(),
        ToolBox::builtin(),
        backend.store.clone(),
        work_queues,
        backend.replies.clone(),
        DispatcherSettings::default(),
    )
    .unwrap();
    let ack = dispatcher
        .submit(
            &alice(),
            TaskRequest::new("c1", "synthetic", json!({"echo": "once"})),
        )
        .await
        .expect("the task is in the table: answered with it, not an error");
    assert_eq!(ack.status, TaskStatus::Pending);
    assert_eq!(
        real.depth().await.unwrap().visible,
        0,
        "nothing was enqueued"
    );
    assert_eq!(get(backend, &ack.task_id).await.status, TaskStatus::Pending);

    // The sweeper finds it (its bound set to nothing, as time would), and a worker runs it once.
    let report = sweep(
        backend.store.as_ref(),
        &backend.work_queues,
        &backend.replies,
        SweepSettings::older_than(Duration::ZERO),
    )
    .await
    .unwrap();
    assert_eq!(report.requeued, 1, "{report:?}");
    let workers = pool(backend, &ToolBox::builtin(), "w", 1);
    let done = wait_for(backend, &ack.task_id, Duration::from_secs(20), finished).await;
    workers.stop().await;
    assert_eq!(done.status, TaskStatus::Succeeded);
    assert_eq!(done.attempts, 1, "ran once");
}

on_every_backend!(a_lost_enqueue_answers_with_the_task_which_then_runs_once,);
