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

mod inner;

use inner::*;

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

    async fn claim_pending(
        &self,
        claim: &ports::PendingClaim<'_>,
    ) -> Result<Option<TaskRecord>, StoreError> {
        let Some(current) = self.get(claim.task_id).await? else {
            return Ok(None);
        };
        let Some(next) = claim.apply(&current) else {
            return Ok(None);
        };
        match self.transition(&current, &next).await {
            Ok(()) => Ok(Some(next)),
            Err(StoreError::Conflict(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn deliver(
        &self,
        task_id: &str,
        owner: &str,
        now_ms: u64,
    ) -> Result<Option<TaskRecord>, StoreError> {
        let Some(current) = self.get(task_id).await? else {
            return Ok(None);
        };
        let Some(next) = ports::delivered(&current, owner, now_ms) else {
            return Ok(None);
        };
        match self.transition(&current, &next).await {
            Ok(()) => Ok(Some(next)),
            Err(StoreError::Conflict(_)) => Ok(None),
            Err(e) => Err(e),
        }
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

    async fn task_for_key(
        &self,
        owner: &str,
        conversation_id: &str,
        key: &str,
    ) -> Result<Option<TaskRecord>, StoreError> {
        let now = self.now_ms();
        let mut inner = self.lock_at(now);
        let idem = (
            owner.to_string(),
            conversation_id.to_string(),
            key.to_string(),
        );
        let Some(task_id) = inner.idempotency.get(&idem).cloned() else {
            return Ok(None);
        };
        Ok(inner.live(&task_id, now).cloned())
    }

    async fn take_open_place(
        &self,
        owner: &str,
        task_id: &str,
        limit: u32,
        // Places go with their tasks here: a record dropped at its TTL gives its place back.
        _expires_at: u64,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock_at(self.now_ms());
        let held = inner.open_places.get(owner);
        let taken = held.is_some_and(|places| places.contains(task_id))
            || held.map_or(0, |places| places.len()) < limit as usize;
        if taken {
            let places = inner.open_places.entry(owner.to_string()).or_default();
            places.insert(task_id.to_string());
        }
        Ok(taken)
    }

    async fn release_open_places(
        &self,
        owner: &str,
        task_ids: &[String],
    ) -> Result<(), StoreError> {
        let mut inner = self.lock_at(self.now_ms());
        for task_id in task_ids {
            inner.release_open_place(owner, task_id);
        }
        Ok(())
    }

    async fn open_places(&self, owner: &str) -> Result<Vec<String>, StoreError> {
        let inner = self.lock_at(self.now_ms());
        Ok(inner
            .open_places
            .get(owner)
            .map(|places| places.iter().cloned().collect())
            .unwrap_or_default())
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
mod tests;
