use crate::error::StoreError;
use crate::ports::{self, CreateOutcome, Cursor, RunPage, RunTime, TaskPage, TaskStore};
use crate::record::TaskRecord;
use crate::state::TaskStatus;
use async_trait::async_trait;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// Task records in a map, with the same indexes as the DynamoDB table beside them.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

/// (created_at_ms, task_id): every index's sort order.
type Index = BTreeSet<(u64, String)>;

#[derive(Default)]
struct Inner {
    tasks: HashMap<String, TaskRecord>,
    /// `(owner, conversation, key)` -> task id.
    idempotency: HashMap<(String, String, String), String>,
    by_owner_conversation: HashMap<String, Index>,
    open: HashMap<u32, Index>,
    undelivered: HashMap<String, Index>,
    /// Lease name -> (holder, held until, epoch ms).
    leases: HashMap<String, (String, u64)>,
}

impl Inner {
    /// Moves `record` in the sparse indexes from where `old` had it.
    fn reindex(&mut self, old: Option<&TaskRecord>, record: &TaskRecord) {
        let key = (record.created_at_ms, record.task_id.clone());
        if let Some(shard) = old.and_then(TaskRecord::open_shard) {
            self.open.entry(shard).or_default().remove(&key);
        }
        if let Some(shard) = record.open_shard() {
            self.open.entry(shard).or_default().insert(key.clone());
        }
        let undelivered = TaskRecord::undelivered_key(&record.owner, &record.reply_to);
        if old.is_some_and(TaskRecord::awaits_delivery) {
            self.undelivered
                .entry(undelivered.clone())
                .or_default()
                .remove(&key);
        }
        if record.awaits_delivery() {
            self.undelivered.entry(undelivered).or_default().insert(key);
        }
    }

    fn page(&self, index: Option<&Index>, limit: u32, cursor: Option<&Cursor>) -> TaskPage {
        let Some(index) = index else {
            return TaskPage::new(vec![], false);
        };
        let mut keys: Box<dyn Iterator<Item = &(u64, String)>> =
            match cursor {
                Some(c) => Box::new(index.range((c.created_at_ms, c.task_id.clone())..).filter(
                    move |(created, id)| !(*created == c.created_at_ms && *id == c.task_id),
                )),
                None => Box::new(index.iter()),
            };
        let mut tasks = Vec::new();
        for (_, id) in keys.by_ref().take(limit as usize) {
            if let Some(task) = self.tasks.get(id) {
                tasks.push(task.clone());
            }
        }
        let more = keys.next().is_some();
        TaskPage::new(tasks, more)
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.lock().tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-written record: every write is one insert.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl TaskStore for MemoryStore {
    async fn create(&self, record: &TaskRecord) -> Result<CreateOutcome, StoreError> {
        let mut inner = self.lock();
        if let Some(existing) = inner.tasks.get(&record.task_id) {
            return Ok(CreateOutcome::Existing(Box::new(existing.clone())));
        }
        if let Some(key) = &record.idempotency_key {
            let idem = (
                record.owner.clone(),
                record.conversation_id.clone(),
                key.clone(),
            );
            if let Some(task_id) = inner.idempotency.get(&idem) {
                let existing =
                    inner
                        .tasks
                        .get(task_id)
                        .cloned()
                        .ok_or_else(|| StoreError::Corrupt {
                            key: format!("idem#{}#{}#{}", idem.0, idem.1, idem.2),
                            message: format!("points at missing task {task_id}"),
                        })?;
                return Ok(CreateOutcome::Existing(Box::new(existing)));
            }
            inner.idempotency.insert(idem, record.task_id.clone());
        }
        inner
            .by_owner_conversation
            .entry(TaskRecord::owner_conversation_key(
                &record.owner,
                &record.conversation_id,
            ))
            .or_default()
            .insert((record.created_at_ms, record.task_id.clone()));
        inner.reindex(None, record);
        inner.tasks.insert(record.task_id.clone(), record.clone());
        Ok(CreateOutcome::Created)
    }

    async fn get(&self, task_id: &str) -> Result<Option<TaskRecord>, StoreError> {
        Ok(self.lock().tasks.get(task_id).cloned())
    }

    async fn transition(&self, current: &TaskRecord, next: &TaskRecord) -> Result<(), StoreError> {
        ports::check_transition(current, next)?;
        let mut inner = self.lock();
        let stored = inner
            .tasks
            .get(&current.task_id)
            .ok_or_else(|| StoreError::Conflict(current.task_id.clone()))?;
        if stored.revision != current.revision || stored.status != current.status {
            return Err(StoreError::Conflict(current.task_id.clone()));
        }
        let old = stored.clone();
        inner.reindex(Some(&old), next);
        inner.tasks.insert(next.task_id.clone(), next.clone());
        Ok(())
    }

    async fn list_by_conversation(
        &self,
        owner: &str,
        conversation_id: &str,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<TaskPage, StoreError> {
        let inner = self.lock();
        let key = TaskRecord::owner_conversation_key(owner, conversation_id);
        Ok(inner.page(inner.by_owner_conversation.get(&key), limit, cursor))
    }

    async fn list_open(
        &self,
        shard: u32,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<TaskPage, StoreError> {
        let inner = self.lock();
        Ok(inner.page(inner.open.get(&shard), limit, cursor))
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
        let inner = self.lock();
        let key = TaskRecord::undelivered_key(owner, consumer);
        Ok(inner.page(inner.undelivered.get(&key), limit, cursor))
    }

    /// Walks the tasks in task id order (the cursor is the last id returned), as a Scan would.
    async fn finished_runs(
        &self,
        tool: &str,
        since_ms: u64,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<RunPage, StoreError> {
        let inner = self.lock();
        let mut ids: Vec<&String> = inner
            .tasks
            .keys()
            .filter(|id| cursor.is_none_or(|c| id.as_str() > c))
            .collect();
        ids.sort_unstable();
        let mut matching = ids.into_iter().filter_map(|id| {
            let task = &inner.tasks[id];
            let run = match (task.started_at_ms, task.finished_at_ms) {
                (Some(started_at_ms), Some(finished_at_ms))
                    if task.tool == tool
                        && task.status == TaskStatus::Succeeded
                        && task.attempts == 1
                        && finished_at_ms >= since_ms =>
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
    use crate::record::{NewTask, Outcome};
    use serde_json::json;

    fn task(id: &str, tool: &str, owner: &str) -> TaskRecord {
        let task = NewTask::new(id, owner, format!("conv-{owner}"), tool, json!({}));
        TaskRecord::pending(task, 1_000, 1)
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

    #[tokio::test]
    async fn finished_runs_pages_in_task_id_order_with_the_last_id_as_cursor() {
        let store = MemoryStore::new();
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
}
