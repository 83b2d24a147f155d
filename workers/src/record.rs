//! The task record and its transitions. Each transition is a pure function from the current record to
//! the next one (revision + 1); the store then writes it conditionally on the current revision, so two
//! writers can never both win.

use crate::state::TaskStatus;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The arguments failed the tool's own checks.
    InvalidArguments,
    /// The tool ran and reported a failure, or its result broke a limit.
    ToolFailed,
    /// The run budget (tool timeout or task deadline) ran out.
    TimedOut,
    /// The work message could not be used; the task it named is failed instead of retried forever.
    MalformedMessage,
    /// Workers kept dying on this task until its queue's receive count ran out.
    Abandoned,
    /// Someone cancelled the task.
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskError {
    pub kind: ErrorKind,
    pub message: String,
}

impl TaskError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        TaskError {
            kind,
            message: message.into(),
        }
    }
}

/// The stored state of one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub version: u32,
    pub task_id: String,
    pub conversation_id: String,
    pub tool: String,
    pub arguments: Value,
    pub status: TaskStatus,
    /// Bumped by every write; writes are conditional on it (optimistic concurrency).
    pub revision: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at_ms: Option<u64>,
    /// How many times a worker claimed the task (1 + takeovers).
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_expires_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<TaskError>,
    /// Set once the terminal state's result message is on the results queue.
    pub result_published: bool,
    /// Epoch seconds: the DynamoDB TTL attribute.
    pub expires_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("task {task_id}: cannot {action} from {from}")]
pub struct TransitionError {
    pub task_id: String,
    pub action: &'static str,
    pub from: TaskStatus,
}

/// How a run ended, before it is written.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Succeeded(Value),
    Failed(TaskError),
    TimedOut(String),
}

impl TaskRecord {
    pub fn lease_is_live(&self, now_ms: u64) -> bool {
        self.status == TaskStatus::Running && self.lease_expires_at_ms.is_some_and(|t| t > now_ms)
    }

    fn next(
        &self,
        status: TaskStatus,
        now_ms: u64,
        action: &'static str,
    ) -> Result<TaskRecord, TransitionError> {
        if !self.status.can_move_to(status) {
            return Err(TransitionError {
                task_id: self.task_id.clone(),
                action,
                from: self.status,
            });
        }
        let mut next = self.clone();
        next.status = status;
        next.revision = self.revision + 1;
        next.updated_at_ms = now_ms.max(self.updated_at_ms);
        Ok(next)
    }

    /// PENDING -> RUNNING, or RUNNING -> RUNNING when the previous holder's lease has expired.
    pub fn claim(
        &self,
        owner: &str,
        now_ms: u64,
        lease_ms: u64,
    ) -> Result<TaskRecord, TransitionError> {
        if self.lease_is_live(now_ms) {
            return Err(TransitionError {
                task_id: self.task_id.clone(),
                action: "claim (lease still held)",
                from: self.status,
            });
        }
        let mut next = self.next(TaskStatus::Running, now_ms, "claim")?;
        next.attempts = self.attempts + 1;
        next.lease_owner = Some(owner.to_string());
        next.lease_expires_at_ms = Some(now_ms + lease_ms);
        next.started_at_ms.get_or_insert(now_ms);
        Ok(next)
    }

    /// RUNNING -> terminal, or PENDING -> FAILED / TIMED_OUT when the task cannot start.
    pub fn finish(&self, outcome: Outcome, now_ms: u64) -> Result<TaskRecord, TransitionError> {
        let (status, result, error) = match outcome {
            Outcome::Succeeded(value) => (TaskStatus::Succeeded, Some(value), None),
            Outcome::Failed(error) => (TaskStatus::Failed, None, Some(error)),
            Outcome::TimedOut(message) => (
                TaskStatus::TimedOut,
                None,
                Some(TaskError::new(ErrorKind::TimedOut, message)),
            ),
        };
        if status == TaskStatus::Succeeded && self.status != TaskStatus::Running {
            return Err(TransitionError {
                task_id: self.task_id.clone(),
                action: "succeed without running",
                from: self.status,
            });
        }
        let mut next = self.next(status, now_ms, "finish")?;
        next.result = result;
        next.error = error;
        next.finished_at_ms = Some(now_ms);
        next.result_published = false;
        Ok(next)
    }

    /// Names who publishes the result of a terminal record, until when. Other deliveries of the task
    /// leave the publishing to it meanwhile (and take it over after), so a result is sent once.
    pub fn with_publisher(mut self, owner: &str, until_ms: u64) -> TaskRecord {
        self.lease_owner = Some(owner.to_string());
        self.lease_expires_at_ms = Some(until_ms);
        self
    }

    /// Whether someone other than `me` holds a live lease (to run, or to publish).
    pub fn held_by_other(&self, me: &str, now_ms: u64) -> bool {
        self.lease_owner.as_deref() != Some(me)
            && self.lease_expires_at_ms.is_some_and(|t| t > now_ms)
    }

    /// PENDING | RUNNING -> CANCELLED.
    pub fn cancel(&self, now_ms: u64) -> Result<TaskRecord, TransitionError> {
        let mut next = self.next(TaskStatus::Cancelled, now_ms, "cancel")?;
        next.error = Some(TaskError::new(
            ErrorKind::Cancelled,
            "cancelled before it finished",
        ));
        next.finished_at_ms = Some(now_ms);
        next.result_published = false;
        Ok(next)
    }

    /// Notes that the result message is out. Not a state change: terminal states stay as they are.
    pub fn mark_published(&self, now_ms: u64) -> TaskRecord {
        debug_assert!(self.status.is_terminal());
        let mut next = self.clone();
        next.result_published = true;
        next.revision = self.revision + 1;
        next.updated_at_ms = now_ms.max(self.updated_at_ms);
        next
    }

    /// Checks that `next` is a legal successor of `self`; stores call it before every conditional write.
    pub fn check_successor(&self, next: &TaskRecord) -> Result<(), TransitionError> {
        let same_terminal = self.status == next.status && self.status.is_terminal();
        let legal = next.revision == self.revision + 1
            && next.task_id == self.task_id
            && (self.status.can_move_to(next.status)
                || (same_terminal && next.result == self.result && next.error == self.error));
        if legal {
            Ok(())
        } else {
            Err(TransitionError {
                task_id: self.task_id.clone(),
                action: "write this successor",
                from: self.status,
            })
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub fn pending(task_id: &str) -> TaskRecord {
        TaskRecord {
            version: 1,
            task_id: task_id.into(),
            conversation_id: "c1".into(),
            tool: "synthetic".into(),
            arguments: serde_json::json!({}),
            status: TaskStatus::Pending,
            revision: 1,
            idempotency_key: None,
            deadline_ms: None,
            created_at_ms: 1_000,
            updated_at_ms: 1_000,
            started_at_ms: None,
            finished_at_ms: None,
            attempts: 0,
            lease_owner: None,
            lease_expires_at_ms: None,
            result: None,
            error: None,
            result_published: false,
            expires_at: 10,
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Claim(u64),
        Succeed,
        Fail,
        TimeOut,
        Cancel,
        Publish,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u64..5_000).prop_map(Op::Claim),
            Just(Op::Succeed),
            Just(Op::Fail),
            Just(Op::TimeOut),
            Just(Op::Cancel),
            Just(Op::Publish),
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
                };
                if let Some(next) = next {
                    prop_assert!(record.check_successor(&next).is_ok());
                    prop_assert!(rank(next.status) >= rank(record.status));
                    if record.status.is_terminal() {
                        prop_assert_eq!(next.status, record.status);
                        prop_assert_eq!(&next.result, &record.result);
                    }
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
    fn success_needs_a_claim() {
        let err = pending("01ARZ3NDEKTSV4RRFFQ69G5FAV")
            .finish(Outcome::Succeeded(serde_json::json!(1)), 5)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "task 01ARZ3NDEKTSV4RRFFQ69G5FAV: cannot succeed without running from PENDING"
        );
    }
}
