//! The ports: what the core needs from storage and messaging. Adapters live in `memory` and `aws`;
//! `tests/contract.rs` runs one suite against every adapter.

use crate::error::{InputError, QueueError, StoreError};
use crate::limits::*;
use crate::record::TaskRecord;
use async_trait::async_trait;
use std::time::Duration;

/// What `create` found.
#[derive(Debug, Clone, PartialEq)]
pub enum CreateOutcome {
    Created,
    /// A task with the same id, or with the same idempotency key in the same conversation, exists.
    Existing(Box<TaskRecord>),
}

/// One page of a conversation's tasks, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskPage {
    pub tasks: Vec<TaskRecord>,
    /// Pass back to get the next page; `None` when there are no more.
    pub next_cursor: Option<String>,
}

impl TaskPage {
    /// A page whose cursor points after its last task when the backend says more may follow.
    pub fn new(tasks: Vec<TaskRecord>, more: bool) -> TaskPage {
        let next_cursor = match tasks.last() {
            Some(last) if more => Some(
                Cursor {
                    created_at_ms: last.created_at_ms,
                    task_id: last.task_id.clone(),
                }
                .encode(),
            ),
            _ => None,
        };
        TaskPage { tasks, next_cursor }
    }
}

/// One finished run of a tool, as its record has it: `tasks export-latencies` writes these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunTime {
    pub task_id: String,
    pub started_at_ms: u64,
    pub finished_at_ms: u64,
}

impl RunTime {
    /// How long the run took: finished minus started (the worker's own clock, both ends).
    pub fn duration_ms(&self) -> u64 {
        self.finished_at_ms.saturating_sub(self.started_at_ms)
    }
}

/// One page of [`TaskStore::finished_runs`], in no particular order.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPage {
    pub runs: Vec<RunTime>,
    /// Pass back to read on; `None` once the whole table has been read. A page may hold fewer than
    /// `limit` runs (even none) and still have a cursor.
    pub next_cursor: Option<String>,
}

/// Most runs one `finished_runs` page (and one `tasks export-latencies`) may ask for: a trace file
/// holds at most a million latencies (the simulator's `empirical` limit).
pub const MAX_RUNS_PER_EXPORT: u32 = 1_000_000;
/// A `finished_runs` cursor is a table key; DynamoDB's keys are at most 2 KiB.
const MAX_RUN_CURSOR_BYTES: usize = 2048;

/// Checks `finished_runs` arguments before they reach a backend.
pub fn check_runs_args(tool: &str, limit: u32, cursor: Option<&str>) -> Result<(), InputError> {
    if tool.is_empty() {
        return Err(InputError::new("tool", "must not be empty"));
    }
    if !(1..=MAX_RUNS_PER_EXPORT).contains(&limit) {
        return Err(InputError::new(
            "limit",
            format!("{limit} is outside 1..={MAX_RUNS_PER_EXPORT}"),
        ));
    }
    if let Some(cursor) = cursor
        && (cursor.is_empty() || cursor.len() > MAX_RUN_CURSOR_BYTES)
    {
        return Err(InputError::new(
            "cursor",
            format!("{cursor:?} is not a cursor returned by finished_runs"),
        ));
    }
    Ok(())
}

#[async_trait]
pub trait TaskStore: Send + Sync {
    /// Creates `record` unless its id or its (conversation, idempotency key) is already taken.
    async fn create(&self, record: &TaskRecord) -> Result<CreateOutcome, StoreError>;

    /// A strongly consistent read.
    async fn get(&self, task_id: &str) -> Result<Option<TaskRecord>, StoreError>;

    /// The task `owner` created with idempotency `key` in `conversation_id`, if any (strongly
    /// consistent): what `create` would answer `Existing` with.
    async fn task_for_key(
        &self,
        owner: &str,
        conversation_id: &str,
        key: &str,
    ) -> Result<Option<TaskRecord>, StoreError>;

    /// Replaces `current` with `next` if the stored record still has `current`'s revision and status;
    /// `StoreError::Conflict` otherwise. `next` must be a legal successor of `current`.
    async fn transition(&self, current: &TaskRecord, next: &TaskRecord) -> Result<(), StoreError>;

    /// An owner's tasks of a conversation in creation order, `limit` (checked by `check_list_args`)
    /// at a time, starting after `cursor`.
    async fn list_by_conversation(
        &self,
        owner: &str,
        conversation_id: &str,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<TaskPage, StoreError>;

    /// Open tasks of one shard (`0..OPEN_SHARDS`; see `TaskRecord::open_shard`), oldest first: not
    /// terminal, or terminal with the result not yet published. What the sweeper reads.
    async fn list_open(
        &self,
        shard: u32,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<TaskPage, StoreError>;

    /// An owner's terminal tasks whose result `consumer` has not yet handed over, oldest first: what
    /// a consumer's router reconciles when it starts.
    async fn list_undelivered(
        &self,
        owner: &str,
        consumer: &str,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<TaskPage, StoreError>;

    /// Claims a task still PENDING as one conditional write, with no read before it (the common
    /// case of a delivery): `Some(claimed)` when it was PENDING, not set aside, of `claim.tool`,
    /// below `claim.max_attempts` claims, before its deadline and last written no later than
    /// `claim.now_ms`; `None` otherwise, when the caller reads the task and decides
    /// (`claim::for_delivery`). The record written is exactly `current.claim(..)` with
    /// `claim_message_id` set (the contract suite checks it on every adapter).
    async fn claim_pending(
        &self,
        claim: &PendingClaim<'_>,
    ) -> Result<Option<TaskRecord>, StoreError>;

    /// Marks a finished task of `owner` delivered if it is not yet, as one conditional write with
    /// no read before it: `Some(record)` when this call did (the claim of its hand-over, exactly
    /// `current.mark_delivered(now_ms)`), `None` when it was delivered already, is not finished, is
    /// not `owner`'s, is missing, or was written after `now_ms`.
    async fn deliver(
        &self,
        task_id: &str,
        owner: &str,
        now_ms: u64,
    ) -> Result<Option<TaskRecord>, StoreError>;

    /// Takes or renews the lease `name` for `holder` until `until_ms`, if at `now_ms` it is free
    /// (never taken, or held until `now_ms` or before) or already `holder`'s. True when `holder`
    /// holds it now; false when another holder does. One conditional write. What replicas of a
    /// consumer's router take so that one of them hands results over at a time.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> Result<bool, StoreError>;

    /// Takes a place for `task_id` among `owner`'s open tasks if fewer than `limit` are taken, or
    /// if it holds one already: true when it holds one now, false when all are taken. One
    /// conditional write; the places are kept until `expires_at` (epoch seconds, renewed by every
    /// take). What the dispatcher's open-task quota counts with (`Dispatcher::submit`).
    async fn take_open_place(
        &self,
        owner: &str,
        task_id: &str,
        limit: u32,
        expires_at: u64,
    ) -> Result<bool, StoreError>;

    /// Gives back the places `task_ids` hold among `owner`'s open tasks; ids holding none are
    /// ignored, so giving one back twice is harmless. One write.
    async fn release_open_places(&self, owner: &str, task_ids: &[String])
    -> Result<(), StoreError>;

    /// The task ids holding places among `owner`'s open tasks (a strongly consistent read).
    async fn open_places(&self, owner: &str) -> Result<Vec<String>, StoreError>;

    /// Run times of `tool`'s tasks, every owner and conversation: SUCCEEDED, run by a single
    /// worker (`attempts == 1`: a task taken over after a crash keeps its first start, so its
    /// difference would include the dead worker's time and the recovery wait), finished at or after
    /// `since_ms`. At most `limit` (checked by `check_runs_args`) per page, starting after `cursor`
    /// (a page's `next_cursor`), in no particular order.
    ///
    /// Not an index read: on DynamoDB a paginated Scan that reads (and pays for) every item of the
    /// table, matching or not. For operators and offline analysis, never for a request path.
    async fn finished_runs(
        &self,
        tool: &str,
        since_ms: u64,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<RunPage, StoreError>;
}

/// A claim of a PENDING task (`TaskStore::claim_pending`).
#[derive(Debug, Clone, Copy)]
pub struct PendingClaim<'a> {
    pub task_id: &'a str,
    pub tool: &'a str,
    pub worker_id: &'a str,
    pub message_id: &'a str,
    pub now_ms: u64,
    pub lease_ms: u64,
    /// Claims beyond which the task is abandoned instead (`claim::for_delivery`).
    pub max_attempts: u32,
}

impl PendingClaim<'_> {
    /// The claimed record, if `current` meets the claim's conditions: what every adapter writes.
    pub fn apply(&self, current: &TaskRecord) -> Option<TaskRecord> {
        let fresh = current.status == crate::state::TaskStatus::Pending
            && current.set_aside.is_none()
            && current.tool == self.tool
            && current.attempts < self.max_attempts
            && current.deadline_ms.is_none_or(|d| d > self.now_ms)
            && current.updated_at_ms <= self.now_ms;
        if !fresh {
            return None;
        }
        let mut claimed = current
            .claim(self.worker_id, self.now_ms, self.lease_ms)
            .ok()?;
        claimed.claim_message_id = Some(self.message_id.to_string());
        // A claim is one more attempt, running under this worker's lease, of the same task.
        assert_eq!(claimed.attempts, current.attempts + 1);
        assert_eq!(claimed.lease_owner.as_deref(), Some(self.worker_id));
        assert!(claimed.lease_expires_at_ms.is_some_and(|t| t > self.now_ms));
        debug_assert!(current.check_successor(&claimed).is_ok());
        Some(claimed)
    }
}

/// The delivered record, if `current` (of `owner`, finished, not yet delivered, last written no
/// later than `now_ms`) may be marked: what every adapter's `TaskStore::deliver` writes.
pub fn delivered(current: &TaskRecord, owner: &str, now_ms: u64) -> Option<TaskRecord> {
    let next = (current.owner == owner
        && current.status.is_terminal()
        && !current.delivered
        && current.updated_at_ms <= now_ms)
        .then(|| current.mark_delivered(now_ms))?;
    // Marking changes nothing but the mark: the status and the result stay as they were.
    assert!(next.delivered && next.status == current.status && next.result == current.result);
    Some(next)
}

/// Records one `BatchGetItem` reads at most (DynamoDB's limit); list pages are no longer.
pub const MAX_BATCH_GET: usize = 100;

/// One delivery of a message.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    /// 1 on the first delivery; the queue moves the message to its DLQ past `max_receive_count`.
    pub receive_count: u32,
}

/// Approximate message counts, for tests and operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueDepth {
    pub visible: u64,
    pub in_flight: u64,
}

#[async_trait]
pub trait MessageQueue: Send + Sync {
    fn name(&self) -> &str;

    async fn send(&self, body: &str) -> Result<String, QueueError>;

    /// Up to `max_messages` (1..=10), waiting up to `wait` (<= 20 s) for the first one (long poll).
    /// `visibility` hides them for that long instead of the queue's visibility timeout.
    async fn receive(
        &self,
        max_messages: u32,
        wait: Duration,
        visibility: Option<Duration>,
    ) -> Result<Vec<ReceivedMessage>, QueueError>;

    async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError>;

    async fn delete_batch(&self, receipt_handles: &[String]) -> Result<(), QueueError> {
        for handle in receipt_handles {
            self.delete(handle).await?;
        }
        Ok(())
    }

    /// Hides an in-flight message for `timeout` from now; zero makes it visible at once.
    async fn change_visibility(
        &self,
        receipt_handle: &str,
        timeout: Duration,
    ) -> Result<(), QueueError>;

    async fn depth(&self) -> Result<QueueDepth, QueueError>;
}

/// The argument checks every queue adapter applies, so they fail alike.
pub fn check_send(body: &str) -> Result<(), InputError> {
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(InputError::new(
            "message body",
            format!(
                "is {} bytes; the limit is {}",
                body.len(),
                bytes_label(MAX_MESSAGE_BYTES)
            ),
        ));
    }
    if let Some((at, bad)) = body
        .char_indices()
        .find(|(_, c)| !crate::protocol::sqs_allows(*c))
    {
        return Err(InputError::new(
            "message body",
            format!(
                "has U+{:04X} at byte {at}, a character SQS refuses (outside XML 1.0's set)",
                bad as u32
            ),
        ));
    }
    Ok(())
}

pub fn check_receive(max_messages: u32, wait: Duration) -> Result<(), InputError> {
    if !(1..=MAX_RECEIVE_BATCH).contains(&max_messages) {
        return Err(InputError::new(
            "max_messages",
            format!("{max_messages} is outside 1..={MAX_RECEIVE_BATCH}"),
        ));
    }
    if wait > Duration::from_secs(MAX_RECEIVE_WAIT_S) {
        return Err(InputError::new(
            "wait",
            format!("{wait:?} is longer than the {MAX_RECEIVE_WAIT_S} s long-poll limit"),
        ));
    }
    Ok(())
}

pub fn check_visibility(timeout: Duration) -> Result<(), InputError> {
    if timeout > Duration::from_secs(MAX_VISIBILITY_TIMEOUT_S) {
        return Err(InputError::new(
            "visibility_timeout",
            format!("{timeout:?} is longer than the {MAX_VISIBILITY_TIMEOUT_S} s (12 h) limit"),
        ));
    }
    Ok(())
}

pub fn check_batch_len(len: usize) -> Result<(), InputError> {
    if len > MAX_RECEIVE_BATCH as usize {
        return Err(InputError::new(
            "batch",
            format!("{len} entries; the limit is {MAX_RECEIVE_BATCH}"),
        ));
    }
    Ok(())
}

pub fn check_page_limit(limit: u32) -> Result<(), InputError> {
    if !(1..=MAX_LIST_PAGE).contains(&limit) {
        return Err(InputError::new(
            "limit",
            format!("{limit} is outside 1..={MAX_LIST_PAGE}"),
        ));
    }
    Ok(())
}

/// A list cursor: `<created_at_ms>.<task_id>` of the last task of the previous page. Both adapters
/// use it (DynamoDB's LastEvaluatedKey is exactly these two plus the conversation id).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub created_at_ms: u64,
    pub task_id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{}.{}", self.created_at_ms, self.task_id)
    }

    pub fn decode(text: &str) -> Result<Cursor, InputError> {
        let invalid = || {
            InputError::new(
                "cursor",
                format!("{text:?} is not a cursor returned by a list call"),
            )
        };
        let (created, task_id) = text.split_once('.').ok_or_else(invalid)?;
        let created_at_ms = created.parse().map_err(|_| invalid())?;
        crate::protocol::check_task_id(task_id).map_err(|_| invalid())?;
        Ok(Cursor {
            created_at_ms,
            task_id: task_id.to_string(),
        })
    }
}

/// Refuses a transition the state machine does not allow, or a record larger than a store keeps
/// (`StoreError::TooLarge`), before any backend writes it: every adapter's `transition` starts here.
pub fn check_transition(current: &TaskRecord, next: &TaskRecord) -> Result<(), StoreError> {
    current
        .check_successor(next)
        .map_err(|e| StoreError::IllegalTransition {
            task_id: e.task_id,
            from: current.status.to_string(),
            to: next.status.to_string(),
        })?;
    let bytes = stored_bytes(next);
    if bytes > MAX_RECORD_BYTES {
        return Err(StoreError::TooLarge {
            task_id: next.task_id.clone(),
            bytes,
            limit: MAX_RECORD_BYTES,
        });
    }
    Ok(())
}

/// The size of `record` as stored, an upper bound of DynamoDB's count for its item (attribute
/// names plus values; the arguments and the result as JSON text; the index keys): its compact JSON,
/// which spells every name and value at least as long as DynamoDB counts them, plus the index keys.
pub fn stored_bytes(record: &TaskRecord) -> usize {
    let owner_conversation =
        "owner_conversation".len() + record.owner.len() + 1 + record.conversation_id.len();
    let open_shard = "open_shard".len() + 2;
    let undelivered = "undelivered_to".len() + record.owner.len() + 1 + record.reply_to.len();
    // `arguments_json` / `result_json` are 5 bytes longer than the JSON names they replace.
    const RENAMES: usize = 2 * 5;
    crate::protocol::json_len(record) + owner_conversation + open_shard + undelivered + RENAMES
}

/// Checks page arguments before they reach a backend.
pub fn check_list_args(limit: u32, cursor: Option<&str>) -> Result<Option<Cursor>, InputError> {
    check_page_limit(limit)?;
    cursor.map(Cursor::decode).transpose()
}

/// What [`update_with_retry`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Updated {
    /// `change` made the next revision, and it was written.
    Written(TaskRecord),
    /// `change` found nothing to do on the latest revision, returned as it is.
    Unchanged(TaskRecord),
    /// The task is not in the store (any more).
    Missing,
}

impl Updated {
    /// The record as it now stands, unless the task is gone.
    pub fn record(self) -> Option<TaskRecord> {
        match self {
            Updated::Written(r) | Updated::Unchanged(r) => Some(r),
            Updated::Missing => None,
        }
    }
}

/// The one optimistic-concurrency loop: applies `change` to `record` and writes the result
/// conditionally; on a conflict re-reads the task and applies `change` to the latest revision, up to
/// `MAX_CONFLICT_RETRIES` times (then `StoreError::Conflict`). `change` returns `None` when there is
/// nothing to do; it may note why in its captures.
pub async fn update_with_retry(
    store: &dyn TaskStore,
    record: TaskRecord,
    mut change: impl FnMut(&TaskRecord) -> Option<TaskRecord>,
) -> Result<Updated, StoreError> {
    let mut current = record;
    for _ in 0..MAX_CONFLICT_RETRIES {
        let Some(next) = change(&current) else {
            return Ok(Updated::Unchanged(current));
        };
        match store.transition(&current, &next).await {
            Ok(()) => return Ok(Updated::Written(next)),
            Err(StoreError::Conflict(_)) => match store.get(&current.task_id).await? {
                Some(latest) => current = latest,
                None => return Ok(Updated::Missing),
            },
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Conflict(current.task_id))
}
