//! Publishing results: at least once, on the consumer's reply queue, recorded on the task so a
//! redelivery does not publish again.

use crate::clock::now_ms;
use crate::error::{PipelineError, StoreError};
use crate::ports::TaskStore;
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
/// one more send on redelivery; routers drop results already handed over.
pub async fn ensure_published(
    store: &dyn TaskStore,
    replies: &ReplyQueues,
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
    // A delivered result (the router reconciled it from the table) needs no message.
    if !record.delivered {
        replies
            .queue(&record.reply_to)?
            .send(&ResultMessage::for_record(&record).to_body())
            .await?;
    }
    let mut latest = record;
    for _ in 0..crate::limits::MAX_CONFLICT_RETRIES {
        let published = latest.mark_published(now_ms());
        match store.transition(&latest, &published).await {
            Ok(()) => return Ok(Publication::Published(published)),
            // Someone else wrote it meanwhile (a router marking it delivered, a sweeper): the result
            // is out either way; note it on the latest revision.
            Err(StoreError::Conflict(_)) => match store.get(&latest.task_id).await? {
                Some(current) if current.result_published => {
                    return Ok(Publication::Published(current));
                }
                Some(current) => latest = current,
                None => return Ok(Publication::Published(published)),
            },
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Publication::Published(latest))
}
