//! Publishing results: at least once, on the consumer's reply queue, recorded on the task so a
//! redelivery does not publish again.

use crate::clock::Clock;
use crate::error::{InputError, PipelineError, StoreError};
use crate::ports::{TaskStore, Updated, update_with_retry};
use crate::protocol::ResultMessage;
use crate::quota;
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
///
/// A result message too large to send (measured on the bytes sent) can never be published: the
/// record is first made publishable (`TaskRecord::make_publishable`: a SUCCEEDED task becomes
/// FAILED `result_too_large`), and that is what its owner gets.
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
    let mut record = record;
    if !record.delivered
        && let Some(why) = ResultMessage::for_record(&record).too_large()
    {
        record = match make_publishable(store, record, &why, clock).await? {
            Some(repaired) => repaired,
            None => return Err(InputError::new("result message", why).into()),
        };
        if record.result_published {
            return Ok(Publication::Published(record));
        }
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
    let noted = match update_with_retry(store, record, |r| {
        (!r.result_published).then(|| r.mark_published(clock.now_ms()))
    })
    .await
    {
        Ok(Updated::Written(r) | Updated::Unchanged(r)) => r,
        Ok(Updated::Missing) => sent.mark_published(clock.now_ms()),
        // Out of retries: the message is out; the note is left to the sweeper.
        Err(StoreError::Conflict(_)) => sent,
        Err(e) => return Err(e.into()),
    };
    quota::give_back_place(store, &noted).await;
    Ok(Publication::Published(noted))
}

/// Sends the result of a terminal `record` already noted as published in its terminal write
/// (`TaskRecord::announced`), unless it was handed over already. A failed send loses only the
/// message: the consumer reconciles the result from the table. Gives back the task's open-task
/// place (the task has ended).
pub async fn send_announced(store: &dyn TaskStore, replies: &ReplyQueues, record: &TaskRecord) {
    debug_assert!(record.status.is_terminal() && record.result_published);
    quota::give_back_place(store, record).await;
    if record.delivered {
        return;
    }
    let sent = match replies.queue(&record.reply_to) {
        Ok(queue) => queue
            .send(&ResultMessage::for_record(record).to_body())
            .await
            .map(|_| ())
            .map_err(PipelineError::from),
        Err(e) => Err(e.into()),
    };
    if let Err(e) = sent {
        tracing::warn!(task_id = %record.task_id, error = %e, "result message not sent; its consumer reconciles it from the table");
    }
}

/// Writes `record` made publishable (`why`: the sizes and the limit), on its latest revision. The
/// record as it now stands, or `None` if it still cannot be published (or is gone).
async fn make_publishable(
    store: &dyn TaskStore,
    record: TaskRecord,
    why: &str,
    clock: &dyn Clock,
) -> Result<Option<TaskRecord>, PipelineError> {
    tracing::warn!(task_id = %record.task_id, %why, "result message too large; failing the task as result_too_large");
    let updated = update_with_retry(store, record, |r| {
        let needed = !r.result_published
            && !r.delivered
            && ResultMessage::for_record(r).too_large().is_some();
        needed
            .then(|| r.make_publishable(why, clock.now_ms()).ok())
            .flatten()
    })
    .await?;
    Ok(updated.record().filter(|r| {
        r.result_published || r.delivered || ResultMessage::for_record(r).too_large().is_none()
    }))
}
