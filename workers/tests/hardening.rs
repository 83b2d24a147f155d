//! Issue 10, point 4: each hardening fix, with a test that fails without it.

#[macro_use]
mod common;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsEvent;
use common::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use workers::clock::now_ms;
use workers::lambda::http::route;
use workers::lambda::sqs::{WRITE_RESERVE_MS, handle_sqs_event};
use workers::ports::ReceivedMessage;
use workers::tools::{Tool, ToolContext, ToolFailure};
use workers::{
    Backend, Catalog, Delivery, DispatcherSettings, Disposition, InputError, ResultMessage,
    TaskRequest, TaskStatus, ToolBox, WorkMessage, WorkerSettings,
};

fn sqs_event(messages: &[(&str, &str, &str, u32)]) -> SqsEvent {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, handle, body, receives)| {
            json!({"messageId": id, "receiptHandle": handle, "body": body,
                   "attributes": {"ApproximateReceiveCount": receives.to_string()},
                   "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                   "eventSourceARN": "arn", "awsRegion": "us-east-1"})
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

fn delivery(m: &ReceivedMessage, with_handle: bool) -> Delivery {
    Delivery {
        message_id: m.message_id.clone(),
        body: m.body.clone(),
        receive_count: m.receive_count,
        receipt_handle: with_handle.then(|| m.receipt_handle.clone()),
    }
}

#[test]
fn the_catalog_refuses_fewer_than_five_receives() {
    let four = TEST_CATALOG.replacen("max_receive_count = 5", "max_receive_count = 4", 1);
    let err = Catalog::parse(&four).unwrap_err().to_string();
    assert_eq!(
        err,
        "tool catalog: tools[0] (sentiment): max_receive_count = 4 is outside 5..=100 (AWS advises at least 5)"
    );
    let three = TEST_CATALOG.replacen("max_receive_count = 5", "max_receive_count = 3", 1);
    assert!(
        Catalog::parse(&three).is_err(),
        "the old value of 3 is refused"
    );
    for tool in Catalog::embedded().tools() {
        assert!(tool.max_receive_count >= 5, "{}", tool.name);
    }
}

/// Records the budget it was given, then runs far past it (a call that hangs).
#[derive(Default)]
struct BudgetProbe {
    budget: Mutex<Option<Duration>>,
}

#[async_trait]
impl Tool for BudgetProbe {
    fn check_arguments(&self, _arguments: &Value) -> Result<(), InputError> {
        Ok(())
    }

    async fn run(&self, _arguments: Value, context: ToolContext) -> Result<Value, ToolFailure> {
        *self.budget.lock().unwrap() = Some(context.budget);
        tokio::time::sleep(Duration::from_secs(600)).await;
        Ok(json!("too late"))
    }
}

/// The Lambda worker stops the tool WRITE_RESERVE_MS (20 s) before the invocation's deadline, so
/// the terminal write and the publish happen before Lambda kills it. (It kept 2 s before.)
#[tokio::test]
async fn the_lambda_worker_keeps_the_write_reserve_before_its_deadline() {
    assert_eq!(WRITE_RESERVE_MS, 20_000);
    // A tool whose own timeout (60 s) is far beyond the invocation's remaining time.
    let catalog = TEST_CATALOG.replacen(
        "name = \"research\"\ndescription = \"test\"\ntimeout_s = 10",
        "name = \"research\"\ndescription = \"test\"\ntimeout_s = 60",
        1,
    );
    assert_ne!(catalog, TEST_CATALOG, "the replacement applies");
    let backend = Backend::in_memory(Arc::new(Catalog::parse(&catalog).unwrap()));
    let probe = Arc::new(BudgetProbe::default());
    let tools = ToolBox::builtin().with("research", probe.clone());
    let d = backend
        .dispatcher(tools.clone(), DispatcherSettings::default())
        .unwrap();
    let ack = d
        .submit(&alice(), TaskRequest::new("c1", "research", json!({})))
        .await
        .unwrap();
    let m = backend.work_queues["research"]
        .receive(1, Duration::ZERO, None)
        .await
        .unwrap()
        .remove(0);
    let worker = backend
        .worker("research", &tools, WorkerSettings::new("lambda:test"))
        .unwrap();
    let invoked = now_ms();
    // 21.5 s left in this invocation: 1.5 s for the tool, 20 s for the write and the publish.
    let deadline = invoked + WRITE_RESERVE_MS + 1_500;
    let event = sqs_event(&[("m1", &m.receipt_handle, &m.body, 1)]);
    let response = handle_sqs_event(&worker, event, Some(deadline)).await;
    let returned = now_ms();
    assert!(response.batch_item_failures.is_empty());
    let budget = probe.budget.lock().unwrap().expect("the tool ran");
    assert!(
        budget <= Duration::from_millis(1_500),
        "the tool was given {budget:?}; at most the time to the deadline less the reserve"
    );
    let record = backend.store.get(&ack.task_id).await.unwrap().unwrap();
    assert_eq!(record.status, TaskStatus::TimedOut);
    assert!(record.result_published, "published within the invocation");
    let budget_end = deadline - WRITE_RESERVE_MS;
    let finished = record.finished_at_ms.unwrap();
    // Generous slack for a loaded machine; without the reserve the run would have gone on until
    // 2 s before the deadline, 18 s past this bound.
    assert!(
        finished <= budget_end + 2_000 && returned <= budget_end + 2_000,
        "terminal write at {} ms and return at {} ms after the budget end; the deadline is {} ms after it",
        finished as i64 - budget_end as i64,
        returned as i64 - budget_end as i64,
        WRITE_RESERVE_MS
    );
    let message = record.error.unwrap().message;
    assert!(
        message.starts_with("the run exceeded its budget of ") && message.ends_with(" ms"),
        "{message}"
    );
}

/// The holder's own message, delivered again while the holder still runs the task (its visibility
/// lapsed), is not acknowledged: deleting it would leave nothing to bring the task back if the
/// holder then died. (It was acknowledged before.) Another message naming the task is a duplicate
/// and is acknowledged: deleting it cannot touch the holder's copy.
async fn a_duplicate_under_a_live_lease_is_not_acknowledged(h: Harness) {
    let backend = &h.backend;
    let gate = Arc::new(Gate::default());
    let tools = ToolBox::builtin().with("research", gate.clone());
    let d = backend
        .dispatcher(tools.clone(), DispatcherSettings::default())
        .unwrap();
    let task_id = submit_as(&d, &alice(), "c1", "research", json!({})).await;
    let queue = backend.work_queues["research"].clone();
    let worker = |id: &str| {
        let settings = WorkerSettings {
            recovery_ms: Some(TEST_RECOVERY_MS),
            ..WorkerSettings::new(id)
        };
        Arc::new(backend.worker("research", &tools, settings).unwrap())
    };
    // The holder's delivery comes straight back (as when its visibility ran out while it runs).
    let first = queue
        .receive(1, Duration::from_secs(2), Some(Duration::ZERO))
        .await
        .unwrap()
        .remove(0);
    let holder = worker("holder");
    let held = delivery(&first, false);
    let running = tokio::spawn(async move { holder.handle(&held, None).await });
    wait_for(backend, &task_id, Duration::from_secs(10), |r| {
        r.status == TaskStatus::Running && r.lease_owner.as_deref() == Some("holder")
    })
    .await;
    let again = queue
        .receive(1, Duration::from_secs(2), Some(Duration::from_secs(30)))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        (again.message_id.as_str(), again.receive_count),
        (first.message_id.as_str(), 2),
        "the holder's own message, delivered again"
    );
    let other = worker("other");
    let disposition = other.handle(&delivery(&again, true), None).await;
    assert!(
        matches!(&disposition, Disposition::Retry(reason) if reason.contains("live lease")),
        "{disposition:?}"
    );
    // The Lambda path reports it as a batch item failure, so the event source does not delete it.
    let event = sqs_event(&[(
        again.message_id.as_str(),
        again.receipt_handle.as_str(),
        again.body.as_str(),
        2,
    )]);
    let response = handle_sqs_event(&other, event, Some(now_ms() + 60_000)).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, vec![again.message_id.as_str()]);
    let depth = queue.depth().await.unwrap();
    assert_eq!(
        (depth.visible, depth.in_flight),
        (0, 1),
        "the holder's message is still in flight"
    );
    // A separate message naming the running task is a true duplicate: acknowledging it deletes
    // only itself, and the holder's message stays in flight.
    queue
        .send(&WorkMessage::new(&task_id, "research").to_body())
        .await
        .unwrap();
    let duplicate = queue
        .receive(1, Duration::from_secs(2), Some(Duration::from_secs(30)))
        .await
        .unwrap()
        .remove(0);
    assert_ne!(duplicate.message_id, first.message_id);
    assert!(matches!(
        other.handle(&delivery(&duplicate, true), None).await,
        Disposition::Done(_)
    ));
    queue.delete(&duplicate.receipt_handle).await.unwrap();
    let depth = queue.depth().await.unwrap();
    assert_eq!(
        (depth.visible, depth.in_flight),
        (0, 1),
        "the holder's message is still in flight"
    );
    assert_eq!(
        gate.runs.load(Ordering::SeqCst),
        1,
        "the duplicate did not run"
    );
    // The holder finishes; the copy that comes back then finds the task done and is acknowledged.
    gate.release.notify_one();
    assert!(matches!(running.await.unwrap(), Disposition::Done(_)));
    queue
        .change_visibility(&again.receipt_handle, Duration::ZERO)
        .await
        .unwrap();
    let last = queue
        .receive(1, Duration::from_secs(2), None)
        .await
        .unwrap()
        .remove(0);
    assert!(matches!(
        other.handle(&delivery(&last, true), None).await,
        Disposition::Done(_)
    ));
    queue.delete(&last.receipt_handle).await.unwrap();
    assert!(work_queue_is_empty(backend, "research").await);
    let record = get(backend, &task_id).await;
    assert_eq!((record.status, record.attempts), (TaskStatus::Succeeded, 1));
    assert_eq!(gate.runs.load(Ordering::SeqCst), 1);
}

/// A tool result with characters SQS refuses in message bodies (U+FFFE, U+FFFF) is published
/// (escaped in the JSON) and arrives intact. Before, the publish failed on every delivery.
async fn a_result_with_sqs_refused_characters_arrives_intact(h: Harness) {
    let backend = &h.backend;
    let text = "a\u{FFFE}b\u{FFFF}c \u{FFFD} \u{10FFFF}";
    let tools = ToolBox::builtin();
    let d = backend
        .dispatcher(tools.clone(), DispatcherSettings::default())
        .unwrap();
    let task_id = submit_as(&d, &alice(), "c1", "synthetic", json!({"echo": text})).await;
    let workers = pool(backend, &tools, "w", 1);
    let mut router = backend.router(ALICE, DEFAULT_CONSUMER).unwrap();
    let got = route_until(&mut router, 1, Duration::from_secs(20)).await;
    workers.stop().await;
    assert_eq!(got[0].task_id, task_id);
    assert_eq!(got[0].status, TaskStatus::Succeeded);
    assert_eq!(got[0].result.as_ref().unwrap()["echo"]["echo"], text);
    let record = get(backend, &task_id).await;
    assert!(record.result_published && record.delivered);
    assert_eq!(record.result, got[0].result);
    // On the wire: escaped, so SQS takes it; parsed back to the same value.
    let body = got[0].to_body();
    assert!(workers::ports::check_send(&body).is_ok());
    assert!(
        body.contains("\\ufffe") && body.contains("\\uffff"),
        "{body}"
    );
    assert_eq!(ResultMessage::parse(&body).unwrap(), got[0]);
}

fn keyed(deadline_ms: u64) -> TaskRequest {
    TaskRequest {
        idempotency_key: Some("k1".into()),
        deadline_ms: Some(deadline_ms),
        ..TaskRequest::new("conv-1", "synthetic", json!({"echo": 1}))
    }
}

/// The idempotency key covers the whole request: the same key with other arguments, another
/// deadline or another reply_to is refused (it ignored the deadline and arguments before).
#[tokio::test]
async fn an_idempotency_key_with_a_different_request_is_refused() {
    let backend = Backend::in_memory(test_catalog());
    let d = backend
        .dispatcher(ToolBox::builtin(), DispatcherSettings::default())
        .unwrap();
    let caller = alice();
    let deadline = now_ms() + 60_000;
    let first = d.submit(&caller, keyed(deadline)).await.unwrap();
    let refused = "idempotency_key: \"k1\" was already used in conversation conv-1 for a different \
                   request (tool, arguments, deadline or reply_to differ)";
    let variants = [
        TaskRequest {
            arguments: json!({"echo": 2}),
            ..keyed(deadline)
        },
        keyed(deadline + 1),
        TaskRequest {
            deadline_ms: None,
            ..keyed(deadline)
        },
        TaskRequest {
            reply_to: Some("elsewhere".into()),
            ..keyed(deadline)
        },
        TaskRequest {
            tool: "sentiment".into(),
            arguments: json!({"text": "fine"}),
            ..keyed(deadline)
        },
    ];
    for variant in variants {
        let err = d.submit(&caller, variant.clone()).await.unwrap_err();
        assert!(err.is_caller_error());
        assert_eq!(err.to_string(), refused, "{variant:?}");
    }
    let again = d.submit(&caller, keyed(deadline)).await.unwrap();
    assert_eq!(
        (again.task_id.as_str(), again.duplicate),
        (first.task_id.as_str(), true)
    );
    // `reply_to: "default"` is the default spelled out: the same request.
    let spelled = TaskRequest {
        reply_to: Some(DEFAULT_CONSUMER.into()),
        ..keyed(deadline)
    };
    assert_eq!(
        d.submit(&caller, spelled).await.unwrap().task_id,
        first.task_id
    );
}

/// A replay of an identical request whose task is still PENDING enqueues it again at once (the
/// dispatcher may have died between the put and the send); a finished one enqueues nothing.
async fn a_replay_re_enqueues_a_pending_task_at_once(h: Harness) {
    let backend = &h.backend;
    let tools = ToolBox::builtin();
    let d = backend
        .dispatcher(tools.clone(), DispatcherSettings::default())
        .unwrap();
    let caller = alice();
    let deadline = now_ms() + 600_000;
    let queue = backend.work_queues["synthetic"].clone();
    let first = d.submit(&caller, keyed(deadline)).await.unwrap();
    assert_eq!(queue.depth().await.unwrap().visible, 1);
    let before = get(backend, &first.task_id).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let replay = d.submit(&caller, keyed(deadline)).await.unwrap();
    assert_eq!(
        (replay.task_id.as_str(), replay.duplicate),
        (first.task_id.as_str(), true)
    );
    assert_eq!(replay.status, TaskStatus::Pending);
    assert_eq!(
        queue.depth().await.unwrap().visible,
        2,
        "enqueued again at once, not after 30 s"
    );
    let after = get(backend, &first.task_id).await;
    assert!(
        after.enqueued_at_ms > before.enqueued_at_ms,
        "the re-enqueue is noted"
    );
    assert_eq!(after.status, TaskStatus::Pending);
    // Both copies run it once.
    let workers = pool(backend, &tools, "w", 1);
    let done = wait_for(backend, &first.task_id, Duration::from_secs(15), finished).await;
    assert!(
        eventually(Duration::from_secs(15), || work_queue_is_empty(
            backend,
            "synthetic"
        ))
        .await
    );
    workers.stop().await;
    assert_eq!((done.status, done.attempts), (TaskStatus::Succeeded, 1));
    let late = d.submit(&caller, keyed(deadline)).await.unwrap();
    assert_eq!((late.status, late.duplicate), (TaskStatus::Succeeded, true));
    let depth = queue.depth().await.unwrap();
    assert_eq!(
        (depth.visible, depth.in_flight),
        (0, 0),
        "a finished task is not enqueued"
    );
    assert_eq!(drain_raw(backend, DEFAULT_CONSUMER).await.len(), 1);
}

/// A work message of a newer protocol version is retried (a newer worker of a rolling deploy takes
/// it) and its task stays PENDING. Before, the task was failed.
#[tokio::test]
async fn a_newer_work_message_is_retried_and_its_task_stays_pending() {
    let backend = Backend::in_memory(test_catalog());
    let tools = ToolBox::builtin();
    let d = backend
        .dispatcher(tools.clone(), DispatcherSettings::default())
        .unwrap();
    let task_id = submit_as(&d, &alice(), "c1", "synthetic", json!({})).await;
    let worker = backend
        .worker("synthetic", &tools, WorkerSettings::new("w"))
        .unwrap();
    let body =
        json!({"version": 2, "task_id": task_id, "tool": "synthetic", "priority": "new field"})
            .to_string();
    let newer = Delivery {
        message_id: "m".into(),
        body: body.clone(),
        receive_count: 1,
        receipt_handle: None,
    };
    let disposition = worker.handle(&newer, None).await;
    assert_eq!(
        disposition,
        Disposition::Retry("work message version 2 is newer than this worker's 1".into())
    );
    // Even on the queue's last delivery: never failed for being new.
    let last = Delivery {
        receive_count: 5,
        ..newer
    };
    assert!(matches!(
        worker.handle(&last, None).await,
        Disposition::Retry(_)
    ));
    let event = sqs_event(&[("m2", "h", &body, 1)]);
    let response = handle_sqs_event(&worker, event, Some(now_ms() + 60_000)).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    let record = get(&backend, &task_id).await;
    assert_eq!(
        (record.status, record.attempts, record.error),
        (TaskStatus::Pending, 0, None)
    );
    // Version 1 of the same task still runs.
    let current = Delivery {
        message_id: "m3".into(),
        body: WorkMessage::new(&task_id, "synthetic").to_body(),
        receive_count: 1,
        receipt_handle: None,
    };
    assert!(matches!(
        worker.handle(&current, None).await,
        Disposition::Done(_)
    ));
    assert_eq!(get(&backend, &task_id).await.status, TaskStatus::Succeeded);
}

/// Path segments are percent-decoded, so a conversation id with ':' lists through an encoded path.
#[tokio::test]
async fn a_conversation_id_with_a_colon_lists_through_a_percent_encoded_path() {
    let backend = Backend::in_memory(test_catalog());
    let d = backend
        .dispatcher(ToolBox::builtin(), DispatcherSettings::default())
        .unwrap();
    let caller = alice();
    let task_id = submit_as(&d, &caller, "agent:42", "synthetic", json!({})).await;
    let query = HashMap::new();
    for path in [
        "/conversations/agent%3A42/tasks",
        "/conversations/agent%3a42/tasks",
        "/conversations/agent:42/tasks",
    ] {
        let reply = route(&d, Some(&caller), "GET", path, &query, None).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        assert_eq!(
            reply.body["tasks"][0]["task_id"],
            task_id.as_str(),
            "{path}"
        );
        assert_eq!(reply.body["tasks"].as_array().unwrap().len(), 1);
    }
    // Decoding happens per segment: an encoded '/' is part of the id (and refused there).
    let reply = route(
        &d,
        Some(&caller),
        "GET",
        "/conversations/agent%2F42/tasks",
        &query,
        None,
    )
    .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(
        reply.body["error"],
        "conversation_id: contains '/'; allowed are ASCII letters, digits and - _ . :"
    );
    let reply = route(
        &d,
        Some(&caller),
        "GET",
        "/conversations/agent%FF/tasks",
        &query,
        None,
    )
    .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    // An encoded task id is decoded too.
    let encoded: String = task_id
        .chars()
        .map(|c| format!("%{:02X}", c as u32))
        .collect();
    let reply = route(
        &d,
        Some(&caller),
        "GET",
        &format!("/tasks/{encoded}"),
        &query,
        None,
    )
    .await;
    assert_eq!(
        (reply.status, reply.body["task_id"].as_str()),
        (200, Some(task_id.as_str()))
    );
}

on_every_backend!(
    a_duplicate_under_a_live_lease_is_not_acknowledged,
    a_result_with_sqs_refused_characters_arrives_intact,
    a_replay_re_enqueues_a_pending_task_at_once,
);
