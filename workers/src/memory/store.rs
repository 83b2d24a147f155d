//! The memory task store: records in a map with the DynamoDB table's indexes beside them, dropped
//! at their TTL (`expires_at`) on the store's clock, and bounded.
//!
//! Expiry: an index of `(expires_at, task_id)` in expiry order. Every call first drops up to
//! `EXPIRE_BATCH` records whose time has come from its front (a look at the first entry when none
//! has), and a record found expired on access is dropped there and then, so a read never returns
//! one and the store never scans every record on a call. Dropping a record drops its entries in
//! every index and its idempotency key, as DynamoDB's TTL deletes the task item and its key item.
//! Retention: a record is kept at most `retention` from its creation (its `expires_at` is lowered to
//! that when it is written), so a long-running process holds a bounded window of tasks.
//! Bounds: a new task is refused with `StoreError::Full` at `max_tasks` records or `max_bytes`
//! (estimated); a task already admitted is never refused a write, so it can always finish.

use crate::clock::{SharedClock, system};
use crate::error::{InputError, StoreError};
use crate::limits::*;
use crate::ports::{self, CreateOutcome, Cursor, RunPage, RunTime, TaskPage, TaskStore};
use crate::record::TaskRecord;
use crate::state::TaskStatus;
use async_trait::async_trait;
use std::borrow::Borrow;
use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

/// Expired records one call drops at most before doing its own work: a call never pauses long,
/// and records expire far faster than they can be created (one create drops up to this many).
const EXPIRE_BATCH: usize = 64;
/// What a record costs beyond its contents (estimated): the struct, its map slot, its index entries.
pub const RECORD_OVERHEAD_BYTES: u64 = 512;

/// How a memory store keeps time and how much it holds.
#[derive(Debug, Clone)]
pub struct MemoryStoreSettings {
    /// Records expire on it (the dispatcher's clock, so both agree when a task is gone).
    pub clock: SharedClock,
    /// Keep a record at most this long from its creation, even if its TTL is longer; `None`: its
    /// TTL alone. Default: `DEFAULT_MEMORY_RETENTION_S`.
    pub retention: Option<Duration>,
    /// Records held at most; a new task past it is refused.
    pub max_tasks: usize,
    /// Estimated bytes held at most (see [`MemoryUsage::bytes`]); a new task past it is refused.
    pub max_bytes: u64,
}

impl Default for MemoryStoreSettings {
    fn default() -> Self {
        MemoryStoreSettings {
            clock: system(),
            retention: Some(Duration::from_secs(DEFAULT_MEMORY_RETENTION_S)),
            max_tasks: MAX_MEMORY_TASKS,
            max_bytes: MAX_MEMORY_TASK_BYTES,
        }
    }
}

impl MemoryStoreSettings {
    pub fn check(&self) -> Result<(), InputError> {
        if let Some(retention) = self.retention
            && retention < Duration::from_secs(1)
        {
            return Err(InputError::new(
                "retention",
                format!("{retention:?} is shorter than 1 s (expiry is in whole seconds)"),
            ));
        }
        if self.max_tasks == 0 {
            return Err(InputError::new("max_tasks", "must be at least 1"));
        }
        if self.max_bytes == 0 {
            return Err(InputError::new("max_bytes", "must be at least 1"));
        }
        Ok(())
    }
}

/// What a memory store holds now (expired records not yet dropped included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryUsage {
    pub tasks: usize,
    /// Estimated: each record's arguments and result (see `value_bytes`), its strings (the task id once
    /// per index entry) and `RECORD_OVERHEAD_BYTES`.
    pub bytes: u64,
    pub idempotency_keys: usize,
    /// Entries of the conversation, open, undelivered and expiry indexes together.
    pub index_entries: usize,
}

/// Task records in a map, with the same indexes as the DynamoDB table beside them.
pub struct MemoryStore {
    settings: MemoryStoreSettings,
    inner: Mutex<Inner>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

/// (created_at_ms, task_id): every index's sort order.
type Index = BTreeSet<(u64, String)>;

struct Held {
    record: TaskRecord,
    bytes: u64,
    /// Of `bytes`, its arguments' and result's: counted once, as neither changes.
    json: u64,
}

#[derive(Default)]
struct Inner {
    tasks: HashMap<String, Held>,
    /// `(owner, conversation, key)` -> task id.
    idempotency: HashMap<(String, String, String), String>,
    by_owner_conversation: HashMap<String, Index>,
    open: HashMap<u32, Index>,
    undelivered: HashMap<String, Index>,
    /// Lease name -> (holder, held until, epoch ms). Few: one per router replica set and per
    /// principal's waiting slot.
    leases: HashMap<String, (String, u64)>,
    /// (expires_at, task_id): the order records expire in.
    expiry: BTreeSet<(u64, String)>,
    bytes: u64,
}

fn index_insert<K: Hash + Eq>(map: &mut HashMap<K, Index>, key: K, entry: (u64, String)) {
    map.entry(key).or_default().insert(entry);
}

/// Removes an entry, and the key once its set is empty: keys (conversations, consumers) come and go.
fn index_remove<K, Q>(map: &mut HashMap<K, Index>, key: &Q, entry: &(u64, String))
where
    K: Hash + Eq + Borrow<Q>,
    Q: Hash + Eq + ?Sized,
{
    if let Some(set) = map.get_mut(key) {
        set.remove(entry);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

/// What a JSON value holds, estimated without walking its text: its strings (keys included) and
/// a slot per element or entry. One step per node, however long its strings: a record's estimate
/// costs far less than serializing it.
fn value_bytes(value: &serde_json::Value) -> u64 {
    use serde_json::Value;
    /// A `Value` in an array; an entry of a map (key, value and the map's own bookkeeping).
    const SLOT: u64 = std::mem::size_of::<Value>() as u64;
    const ENTRY: u64 = 2 * SLOT;
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        Value::String(s) => s.len() as u64,
        Value::Array(items) => items.iter().map(|v| SLOT + value_bytes(v)).sum(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| ENTRY + k.len() as u64 + value_bytes(v))
            .sum(),
    }
}

/// What its arguments and result hold.
fn json_of(r: &TaskRecord) -> u64 {
    value_bytes(&r.arguments) + r.result.as_ref().map_or(0, value_bytes)
}

/// The estimate of what a record holds (see `MemoryUsage::bytes`).
#[cfg(test)]
fn estimated_bytes(r: &TaskRecord) -> u64 {
    fixed_bytes(r) + json_of(r)
}

/// The estimate without the JSON.
fn fixed_bytes(r: &TaskRecord) -> u64 {
    let optional = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    let strings = r.task_id.len() * 5 // the record's key, and one per index entry
        + r.owner.len() * 3
        + r.reply_to.len() * 2
        + r.conversation_id.len() * 2
        + r.tool.len()
        + optional(&r.idempotency_key) * 2
        + optional(&r.lease_owner)
        + optional(&r.claim_message_id)
        + r.error.as_ref().map_or(0, |e| e.message.len());
    RECORD_OVERHEAD_BYTES + strings as u64
}

impl Inner {
    /// Moves `record` in the sparse indexes from where `old` had it.
    fn reindex(&mut self, old: Option<&TaskRecord>, record: &TaskRecord) {
        let key = (record.created_at_ms, record.task_id.clone());
        if let Some(shard) = old.and_then(TaskRecord::open_shard) {
            index_remove(&mut self.open, &shard, &key);
        }
        if let Some(shard) = record.open_shard() {
            index_insert(&mut self.open, shard, key.clone());
        }
        let undelivered = TaskRecord::undelivered_key(&record.owner, &record.reply_to);
        if old.is_some_and(TaskRecord::awaits_delivery) {
            index_remove(&mut self.undelivered, undelivered.as_str(), &key);
        }
        if record.awaits_delivery() {
            index_insert(&mut self.undelivered, undelivered, key);
        }
    }

    /// Stores a new record of `json` bytes of arguments and result (its idempotency key, if any,
    /// is already reserved).
    fn insert(&mut self, record: TaskRecord, json: u64) {
        let key = (record.created_at_ms, record.task_id.clone());
        index_insert(
            &mut self.by_owner_conversation,
            TaskRecord::owner_conversation_key(&record.owner, &record.conversation_id),
            key,
        );
        self.reindex(None, &record);
        self.expiry
            .insert((record.expires_at, record.task_id.clone()));
        let bytes = fixed_bytes(&record) + json;
        self.bytes += bytes;
        self.tasks.insert(
            record.task_id.clone(),
            Held {
                record,
                bytes,
                json,
            },
        );
    }

    /// Replaces a stored record with its successor.
    fn replace(&mut self, next: TaskRecord) {
        let Some(old) = self.tasks.remove(&next.task_id) else {
            let json = json_of(&next);
            return self.insert(next, json);
        };
        self.reindex(Some(&old.record), &next);
        if old.record.expires_at != next.expires_at {
            self.expiry
                .remove(&(old.record.expires_at, old.record.task_id.clone()));
            self.expiry.insert((next.expires_at, next.task_id.clone()));
        }
        let json = match (&old.record.result, &next.result) {
            // Arguments never change (`check_successor`), nor does a result once written.
            (None, None) | (Some(_), Some(_)) => old.json,
            (None, Some(result)) => old.json + value_bytes(result),
            (Some(_), None) => json_of(&next),
        };
        let bytes = fixed_bytes(&next) + json;
        self.bytes = self.bytes - old.bytes + bytes;
        self.tasks.insert(
            next.task_id.clone(),
            Held {
                record: next,
                bytes,
                json,
            },
        );
    }

    /// Drops a record with everything that points at it.
    fn remove(&mut self, task_id: &str) {
        let Some(held) = self.tasks.remove(task_id) else {
            return;
        };
        let record = &held.record;
        let key = (record.created_at_ms, record.task_id.clone());
        index_remove(
            &mut self.by_owner_conversation,
            TaskRecord::owner_conversation_key(&record.owner, &record.conversation_id).as_str(),
            &key,
        );
        if let Some(shard) = record.open_shard() {
            index_remove(&mut self.open, &shard, &key);
        }
        if record.awaits_delivery() {
            let undelivered = TaskRecord::undelivered_key(&record.owner, &record.reply_to);
            index_remove(&mut self.undelivered, undelivered.as_str(), &key);
        }
        self.expiry.remove(&(record.expires_at, key.1));
        if let Some(idempotency_key) = &record.idempotency_key {
            let idem = (
                record.owner.clone(),
                record.conversation_id.clone(),
                idempotency_key.clone(),
            );
            if self.idempotency.get(&idem) == Some(&record.task_id) {
                self.idempotency.remove(&idem);
            }
        }
        self.bytes -= held.bytes;
    }

    /// Drops up to `max` records expired at `now_ms`, earliest first; returns how many.
    fn expire(&mut self, now_ms: u64, max: usize) -> usize {
        let mut dropped = 0;
        while dropped < max {
            let Some((expires_at, task_id)) = self.expiry.first() else {
                break;
            };
            if expires_at.saturating_mul(1000) > now_ms {
                break;
            }
            let task_id = task_id.clone();
            self.remove(&task_id);
            dropped += 1;
        }
        if dropped > 0 {
            self.shrink();
        }
        dropped
    }

    /// Gives memory back after a large part of the maps expired (amortised: a map shrinks only
    /// once it is a quarter full, to half its capacity).
    fn shrink(&mut self) {
        fn shrink_map<K: Hash + Eq, V>(map: &mut HashMap<K, V>) {
            if map.capacity() > 1024 && map.len() * 4 < map.capacity() {
                map.shrink_to(map.len() * 2);
            }
        }
        shrink_map(&mut self.tasks);
        shrink_map(&mut self.idempotency);
        shrink_map(&mut self.by_owner_conversation);
        shrink_map(&mut self.undelivered);
    }

    /// The record, unless it is missing or expired at `now_ms` (then it is dropped here).
    fn live(&mut self, task_id: &str, now_ms: u64) -> Option<&TaskRecord> {
        if self
            .tasks
            .get(task_id)
            .is_some_and(|h| h.record.expired(now_ms))
        {
            self.remove(task_id);
        }
        self.tasks.get(task_id).map(|h| &h.record)
    }

    /// A page of `index`, skipping expired records; also returns the expired ids it met, for the
    /// caller to drop.
    fn page(
        &self,
        index: Option<&Index>,
        limit: u32,
        cursor: Option<&Cursor>,
        now_ms: u64,
    ) -> (TaskPage, Vec<String>) {
        let Some(index) = index else {
            return (TaskPage::new(vec![], false), vec![]);
        };
        let mut keys: Box<dyn Iterator<Item = &(u64, String)>> =
            match cursor {
                Some(c) => Box::new(index.range((c.created_at_ms, c.task_id.clone())..).filter(
                    move |(created, id)| !(*created == c.created_at_ms && *id == c.task_id),
                )),
                None => Box::new(index.iter()),
            };
        let mut tasks = Vec::new();
        let mut expired = Vec::new();
        while tasks.len() < limit as usize {
            let Some((_, id)) = keys.next() else {
                break;
            };
            match self.tasks.get(id) {
                Some(held) if held.record.expired(now_ms) => expired.push(id.clone()),
                Some(held) => tasks.push(held.record.clone()),
                None => {}
            }
        }
        let more = tasks.len() == limit as usize
            && keys.any(|(_, id)| {
                self.tasks
                    .get(id)
                    .is_some_and(|h| !h.record.expired(now_ms))
            });
        (TaskPage::new(tasks, more), expired)
    }

    fn usage(&self) -> MemoryUsage {
        let entries = |m: &HashMap<_, Index>| m.values().map(BTreeSet::len).sum::<usize>();
        MemoryUsage {
            tasks: self.tasks.len(),
            bytes: self.bytes,
            idempotency_keys: self.idempotency.len(),
            index_entries: entries(&self.by_owner_conversation)
                + self.open.values().map(BTreeSet::len).sum::<usize>()
                + entries(&self.undelivered)
                + self.expiry.len(),
        }
    }
}

impl MemoryStore {
    /// A store on the system clock with the default retention and limits.
    pub fn new() -> Self {
        Self::with_settings(MemoryStoreSettings::default())
            .expect("the default memory store settings are valid")
    }

    pub fn with_settings(settings: MemoryStoreSettings) -> Result<Self, InputError> {
        settings.check()?;
        Ok(MemoryStore {
            settings,
            inner: Mutex::new(Inner::default()),
        })
    }

    pub fn settings(&self) -> &MemoryStoreSettings {
        &self.settings
    }

    /// Records held, expired ones not yet dropped included.
    pub fn len(&self) -> usize {
        self.lock().tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What the store holds now (for tests and operators).
    pub fn usage(&self) -> MemoryUsage {
        self.lock().usage()
    }

    /// Drops every record expired by now; returns how many. Calls do this a batch at a time anyway:
    /// for a process that wants its memory back while idle.
    pub fn expire_now(&self) -> usize {
        let now = self.settings.clock.now_ms();
        self.lock().expire(now, usize::MAX)
    }

    fn now_ms(&self) -> u64 {
        self.settings.clock.now_ms()
    }

    /// Locks the store and drops a batch of expired records first.
    fn lock_at(&self, now_ms: u64) -> std::sync::MutexGuard<'_, Inner> {
        let mut inner = self.lock();
        inner.expire(now_ms, EXPIRE_BATCH);
        inner
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-written record: every write is one insert.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `record` as this store keeps it: expiring at most `retention` after its creation.
    fn retained(&self, record: &TaskRecord) -> TaskRecord {
        let mut record = record.clone();
        if let Some(retention) = self.settings.retention {
            let until_ms = record
                .created_at_ms
                .saturating_add(u64::try_from(retention.as_millis()).unwrap_or(u64::MAX));
            // Rounded up: never gone before `created + retention`.
            record.expires_at = record.expires_at.min(until_ms.div_ceil(1000));
        }
        record
    }

    /// Why a new record of `bytes` does not fit, if it does not.
    fn refusal(&self, inner: &Inner, bytes: u64) -> Option<String> {
        let how_long = match self.settings.retention {
            Some(r) => format!(
                "each task is kept until its TTL, at most {}",
                humantime::format_duration(r)
            ),
            None => "each task is kept until its TTL".to_string(),
        };
        let advice = format!(
            "{how_long}; retry once older tasks have expired, keep tasks for less time (`mcp \
             serve --ttl`), or use the aws backend"
        );
        if inner.tasks.len() >= self.settings.max_tasks {
            return Some(format!(
                "the memory backend holds {} tasks, its limit: new task refused ({advice})",
                inner.tasks.len()
            ));
        }
        if inner.bytes + bytes > self.settings.max_bytes {
            return Some(format!(
                "the memory backend holds {} bytes of tasks and this one needs {bytes} more; the \
                 limit is {} bytes ({} MiB): new task refused ({advice})",
                inner.bytes,
                self.settings.max_bytes,
                self.settings.max_bytes / (1024 * 1024),
            ));
        }
        None
    }
}

#[async_trait]
impl TaskStore for MemoryStore {
    async fn create(&self, record: &TaskRecord) -> Result<CreateOutcome, StoreError> {
        let now = self.now_ms();
        let mut inner = self.lock_at(now);
        if let Some(existing) = inner.live(&record.task_id, now) {
            return Ok(CreateOutcome::Existing(Box::new(existing.clone())));
        }
        let idem = record.idempotency_key.as_ref().map(|key| {
            (
                record.owner.clone(),
                record.conversation_id.clone(),
                key.clone(),
            )
        });
        if let Some(idem) = &idem
            && let Some(task_id) = inner.idempotency.get(idem).cloned()
        {
            if let Some(existing) = inner.live(&task_id, now) {
                return Ok(CreateOutcome::Existing(Box::new(existing.clone())));
            }
            // Expired with its task, `live` dropped both and the key is free again; a key that
            // outlived its task is corrupt.
            if inner.idempotency.contains_key(idem) {
                return Err(StoreError::Corrupt {
                    key: format!("idem#{}#{}#{}", idem.0, idem.1, idem.2),
                    message: format!("points at missing task {task_id}"),
                });
            }
        }
        let record = self.retained(record);
        let json = json_of(&record);
        let bytes = fixed_bytes(&record) + json;
        if self.refusal(&inner, bytes).is_some() {
            // Full: whatever has expired goes before anything is refused.
            inner.expire(now, usize::MAX);
            if let Some(why) = self.refusal(&inner, bytes) {
                return Err(StoreError::Full(why));
            }
        }
        if let Some(idem) = idem {
            inner.idempotency.insert(idem, record.task_id.clone());
        }
        inner.insert(record, json);
        Ok(CreateOutcome::Created)
    }

    async fn get(&self, task_id: &str) -> Result<Option<TaskRecord>, StoreError> {
        let now = self.now_ms();
        Ok(self.lock_at(now).live(task_id, now).cloned())
    }

    async fn transition(&self, current: &TaskRecord, next: &TaskRecord) -> Result<(), StoreError> {
        ports::check_transition(current, next)?;
        let now = self.now_ms();
        let mut inner = self.lock_at(now);
        // An expired record is gone: the write finds nothing to change, as for a missing one.
        let stored = inner
            .live(&current.task_id, now)
            .ok_or_else(|| StoreError::Conflict(current.task_id.clone()))?;
        if stored.revision != current.revision || stored.status != current.status {
            return Err(StoreError::Conflict(current.task_id.clone()));
        }
        inner.replace(self.retained(next));
        Ok(())
    }

    async fn list_by_conversation(
        &self,
        owner: &str,
        conversation_id: &str,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<TaskPage, StoreError> {
        let now = self.now_ms();
        let mut inner = self.lock_at(now);
        let key = TaskRecord::owner_conversation_key(owner, conversation_id);
        let (page, expired) = inner.page(inner.by_owner_conversation.get(&key), limit, cursor, now);
        expired.iter().for_each(|id| inner.remove(id));
        Ok(page)
    }

    async fn list_open(
        &self,
        shard: u32,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<TaskPage, StoreError> {
        let now = self.now_ms();
        let mut inner = self.lock_at(now);
        let (page, expired) = inner.page(inner.open.get(&shard), limit, cursor, now);
        expired.iter().for_each(|id| inner.remove(id));
        Ok(page)
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let free = match inner.leases.get(name) {
            None => true,
            Some((current, held_until)) => current == holder || *held_until <= now_ms,
        };
        if free {
            inner
                .leases
                .insert(name.to_string(), (holder.to_string(), until_ms));
        }
        Ok(free)
    }

    async fn list_undelivered(
        &self,
        owner: &str,
        consumer: &str,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<TaskPage, StoreError> {
        let now = self.now_ms();
        let mut inner = self.lock_at(now);
        let key = TaskRecord::undelivered_key(owner, consumer);
        let (page, expired) = inner.page(inner.undelivered.get(&key), limit, cursor, now);
        expired.iter().for_each(|id| inner.remove(id));
        Ok(page)
    }

    /// Walks the tasks in task id order (the cursor is the last id returned), as a Scan would;
    /// expired records are skipped.
    async fn finished_runs(
        &self,
        tool: &str,
        since_ms: u64,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<RunPage, StoreError> {
        let now = self.now_ms();
        let inner = self.lock_at(now);
        let mut ids: Vec<&String> = inner
            .tasks
            .keys()
            .filter(|id| cursor.is_none_or(|c| id.as_str() > c))
            .collect();
        ids.sort_unstable();
        let mut matching = ids.into_iter().filter_map(|id| {
            let task = &inner.tasks[id].record;
            let run = match (task.started_at_ms, task.finished_at_ms) {
                (Some(started_at_ms), Some(finished_at_ms))
                    if task.tool == tool
                        && task.status == TaskStatus::Succeeded
                        && task.attempts == 1
                        && finished_at_ms >= since_ms
                        && !task.expired(now) =>
                {
                    RunTime {
                        task_id: task.task_id.clone(),
                        started_at_ms,
                        finished_at_ms,
                    }
                }
                _ => return None,
            };
            Some(run)
        });
        let runs: Vec<RunTime> = matching.by_ref().take(limit as usize).collect();
        let next_cursor = match runs.last() {
            Some(last) if matching.next().is_some() => Some(last.task_id.clone()),
            _ => None,
        };
        Ok(RunPage { runs, next_cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, FakeClock};
    use crate::ports::{Updated, update_with_retry};
    use crate::record::{NewTask, Outcome};
    use serde_json::json;
    use std::sync::Arc;

    /// 2033-05-18, in ms: far from the machine's clock.
    const T0: u64 = 2_000_000_000_000;
    const DAY_MS: u64 = 86_400_000;

    fn store_on(clock: &Arc<FakeClock>, settings: MemoryStoreSettings) -> MemoryStore {
        MemoryStore::with_settings(MemoryStoreSettings {
            clock: clock.clone(),
            ..settings
        })
        .unwrap()
    }

    fn frozen() -> MemoryStore {
        store_on(&FakeClock::at(0), MemoryStoreSettings::default())
    }

    fn task(id: &str, tool: &str, owner: &str) -> TaskRecord {
        let task = NewTask::new(id, owner, format!("conv-{owner}"), tool, json!({}));
        TaskRecord::pending(task, 1_000, 1)
    }

    /// A task of its own conversation created at `at_ms`, kept one day.
    fn task_at(id: &str, at_ms: u64) -> TaskRecord {
        let task = NewTask::new(id, "alice", format!("c-{id}"), "synthetic", json!({"n": 1}));
        TaskRecord::pending(task, at_ms, 1)
    }

    async fn succeeded(store: &MemoryStore, id: &str, tool: &str, owner: &str, run_ms: u64) {
        let pending = task(id, tool, owner);
        store.create(&pending).await.unwrap();
        let running = pending.claim("w", 2_000, 60_000).unwrap();
        store.transition(&pending, &running).await.unwrap();
        let done = running
            .finish(Outcome::Succeeded(json!(1)), 2_000 + run_ms)
            .unwrap();
        store.transition(&running, &done).await.unwrap();
    }

    /// Runs a created task to SUCCEEDED (published, not delivered) at `at_ms`.
    async fn finish(store: &MemoryStore, pending: &TaskRecord, at_ms: u64) -> TaskRecord {
        let running = pending.claim("w", at_ms, 60_000).unwrap();
        store.transition(pending, &running).await.unwrap();
        let done = running
            .finish(Outcome::Succeeded(json!({"x": "y"})), at_ms)
            .unwrap();
        store.transition(&running, &done).await.unwrap();
        let published = done.mark_published(at_ms);
        store.transition(&done, &published).await.unwrap();
        published
    }

    fn nothing_held(store: &MemoryStore) {
        assert_eq!(store.usage(), MemoryUsage::default());
        let inner = store.lock();
        assert_eq!(
            (
                inner.by_owner_conversation.len(),
                inner.open.len(),
                inner.undelivered.len()
            ),
            (0, 0, 0),
            "no empty index keys are left behind"
        );
    }

    #[tokio::test]
    async fn finished_runs_pages_in_task_id_order_with_the_last_id_as_cursor() {
        let store = frozen();
        succeeded(&store, "t-3", "synthetic", "alice", 30).await;
        succeeded(&store, "t-1", "synthetic", "bob", 10).await;
        succeeded(&store, "t-2", "sentiment", "alice", 20).await;
        succeeded(&store, "t-4", "synthetic", "alice", 40).await;
        store
            .create(&task("t-5", "synthetic", "alice"))
            .await
            .unwrap();

        let first = store.finished_runs("synthetic", 0, 2, None).await.unwrap();
        let ids: Vec<&str> = first.runs.iter().map(|r| r.task_id.as_str()).collect();
        assert_eq!(ids, ["t-1", "t-3"]);
        assert_eq!(first.runs[1].duration_ms(), 30);
        assert_eq!(first.next_cursor.as_deref(), Some("t-3"));
        let second = store
            .finished_runs("synthetic", 0, 2, first.next_cursor.as_deref())
            .await
            .unwrap();
        assert_eq!(
            second.runs,
            vec![RunTime {
                task_id: "t-4".into(),
                started_at_ms: 2_000,
                finished_at_ms: 2_040
            }]
        );
        assert_eq!(second.next_cursor, None, "nothing matching follows");
        // Exactly `limit` matches left: no cursor, no empty last page.
        let all = store.finished_runs("synthetic", 0, 3, None).await.unwrap();
        assert_eq!((all.runs.len(), all.next_cursor), (3, None));
        // `since_ms` is compared with the finish time.
        let late = store
            .finished_runs("synthetic", 2_031, 10, None)
            .await
            .unwrap();
        assert_eq!(late.runs.len(), 1);
        assert_eq!(late.runs[0].task_id, "t-4");
        assert!(
            store
                .finished_runs("research", 0, 10, None)
                .await
                .unwrap()
                .runs
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_record_is_dropped_at_its_ttl_with_its_index_entries_and_idempotency_key() {
        let clock = FakeClock::at(T0);
        let store = store_on(&clock, MemoryStoreSettings::default());
        let mut keyed = task_at("t-1", T0);
        keyed.idempotency_key = Some("k".into());
        store.create(&keyed).await.unwrap();
        // Terminal and undelivered: in the conversation and undelivered indexes; the other one is
        // open (the sweeper's index).
        let done = finish(&store, &keyed, T0).await;
        assert!(done.awaits_delivery());
        let open = task_at("t-2", T0);
        store.create(&open).await.unwrap();
        let usage = store.usage();
        assert_eq!((usage.tasks, usage.idempotency_keys), (2, 1));
        assert_eq!(
            usage.index_entries,
            2 + 1 + 1 + 2,
            "conversation, open, undelivered, expiry"
        );
        assert!(usage.bytes > 2 * RECORD_OVERHEAD_BYTES);

        let gone_at = (T0 / 1000 + 86_400) * 1000;
        assert_eq!(done.expires_at * 1000, gone_at);
        clock.set(gone_at - 1);
        assert_eq!(store.get("t-1").await.unwrap(), Some(done.clone()));
        assert_eq!(store.len(), 2);
        clock.set(gone_at);
        assert_eq!(store.get("t-1").await.unwrap(), None, "gone at its TTL");
        assert_eq!(store.get("t-2").await.unwrap(), None);
        nothing_held(&store);

        // The key is free again: the same key makes a new task, not the expired one.
        let mut again = task_at("t-3", gone_at);
        again.idempotency_key = Some("k".into());
        again.conversation_id = keyed.conversation_id.clone();
        assert_eq!(store.create(&again).await.unwrap(), CreateOutcome::Created);
        // A write to an expired record finds nothing, as for a missing one.
        clock.set(gone_at + DAY_MS);
        let err = store
            .transition(&again, &again.mark_enqueued(gone_at + DAY_MS))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        let updated = update_with_retry(&store, again.clone(), |r| {
            Some(r.mark_enqueued(gone_at + DAY_MS))
        })
        .await
        .unwrap();
        assert_eq!(updated, Updated::Missing);
        nothing_held(&store);
    }

    #[tokio::test]
    async fn calls_drop_expired_records_a_batch_at_a_time_earliest_first() {
        let clock = FakeClock::at(T0);
        let store = store_on(&clock, MemoryStoreSettings::default());
        // 200 tasks expiring a second apart, never read again.
        for i in 0..200u64 {
            store
                .create(&task_at(&format!("old-{i:03}"), T0 + i * 1000))
                .await
                .unwrap();
        }
        assert_eq!(store.len(), 200);
        // A day later the first 100 have expired (the 100th exactly now).
        let now = T0 + DAY_MS + 99 * 1000;
        clock.set(now);
        store.create(&task_at("new-1", now)).await.unwrap();
        assert_eq!(store.len(), 200 - EXPIRE_BATCH + 1, "one call, one batch");
        {
            let inner = store.lock();
            assert!(
                inner.tasks.contains_key("old-064") && !inner.tasks.contains_key("old-063"),
                "earliest first"
            );
        }
        // Any call drops a batch, reads included.
        store.get("old-150").await.unwrap().unwrap();
        assert_eq!(store.len(), 101);
        store.get("old-150").await.unwrap().unwrap();
        assert_eq!(store.len(), 101, "only the expired ones");
        assert_eq!(store.usage().index_entries, 101 * 3);
        assert_eq!(store.expire_now(), 0);
        clock.set(now + DAY_MS);
        assert_eq!(store.expire_now(), 101);
        nothing_held(&store);
    }

    #[tokio::test]
    async fn lists_skip_and_drop_expired_records() {
        let clock = FakeClock::at(T0);
        let store = store_on(&clock, MemoryStoreSettings::default());
        let conversation = |id: &str, at: u64| {
            let mut t = task_at(id, at);
            t.conversation_id = "c".into();
            t
        };
        // Early ones expire first; the conversation's index orders by creation.
        let mut ids = Vec::new();
        for i in 0..4u64 {
            let record = conversation(&format!("t-{i}"), T0 + i * 10_000);
            store.create(&record).await.unwrap();
            finish(&store, &record, T0 + i * 10_000).await;
            ids.push(record.task_id);
        }
        // Past the first two's TTL, before the others'; no call has swept yet.
        clock.set(T0 + DAY_MS + 15_000);
        {
            let inner = store.lock();
            assert_eq!(inner.tasks.len(), 4);
        }
        let page = {
            let inner = store.lock();
            inner.page(
                inner.by_owner_conversation.get("alice#c"),
                1,
                None,
                clock.now_ms(),
            )
        };
        assert_eq!(page.0.tasks[0].task_id, "t-2", "expired ones are skipped");
        assert!(page.0.next_cursor.is_some(), "t-3 follows");
        assert_eq!(page.1, ["t-0", "t-1"], "and handed back to be dropped");
        let listed = store
            .list_by_conversation("alice", "c", 10, None)
            .await
            .unwrap();
        let listed: Vec<&str> = listed.tasks.iter().map(|t| t.task_id.as_str()).collect();
        assert_eq!(listed, ["t-2", "t-3"]);
        let undelivered = store
            .list_undelivered("alice", DEFAULT_CONSUMER, 1, None)
            .await
            .unwrap();
        assert_eq!(undelivered.tasks.len(), 1);
        // t-3 is the last live one: no cursor to an empty page.
        assert!(undelivered.next_cursor.is_some());
        let cursor = Cursor {
            created_at_ms: undelivered.tasks[0].created_at_ms,
            task_id: undelivered.tasks[0].task_id.clone(),
        };
        let last = store
            .list_undelivered("alice", DEFAULT_CONSUMER, 1, Some(&cursor))
            .await
            .unwrap();
        assert_eq!(
            (last.tasks[0].task_id.as_str(), last.next_cursor),
            ("t-3", None)
        );
        assert_eq!(store.len(), 2);
        clock.set(T0 + 2 * DAY_MS);
        for shard in 0..OPEN_SHARDS {
            assert!(
                store
                    .list_open(shard, 10, None)
                    .await
                    .unwrap()
                    .tasks
                    .is_empty()
            );
        }
        assert!(
            store
                .finished_runs("synthetic", 0, 10, None)
                .await
                .unwrap()
                .runs
                .is_empty()
        );
        nothing_held(&store);
    }

    #[tokio::test]
    async fn retention_caps_how_long_a_record_is_kept() {
        let clock = FakeClock::at(T0 + 1);
        let store = store_on(
            &clock,
            MemoryStoreSettings {
                retention: Some(Duration::from_secs(60)),
                ..MemoryStoreSettings::default()
            },
        );
        // Created at T0 + 1 ms with a day of TTL: kept until T0 + 60.001 s, rounded up to a second.
        let record = task_at("t-1", T0 + 1);
        store.create(&record).await.unwrap();
        let stored = store.get("t-1").await.unwrap().unwrap();
        assert_eq!(stored.expires_at, T0 / 1000 + 61);
        let next = stored.mark_enqueued(T0 + 2);
        store.transition(&stored, &next).await.unwrap();
        assert_eq!(
            store.get("t-1").await.unwrap().unwrap().expires_at,
            T0 / 1000 + 61
        );
        clock.set(T0 + 61_000 - 1);
        assert!(store.get("t-1").await.unwrap().is_some());
        clock.set(T0 + 61_000);
        assert!(store.get("t-1").await.unwrap().is_none());
        // A TTL shorter than the retention is kept as it is.
        let short = store_on(
            &clock,
            MemoryStoreSettings {
                retention: Some(Duration::from_secs(10 * 86_400)),
                ..MemoryStoreSettings::default()
            },
        );
        short.create(&record).await.unwrap();
        assert_eq!(short.get("t-1").await.unwrap(), Some(record.clone()));
        clock.set(T0 + DAY_MS);
        assert_eq!(short.get("t-1").await.unwrap(), None, "its own day is over");
        let err = MemoryStore::with_settings(MemoryStoreSettings {
            retention: Some(Duration::from_millis(999)),
            ..MemoryStoreSettings::default()
        })
        .err()
        .unwrap();
        assert_eq!(err.field, "retention");
    }

    #[tokio::test]
    async fn a_full_store_refuses_new_tasks_but_finishes_the_ones_it_holds() {
        let clock = FakeClock::at(T0);
        let store = store_on(
            &clock,
            MemoryStoreSettings {
                max_tasks: 3,
                ..MemoryStoreSettings::default()
            },
        );
        let mut held = Vec::new();
        for i in 0..3 {
            let mut record = task_at(&format!("t-{i}"), T0);
            record.idempotency_key = Some(format!("k-{i}"));
            store.create(&record).await.unwrap();
            held.push(record);
        }
        let err = store.create(&task_at("t-3", T0)).await.unwrap_err();
        assert!(matches!(err, StoreError::Full(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            "the memory backend holds 3 tasks, its limit: new task refused (each task is kept \
             until its TTL, at most 1day; retry once older tasks have expired, keep tasks for \
             less time (`mcp serve --ttl`), or use the aws backend)"
        );
        assert_eq!(
            store.get("t-3").await.unwrap(),
            None,
            "nothing half-written"
        );
        // Replays of what it holds still answer; what it holds still finishes.
        let mut replay = task_at("t-9", T0);
        replay.idempotency_key = Some("k-0".into());
        replay.conversation_id = held[0].conversation_id.clone();
        assert!(matches!(
            store.create(&replay).await.unwrap(),
            CreateOutcome::Existing(_)
        ));
        assert!(matches!(
            store.create(&held[1]).await.unwrap(),
            CreateOutcome::Existing(_)
        ));
        finish(&store, &held[2], T0).await;
        assert_eq!(store.usage().idempotency_keys, 3);
        // Once they expire there is room again, whatever the batch size.
        clock.set(T0 + DAY_MS);
        assert_eq!(
            store.create(&task_at("t-4", T0 + DAY_MS)).await.unwrap(),
            CreateOutcome::Created
        );
        assert_eq!(store.usage().tasks, 1);
    }

    #[tokio::test]
    async fn the_byte_limit_counts_arguments_and_results() {
        let clock = FakeClock::at(T0);
        let small = task_at("t-small", T0);
        let per_small = estimated_bytes(&small);
        let store = store_on(
            &clock,
            MemoryStoreSettings {
                max_bytes: per_small + 10_000,
                ..MemoryStoreSettings::default()
            },
        );
        store.create(&small).await.unwrap();
        assert_eq!(store.usage().bytes, per_small);
        let mut big = task_at("t-big", T0);
        big.arguments = json!({"echo": "x".repeat(10_000)});
        let err = store.create(&big).await.unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with(&format!(
                "the memory backend holds {per_small} bytes of tasks and this one needs"
            )) && message.contains(&format!("the limit is {} bytes", per_small + 10_000)),
            "{message}"
        );
        // A result is counted when it is written (and never refused: the task was admitted).
        let running = small.claim("w", T0, 60_000).unwrap();
        store.transition(&small, &running).await.unwrap();
        let done = running
            .finish(Outcome::Succeeded(json!("y".repeat(20_000))), T0)
            .unwrap();
        store.transition(&running, &done).await.unwrap();
        assert_eq!(store.usage().bytes, estimated_bytes(&done));
        assert!(estimated_bytes(&done) >= per_small + 20_000);
        clock.set(T0 + DAY_MS);
        assert_eq!(store.expire_now(), 1);
        nothing_held(&store);
    }

    #[tokio::test]
    async fn a_full_store_drops_everything_expired_before_refusing() {
        let clock = FakeClock::at(T0);
        let per_small = estimated_bytes(&task_at("t-000", T0));
        let store = store_on(
            &clock,
            MemoryStoreSettings {
                max_bytes: 100 * per_small,
                ..MemoryStoreSettings::default()
            },
        );
        for i in 0..100 {
            store
                .create(&task_at(&format!("t-{i:03}"), T0))
                .await
                .unwrap();
        }
        // Needs the room of 80 small ones: more than one call's batch of expired records.
        let mut big = task_at("t-big", T0 + DAY_MS);
        big.arguments = json!({"echo": "x".repeat((80 * per_small) as usize)});
        assert!(matches!(store.create(&big).await, Err(StoreError::Full(_))));
        clock.set(T0 + DAY_MS);
        assert_eq!(store.create(&big).await.unwrap(), CreateOutcome::Created);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn a_value_is_estimated_by_its_strings_and_slots() {
        let slot = std::mem::size_of::<serde_json::Value>() as u64;
        assert_eq!(value_bytes(&json!(null)), 0);
        assert_eq!(value_bytes(&json!("x".repeat(1000))), 1000);
        assert_eq!(value_bytes(&json!([1, "ab"])), 2 * slot + 2);
        assert_eq!(
            value_bytes(&json!({"echo": {"k": "abc"}})),
            2 * slot + 4 + 2 * slot + 1 + 3
        );
    }
}
