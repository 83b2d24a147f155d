//! Every limit of the pipeline in one place, so errors, docs and tests agree on the numbers.

/// The version of the wire protocol and of the task record this build speaks (`protocol`).
pub const PROTOCOL_VERSION: u32 = 1;

/// A task's arguments, serialized as compact JSON.
pub const MAX_ARGUMENTS_BYTES: usize = 64 * 1024;
/// A task's result, measured as it is sent: compact JSON with the characters SQS refuses (U+FFFE,
/// U+FFFF: 3 bytes each in UTF-8) written as 6-byte `\u` escapes. Keeps the result message under
/// [`MAX_MESSAGE_BYTES`] and the record under [`MAX_RECORD_BYTES`] (arguments + result + metadata);
/// a larger result ends the task FAILED `result_too_large`.
pub const MAX_RESULT_BYTES: usize = 200 * 1024;
/// Any queue message body, measured on the bytes sent (SQS's classic limit).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// A task record as stored (DynamoDB's 400 KB item limit, read as 400,000 bytes to stay on the safe
/// side; measured by `ports::stored_bytes`, an upper bound of DynamoDB's own count). Every store
/// refuses a write over it (`StoreError::TooLarge`), the memory store too.
pub const MAX_RECORD_BYTES: usize = 400_000;
/// A tool-supplied string written into a task (an error message, a function's `errorType`, an
/// answer quoted in an error) is cut to this many bytes, on a character boundary, ending with
/// `… (cut, N bytes)`: [`cut_text`].
pub const MAX_ERROR_MESSAGE_BYTES: usize = 4 * 1024;
/// A Lambda function's `errorType`, cut like an error message.
pub const MAX_ERROR_TYPE_BYTES: usize = 256;
/// What a tool may read of an answer before judging its size: far above any result that can be
/// published, so that a result is measured by the worker on the bytes it would send, not on the
/// answer's formatting.
pub const MAX_TOOL_ANSWER_BYTES: usize = 1024 * 1024;
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
/// The memory backend (one process: the CLI's default, `mcp serve`'s too) drops a task at its
/// TTL, and keeps it at most this long from its creation whatever its TTL (`mcp serve` uses its
/// `--ttl` instead): a long-running local server holds one day of tasks, not a week.
pub const DEFAULT_MEMORY_RETENTION_S: u64 = 86_400;
/// Task records the memory backend holds at once; past it a new task is refused (`StoreError::Full`).
/// Live replay's largest run (200,000 tasks) fits.
pub const MAX_MEMORY_TASKS: usize = 500_000;
/// Bytes of task records the memory backend holds at once (an estimate: the strings of each
/// record, its arguments and result included, a slot per JSON element, and a fixed 512 bytes for
/// the record and its index entries); past it a new task is refused: about 2,000 tasks with the
/// largest arguments and results.
pub const MAX_MEMORY_TASK_BYTES: u64 = 512 * 1024 * 1024;
/// Messages (visible and in flight) one memory queue holds; past it a send is refused
/// (`QueueError::Full`), and a dead-letter queue drops its oldest message.
pub const MAX_MEMORY_QUEUE_MESSAGES: usize = 250_000;
/// Bytes of message bodies one memory queue holds (a thousand of the largest messages).
pub const MAX_MEMORY_QUEUE_BYTES: usize = 256 * 1024 * 1024;
/// Optimistic-concurrency retries of one store transition before giving up for this delivery.
pub const MAX_CONFLICT_RETRIES: u32 = 5;
/// A worker's lease (and its message's visibility while it runs) lasts the tool's `recovery_s`,
/// renewed every third of it; tests may shorten it to this minimum.
pub const MIN_RECOVERY_MS: u64 = 300;
pub const MAX_RECOVERY_MS: u64 = 900_000;
/// Concurrent receive loops of one local worker per queue.
pub const MAX_LOCAL_CONCURRENCY: usize = 1000;
/// The longest a settled message's delete waits to share a request with others (the local worker;
/// `tasks watch`): far below any visibility timeout, and after its result is already on its way.
pub const DELETE_LINGER_MS: u64 = 1000;

/// Human form of a byte limit for messages: "65536 bytes (64 KiB)".
pub fn bytes_label(bytes: usize) -> String {
    format!("{bytes} bytes ({} KiB)", bytes / 1024)
}

/// `text` if it is at most `max_bytes` long; otherwise its start, cut on a character boundary,
/// followed by `… (cut, N bytes)` (N: the whole text's length), the whole at most `max_bytes`.
pub fn cut_text(text: &str, max_bytes: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max_bytes {
        return std::borrow::Cow::Borrowed(text);
    }
    let marker = format!("… (cut, {} bytes)", text.len());
    let mut end = max_bytes.saturating_sub(marker.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}{marker}", &text[..end]))
}

/// Seconds the worker keeps after a full-budget tool run for its terminal write and the result
/// publish; the worker function's timeout is the tool's timeout plus this (the CDK stack adds it).
pub const WRITE_RESERVE_S: u32 = 20;
/// Each AWS call of a function gets at most this long (one attempt), so a stuck call cannot eat the
/// function's budget: the write reserve holds several.
pub const FUNCTION_OPERATION_TIMEOUT_S: u64 = 5;
/// Consumers (reply queues) of one deployment, and the characters of a consumer name.
pub const MAX_CONSUMERS: usize = 50;
pub const MAX_CONSUMER_NAME_CHARS: usize = 32;
/// The consumer a request names when it names none.
pub const DEFAULT_CONSUMER: &str = "default";
/// Principals (task owners): an IAM ARN or a local name.
pub const MAX_PRINCIPAL_CHARS: usize = 512;
/// A principal's open tasks (submitted, result not yet published) the dispatcher admits at most
/// when it limits them (`DispatcherSettings::max_open_tasks`): the highest limit one may set, and
/// the deployed default. The places are task ids in one item (~27 bytes each): 1,000 of them stay
/// far below DynamoDB's item limit.
pub const MAX_OPEN_TASKS_LIMIT: u32 = 1_000;
pub const DEFAULT_MAX_OPEN_TASKS: u32 = 100;
/// When a principal's open-task places are all taken, the dispatcher checks the tasks holding them
/// (a place whose task ended without giving it back, e.g. a worker killed after its terminal write,
/// is taken back) at most this often per principal, so a caller at its limit cannot make each
/// refused submit cost a read per place.
pub const OPEN_PLACES_CHECK_INTERVAL_MS: u64 = 30_000;
/// A place whose task is not in the store is taken back only once its id (a ULID: its creation
/// time) is this old, since its create may still be on its way.
pub const OPEN_PLACE_GRACE_MS: u64 = 60_000;
/// One sweep reads at most this many open tasks (its budget; default [`DEFAULT_SWEEP_TASKS`]),
/// shared by the shards a page at a time, so one crowded shard cannot use the others' share.
pub const MAX_SWEEP_TASKS: u32 = 10_000;
pub const DEFAULT_SWEEP_TASKS: u32 = 5_000;
/// Remedies one sweep applies at once.
pub const SWEEP_CONCURRENCY: usize = 16;
/// Default age past which the sweeper re-enqueues a task still waiting to start or to be published.
pub const DEFAULT_SWEEP_OLDER_THAN_S: u64 = 60;
/// Shards of the sparse `open_tasks` index, so a burst of writes spreads over partitions.
pub const OPEN_SHARDS: u32 = 8;
/// The `open_tasks` partition of tasks the sweeper set aside (a remedy failed): read after the
/// others' pages each sweep, so they can never starve the tasks behind them.
pub const ASIDE_SHARD: u32 = OPEN_SHARDS;
// A result that fits its limit leaves room in its message for the rest of it (ids, owner, error).
const _: () = assert!(MAX_RESULT_BYTES + 16 * 1024 <= MAX_MESSAGE_BYTES);
// A record holds the arguments, a result and an error message at their limits, with room to spare.
const _: () = assert!(
    MAX_ARGUMENTS_BYTES + MAX_RESULT_BYTES + MAX_ERROR_MESSAGE_BYTES + 16 * 1024
        <= MAX_RECORD_BYTES
);
// The reserve must hold the terminal write, the publish and its note, each bounded by the timeout.
const _: () = assert!(WRITE_RESERVE_S as u64 >= 3 * FUNCTION_OPERATION_TIMEOUT_S + 2);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_text_keeps_short_text_and_cuts_long_text_on_a_char_boundary() {
        assert_eq!(cut_text("short", 10), "short");
        assert_eq!(cut_text("", 0), "");
        // 'é' is 2 bytes: a cut inside one backs off to its start.
        let text = "é".repeat(5_000);
        let cut = cut_text(&text, 4096);
        assert!(cut.len() <= 4096, "{}", cut.len());
        assert!(cut.ends_with("… (cut, 10000 bytes)"), "{cut}");
        let kept = cut.strip_suffix("… (cut, 10000 bytes)").unwrap();
        assert!(
            kept.chars().all(|c| c == 'é') && kept.len() >= 4096 - 40,
            "{}",
            kept.len()
        );
        // Exactly at the limit: untouched.
        let exact = "x".repeat(4096);
        assert_eq!(cut_text(&exact, 4096), exact);
        let over = "x".repeat(4097);
        assert_eq!(cut_text(&over, 4096).len(), 4096);
    }
}
