//! The reply settler: the router of a consumer that reads its results from the table (the deployed,
//! stateless MCP server, whose clients poll `tasks/get`). For such a consumer the hand-over *is*
//! the terminal record being in the table, so settling a result message means checking that record
//! and marking it delivered; the event source then deletes the message. A message that cannot be
//! settled is reported as failed, so it is retried and, past the queue's receive limit, kept in the
//! reply DLQ (alarmed) rather than dropped.

use crate::delivery::mark_delivered;
use crate::ports::TaskStore;
use crate::protocol::ResultMessage;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Marked delivered now, or earlier (a redelivered message).
    Delivered,
    /// The task is no longer stored (past its TTL): nothing is left to hand over.
    Gone,
    /// Kept on the queue: retried, then moved to the reply DLQ.
    Kept(String),
}

/// Settles one result message addressed to `consumer`.
pub async fn settle(store: &dyn TaskStore, consumer: &str, body: &str) -> Settled {
    let message = match ResultMessage::parse(body) {
        Ok(m) => m,
        Err(e) => return Settled::Kept(format!("not a result message: {e}")),
    };
    if message.reply_to != consumer {
        return Settled::Kept(format!(
            "task {} is addressed to consumer {:?}, not {consumer:?}",
            message.task_id, message.reply_to
        ));
    }
    let record = match store.get(&message.task_id).await {
        Ok(Some(record)) => record,
        Ok(None) => return Settled::Gone,
        Err(e) => return Settled::Kept(format!("reading task {}: {e}", message.task_id)),
    };
    // The message names the task's owner; a record that disagrees is not this message's task.
    if record.owner != message.owner || record.reply_to != consumer {
        return Settled::Kept(format!(
            "task {} in the table belongs to another owner or consumer",
            message.task_id
        ));
    }
    if record.delivered {
        return Settled::Delivered;
    }
    match mark_delivered(store, record).await {
        Ok(_) => Settled::Delivered,
        Err(e) => Settled::Kept(format!("marking task {} delivered: {e}", message.task_id)),
    }
}

/// An SQS batch of `consumer`'s reply queue: every message settled concurrently; the ones kept are
/// reported as batch item failures (ReportBatchItemFailures).
pub async fn handle_reply_batch(
    store: &dyn TaskStore,
    consumer: &str,
    event: SqsEvent,
) -> SqsBatchResponse {
    let records: Vec<(String, String)> = event
        .records
        .into_iter()
        .filter_map(|r| Some((r.message_id?, r.body.unwrap_or_default())))
        .collect();
    let outcomes = futures::future::join_all(
        records
            .iter()
            .map(|(_, body)| settle(store, consumer, body)),
    )
    .await;
    let mut response = SqsBatchResponse::default();
    for ((message_id, _), outcome) in records.into_iter().zip(outcomes) {
        match outcome {
            Settled::Delivered => {}
            Settled::Gone => {
                tracing::info!(%message_id, "result of a task no longer stored; dropped")
            }
            Settled::Kept(why) => {
                tracing::warn!(%message_id, %why, "result kept on the reply queue");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message_id;
                response.batch_item_failures.push(failure);
            }
        }
    }
    response
}
