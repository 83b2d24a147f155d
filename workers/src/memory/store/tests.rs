//! Unit tests of `store.rs` (kept beside it, out of its way).

use super::*;
use crate::clock::{Clock, FakeClock};
use crate::ports::{Updated, update_with_retry};
use crate::record::{NewTask, Outcome};
use serde_json::json;
use std::sync::Arc;

/// 2033-05-18, in ms: far from the machine's clock.
const T0: u64 = 2_000_000_000_000;
const DAY_MS: u64 = 86_400_000;

fn store_on(clock: &Arc<FakeClock>, settings: MemoryStoreSettings) -> MemoryStore {
    MemoryStore::with_settings(MemoryStoreSettings {
        clock: clock.clone(),
        ..settings
    })
    .unwrap()
}

fn frozen() -> MemoryStore {
    store_on(&FakeClock::at(0), MemoryStoreSettings::default())
}

fn task(id: &str, tool: &str, owner: &str) -> TaskRecord {
    let task = NewTask::new(id, owner, format!("conv-{owner}"), tool, json!({}));
    TaskRecord::pending(task, 1_000, 1)
}

/// A task of its own conversation created at `at_ms`, kept one day.
fn task_at(id: &str, at_ms: u64) -> TaskRecord {
    let task = NewTask::new(id, "alice", format!("c-{id}"), "synthetic", json!({"n": 1}));
    TaskRecord::pending(task, at_ms, 1)
}

async fn succeeded(store: &MemoryStore, id: &str, tool: &str, owner: &str, run_ms: u64) {
    let pending = task(id, tool, owner);
    store.create(&pending).await.unwrap();
    let running = pending.claim("w", 2_000, 60_000).unwrap();
    store.transition(&pending, &running).await.unwrap();
    let done = running
        .finish(Outcome::Succeeded(json!(1)), 2_000 + run_ms)
        .unwrap();
    store.transition(&running, &done).await.unwrap();
}

/// Runs a created task to SUCCEEDED (published, not delivered) at `at_ms`.
async fn finish(store: &MemoryStore, pending: &TaskRecord, at_ms: u64) -> TaskRecord {
    let running = pending.claim("w", at_ms, 60_000).unwrap();
    store.transition(pending, &running).await.unwrap();
    let done = running
        .finish(Outcome::Succeeded(json!({"x": "y"})), at_ms)
        .unwrap();
    store.transition(&running, &done).await.unwrap();
    let published = done.mark_published(at_ms);
    store.transition(&done, &published).await.unwrap();
    published
}

fn nothing_held(store: &MemoryStore) {
    assert_eq!(store.usage(), MemoryUsage::default());
    let inner = store.lock();
    assert_eq!(
        (
            inner.by_owner_conversation.len(),
            inner.open.len(),
            inner.undelivered.len()
        ),
        (0, 0, 0),
        "no empty index keys are left behind"
    );
}

#[tokio::test]
async fn finished_runs_pages_in_task_id_order_with_the_last_id_as_cursor() {
    let store = frozen();
    succeeded(&store, "t-3", "synthetic", "alice", 30).await;
    succeeded(&store, "t-1", "synthetic", "bob", 10).await;
    succeeded(&store, "t-2", "sentiment", "alice", 20).await;
    succeeded(&store, "t-4", "synthetic", "alice", 40).await;
    store
        .create(&task("t-5", "synthetic", "alice"))
        .await
        .unwrap();

    let first = store.finished_runs("synthetic", 0, 2, None).await.unwrap();
    let ids: Vec<&str> = first.runs.iter().map(|r| r.task_id.as_str()).collect();
    assert_eq!(ids, ["t-1", "t-3"]);
    assert_eq!(first.runs[1].duration_ms(), 30);
    assert_eq!(first.next_cursor.as_deref(), Some("t-3"));
    let second = store
        .finished_runs("synthetic", 0, 2, first.next_cursor.as_deref())
        .await
        .unwrap();
    assert_eq!(
        second.runs,
        vec![RunTime {
            task_id: "t-4".into(),
            started_at_ms: 2_000,
            finished_at_ms: 2_040
        }]
    );
    assert_eq!(second.next_cursor, None, "nothing matching follows");
    // Exactly `limit` matches left: no cursor, no empty last page.
    let all = store.finished_runs("synthetic", 0, 3, None).await.unwrap();
    assert_eq!((all.runs.len(), all.next_cursor), (3, None));
    // `since_ms` is compared with the finish time.
    let late = store
        .finished_runs("synthetic", 2_031, 10, None)
        .await
        .unwrap();
    assert_eq!(late.runs.len(), 1);
    assert_eq!(late.runs[0].task_id, "t-4");
    assert!(
        store
            .finished_runs("research", 0, 10, None)
            .await
            .unwrap()
            .runs
            .is_empty()
    );
}

#[tokio::test]
async fn a_record_is_dropped_at_its_ttl_with_its_index_entries_and_idempotency_key() {
    let clock = FakeClock::at(T0);
    let store = store_on(&clock, MemoryStoreSettings::default());
    let mut keyed = task_at("t-1", T0);
    keyed.idempotency_key = Some("k".into());
    store.create(&keyed).await.unwrap();
    // Terminal and undelivered: in the conversation and undelivered indexes; the other one is
    // open (the sweeper's index).
    let done = finish(&store, &keyed, T0).await;
    assert!(done.awaits_delivery());
    let open = task_at("t-2", T0);
    store.create(&open).await.unwrap();
    let usage = store.usage();
    assert_eq!((usage.tasks, usage.idempotency_keys), (2, 1));
    assert_eq!(
        usage.index_entries,
        2 + 1 + 1 + 2,
        "conversation, open, undelivered, expiry"
    );
    assert!(usage.bytes > 2 * RECORD_OVERHEAD_BYTES);

    let gone_at = (T0 / 1000 + 86_400) * 1000;
    assert_eq!(done.expires_at * 1000, gone_at);
    clock.set(gone_at - 1);
    assert_eq!(store.get("t-1").await.unwrap(), Some(done.clone()));
    assert_eq!(store.len(), 2);
    clock.set(gone_at);
    assert_eq!(store.get("t-1").await.unwrap(), None, "gone at its TTL");
    assert_eq!(store.get("t-2").await.unwrap(), None);
    nothing_held(&store);

    // The key is free again: the same key makes a new task, not the expired one.
    let mut again = task_at("t-3", gone_at);
    again.idempotency_key = Some("k".into());
    again.conversation_id = keyed.conversation_id.clone();
    assert_eq!(store.create(&again).await.unwrap(), CreateOutcome::Created);
    // A write to an expired record finds nothing, as for a missing one.
    clock.set(gone_at + DAY_MS);
    let err = store
        .transition(&again, &again.mark_enqueued(gone_at + DAY_MS))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    let updated = update_with_retry(&store, again.clone(), |r| {
        Some(r.mark_enqueued(gone_at + DAY_MS))
    })
    .await
    .unwrap();
    assert_eq!(updated, Updated::Missing);
    nothing_held(&store);
}

#[tokio::test]
async fn calls_drop_expired_records_a_batch_at_a_time_earliest_first() {
    let clock = FakeClock::at(T0);
    let store = store_on(&clock, MemoryStoreSettings::default());
    // 200 tasks expiring a second apart, never read again.
    for i in 0..200u64 {
        store
            .create(&task_at(&format!("old-{i:03}"), T0 + i * 1000))
            .await
            .unwrap();
    }
    assert_eq!(store.len(), 200);
    // A day later the first 100 have expired (the 100th exactly now).
    let now = T0 + DAY_MS + 99 * 1000;
    clock.set(now);
    store.create(&task_at("new-1", now)).await.unwrap();
    assert_eq!(store.len(), 200 - EXPIRE_BATCH + 1, "one call, one batch");
    {
        let inner = store.lock();
        assert!(
            inner.tasks.contains_key("old-064") && !inner.tasks.contains_key("old-063"),
            "earliest first"
        );
    }
    // Any call drops a batch, reads included.
    store.get("old-150").await.unwrap().unwrap();
    assert_eq!(store.len(), 101);
    store.get("old-150").await.unwrap().unwrap();
    assert_eq!(store.len(), 101, "only the expired ones");
    assert_eq!(store.usage().index_entries, 101 * 3);
    assert_eq!(store.expire_now(), 0);
    clock.set(now + DAY_MS);
    assert_eq!(store.expire_now(), 101);
    nothing_held(&store);
}

#[tokio::test]
async fn lists_skip_and_drop_expired_records() {
    let clock = FakeClock::at(T0);
    let store = store_on(&clock, MemoryStoreSettings::default());
    let conversation = |id: &str, at: u64| {
        let mut t = task_at(id, at);
        t.conversation_id = "c".into();
        t
    };
    // Early ones expire first; the conversation's index orders by creation.
    let mut ids = Vec::new();
    for i in 0..4u64 {
        let record = conversation(&format!("t-{i}"), T0 + i * 10_000);
        store.create(&record).await.unwrap();
        finish(&store, &record, T0 + i * 10_000).await;
        ids.push(record.task_id);
    }
    // Past the first two's TTL, before the others'; no call has swept yet.
    clock.set(T0 + DAY_MS + 15_000);
    {
        let inner = store.lock();
        assert_eq!(inner.tasks.len(), 4);
    }
    let page = {
        let inner = store.lock();
        inner.page(
            inner.by_owner_conversation.get("alice#c"),
            1,
            None,
            clock.now_ms(),
        )
    };
    assert_eq!(page.0.tasks[0].task_id, "t-2", "expired ones are skipped");
    assert!(page.0.next_cursor.is_some(), "t-3 follows");
    assert_eq!(page.1, ["t-0", "t-1"], "and handed back to be dropped");
    let listed = store
        .list_by_conversation("alice", "c", 10, None)
        .await
        .unwrap();
    let listed: Vec<&str> = listed.tasks.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(listed, ["t-2", "t-3"]);
    let undelivered = store
        .list_undelivered("alice", DEFAULT_CONSUMER, 1, None)
        .await
        .unwrap();
    assert_eq!(undelivered.tasks.len(), 1);
    // t-3 is the last live one: no cursor to an empty page.
    assert!(undelivered.next_cursor.is_some());
    let cursor = Cursor {
        created_at_ms: undelivered.tasks[0].created_at_ms,
        task_id: undelivered.tasks[0].task_id.clone(),
    };
    let last = store
        .list_undelivered("alice", DEFAULT_CONSUMER, 1, Some(&cursor))
        .await
        .unwrap();
    assert_eq!(
        (last.tasks[0].task_id.as_str(), last.next_cursor),
        ("t-3", None)
    );
    assert_eq!(store.len(), 2);
    clock.set(T0 + 2 * DAY_MS);
    for shard in 0..OPEN_SHARDS {
        assert!(
            store
                .list_open(shard, 10, None)
                .await
                .unwrap()
                .tasks
                .is_empty()
        );
    }
    assert!(
        store
            .finished_runs("synthetic", 0, 10, None)
            .await
            .unwrap()
            .runs
            .is_empty()
    );
    nothing_held(&store);
}

#[tokio::test]
async fn retention_caps_how_long_a_record_is_kept() {
    let clock = FakeClock::at(T0 + 1);
    let store = store_on(
        &clock,
        MemoryStoreSettings {
            retention: Some(Duration::from_secs(60)),
            ..MemoryStoreSettings::default()
        },
    );
    // Created at T0 + 1 ms with a day of TTL: kept until T0 + 60.001 s, rounded up to a second.
    let record = task_at("t-1", T0 + 1);
    store.create(&record).await.unwrap();
    let stored = store.get("t-1").await.unwrap().unwrap();
    assert_eq!(stored.expires_at, T0 / 1000 + 61);
    let next = stored.mark_enqueued(T0 + 2);
    store.transition(&stored, &next).await.unwrap();
    assert_eq!(
        store.get("t-1").await.unwrap().unwrap().expires_at,
        T0 / 1000 + 61
    );
    clock.set(T0 + 61_000 - 1);
    assert!(store.get("t-1").await.unwrap().is_some());
    clock.set(T0 + 61_000);
    assert!(store.get("t-1").await.unwrap().is_none());
    // A TTL shorter than the retention is kept as it is.
    let short = store_on(
        &clock,
        MemoryStoreSettings {
            retention: Some(Duration::from_secs(10 * 86_400)),
            ..MemoryStoreSettings::default()
        },
    );
    short.create(&record).await.unwrap();
    assert_eq!(short.get("t-1").await.unwrap(), Some(record.clone()));
    clock.set(T0 + DAY_MS);
    assert_eq!(short.get("t-1").await.unwrap(), None, "its own day is over");
    let err = MemoryStore::with_settings(MemoryStoreSettings {
        retention: Some(Duration::from_millis(999)),
        ..MemoryStoreSettings::default()
    })
    .err()
    .unwrap();
    assert_eq!(err.field, "retention");
}

#[tokio::test]
async fn a_full_store_refuses_new_tasks_but_finishes_the_ones_it_holds() {
    let clock = FakeClock::at(T0);
    let store = store_on(
        &clock,
        MemoryStoreSettings {
            max_tasks: 3,
            ..MemoryStoreSettings::default()
        },
    );
    let mut held = Vec::new();
    for i in 0..3 {
        let mut record = task_at(&format!("t-{i}"), T0);
        record.idempotency_key = Some(format!("k-{i}"));
        store.create(&record).await.unwrap();
        held.push(record);
    }
    let err = store.create(&task_at("t-3", T0)).await.unwrap_err();
    assert!(matches!(err, StoreError::Full(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the memory backend holds 3 tasks, its limit: new task refused (each task is kept \
         until its TTL, at most 1day; retry once older tasks have expired, keep tasks for \
         less time (`mcp serve --ttl`), or use the aws backend)"
    );
    assert_eq!(
        store.get("t-3").await.unwrap(),
        None,
        "nothing half-written"
    );
    // Replays of what it holds still answer; what it holds still finishes.
    let mut replay = task_at("t-9", T0);
    replay.idempotency_key = Some("k-0".into());
    replay.conversation_id = held[0].conversation_id.clone();
    assert!(matches!(
        store.create(&replay).await.unwrap(),
        CreateOutcome::Existing(_)
    ));
    assert!(matches!(
        store.create(&held[1]).await.unwrap(),
        CreateOutcome::Existing(_)
    ));
    finish(&store, &held[2], T0).await;
    assert_eq!(store.usage().idempotency_keys, 3);
    // Once they expire there is room again, whatever the batch size.
    clock.set(T0 + DAY_MS);
    assert_eq!(
        store.create(&task_at("t-4", T0 + DAY_MS)).await.unwrap(),
        CreateOutcome::Created
    );
    assert_eq!(store.usage().tasks, 1);
}

#[tokio::test]
async fn the_byte_limit_counts_arguments_and_results() {
    let clock = FakeClock::at(T0);
    let small = task_at("t-small", T0);
    let per_small = estimated_bytes(&small);
    let store = store_on(
        &clock,
        MemoryStoreSettings {
            max_bytes: per_small + 10_000,
            ..MemoryStoreSettings::default()
        },
    );
    store.create(&small).await.unwrap();
    assert_eq!(store.usage().bytes, per_small);
    let mut big = task_at("t-big", T0);
    big.arguments = json!({"echo": "x".repeat(10_000)});
    let err = store.create(&big).await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "the memory backend holds {per_small} bytes of tasks and this one needs"
        )) && message.contains(&format!("the limit is {} bytes", per_small + 10_000)),
        "{message}"
    );
    // A result is counted when it is written (and never refused: the task was admitted).
    let running = small.claim("w", T0, 60_000).unwrap();
    store.transition(&small, &running).await.unwrap();
    let done = running
        .finish(Outcome::Succeeded(json!("y".repeat(20_000))), T0)
        .unwrap();
    store.transition(&running, &done).await.unwrap();
    assert_eq!(store.usage().bytes, estimated_bytes(&done));
    assert!(estimated_bytes(&done) >= per_small + 20_000);
    clock.set(T0 + DAY_MS);
    assert_eq!(store.expire_now(), 1);
    nothing_held(&store);
}

#[tokio::test]
async fn a_full_store_drops_everything_expired_before_refusing() {
    let clock = FakeClock::at(T0);
    let per_small = estimated_bytes(&task_at("t-000", T0));
    let store = store_on(
        &clock,
        MemoryStoreSettings {
            max_bytes: 100 * per_small,
            ..MemoryStoreSettings::default()
        },
    );
    for i in 0..100 {
        store
            .create(&task_at(&format!("t-{i:03}"), T0))
            .await
            .unwrap();
    }
    // Needs the room of 80 small ones: more than one call's batch of expired records.
    let mut big = task_at("t-big", T0 + DAY_MS);
    big.arguments = json!({"echo": "x".repeat((80 * per_small) as usize)});
    assert!(matches!(store.create(&big).await, Err(StoreError::Full(_))));
    clock.set(T0 + DAY_MS);
    assert_eq!(store.create(&big).await.unwrap(), CreateOutcome::Created);
    assert_eq!(store.len(), 1);
}

#[test]
fn a_value_is_estimated_by_its_strings_and_slots() {
    let slot = std::mem::size_of::<serde_json::Value>() as u64;
    assert_eq!(value_bytes(&json!(null)), 0);
    assert_eq!(value_bytes(&json!("x".repeat(1000))), 1000);
    assert_eq!(value_bytes(&json!([1, "ab"])), 2 * slot + 2);
    assert_eq!(
        value_bytes(&json!({"echo": {"k": "abc"}})),
        2 * slot + 4 + 2 * slot + 1 + 3
    );
}
