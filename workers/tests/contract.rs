//! One contract suite for the task store and the message queue, run against every backend: the
//! in-memory one and DynamoDB + SQS on a moto server started by the tests.

mod common;

use common::{Harness, Kind, eventually, harness};
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;
use workers::ports::{CreateOutcome, Cursor};
use workers::record::{ErrorKind, Outcome, TaskError};
use workers::{StoreError, TaskRecord, TaskStatus};

fn record(conversation: &str, created_at_ms: u64) -> TaskRecord {
    TaskRecord {
        version: 1,
        task_id: ulid::Ulid::generate().to_string(),
        conversation_id: conversation.into(),
        tool: "synthetic".into(),
        arguments: json!({"echo": {"nested": [1, 2.5, "ü", null, {"": true}], "big": 12345678901234567u64}}),
        status: TaskStatus::Pending,
        revision: 1,
        idempotency_key: None,
        deadline_ms: None,
        created_at_ms,
        updated_at_ms: created_at_ms,
        started_at_ms: None,
        finished_at_ms: None,
        attempts: 0,
        lease_owner: None,
        lease_expires_at_ms: None,
        result: None,
        error: None,
        result_published: false,
        expires_at: created_at_ms / 1000 + 86_400,
    }
}

async fn create_then_get_round_trips(h: Harness) {
    let store = &h.backend.store;
    let r = record("conv-1", 1_000);
    assert_eq!(store.create(&r).await.unwrap(), CreateOutcome::Created);
    assert_eq!(store.get(&r.task_id).await.unwrap(), Some(r.clone()));
    let missing = ulid::Ulid::generate().to_string();
    assert_eq!(store.get(&missing).await.unwrap(), None);
}

async fn create_is_conditional_on_the_id(h: Harness) {
    let store = &h.backend.store;
    let r = record("conv-1", 1_000);
    store.create(&r).await.unwrap();
    let mut again = r.clone();
    again.arguments = json!({"different": true});
    assert_eq!(
        store.create(&again).await.unwrap(),
        CreateOutcome::Existing(Box::new(r.clone()))
    );
    assert_eq!(
        store.get(&r.task_id).await.unwrap(),
        Some(r),
        "nothing stored is lost"
    );
}

async fn idempotency_keys_are_per_conversation(h: Harness) {
    let store = &h.backend.store;
    let mut first = record("conv-1", 1_000);
    first.idempotency_key = Some("key-1".into());
    assert_eq!(store.create(&first).await.unwrap(), CreateOutcome::Created);
    let mut second = record("conv-1", 1_001);
    second.idempotency_key = Some("key-1".into());
    assert_eq!(
        store.create(&second).await.unwrap(),
        CreateOutcome::Existing(Box::new(first.clone()))
    );
    assert_eq!(
        store.get(&second.task_id).await.unwrap(),
        None,
        "the duplicate is not stored"
    );
    let mut other_conversation = record("conv-2", 1_002);
    other_conversation.idempotency_key = Some("key-1".into());
    assert_eq!(
        store.create(&other_conversation).await.unwrap(),
        CreateOutcome::Created
    );
    // Idempotency items are not tasks and stay out of the conversation listing.
    assert_eq!(store.get("idem#conv-1#key-1").await.unwrap(), None);
    let page = store
        .list_by_conversation("conv-1", 10, None)
        .await
        .unwrap();
    assert_eq!(page.tasks, vec![first]);
}

async fn transitions_are_conditional_on_the_revision(h: Harness) {
    let store = &h.backend.store;
    let pending = record("conv-1", 1_000);
    store.create(&pending).await.unwrap();
    let claimed_by_a = pending.claim("a", 2_000, 60_000).unwrap();
    let claimed_by_b = pending.claim("b", 2_000, 60_000).unwrap();
    store.transition(&pending, &claimed_by_a).await.unwrap();
    let err = store.transition(&pending, &claimed_by_b).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(
        store.get(&pending.task_id).await.unwrap(),
        Some(claimed_by_a.clone())
    );
    let done = claimed_by_a
        .finish(Outcome::Succeeded(json!({"ok": 1})), 3_000)
        .unwrap();
    store.transition(&claimed_by_a, &done).await.unwrap();
    let published = done.mark_published(3_001);
    store.transition(&done, &published).await.unwrap();
    assert_eq!(store.get(&pending.task_id).await.unwrap(), Some(published));
}

async fn illegal_transitions_are_refused(h: Harness) {
    let store = &h.backend.store;
    let pending = record("conv-1", 1_000);
    store.create(&pending).await.unwrap();
    let cancelled = pending.cancel(2_000).unwrap();
    store.transition(&pending, &cancelled).await.unwrap();
    // A terminal state never changes, even through a hand-made successor.
    let mut forged = cancelled.clone();
    forged.status = TaskStatus::Succeeded;
    forged.revision += 1;
    let err = store.transition(&cancelled, &forged).await.unwrap_err();
    assert!(
        err.to_string().contains("illegal transition")
            && err.to_string().contains("CANCELLED -> SUCCEEDED"),
        "{err}"
    );
    let failed = cancelled.finish(
        Outcome::Failed(TaskError::new(ErrorKind::ToolFailed, "x")),
        3_000,
    );
    assert!(failed.is_err());
    assert_eq!(store.get(&pending.task_id).await.unwrap(), Some(cancelled));
}

async fn listing_pages_in_creation_order(h: Harness) {
    let store = &h.backend.store;
    let mut expected = Vec::new();
    for i in 0..23u64 {
        let r = record("conv-a", 10_000 + i * 10);
        store.create(&r).await.unwrap();
        expected.push(r.task_id);
        store.create(&record("conv-b", 10_000 + i)).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor: Option<Cursor> = None;
    for _ in 0..10 {
        let page = store
            .list_by_conversation("conv-a", 10, cursor.as_ref())
            .await
            .unwrap();
        assert!(page.tasks.len() <= 10);
        assert!(page.tasks.iter().all(|t| t.conversation_id == "conv-a"));
        seen.extend(page.tasks.iter().map(|t| t.task_id.clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(Cursor::decode(&c).unwrap()),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    let empty = store
        .list_by_conversation("nobody", 10, None)
        .await
        .unwrap();
    assert!(empty.tasks.is_empty() && empty.next_cursor.is_none());
}

async fn a_message_is_delivered_until_deleted(h: Harness) {
    let queue = &h.backend.work_queues["synthetic"];
    queue.send("hello").await.unwrap();
    let got = queue.receive(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].body.as_str(), got[0].receive_count), ("hello", 1));
    // In flight: invisible to other receivers.
    assert!(queue.receive(10, Duration::ZERO).await.unwrap().is_empty());
    queue.delete(&got[0].receipt_handle).await.unwrap();
    assert_eq!(queue.depth().await.unwrap().visible, 0);
}

async fn change_visibility_returns_a_message(h: Harness) {
    let queue = &h.backend.work_queues["synthetic"];
    queue.send("again").await.unwrap();
    let first = queue.receive(1, Duration::from_secs(1)).await.unwrap();
    queue
        .change_visibility(&first[0].receipt_handle, Duration::ZERO)
        .await
        .unwrap();
    let second = queue.receive(1, Duration::from_secs(1)).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].message_id, first[0].message_id);
    assert_eq!(second[0].receive_count, 2);
    queue
        .delete_batch(&[second[0].receipt_handle.clone()])
        .await
        .unwrap();
}

async fn the_visibility_timeout_redelivers(h: Harness) {
    let queue = &h.backend.work_queues["synthetic"];
    queue.send("lost worker").await.unwrap();
    let first = queue.receive(1, Duration::from_secs(1)).await.unwrap();
    assert_eq!(first.len(), 1);
    // Not deleted: it comes back after the 2 s visibility timeout, as after a crashed worker.
    let back = queue.receive(1, Duration::from_secs(5)).await.unwrap();
    assert_eq!(back.len(), 1, "redelivered after the visibility timeout");
    assert_eq!(back[0].receive_count, 2);
}

async fn max_receives_move_a_message_to_the_dlq(h: Harness) {
    let queue = &h.backend.work_queues["synthetic"];
    let dlq = &h.backend.dead_letter_queues["synthetic"];
    queue.send("poison").await.unwrap();
    for expected in 1..=3 {
        let got = queue.receive(1, Duration::from_secs(1)).await.unwrap();
        assert_eq!(got[0].receive_count, expected);
        queue
            .change_visibility(&got[0].receipt_handle, Duration::ZERO)
            .await
            .unwrap();
    }
    assert!(
        queue
            .receive(1, Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty()
    );
    let moved = eventually(Duration::from_secs(5), || async {
        dlq.depth().await.unwrap().visible == 1
    })
    .await;
    assert!(moved, "the message is in the DLQ after 3 receives");
    assert_eq!(
        dlq.receive(1, Duration::from_secs(1)).await.unwrap()[0].body,
        "poison"
    );
}

async fn long_polls_wake_up_on_arrival(h: Harness) {
    let queue = h.backend.work_queues["synthetic"].clone();
    let sender = queue.clone();
    let send = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        sender.send("late").await.unwrap();
    });
    let got = queue.receive(10, Duration::from_secs(5)).await.unwrap();
    send.await.unwrap();
    assert_eq!(
        got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        vec!["late"]
    );
}

async fn queue_limits_are_checked_alike(h: Harness) {
    let queue = &h.backend.work_queues["synthetic"];
    fn err<T>(r: Result<T, workers::QueueError>) -> String {
        r.err().map(|e| e.to_string()).unwrap_or_default()
    }
    assert_eq!(
        err(queue.receive(0, Duration::ZERO).await),
        "max_messages: 0 is outside 1..=10"
    );
    assert_eq!(
        err(queue.receive(11, Duration::ZERO).await),
        "max_messages: 11 is outside 1..=10"
    );
    assert_eq!(
        err(queue.receive(1, Duration::from_secs(21)).await),
        "wait: 21s is longer than the 20 s long-poll limit"
    );
    let big = "x".repeat(256 * 1024 + 1);
    assert_eq!(
        err(queue.send(&big).await),
        "message body: is 262145 bytes; the limit is 262144 bytes (256 KiB)"
    );
    let handles: Vec<String> = (0..11).map(|i| i.to_string()).collect();
    assert_eq!(
        err(queue.delete_batch(&handles).await),
        "batch: 11 entries; the limit is 10"
    );
    queue.send("ok").await.unwrap();
    let got = queue.receive(1, Duration::from_secs(1)).await.unwrap();
    assert_eq!(
        err(queue
            .change_visibility(&got[0].receipt_handle, Duration::from_secs(43_201))
            .await),
        "visibility_timeout: 43201s is longer than the 43200 s (12 h) limit"
    );
}

async fn many_messages_each_arrive_once(h: Harness) {
    let queue = &h.backend.work_queues["synthetic"];
    for i in 0..25 {
        queue.send(&format!("m{i}")).await.unwrap();
    }
    let mut bodies = HashSet::new();
    for _ in 0..20 {
        let got = queue.receive(10, Duration::from_secs(1)).await.unwrap();
        for m in &got {
            assert!(bodies.insert(m.body.clone()), "{} delivered twice", m.body);
        }
        queue
            .delete_batch(
                &got.iter()
                    .map(|m| m.receipt_handle.clone())
                    .collect::<Vec<_>>(),
            )
            .await
            .unwrap();
        if bodies.len() == 25 {
            break;
        }
    }
    assert_eq!(bodies.len(), 25);
}

macro_rules! contract_suite {
    ($module:ident, $kind:expr) => {
        mod $module {
            use super::*;
            contract_suite!(@tests $kind;
                create_then_get_round_trips,
                create_is_conditional_on_the_id,
                idempotency_keys_are_per_conversation,
                transitions_are_conditional_on_the_revision,
                illegal_transitions_are_refused,
                listing_pages_in_creation_order,
                a_message_is_delivered_until_deleted,
                change_visibility_returns_a_message,
                the_visibility_timeout_redelivers,
                max_receives_move_a_message_to_the_dlq,
                long_polls_wake_up_on_arrival,
                queue_limits_are_checked_alike,
                many_messages_each_arrive_once,
            );
        }
    };
    (@tests $kind:expr; $($test:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let Some(h) = harness($kind, stringify!($test)).await else { return };
                super::$test(h).await;
            }
        )*
    };
}

contract_suite!(memory, Kind::Memory);
contract_suite!(moto, Kind::Moto);
