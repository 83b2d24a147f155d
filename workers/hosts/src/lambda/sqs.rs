//! The worker function's SQS batch: `SqsEvent` in, `SqsBatchResponse` (ReportBatchItemFailures) out.

use crate::worker::{Delivery, Worker};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

/// Time kept back from the Lambda deadline to write the terminal state and publish the result: the
/// stack gives the function this much beyond the tool's timeout, and each of those calls is bounded
/// by the SDK's operation timeout (`FUNCTION_OPERATION_TIMEOUT_S`), so the reserve holds several.
pub const WRITE_RESERVE_MS: u64 = crate::limits::WRITE_RESERVE_S as u64 * 1000;

/// `deadline_ms` is the invocation's deadline (epoch ms) from the Lambda context.
pub async fn handle_sqs_event(
    worker: &Worker,
    event: SqsEvent,
    deadline_ms: Option<u64>,
) -> SqsBatchResponse {
    let mut failures = Vec::new();
    let mut deliveries = Vec::new();
    for (index, record) in event.records.into_iter().enumerate() {
        let Some(message_id) = record.message_id else {
            // Without an id the failure cannot be reported; the event source would then retry the
            // whole batch. Cannot happen with SQS, which always sets it.
            tracing::error!(index, "SQS record without a messageId; skipped");
            continue;
        };
        let receive_count = record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        match record.body {
            Some(body) => deliveries.push(Delivery {
                message_id,
                body,
                receive_count,
                receipt_handle: record.receipt_handle,
            }),
            None => failures.push(message_id),
        }
    }
    let now = worker.clock().now_ms();
    let budget_end_ms = match deadline_ms {
        // An invocation always starts before its deadline; one already past is not a real deadline
        // (a local emulator sends a fixed one) and would time every run out at once.
        Some(d) if d <= now => {
            tracing::warn!(
                deadline_ms = d,
                now_ms = now,
                "ignoring an invocation deadline in the past"
            );
            None
        }
        d => d.map(|d| d.saturating_sub(WRITE_RESERVE_MS)),
    };
    failures.extend(worker.handle_batch(&deliveries, budget_end_ms).await);
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}
