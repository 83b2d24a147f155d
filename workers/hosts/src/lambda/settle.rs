//! The reply settler: the router of a consumer that reads its results from the table (the deployed,
//! stateless MCP server). Such a consumer hands each result to its model itself, with a claim on
//! the task (`delivery::claim_delivery`: `task_results`, a later tool result, `tasks/get`), and
//! finds it in the table's `undelivered` index; the message only has to be accounted for. So
//! settling a message means checking that its task is in the table, finished, this consumer's and
//! its owner's; the event source then deletes the message. The task stays undelivered until its
//! model gets it. A message that cannot be settled is reported as failed, so it is retried and,
//! past the queue's receive limit, kept in the reply DLQ (alarmed) rather than dropped.

use crate::ports::TaskStore;
use crate::protocol::ResultMessage;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Its task is in the table, finished: the message is accounted for.
    InTable,
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
    if !record.status.is_terminal() {
        return Settled::Kept(format!(
            "task {} is {} in the table, not finished",
            message.task_id, record.status
        ));
    }
    Settled::InTable
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
            Settled::InTable => {}
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
