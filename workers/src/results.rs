//! Publishing results: at least once, recorded on the task so a redelivery does not publish again.

use crate::clock::now_ms;
use crate::error::{PipelineError, StoreError};
use crate::ports::{MessageQueue, TaskStore};
use crate::protocol::ResultMessage;
use crate::record::TaskRecord;

/// What `ensure_published` did.
#[derive(Debug, Clone, PartialEq)]
pub enum Publication {
    /// The result is out (sent now or before); the latest record.
    Published(TaskRecord),
    /// Another writer (the worker that finished the task, or a cancel) holds the publishing lease;
    /// try again after it expires.
    HeldElsewhere(TaskRecord),
}

/// Publishes the result of a terminal `record` unless that is already done or someone else (with a
/// live lease) is doing it, then notes it on the record. A crash between the send and the note means
/// one more send on redelivery; readers dedupe by task id.
pub async fn ensure_published(
    store: &dyn TaskStore,
    results: &dyn MessageQueue,
    record: TaskRecord,
    me: &str,
) -> Result<Publication, PipelineError> {
    if !record.status.is_terminal() {
        debug_assert!(false, "only terminal tasks publish results");
        return Err(StoreError::IllegalTransition {
            task_id: record.task_id.clone(),
            from: record.status.to_string(),
            to: "a published result".into(),
        }
        .into());
    }
    if record.result_published {
        return Ok(Publication::Published(record));
    }
    if record.held_by_other(me, now_ms()) {
        return Ok(Publication::HeldElsewhere(record));
    }
    results
        .send(&ResultMessage::for_record(&record).to_body())
        .await?;
    let published = record.mark_published(now_ms());
    match store.transition(&record, &published).await {
        Ok(()) => Ok(Publication::Published(published)),
        // Someone else updated it meanwhile: the result is out either way.
        Err(StoreError::Conflict(_)) => Ok(Publication::Published(
            store.get(&record.task_id).await?.unwrap_or(published),
        )),
        Err(e) => Err(e.into()),
    }
}
