//! Unit tests of `record.rs` (kept beside it, out of its way).

use super::*;
use proptest::prelude::*;

pub fn pending(task_id: &str) -> TaskRecord {
    let task = NewTask::new(task_id, "alice", "c1", "synthetic", serde_json::json!({}));
    let mut record = TaskRecord::pending(task, 1_000, 1);
    record.expires_at = 10;
    record
}

#[derive(Debug, Clone)]
enum Op {
    Claim(u64),
    Succeed,
    Fail,
    TimeOut,
    Cancel,
    Publish,
    Deliver,
    Enqueue,
    Renew,
    SetAside,
    MakePublishable,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u64..5_000).prop_map(Op::Claim),
        Just(Op::Succeed),
        Just(Op::Fail),
        Just(Op::TimeOut),
        Just(Op::Cancel),
        Just(Op::Publish),
        Just(Op::Deliver),
        Just(Op::Enqueue),
        Just(Op::Renew),
        Just(Op::SetAside),
        Just(Op::MakePublishable),
    ]
}

fn rank(s: TaskStatus) -> u8 {
    match s {
        TaskStatus::Pending => 0,
        TaskStatus::Running => 1,
        _ => 2,
    }
}

proptest! {
    #[test]
    fn status_only_moves_forward_and_terminal_is_final(ops in proptest::collection::vec(op(), 0..30)) {
        let mut record = pending("01ARZ3NDEKTSV4RRFFQ69G5FAV");
        let mut now = 1_000;
        for op in ops {
            now += 100;
            let next = match op {
                Op::Claim(lease) => record.claim("w", now, lease).ok(),
                Op::Succeed => record.finish(Outcome::Succeeded(serde_json::json!(1)), now).ok(),
                Op::Fail => record.finish(Outcome::Failed(TaskError::new(ErrorKind::ToolFailed, "x")), now).ok(),
                Op::TimeOut => record.finish(Outcome::TimedOut("t".into()), now).ok(),
                Op::Cancel => record.cancel(now).ok(),
                Op::Publish => record.status.is_terminal().then(|| record.mark_published(now)),
                Op::Deliver => record.status.is_terminal().then(|| record.mark_delivered(now)),
                Op::Enqueue => (!record.status.is_terminal()).then(|| record.mark_enqueued(now)),
                Op::Renew => record.renew("w", now, 1_000).ok(),
                Op::SetAside => Some(record.mark_set_aside("failed", now)),
                Op::MakePublishable => record.make_publishable("too large", now).ok(),
            };
            if let Some(next) = next {
                prop_assert!(record.check_successor(&next).is_ok());
                prop_assert!(rank(next.status) >= rank(record.status));
                if record.status.is_terminal() {
                    // The one exception: a success nobody has yet, failed as too large.
                    let made_publishable = record.status == TaskStatus::Succeeded
                        && next.status == TaskStatus::Failed
                        && !record.result_published
                        && !record.delivered
                        && next.result.is_none();
                    if !made_publishable {
                        prop_assert_eq!(next.status, record.status);
                        prop_assert_eq!(&next.result, &record.result);
                    }
                    prop_assert!(next.result_published >= record.result_published);
                    prop_assert!(next.delivered >= record.delivered);
                }
                prop_assert_eq!(&next.owner, &record.owner);
                prop_assert_eq!(next.revision, record.revision + 1);
                record = next;
            }
        }
    }
}

#[test]
fn a_live_lease_cannot_be_claimed_but_an_expired_one_can() {
    let claimed = pending("01ARZ3NDEKTSV4RRFFQ69G5FAV")
        .claim("a", 2_000, 1_000)
        .unwrap();
    assert!(claimed.claim("b", 2_999, 1_000).is_err());
    let taken = claimed.claim("b", 3_000, 1_000).unwrap();
    assert_eq!(taken.lease_owner.as_deref(), Some("b"));
    assert_eq!(taken.attempts, 2);
}

#[test]
fn a_successor_cannot_change_the_owner_or_undo_a_delivery() {
    let record = pending("01ARZ3NDEKTSV4RRFFQ69G5FAV");
    let mut stolen = record.mark_enqueued(2_000);
    stolen.owner = "mallory".into();
    assert!(record.check_successor(&stolen).is_err());
    let done = record
        .claim("w", 2_000, 1_000)
        .unwrap()
        .finish(Outcome::Succeeded(serde_json::json!(1)), 2_500)
        .unwrap();
    let delivered = done.mark_delivered(2_600);
    let mut undone = delivered.mark_published(2_700);
    undone.delivered = false;
    assert!(delivered.check_successor(&undone).is_err());
    assert!(
        delivered
            .check_successor(&delivered.mark_published(2_700))
            .is_ok()
    );
}

#[test]
fn only_the_lease_holder_renews() {
    let claimed = pending("01ARZ3NDEKTSV4RRFFQ69G5FAV")
        .claim("a", 2_000, 1_000)
        .unwrap();
    let renewed = claimed.renew("a", 2_500, 1_000).unwrap();
    assert_eq!(renewed.lease_expires_at_ms, Some(3_500));
    assert!(claimed.check_successor(&renewed).is_ok());
    assert!(claimed.renew("b", 2_500, 1_000).is_err());
}

fn succeeded() -> TaskRecord {
    pending("01ARZ3NDEKTSV4RRFFQ69G5FAV")
        .claim("w", 2_000, 1_000)
        .unwrap()
        .finish(Outcome::Succeeded(serde_json::json!("big")), 2_500)
        .unwrap()
}

/// Issue 24, item 2: the one change of a terminal record, and only before anyone got it.
#[test]
fn an_unpublishable_success_becomes_a_result_too_large_failure_before_anyone_has_it() {
    let done = succeeded();
    let repaired = done
        .make_publishable("too large: 300000 bytes", 3_000)
        .unwrap();
    assert_eq!(repaired.status, TaskStatus::Failed);
    assert_eq!(repaired.result, None);
    assert_eq!(
        repaired.error,
        Some(TaskError::new(
            ErrorKind::ResultTooLarge,
            "too large: 300000 bytes"
        ))
    );
    assert!(done.check_successor(&repaired).is_ok());
    // Not once it is out, and never to anything else.
    assert!(
        done.mark_published(2_600)
            .make_publishable("x", 3_000)
            .is_err()
    );
    assert!(
        done.mark_delivered(2_600)
            .make_publishable("x", 3_000)
            .is_err()
    );
    let published = done.mark_published(2_600);
    let mut sneaky = published
        .make_publishable("x", 3_000)
        .unwrap_or(repaired.clone());
    sneaky.revision = published.revision + 1;
    assert!(published.check_successor(&sneaky).is_err());
    let mut other_kind = repaired.clone();
    other_kind.error = Some(TaskError::new(ErrorKind::ToolFailed, "x"));
    assert!(done.check_successor(&other_kind).is_err());
    let mut kept_result = repaired.clone();
    kept_result.result = done.result.clone();
    assert!(done.check_successor(&kept_result).is_err());
    // A failure keeps its kind; only an over-long message is cut.
    let mut failed = pending("01ARZ3NDEKTSV4RRFFQ69G5FAV")
        .claim("w", 2_000, 1_000)
        .unwrap()
        .finish(
            Outcome::Failed(TaskError::new(ErrorKind::ToolFailed, "short")),
            2_500,
        )
        .unwrap();
    assert!(failed.make_publishable("x", 3_000).is_err());
    failed.error.as_mut().unwrap().message = "e".repeat(300_000);
    let cut = failed.make_publishable("x", 3_000).unwrap();
    assert_eq!(cut.status, TaskStatus::Failed);
    let error = cut.error.as_ref().unwrap();
    assert_eq!(error.kind, ErrorKind::ToolFailed);
    assert!(error.message.len() <= crate::limits::MAX_ERROR_MESSAGE_BYTES);
    assert!(failed.check_successor(&cut).is_ok());
    assert!(
        pending("01ARZ3NDEKTSV4RRFFQ69G5FAV")
            .make_publishable("x", 1)
            .is_err()
    );
}

#[test]
fn error_messages_are_cut_to_their_limit() {
    let error = TaskError::new(ErrorKind::ToolFailed, "x".repeat(450_000));
    assert_eq!(error.message.len(), crate::limits::MAX_ERROR_MESSAGE_BYTES);
    assert!(error.message.ends_with("… (cut, 450000 bytes)"));
    assert_eq!(ErrorKind::ResultTooLarge.as_str(), "result_too_large");
    assert_eq!(
        serde_json::to_value(ErrorKind::ResultTooLarge).unwrap(),
        "result_too_large"
    );
}

/// A task the sweeper sets aside moves to the aside shard, and back once a remedy works.
#[test]
fn set_aside_moves_a_task_to_the_aside_shard_until_it_is_enqueued_or_claimed() {
    let record = pending("01ARZ3NDEKTSV4RRFFQ69G5FAV");
    let own_shard = record.open_shard().unwrap();
    assert!(own_shard < crate::limits::OPEN_SHARDS);
    let aside = record.mark_set_aside("no work queue", 2_000);
    assert!(record.check_successor(&aside).is_ok());
    assert_eq!(aside.open_shard(), Some(crate::limits::ASIDE_SHARD));
    assert_eq!(aside.set_aside.as_ref().unwrap().reason, "no work queue");
    let enqueued = aside.mark_enqueued(3_000);
    assert_eq!(
        (enqueued.open_shard(), enqueued.set_aside.as_ref()),
        (Some(own_shard), None)
    );
    let claimed = aside.claim("w", 3_000, 1_000).unwrap();
    assert_eq!(claimed.set_aside, None);
    // Terminal and published: out of the index, aside or not.
    let done = aside
        .claim("w", 3_000, 1_000)
        .unwrap()
        .finish(Outcome::Succeeded(serde_json::json!(1)), 3_500)
        .unwrap()
        .mark_set_aside("publish failed", 4_000);
    assert_eq!(done.open_shard(), Some(crate::limits::ASIDE_SHARD));
    assert_eq!(done.mark_published(5_000).open_shard(), None);
}

#[test]
fn success_needs_a_claim() {
    let err = pending("01ARZ3NDEKTSV4RRFFQ69G5FAV")
        .finish(Outcome::Succeeded(serde_json::json!(1)), 5)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "task 01ARZ3NDEKTSV4RRFFQ69G5FAV: cannot succeed without running from PENDING"
    );
}
