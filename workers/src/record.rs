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
    /// The tool's result could not be published or stored: larger than a result may be, measured
    /// on the bytes sent (`MAX_RESULT_BYTES`), or too large for its message or its record. The
    /// message gives the measured size and the limit.
    ResultTooLarge,
}

impl ErrorKind {
    /// The name on the wire and in the table (`result_too_large`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidArguments => "invalid_arguments",
            ErrorKind::ToolFailed => "tool_failed",
            ErrorKind::TimedOut => "timed_out",
            ErrorKind::MalformedMessage => "malformed_message",
            ErrorKind::Abandoned => "abandoned",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::ResultTooLarge => "result_too_large",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskError {
    pub kind: ErrorKind,
    pub message: String,
}

impl TaskError {
    /// An error whose message is cut to `MAX_ERROR_MESSAGE_BYTES` (`limits::cut_text`): messages
    /// carry tool-supplied text, and a record or a result message must stay within its limit.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let message = message.into();
        let message =
            match crate::limits::cut_text(&message, crate::limits::MAX_ERROR_MESSAGE_BYTES) {
                std::borrow::Cow::Borrowed(_) => message,
                std::borrow::Cow::Owned(cut) => cut,
            };
        TaskError { kind, message }
    }
}

/// Why the sweeper set a task aside: its remedy failed. The task then sits in the `open_tasks`
/// index's aside shard (`limits::ASIDE_SHARD`) until a remedy works (a re-enqueue, a claim, or
/// its result published), so tasks the sweeper cannot fix never stand in front of the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetAside {
    pub at_ms: u64,
    /// The remedy's error, cut to `MAX_ERROR_MESSAGE_BYTES`.
    pub reason: String,
}

/// The stored state of one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub version: u32,
    pub task_id: String,
    /// Who submitted it (the IAM principal on AWS, an explicit name locally). Only the owner can read,
    /// list, cancel or receive it; to anyone else it does not exist.
    pub owner: String,
    /// The consumer whose reply queue gets the result.
    pub reply_to: String,
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
    /// The queue message the current lease holder claimed it with: a later delivery of that same
    /// message is the holder's own (retried, never deleted); any other message is a duplicate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<TaskError>,
    /// Set once the terminal state's result message is on the consumer's reply queue.
    pub result_published: bool,
    /// Set once the consumer has handed the result over (to its conversation, file or screen).
    #[serde(default)]
    pub delivered: bool,
    /// When a work message for it was last sent (by the dispatcher, a replay or the sweeper).
    pub enqueued_at_ms: u64,
    /// Set by the sweeper when its remedy for the task failed (see [`SetAside`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_aside: Option<SetAside>,
    /// Holds a place in its owner's open-task quota (`DispatcherSettings::max_open_tasks`), given
    /// back when its result is published (`results`). Set at creation, never changed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub holds_open_place: bool,
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

/// What a new task is made of; `TaskRecord::pending` adds the bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub task_id: String,
    pub owner: String,
    pub reply_to: String,
    pub conversation_id: String,
    pub tool: String,
    pub arguments: Value,
    pub idempotency_key: Option<String>,
    pub deadline_ms: Option<u64>,
}

impl NewTask {
    /// A task for the default consumer, with no idempotency key and no deadline.
    pub fn new(
        task_id: impl Into<String>,
        owner: impl Into<String>,
        conversation_id: impl Into<String>,
        tool: impl Into<String>,
        arguments: Value,
    ) -> NewTask {
        NewTask {
            task_id: task_id.into(),
            owner: owner.into(),
            reply_to: crate::limits::DEFAULT_CONSUMER.to_string(),
            conversation_id: conversation_id.into(),
            tool: tool.into(),
            arguments,
            idempotency_key: None,
            deadline_ms: None,
        }
    }
}

impl TaskRecord {
    /// Past its TTL (`expires_at`, epoch seconds): gone, even before DynamoDB deletes the item.
    pub fn expired(&self, now_ms: u64) -> bool {
        self.expires_at.saturating_mul(1000) <= now_ms
    }

    /// A new PENDING task created at `now_ms`, kept `ttl_days` (the table's TTL).
    pub fn pending(task: NewTask, now_ms: u64, ttl_days: u32) -> TaskRecord {
        TaskRecord {
            version: crate::limits::PROTOCOL_VERSION,
            task_id: task.task_id,
            owner: task.owner,
            reply_to: task.reply_to,
            conversation_id: task.conversation_id,
            tool: task.tool,
            arguments: task.arguments,
            status: TaskStatus::Pending,
            revision: 1,
            idempotency_key: task.idempotency_key,
            deadline_ms: task.deadline_ms,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            started_at_ms: None,
            finished_at_ms: None,
            attempts: 0,
            lease_owner: None,
            lease_expires_at_ms: None,
            claim_message_id: None,
            result: None,
            error: None,
            result_published: false,
            delivered: false,
            enqueued_at_ms: now_ms,
            set_aside: None,
            holds_open_place: false,
            expires_at: now_ms / 1000 + u64::from(ttl_days) * 86_400,
        }
    }

    /// The key of the `by_owner_conversation` index: owners and conversation ids have no '#'.
    pub fn owner_conversation_key(owner: &str, conversation_id: &str) -> String {
        format!("{owner}#{conversation_id}")
    }

    /// The key of the `undelivered` index.
    pub fn undelivered_key(owner: &str, consumer: &str) -> String {
        format!("{owner}#{consumer}")
    }

    /// Its `open_tasks` shard while the sweeper may have work on it (not terminal, or not yet
    /// published); `None` after, which drops it from that sparse index. A task the sweeper set
    /// aside is in `ASIDE_SHARD`.
    pub fn open_shard(&self) -> Option<u32> {
        if self.status.is_terminal() && self.result_published {
            return None;
        }
        if self.set_aside.is_some() {
            return Some(crate::limits::ASIDE_SHARD);
        }
        // FNV-1a over the id: stable across builds and machines, unlike std's hasher.
        let hash = self.task_id.bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        Some(hash % crate::limits::OPEN_SHARDS)
    }

    /// Whether it belongs in its consumer's `undelivered` index: terminal and not handed over.
    pub fn awaits_delivery(&self) -> bool {
        self.status.is_terminal() && !self.delivered
    }

    /// Terminal, published and handed over: nothing more will happen to it.
    pub fn is_settled(&self) -> bool {
        self.status.is_terminal() && self.result_published && self.delivered
    }

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
        // A worker has it: whatever the sweeper could not do is done.
        next.set_aside = None;
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

    /// A just-finished record noted as published in its terminal write itself, before its message
    /// is sent: one write less per task. A crash between the write and the send loses only the
    /// message, never the result: the consumer's router reconciles it from the table's
    /// `undelivered` index.
    pub fn announced(mut self) -> TaskRecord {
        debug_assert!(self.status.is_terminal());
        self.result_published = true;
        self
    }

    /// Notes that the result message is out. Not a state change: terminal states stay as they are.
    pub fn mark_published(&self, now_ms: u64) -> TaskRecord {
        debug_assert!(self.status.is_terminal());
        let mut next = self.bookkeeping(now_ms);
        next.result_published = true;
        next
    }

    /// Notes that the consumer handed the result over. Terminal records only.
    pub fn mark_delivered(&self, now_ms: u64) -> TaskRecord {
        debug_assert!(self.status.is_terminal());
        let mut next = self.bookkeeping(now_ms);
        next.delivered = true;
        next
    }

    /// Notes that a work message was sent again (a replay or the sweeper); a task set aside is
    /// back in its own shard. Open records only.
    pub fn mark_enqueued(&self, now_ms: u64) -> TaskRecord {
        debug_assert!(!self.status.is_terminal());
        let mut next = self.bookkeeping(now_ms);
        next.enqueued_at_ms = now_ms.max(self.enqueued_at_ms);
        next.set_aside = None;
        next
    }

    /// Notes that the sweeper's remedy failed with `reason`: the task moves to the aside shard.
    pub fn mark_set_aside(&self, reason: &str, now_ms: u64) -> TaskRecord {
        let mut next = self.bookkeeping(now_ms);
        let reason = crate::limits::cut_text(reason, crate::limits::MAX_ERROR_MESSAGE_BYTES);
        next.set_aside = Some(SetAside {
            at_ms: now_ms,
            reason: reason.into_owned(),
        });
        next
    }

    /// The one change a terminal record may still undergo: its result message is too large to
    /// ever be published (`why` says how large, and the limit). Only a record nobody was handed
    /// (neither published nor delivered) changes: a SUCCEEDED one becomes FAILED
    /// `result_too_large` (message `why`) without its result; any other keeps its status and error
    /// kind with the error message cut (`TaskError::new`). Its owner then gets a clear failure
    /// instead of nothing. Records written by this build never need it (the worker measures the
    /// message before the terminal write); it repairs those of builds that measured the raw JSON.
    pub fn make_publishable(&self, why: &str, now_ms: u64) -> Result<TaskRecord, TransitionError> {
        let refuse = |action| TransitionError {
            task_id: self.task_id.clone(),
            action,
            from: self.status,
        };
        if !self.status.is_terminal() || self.result_published || self.delivered {
            return Err(refuse("make publishable a result that is out or not final"));
        }
        let mut next = self.bookkeeping(now_ms);
        match (self.status, &self.error) {
            (TaskStatus::Succeeded, _) => {
                next.status = TaskStatus::Failed;
                next.result = None;
                next.error = Some(TaskError::new(ErrorKind::ResultTooLarge, why));
            }
            (_, Some(error)) if error.message.len() > crate::limits::MAX_ERROR_MESSAGE_BYTES => {
                next.error = Some(TaskError::new(error.kind, error.message.clone()));
            }
            _ => return Err(refuse("make publishable without a result or error to cut")),
        }
        Ok(next)
    }

    /// Whether `next` is `self` made publishable ([`TaskRecord::make_publishable`]).
    fn is_made_publishable(&self, next: &TaskRecord) -> bool {
        let (Some(next_error), false, false) = (&next.error, self.result_published, self.delivered)
        else {
            return false;
        };
        match (self.status, next.status) {
            (TaskStatus::Succeeded, TaskStatus::Failed) => {
                next.result.is_none() && next_error.kind == ErrorKind::ResultTooLarge
            }
            (from, to) if from == to && from.is_terminal() => {
                self.error.as_ref().is_some_and(|e| {
                    e.kind == next_error.kind
                        && next_error.message.len() < e.message.len()
                        && next.result == self.result
                })
            }
            _ => false,
        }
    }

    /// RUNNING -> RUNNING by the lease holder: the heartbeat that keeps a live run's lease.
    pub fn renew(
        &self,
        me: &str,
        now_ms: u64,
        lease_ms: u64,
    ) -> Result<TaskRecord, TransitionError> {
        if self.status != TaskStatus::Running || self.lease_owner.as_deref() != Some(me) {
            return Err(TransitionError {
                task_id: self.task_id.clone(),
                action: "renew a lease it does not hold",
                from: self.status,
            });
        }
        let mut next = self.bookkeeping(now_ms);
        next.lease_expires_at_ms = Some(now_ms + lease_ms);
        Ok(next)
    }

    /// The same record one revision on: a write that changes no state.
    fn bookkeeping(&self, now_ms: u64) -> TaskRecord {
        let mut next = self.clone();
        next.revision = self.revision + 1;
        next.updated_at_ms = now_ms.max(self.updated_at_ms);
        next
    }

    /// Checks that `next` is a legal successor of `self`; stores call it before every conditional write.
    pub fn check_successor(&self, next: &TaskRecord) -> Result<(), TransitionError> {
        let same_terminal = self.status == next.status && self.status.is_terminal();
        // A pending task is only ever re-enqueued in place.
        let touched_pending = self.status == TaskStatus::Pending
            && next.status == TaskStatus::Pending
            && next.attempts == self.attempts
            && next.lease_owner.is_none();
        let identity_kept = next.task_id == self.task_id
            && next.owner == self.owner
            && next.reply_to == self.reply_to
            && next.conversation_id == self.conversation_id
            && next.tool == self.tool
            && next.arguments == self.arguments
            && next.created_at_ms == self.created_at_ms
            && next.holds_open_place == self.holds_open_place;
        // Published and delivered never go back to false within a terminal state.
        let flags_forward = !same_terminal
            || ((next.result_published || !self.result_published)
                && (next.delivered || !self.delivered));
        let legal = next.revision == self.revision + 1
            && identity_kept
            && flags_forward
            && (self.status.can_move_to(next.status)
                || touched_pending
                || (same_terminal && next.result == self.result && next.error == self.error)
                || self.is_made_publishable(next));
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
pub(crate) mod tests;
