//! Error types. `InputError` is the caller's fault (exit code 2, HTTP 400); the rest are not.

use thiserror::Error;

/// A request, argument or file that fails validation. Names the field and, for limits, the limit.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("{field}: {message}")]
pub struct InputError {
    pub field: String,
    pub message: String,
}

impl InputError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        InputError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A task store failure.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The conditional write lost a race: the record changed since it was read.
    #[error("task {0} changed concurrently (conditional write failed)")]
    Conflict(String),
    /// A caller asked for a transition the state machine forbids: a bug, reported instead of a panic.
    #[error("illegal transition of task {task_id}: {from} -> {to}")]
    IllegalTransition {
        task_id: String,
        from: String,
        to: String,
    },
    /// The record would be larger than a store keeps (`MAX_RECORD_BYTES`, DynamoDB's item limit):
    /// the write was refused, and retrying it cannot help.
    #[error(
        "task {task_id}: the record would be {bytes} bytes; the store's limit is {limit} bytes"
    )]
    TooLarge {
        task_id: String,
        bytes: usize,
        limit: usize,
    },
    /// A stored item that does not decode: never silently dropped.
    #[error("stored item {key} is corrupt: {message}")]
    Corrupt { key: String, message: String },
    /// The memory store holds as much as its limits allow: a new task is refused (never one
    /// already admitted, and nothing is dropped before its TTL). The message names the limit.
    #[error("{0}")]
    Full(String),
    #[error("task store: {0:#}")]
    Backend(anyhow::Error),
}

/// A queue failure.
#[derive(Debug, Error)]
pub enum QueueError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("queue {queue}: {source:#}")]
    Backend {
        queue: String,
        source: anyhow::Error,
    },
    /// A memory queue holds as many messages (or bytes) as its limits allow: the send is refused.
    /// The message names the limit.
    #[error("queue {queue} is full: {message}")]
    Full { queue: String, message: String },
}

/// What the dispatcher, the worker and the CLI report.
#[derive(Debug, Error)]
pub enum PipelineError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("task {0} not found")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// A per-principal limit (`quota`, e.g. `open_tasks`) refused the call; nothing was stored.
    /// The message says the limit and what to do (HTTP 429).
    #[error("{message}")]
    QuotaExceeded {
        quota: &'static str,
        message: String,
    },
}

impl PipelineError {
    /// What a caller is told of a backend failure: a generic message with an incident id, never
    /// the error itself (table and queue names, endpoints, the SDK's text). The whole error is
    /// logged under the same id, for the operator.
    pub fn incident(&self) -> String {
        let id = ulid::Ulid::generate();
        tracing::error!(incident = %id, error = %self, "backend failure");
        format!("the task backend failed (incident {id}); the server's log has the details")
    }

    /// True when the caller sent something wrong (exit 2 / HTTP 4xx) rather than the backend failing.
    pub fn is_caller_error(&self) -> bool {
        matches!(
            self,
            PipelineError::Input(_)
                | PipelineError::NotFound(_)
                | PipelineError::QuotaExceeded { .. }
                | PipelineError::Queue(QueueError::Input(_))
        )
    }
}
