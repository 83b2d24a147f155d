//! Every limit of the pipeline in one place, so errors, docs and tests agree on the numbers.

/// A task's arguments, serialized as compact JSON.
pub const MAX_ARGUMENTS_BYTES: usize = 64 * 1024;
/// A task's result, serialized as compact JSON: keeps the result message under SQS's 256 KiB and the
/// record under DynamoDB's 400 KB item limit (arguments + result + metadata).
pub const MAX_RESULT_BYTES: usize = 200 * 1024;
/// Any queue message body (SQS's classic limit).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Conversation ids and idempotency keys: printable ASCII without spaces or '#'.
pub const MAX_CONVERSATION_ID_CHARS: usize = 128;
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 128;
/// How far in the future a task's deadline may be.
pub const MAX_DEADLINE_AHEAD_MS: u64 = 24 * 3600 * 1000;
/// One page of `list by conversation`.
pub const MAX_LIST_PAGE: u32 = 100;
pub const DEFAULT_LIST_PAGE: u32 = 20;
/// One receive from a queue (SQS's maximum).
pub const MAX_RECEIVE_BATCH: u32 = 10;
/// Long-poll wait of one receive (SQS's maximum).
pub const MAX_RECEIVE_WAIT_S: u64 = 20;
/// Visibility timeout of a message (SQS's maximum, 12 h).
pub const MAX_VISIBILITY_TIMEOUT_S: u64 = 12 * 3600;
/// Task records and idempotency items live this long (DynamoDB TTL).
pub const DEFAULT_TASK_TTL_DAYS: u32 = 7;
pub const MAX_TASK_TTL_DAYS: u32 = 365;
/// Optimistic-concurrency retries of one store transition before giving up for this delivery.
pub const MAX_CONFLICT_RETRIES: u32 = 5;
/// The extra time a worker's lease lasts beyond the run budget: a live worker always finishes (or times
/// out) and writes its terminal state before its lease can be taken over.
pub const MAX_LEASE_MARGIN_MS: u64 = 15 * 60 * 1000;
/// Concurrent receive loops of one local worker per queue.
pub const MAX_LOCAL_CONCURRENCY: usize = 1000;

/// Human form of a byte limit for messages: "65536 bytes (64 KiB)".
pub fn bytes_label(bytes: usize) -> String {
    format!("{bytes} bytes ({} KiB)", bytes / 1024)
}
