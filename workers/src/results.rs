//! Publishing results: at least once, on the consumer's reply queue, recorded on the task so a
//! redelivery does not publish again.

use crate::clock::Clock;
use crate::error::{PipelineError, StoreError};
use crate::ports::{TaskStore, Updated, update_with_retry};
use crate::protocol::ResultMessage;
use crate::record::TaskRecord;
use crate::replies::ReplyQueues;

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
/// one more send on redelivery; routers drop results already handed over. `clock` decides whether a
/// publisher's lease is live.
pub async fn ensure_published(
    store: &dyn TaskStore,
    replies: &ReplyQueues,
    record: TaskRecord,
    me: &str,
    clock: &dyn Clock,
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
    if record.held_by_other(me, clock.now_ms()) {
        return Ok(Publication::HeldElsewhere(record));
    }
    // A delivered result (the router reconciled it from the table) needs no message.
    if !record.delivered {
        replies
            .queue(&record.reply_to)?
            .send(&ResultMessage::for_record(&record).to_body())
            .await?;
    }
    // Someone else may write meanwhile (a router marking it delivered, a sweeper): the result is
    // out either way; it is noted on the latest revision.
    let sent = record.clone();
    match update_with_retry(store, record, |r| {
        (!r.result_published).then(|| r.mark_published(clock.now_ms()))
    })
    .await
    {
        Ok(Updated::Written(r) | Updated::Unchanged(r)) => Ok(Publication::Published(r)),
        Ok(Updated::Missing) => Ok(Publication::Published(sent.mark_published(clock.now_ms()))),
        // Out of retries: the message is out; the note is left to the sweeper.
        Err(StoreError::Conflict(_)) => Ok(Publication::Published(sent)),
        Err(e) => Err(e.into()),
    }
}
