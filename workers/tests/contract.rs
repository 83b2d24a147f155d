//! One contract suite for the task store and the message queue, run against every backend: the
//! in-memory one and DynamoDB + SQS on a moto server started by the tests.

mod common;

use common::{ALICE, BOB, DEFAULT_CONSUMER, Harness, Kind, eventually, harness};
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use workers::ports::{
    CreateOutcome, Cursor, PendingClaim, RunPage, RunTime, TaskPage, TaskStore, Updated,
    update_with_retry,
};
use workers::record::{ErrorKind, NewTask, Outcome, TaskError};
use workers::testkit::{Hooked, StoreHook};
use workers::{StoreError, TaskRecord, TaskStatus};

fn record_of(owner: &str, conversation: &str, created_at_ms: u64) -> TaskRecord {
    let arguments =
        json!({"echo": {"nested": [1, 2.5, "ü", null, {"": true}], "big": 12345678901234567u64}});
    let id = ulid::Ulid::generate().to_string();
    TaskRecord::pending(
        NewTask::new(id, owner, conversation, "synthetic", arguments),
        created_at_ms,
        1,
    )
}

fn record(conversation: &str, created_at_ms: u64) -> TaskRecord {
    record_of(ALICE, conversation, created_at_ms)
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
    assert_eq!(
        store
            .get(&format!("idem#{ALICE}#conv-1#key-1"))
            .await
            .unwrap(),
        None
    );
    let page = store
        .list_by_conversation(ALICE, "conv-1", 10, None)
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
            .list_by_conversation(ALICE, "conv-a", 10, cursor.as_ref())
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
        .list_by_conversation(ALICE, "nobody", 10, None)
        .await
        .unwrap();
    assert!(empty.tasks.is_empty() && empty.next_cursor.is_none());
}

async fn a_message_is_delivered_until_deleted(h: Harness) {
    let queue = &h.backend.work_queues["synthetic"];
    queue.send("hello").await.unwrap();
    let got = queue
        .receive(10, Duration::from_secs(1), None)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].body.as_str(), got[0].receive_count), ("hello", 1));
    // In flight: invisible to other receivers.
    assert!(
        queue
            .receive(10, Duration::ZERO, None)
            .await
            .unwrap()
            .is_empty()
    );
    queue.delete(&got[0].receipt_handle).await.unwrap();
    assert_eq!(queue.depth().await.unwrap().visible, 0);
}

async fn change_visibility_returns_a_message(h: Harness) {
    let queue = &h.backend.work_queues["synthetic"];
    queue.send("again").await.unwrap();
    let first = queue
        .receive(1, Duration::from_secs(1), None)
        .await
        .unwrap();
    queue
        .change_visibility(&first[0].receipt_handle, Duration::ZERO)
        .await
        .unwrap();
    let second = queue
        .receive(1, Duration::from_secs(1), None)
        .await
        .unwrap();
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
    let first = queue
        .receive(1, Duration::from_secs(1), None)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    // Not deleted: it comes back after the 2 s visibility timeout, as after a crashed worker.
    let back = queue
        .receive(1, Duration::from_secs(5), None)
        .await
        .unwrap();
    assert_eq!(back.len(), 1, "redelivered after the visibility timeout");
    assert_eq!(back[0].receive_count, 2);
}

async fn max_receives_move_a_message_to_the_dlq(h: Harness) {
    let queue = &h.backend.work_queues["synthetic"];
    let dlq = &h.backend.dead_letter_queues["synthetic"];
    queue.send("poison").await.unwrap();
    // The test catalog's max_receive_count is 5 (the catalog refuses fewer).
    for expected in 1..=5 {
        let got = queue
            .receive(1, Duration::from_secs(1), None)
            .await
            .unwrap();
        assert_eq!(got[0].receive_count, expected);
        queue
            .change_visibility(&got[0].receipt_handle, Duration::ZERO)
            .await
            .unwrap();
    }
    assert!(
        queue
            .receive(1, Duration::from_secs(1), None)
            .await
            .unwrap()
            .is_empty()
    );
    let moved = eventually(Duration::from_secs(5), || async {
        dlq.depth().await.unwrap().visible == 1
    })
    .await;
    assert!(moved, "the message is in the DLQ after 5 receives");
    assert_eq!(
        dlq.receive(1, Duration::from_secs(1), None).await.unwrap()[0].body,
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
    let got = queue
        .receive(10, Duration::from_secs(5), None)
        .await
        .unwrap();
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
        err(queue.receive(0, Duration::ZERO, None).await),
        "max_messages: 0 is outside 1..=10"
    );
    assert_eq!(
        err(queue.receive(11, Duration::ZERO, None).await),
        "max_messages: 11 is outside 1..=10"
    );
    assert_eq!(
        err(queue.receive(1, Duration::from_secs(21), None).await),
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
    let got = queue
        .receive(1, Duration::from_secs(1), None)
        .await
        .unwrap();
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
        let got = queue
            .receive(10, Duration::from_secs(1), None)
            .await
            .unwrap();
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

async fn listing_is_per_owner(h: Harness) {
    let store = &h.backend.store;
    let mine = record_of(ALICE, "shared-conv", 1_000);
    let theirs = record_of(BOB, "shared-conv", 1_001);
    store.create(&mine).await.unwrap();
    store.create(&theirs).await.unwrap();
    let page = store
        .list_by_conversation(ALICE, "shared-conv", 10, None)
        .await
        .unwrap();
    assert_eq!(page.tasks, vec![mine]);
    let page = store
        .list_by_conversation(BOB, "shared-conv", 10, None)
        .await
        .unwrap();
    assert_eq!(page.tasks, vec![theirs]);
    let page = store
        .list_by_conversation("local:nobody", "shared-conv", 10, None)
        .await
        .unwrap();
    assert_eq!(page, TaskPage::new(vec![], false));
}

async fn idempotency_keys_are_per_owner(h: Harness) {
    let store = &h.backend.store;
    let keyed = |owner: &str, created: u64| {
        let mut r = record_of(owner, "conv-1", created);
        r.idempotency_key = Some("same-key".into());
        r
    };
    let alices = keyed(ALICE, 1_000);
    let bobs = keyed(BOB, 1_001);
    assert_eq!(store.create(&alices).await.unwrap(), CreateOutcome::Created);
    assert_eq!(
        store.create(&bobs).await.unwrap(),
        CreateOutcome::Created,
        "the same key of another owner is another task"
    );
    assert_eq!(
        store.create(&keyed(ALICE, 1_002)).await.unwrap(),
        CreateOutcome::Existing(Box::new(alices.clone()))
    );
    assert_eq!(
        store.create(&keyed(BOB, 1_003)).await.unwrap(),
        CreateOutcome::Existing(Box::new(bobs.clone()))
    );
    assert_eq!(store.get(&alices.task_id).await.unwrap(), Some(alices));
    assert_eq!(store.get(&bobs.task_id).await.unwrap(), Some(bobs));
}

/// Every task id of a paged listing, fetching `page` at a time.
async fn all_ids<F, Fut>(page: u32, mut list: F) -> Vec<String>
where
    F: FnMut(u32, Option<Cursor>) -> Fut,
    Fut: std::future::Future<Output = Result<TaskPage, StoreError>>,
{
    let mut ids = Vec::new();
    let mut cursor = None;
    for _ in 0..1000 {
        let got = list(page, cursor.clone()).await.unwrap();
        assert!(got.tasks.len() <= page as usize);
        ids.extend(got.tasks.into_iter().map(|t| t.task_id));
        match got.next_cursor {
            Some(c) => cursor = Some(Cursor::decode(&c).unwrap()),
            None => return ids,
        }
    }
    panic!("the listing never ended");
}

async fn open_ids(store: &Arc<dyn TaskStore>, shard: u32) -> Vec<String> {
    all_ids(2, |limit, cursor| async move {
        store.list_open(shard, limit, cursor.as_ref()).await
    })
    .await
}

async fn undelivered_ids(store: &Arc<dyn TaskStore>, owner: &str, consumer: &str) -> Vec<String> {
    all_ids(2, |limit, cursor| async move {
        store
            .list_undelivered(owner, consumer, limit, cursor.as_ref())
            .await
    })
    .await
}

async fn open_tasks_leave_once_terminal_and_published(h: Harness) {
    let store = &h.backend.store;
    // Several tasks, so some shards hold more than one (paged oldest first).
    let mut records = Vec::new();
    for i in 0..12u64 {
        let r = record("conv-open", 5_000 + i);
        store.create(&r).await.unwrap();
        records.push(r);
    }
    for shard in 0..workers::limits::OPEN_SHARDS {
        let expected: Vec<String> = records
            .iter()
            .filter(|r| r.open_shard() == Some(shard))
            .map(|r| r.task_id.clone())
            .collect();
        assert_eq!(open_ids(store, shard).await, expected, "shard {shard}");
    }
    let r = records[0].clone();
    let shard = r.open_shard().unwrap();
    let claimed = r.claim("w", 6_000, 60_000).unwrap();
    store.transition(&r, &claimed).await.unwrap();
    assert!(open_ids(store, shard).await.contains(&r.task_id), "running");
    let done = claimed
        .finish(Outcome::Succeeded(json!({"ok": true})), 7_000)
        .unwrap();
    store.transition(&claimed, &done).await.unwrap();
    assert!(
        open_ids(store, shard).await.contains(&r.task_id),
        "terminal but unpublished: the sweeper still has work on it"
    );
    let published = done.mark_published(7_001);
    store.transition(&done, &published).await.unwrap();
    assert!(
        !open_ids(store, shard).await.contains(&r.task_id),
        "terminal and published: out of the open index"
    );
    // Cancelled and published leaves too; cancelled and unpublished stays.
    let c = records[1].clone();
    let cancelled = c.cancel(7_000).unwrap();
    store.transition(&c, &cancelled).await.unwrap();
    assert!(
        open_ids(store, c.open_shard().unwrap())
            .await
            .contains(&c.task_id)
    );
    store
        .transition(&cancelled, &cancelled.mark_published(7_001))
        .await
        .unwrap();
    assert!(
        !open_ids(store, c.open_shard().unwrap())
            .await
            .contains(&c.task_id)
    );
    // The record itself is still there, whole.
    assert_eq!(store.get(&r.task_id).await.unwrap(), Some(published));
}

async fn undelivered_enters_when_terminal_and_leaves_when_delivered(h: Harness) {
    let store = &h.backend.store;
    let r = record("conv-u", 1_000);
    let mut other_consumer = record("conv-u", 1_001);
    other_consumer.reply_to = "elsewhere".into();
    store.create(&r).await.unwrap();
    store.create(&other_consumer).await.unwrap();
    assert!(
        undelivered_ids(store, ALICE, DEFAULT_CONSUMER)
            .await
            .is_empty(),
        "pending"
    );
    let claimed = r.claim("w", 2_000, 60_000).unwrap();
    store.transition(&r, &claimed).await.unwrap();
    assert!(
        undelivered_ids(store, ALICE, DEFAULT_CONSUMER)
            .await
            .is_empty(),
        "running"
    );
    let done = claimed
        .finish(
            Outcome::Failed(TaskError::new(ErrorKind::ToolFailed, "no")),
            3_000,
        )
        .unwrap();
    store.transition(&claimed, &done).await.unwrap();
    assert_eq!(
        undelivered_ids(store, ALICE, DEFAULT_CONSUMER).await,
        vec![r.task_id.clone()],
        "terminal: awaits delivery even before it is published"
    );
    let published = done.mark_published(3_001);
    store.transition(&done, &published).await.unwrap();
    assert_eq!(
        undelivered_ids(store, ALICE, DEFAULT_CONSUMER).await,
        vec![r.task_id.clone()]
    );
    // Scoped by owner and by consumer.
    assert!(
        undelivered_ids(store, BOB, DEFAULT_CONSUMER)
            .await
            .is_empty()
    );
    assert!(undelivered_ids(store, ALICE, "elsewhere").await.is_empty());
    let delivered = published.mark_delivered(3_002);
    store.transition(&published, &delivered).await.unwrap();
    assert!(
        undelivered_ids(store, ALICE, DEFAULT_CONSUMER)
            .await
            .is_empty(),
        "delivered"
    );
    // The other consumer's task enters its own list, and can be delivered before it is published
    // (a router reconciled it from the table): out of `undelivered`, still open for the sweeper.
    let o = other_consumer;
    let ended = o.cancel(4_000).unwrap();
    store.transition(&o, &ended).await.unwrap();
    assert_eq!(
        undelivered_ids(store, ALICE, "elsewhere").await,
        vec![o.task_id.clone()]
    );
    let handed = ended.mark_delivered(4_001);
    store.transition(&ended, &handed).await.unwrap();
    assert!(undelivered_ids(store, ALICE, "elsewhere").await.is_empty());
    assert!(
        open_ids(store, o.open_shard().unwrap())
            .await
            .contains(&o.task_id)
    );
}

async fn update_with_retry_wins_under_a_concurrent_writer(h: Harness) {
    let store = h.backend.store.clone();
    let r = record("conv-w", 1_000);
    store.create(&r).await.unwrap();
    // Someone else writes between our read and our write: the helper re-reads and applies the
    // change to the latest revision.
    let theirs = r.mark_enqueued(2_000);
    store.transition(&r, &theirs).await.unwrap();
    let Updated::Written(ours) =
        update_with_retry(store.as_ref(), r.clone(), |c| Some(c.mark_enqueued(3_000)))
            .await
            .unwrap()
    else {
        panic!("the change is written");
    };
    assert_eq!((ours.revision, ours.enqueued_at_ms), (3, 3_000));
    assert_eq!(store.get(&r.task_id).await.unwrap(), Some(ours.clone()));
    // A change with nothing to do returns the latest record as it is.
    let same = update_with_retry(store.as_ref(), r.clone(), |_| None)
        .await
        .unwrap();
    assert_eq!(
        same,
        Updated::Unchanged(r.clone()),
        "given back untouched, nothing written"
    );
    assert_eq!(store.get(&r.task_id).await.unwrap().unwrap().revision, 3);
    // Five writers at once, all from the current copy: each loses only to the other four (one
    // commit each), so all five land within MAX_CONFLICT_RETRIES attempts, one revision each.
    // (From a stale copy the first attempt would lose by itself and the budget would not hold.)
    let writers: Vec<_> = (0..5u64)
        .map(|i| {
            let store = store.clone();
            let stale = ours.clone();
            tokio::spawn(async move {
                update_with_retry(store.as_ref(), stale, move |c| {
                    Some(c.mark_enqueued(10_000 + i))
                })
                .await
            })
        })
        .collect();
    for writer in writers {
        let written = writer
            .await
            .unwrap()
            .expect("no writer gives up")
            .record()
            .unwrap();
        assert!(written.revision > 3);
    }
    let last = store.get(&r.task_id).await.unwrap().unwrap();
    assert_eq!(last.revision, 3 + 5);
    assert!(last.enqueued_at_ms >= 10_000);
}

async fn a_successor_cannot_change_the_owner(h: Harness) {
    let store = &h.backend.store;
    let r = record("conv-o", 1_000);
    store.create(&r).await.unwrap();
    let mut stolen = r.mark_enqueued(2_000);
    stolen.owner = BOB.into();
    let err = store.transition(&r, &stolen).await.unwrap_err();
    assert!(matches!(err, StoreError::IllegalTransition { .. }), "{err}");
    let mut redirected = r.claim("w", 2_000, 60_000).unwrap();
    redirected.reply_to = "elsewhere".into();
    let err = store.transition(&r, &redirected).await.unwrap_err();
    assert!(matches!(err, StoreError::IllegalTransition { .. }), "{err}");
    let done = r.cancel(3_000).unwrap();
    store.transition(&r, &done).await.unwrap();
    let mut stolen_result = done.mark_published(3_001);
    stolen_result.owner = BOB.into();
    let err = store.transition(&done, &stolen_result).await.unwrap_err();
    assert!(matches!(err, StoreError::IllegalTransition { .. }), "{err}");
    assert_eq!(store.get(&r.task_id).await.unwrap(), Some(done));
    assert!(
        store
            .list_by_conversation(BOB, "conv-o", 10, None)
            .await
            .unwrap()
            .tasks
            .is_empty()
    );
}

async fn receive_visibility_overrides_the_queue_default(h: Harness) {
    // The queue's own visibility timeout is TEST_VISIBILITY_S (2 s).
    let queue = &h.backend.work_queues["synthetic"];
    queue.send("shown again at once").await.unwrap();
    let first = queue
        .receive(1, Duration::from_secs(1), Some(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    let again = queue
        .receive(1, Duration::from_secs(1), Some(Duration::from_secs(4)))
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "visibility 0: visible again at once");
    assert_eq!(
        (again[0].message_id.as_str(), again[0].receive_count),
        (first[0].message_id.as_str(), 2)
    );
    // Hidden for 4 s, longer than the queue's 2 s: still hidden after 2.5 s.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(
        queue
            .receive(1, Duration::ZERO, None)
            .await
            .unwrap()
            .is_empty(),
        "the override, not the queue default, decides"
    );
    let depth = queue.depth().await.unwrap();
    assert_eq!((depth.visible, depth.in_flight), (0, 1));
    let back = queue
        .receive(1, Duration::from_secs(5), None)
        .await
        .unwrap();
    assert_eq!(back.len(), 1, "back after the 4 s");
    assert_eq!(back[0].receive_count, 3);
    queue.delete(&back[0].receipt_handle).await.unwrap();
    let err = queue
        .receive(1, Duration::ZERO, Some(Duration::from_secs(43_201)))
        .await
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        "visibility_timeout: 43201s is longer than the 43200 s (12 h) limit"
    );
}

async fn sqs_refused_characters_are_refused_alike(h: Harness) {
    let queue = &h.backend.work_queues["synthetic"];
    let cases = [
        (
            "a\u{FFFE}b",
            "message body: has U+FFFE at byte 1, a character SQS refuses (outside XML 1.0's set)",
        ),
        (
            "ab\u{FFFF}",
            "message body: has U+FFFF at byte 2, a character SQS refuses (outside XML 1.0's set)",
        ),
        (
            "\u{1}",
            "message body: has U+0001 at byte 0, a character SQS refuses (outside XML 1.0's set)",
        ),
        (
            "ok\u{8}",
            "message body: has U+0008 at byte 2, a character SQS refuses (outside XML 1.0's set)",
        ),
    ];
    for (body, expected) in cases {
        let err = queue.send(body).await.err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some(expected), "{body:?}");
        assert!(workers::ports::check_send(body).is_err());
    }
    assert_eq!(queue.depth().await.unwrap().visible, 0, "nothing was sent");
    // The edges of XML's set are accepted and arrive intact.
    let fine = "tab\there\nnew\rline \u{D7FF} \u{E000} \u{FFFD} \u{10000} \u{10FFFF} ü";
    queue.send(fine).await.unwrap();
    let got = queue
        .receive(1, Duration::from_secs(1), None)
        .await
        .unwrap();
    assert_eq!(got[0].body, fine);
    queue.delete(&got[0].receipt_handle).await.unwrap();
}

/// Stores `r` and walks it through `steps` (each from the latest record), returning the last.
async fn walk(
    store: &Arc<dyn TaskStore>,
    r: TaskRecord,
    steps: &[&dyn Fn(&TaskRecord) -> TaskRecord],
) -> TaskRecord {
    store.create(&r).await.unwrap();
    let mut current = r;
    for step in steps {
        let next = step(&current);
        store.transition(&current, &next).await.unwrap();
        current = next;
    }
    current
}

/// Every page of `finished_runs`, as (task id, run time in ms), sorted, and the number of pages.
async fn all_runs(
    store: &Arc<dyn TaskStore>,
    tool: &str,
    since_ms: u64,
    limit: u32,
) -> (Vec<(String, u64)>, usize) {
    let mut runs = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let RunPage {
            runs: page,
            next_cursor,
        } = store
            .finished_runs(tool, since_ms, limit, cursor.as_deref())
            .await
            .unwrap();
        pages += 1;
        assert!(
            page.len() <= limit as usize,
            "a page holds at most limit runs"
        );
        runs.extend(
            page.iter()
                .map(|r: &RunTime| (r.task_id.clone(), r.duration_ms())),
        );
        assert!(pages < 100, "finished_runs keeps returning a cursor");
        match next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    runs.sort();
    (runs, pages)
}

async fn finished_runs_are_one_tools_single_attempt_successes(h: Harness) {
    finished_runs_scenario(&h.backend.store).await;
}

async fn finished_runs_scenario(store: &Arc<dyn TaskStore>) {
    let claim = |r: &TaskRecord| r.claim("w", r.created_at_ms + 100, 60_000).unwrap();
    let succeed_after = |ms: u64| {
        move |r: &TaskRecord| {
            r.finish(
                Outcome::Succeeded(json!({"ok": true})),
                r.started_at_ms.unwrap() + ms,
            )
            .unwrap()
        }
    };
    let (ok_400, ok_250, ok_old) = (succeed_after(400), succeed_after(250), succeed_after(50));
    let fail = |r: &TaskRecord| {
        r.finish(
            Outcome::Failed(TaskError::new(ErrorKind::ToolFailed, "no")),
            r.started_at_ms.unwrap() + 10,
        )
        .unwrap()
    };
    let time_out = |r: &TaskRecord| {
        r.finish(
            Outcome::TimedOut("slow".into()),
            r.started_at_ms.unwrap() + 1_000,
        )
        .unwrap()
    };
    let mut expected = Vec::new();
    // Two owners, two conversations, with idempotency items in the table between the tasks.
    let mut keyed = record_of(ALICE, "conv-1", 10_000);
    keyed.idempotency_key = Some("k-1".into());
    let a = walk(store, keyed, &[&claim, &ok_400]).await;
    expected.push((a.task_id.clone(), 400));
    let mut keyed = record_of(BOB, "conv-2", 10_000);
    keyed.idempotency_key = Some("k-1".into());
    let b = walk(store, keyed, &[&claim, &ok_250]).await;
    expected.push((b.task_id.clone(), 250));
    for i in 0..5 {
        let r = walk(store, record("conv-3", 11_000 + i), &[&claim, &ok_400]).await;
        let published = r.mark_published(20_000);
        store.transition(&r, &published).await.unwrap();
        expected.push((r.task_id.clone(), 400));
    }
    // Left out: failures, time-outs, cancelled, open tasks, another tool, a takeover, old runs.
    walk(store, record("conv-1", 10_000), &[&claim, &fail]).await;
    walk(store, record("conv-1", 10_000), &[&claim, &time_out]).await;
    walk(
        store,
        record("conv-1", 10_000),
        &[&|r: &TaskRecord| r.cancel(10_500).unwrap()],
    )
    .await;
    walk(store, record("conv-1", 10_000), &[&claim]).await;
    walk(store, record("conv-1", 10_000), &[]).await;
    let mut other_tool = record("conv-1", 10_000);
    other_tool.tool = "sentiment".into();
    walk(store, other_tool, &[&claim, &ok_400]).await;
    let takeover = |r: &TaskRecord| {
        r.claim("w2", r.lease_expires_at_ms.unwrap() + 1, 60_000)
            .unwrap()
    };
    let taken_over = walk(
        store,
        record("conv-1", 10_000),
        &[&claim, &takeover, &ok_400],
    )
    .await;
    assert_eq!(taken_over.attempts, 2);
    walk(store, record("conv-1", 1_000), &[&claim, &ok_old]).await;
    expected.sort();

    let (runs, _) = all_runs(store, "synthetic", 10_000, 1_000).await;
    assert_eq!(runs, expected, "since 10 000 ms: the recent successes");
    let (runs, pages) = all_runs(store, "synthetic", 10_000, 1).await;
    assert_eq!(
        runs, expected,
        "one run per page: the same runs, none twice"
    );
    assert!(pages >= expected.len(), "{pages} pages");
    let (runs, _) = all_runs(store, "synthetic", 0, 3).await;
    assert_eq!(runs.len(), expected.len() + 1, "since 0: the old run too");
    let (runs, _) = all_runs(store, "sentiment", 0, 10).await;
    assert_eq!(runs.len(), 1);
    let (runs, _) = all_runs(store, "research", 0, 10).await;
    assert!(runs.is_empty());
}

/// A lease is one holder's at a time: taken when free, renewed by its holder, refused to another
/// until it lapses, then taken over; leases of other names are independent, and no lease is a task.
async fn leases_have_one_holder_at_a_time(h: Harness) {
    let store = &h.backend.store;
    let name = format!("router#{ALICE}#default#{}", ulid::Ulid::generate());
    assert!(store.acquire_lease(&name, "a", 1_000, 2_000).await.unwrap());
    assert!(
        !store.acquire_lease(&name, "b", 1_500, 2_500).await.unwrap(),
        "held by a"
    );
    assert!(
        store.acquire_lease(&name, "a", 1_900, 3_000).await.unwrap(),
        "renewed"
    );
    assert!(!store.acquire_lease(&name, "b", 2_999, 4_000).await.unwrap());
    assert!(
        store.acquire_lease(&name, "b", 3_000, 4_000).await.unwrap(),
        "lapsed: taken over"
    );
    assert!(!store.acquire_lease(&name, "a", 3_500, 4_500).await.unwrap());
    let other = format!("{name}-other");
    assert!(
        store
            .acquire_lease(&other, "a", 3_500, 4_500)
            .await
            .unwrap()
    );
    assert_eq!(store.get(&format!("lease#{name}")).await.unwrap(), None);
    let page = store
        .list_by_conversation(ALICE, "default", 10, None)
        .await
        .unwrap();
    assert!(page.tasks.is_empty());
}

/// A claim of a PENDING task made without a read writes exactly what `PendingClaim::apply` says,
/// and only when each of its conditions holds.
async fn claim_pending_writes_exactly_the_claimed_record(h: Harness) {
    let store = &h.backend.store;
    fn claim_of(task_id: &str) -> PendingClaim<'_> {
        PendingClaim {
            task_id,
            tool: "synthetic",
            worker_id: "worker-a",
            message_id: "message-1",
            now_ms: 2_000,
            lease_ms: 30_000,
            max_attempts: 3,
        }
    }
    let r = record("conv-claim", 1_000);
    store.create(&r).await.unwrap();
    let id = r.task_id.as_str();
    let refused = [
        PendingClaim {
            tool: "other-tool",
            ..claim_of(id)
        },
        PendingClaim {
            max_attempts: 0,
            ..claim_of(id)
        },
        PendingClaim {
            now_ms: 999,
            ..claim_of(id)
        },
    ];
    for claim in &refused {
        assert_eq!(claim.apply(&r), None, "{claim:?}");
        assert_eq!(store.claim_pending(claim).await.unwrap(), None, "{claim:?}");
    }
    assert_eq!(
        store.get(id).await.unwrap(),
        Some(r.clone()),
        "refusals write nothing"
    );
    let expected = claim_of(id)
        .apply(&r)
        .expect("a fresh PENDING task is claimable");
    assert_eq!(expected.status, TaskStatus::Running);
    assert_eq!(expected.claim_message_id.as_deref(), Some("message-1"));
    let claimed = store.claim_pending(&claim_of(id)).await.unwrap();
    assert_eq!(
        claimed.as_ref(),
        Some(&expected),
        "the record written is returned"
    );
    assert_eq!(
        store.get(id).await.unwrap(),
        Some(expected.clone()),
        "and stored"
    );
    assert_eq!(
        store.claim_pending(&claim_of(id)).await.unwrap(),
        None,
        "RUNNING now: the second claim goes the read path"
    );
    assert_eq!(
        store
            .claim_pending(&claim_of("no-such-task"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.get("no-such-task").await.unwrap(),
        None,
        "nothing created"
    );
    // Past its deadline.
    let mut late = record("conv-claim", 1_001);
    late.deadline_ms = Some(1_500);
    store.create(&late).await.unwrap();
    assert_eq!(
        store.claim_pending(&claim_of(&late.task_id)).await.unwrap(),
        None
    );
    // The regular write path reads the claimed record back as the state machine wrote it.
    let done = expected
        .finish(Outcome::Succeeded(json!({"ok": true})), 3_000)
        .unwrap();
    store.transition(&expected, &done).await.unwrap();
}

/// A delivered mark made without a read writes exactly what `ports::delivered` says: once, for
/// the task's owner, only when the task is finished; the task leaves the `undelivered` index.
async fn deliver_marks_once_for_the_owner(h: Harness) {
    let store = &h.backend.store;
    let r = record("conv-deliver", 1_000);
    store.create(&r).await.unwrap();
    assert_eq!(
        store.deliver(&r.task_id, ALICE, 1_500).await.unwrap(),
        None,
        "pending"
    );
    let claimed = r.claim("w", 2_000, 60_000).unwrap();
    store.transition(&r, &claimed).await.unwrap();
    let done = claimed
        .finish(Outcome::Succeeded(json!({"ok": 1})), 3_000)
        .unwrap()
        .announced();
    store.transition(&claimed, &done).await.unwrap();
    assert_eq!(
        undelivered_ids(store, ALICE, DEFAULT_CONSUMER).await,
        vec![r.task_id.clone()]
    );
    assert_eq!(
        store.deliver(&r.task_id, BOB, 4_000).await.unwrap(),
        None,
        "not Bob's"
    );
    assert_eq!(
        store.deliver(&r.task_id, ALICE, 2_999).await.unwrap(),
        None,
        "written later"
    );
    let expected = workers::ports::delivered(&done, ALICE, 4_000).unwrap();
    assert!(expected.delivered);
    assert_eq!(
        store.deliver(&r.task_id, ALICE, 4_000).await.unwrap(),
        Some(expected.clone())
    );
    assert_eq!(store.get(&r.task_id).await.unwrap(), Some(expected));
    assert!(
        undelivered_ids(store, ALICE, DEFAULT_CONSUMER)
            .await
            .is_empty()
    );
    assert_eq!(
        store.deliver(&r.task_id, ALICE, 5_000).await.unwrap(),
        None,
        "handed over once"
    );
    assert_eq!(
        store.deliver("no-such-task", ALICE, 5_000).await.unwrap(),
        None
    );
    assert_eq!(
        store.get("no-such-task").await.unwrap(),
        None,
        "nothing created"
    );
    // An announced terminal write (the worker's, published in the same write) leaves the open
    // index at once.
    assert!(
        !open_ids(store, r.open_shard().unwrap())
            .await
            .contains(&r.task_id)
    );
}

/// A principal's open-task places: at most `limit` per owner whatever the concurrency, a retaken
/// place is a retry, giving back is idempotent, and the places are invisible to task reads.
async fn open_places_are_at_most_the_limit_per_owner(h: Harness) {
    let store = h.backend.store.clone();
    let ids: Vec<String> = (0..3)
        .map(|i| format!("01J0000000000000000000000{i}"))
        .collect();
    for id in &ids {
        assert!(
            store
                .take_open_place(ALICE, id, 3, 9_999_999_999)
                .await
                .unwrap()
        );
    }
    let fourth = "01J00000000000000000000003";
    assert!(
        !store
            .take_open_place(ALICE, fourth, 3, 9_999_999_999)
            .await
            .unwrap(),
        "full"
    );
    assert!(
        store
            .take_open_place(ALICE, &ids[0], 3, 9_999_999_999)
            .await
            .unwrap(),
        "a place already held is a retry, not a new one"
    );
    assert!(
        store
            .take_open_place(BOB, fourth, 3, 9_999_999_999)
            .await
            .unwrap(),
        "each owner has its own places"
    );
    let mut held = store.open_places(ALICE).await.unwrap();
    held.sort();
    assert_eq!(held, ids);

    let back = [ids[1].clone(), "01J0000000000000000000NONE".to_string()];
    store.release_open_places(ALICE, &back).await.unwrap();
    store.release_open_places(ALICE, &back).await.unwrap();
    assert_eq!(
        store.open_places(ALICE).await.unwrap().len(),
        2,
        "given back once"
    );
    assert!(
        store
            .take_open_place(ALICE, fourth, 3, 9_999_999_999)
            .await
            .unwrap()
    );

    // Giving back what an owner never held creates nothing; the places are no task.
    store
        .release_open_places("carol", &[fourth.to_string()])
        .await
        .unwrap();
    assert!(store.open_places("carol").await.unwrap().is_empty());
    assert_eq!(store.get(&format!("open#{ALICE}")).await.unwrap(), None);
    let page = store
        .list_by_conversation(ALICE, "default", 10, None)
        .await
        .unwrap();
    assert!(page.tasks.is_empty());

    // Twenty takers at once for five places: exactly five win.
    let takers = (0..20).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let id = format!("01J1000000000000000000{i:04}");
            store
                .take_open_place("dave", &id, 5, 9_999_999_999)
                .await
                .unwrap()
        })
    });
    let mut won = 0;
    for taker in takers {
        won += usize::from(taker.await.unwrap());
    }
    assert_eq!(won, 5);
    assert_eq!(store.open_places("dave").await.unwrap().len(), 5);
}

/// The task an idempotency key names, for its owner and conversation only; a record holding an
/// open-task place round-trips with it.
async fn task_for_key_finds_the_keyed_task_of_its_owner(h: Harness) {
    let store = &h.backend.store;
    let mut r = record("conv-key", 1_000);
    r.idempotency_key = Some("key-1".into());
    r.holds_open_place = true;
    store.create(&r).await.unwrap();
    let found = store
        .task_for_key(ALICE, "conv-key", "key-1")
        .await
        .unwrap();
    assert_eq!(found, Some(r.clone()));
    for (owner, conversation, key) in [
        (BOB, "conv-key", "key-1"),
        (ALICE, "conv-other", "key-1"),
        (ALICE, "conv-key", "key-2"),
    ] {
        assert_eq!(
            store.task_for_key(owner, conversation, key).await.unwrap(),
            None,
            "{owner} {conversation} {key}"
        );
    }
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
                listing_is_per_owner,
                idempotency_keys_are_per_owner,
                open_tasks_leave_once_terminal_and_published,
                undelivered_enters_when_terminal_and_leaves_when_delivered,
                update_with_retry_wins_under_a_concurrent_writer,
                a_successor_cannot_change_the_owner,
                receive_visibility_overrides_the_queue_default,
                sqs_refused_characters_are_refused_alike,
                finished_runs_are_one_tools_single_attempt_successes,
                leases_have_one_holder_at_a_time,
                claim_pending_writes_exactly_the_claimed_record,
                deliver_marks_once_for_the_owner,
                open_places_are_at_most_the_limit_per_owner,
                task_for_key_finds_the_keyed_task_of_its_owner,
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

/// A store whose every write loses a race, as under a writer that never stops.
struct AlwaysConflicts;

#[async_trait::async_trait]
impl StoreHook for AlwaysConflicts {
    async fn transition(
        &self,
        _inner: &dyn TaskStore,
        current: &TaskRecord,
        _next: &TaskRecord,
    ) -> Result<(), StoreError> {
        Err(StoreError::Conflict(current.task_id.clone()))
    }
    // The one-write paths lose the race as every write here does.
    async fn claim_pending(
        &self,
        _inner: &dyn TaskStore,
        _claim: &workers::ports::PendingClaim<'_>,
    ) -> Result<Option<TaskRecord>, StoreError> {
        Ok(None)
    }
    async fn deliver(
        &self,
        _inner: &dyn TaskStore,
        _task_id: &str,
        _owner: &str,
        _now_ms: u64,
    ) -> Result<Option<TaskRecord>, StoreError> {
        Ok(None)
    }
}

/// DynamoDB pages a Scan by items read (here 3 at a time, idempotency items included): every run
/// is still found once, whether a page ends on a run, on another tool's task or on a key item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_runs_cross_dynamodb_scan_pages() {
    let Some(moto) =
        workers::testkit::MotoServer::shared("finished_runs_cross_dynamodb_scan_pages")
    else {
        return;
    };
    let stack = format!("T{}", ulid::Ulid::generate());
    let (_, resources) =
        workers::testkit::provision_backend(&moto.endpoint, common::test_catalog(), &stack, None)
            .await
            .unwrap();
    let sdk = workers::aws::sdk_config(&workers::aws::AwsSettings::emulator(&moto.endpoint)).await;
    let store: Arc<dyn TaskStore> = Arc::new(
        workers::aws::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &resources.table)
            .with_scan_page_items(3),
    );
    finished_runs_scenario(&store).await;
}

#[tokio::test]
async fn update_with_retry_gives_up_after_the_conflict_budget() {
    let store = Hooked::new(
        Arc::new(
            workers::memory::MemoryStore::with_settings(common::never_expiring_store()).unwrap(),
        ),
        AlwaysConflicts,
    );
    let r = record("conv-x", 1_000);
    store.create(&r).await.unwrap();
    let calls = std::sync::atomic::AtomicU32::new(0);
    let err = update_with_retry(&store, r.clone(), |c| {
        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Some(c.mark_enqueued(2_000))
    })
    .await
    .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(ref id) if *id == r.task_id),
        "{err}"
    );
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        workers::limits::MAX_CONFLICT_RETRIES
    );
}
