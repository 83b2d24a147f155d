use crate::error::StoreError;
use crate::ports::{self, CreateOutcome, Cursor, TaskPage, TaskStore};
use crate::record::TaskRecord;
use async_trait::async_trait;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// Task records in a map, with the conversation index and the idempotency keys beside them.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    tasks: HashMap<String, TaskRecord>,
    /// `(conversation, key)` -> task id.
    idempotency: HashMap<(String, String), String>,
    /// conversation -> (created_at_ms, task_id), the GSI's order.
    by_conversation: HashMap<String, BTreeSet<(u64, String)>>,
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
            let idem = (record.conversation_id.clone(), key.clone());
            if let Some(task_id) = inner.idempotency.get(&idem) {
                let existing =
                    inner
                        .tasks
                        .get(task_id)
                        .cloned()
                        .ok_or_else(|| StoreError::Corrupt {
                            key: format!("idem#{}#{}", idem.0, idem.1),
                            message: format!("points at missing task {task_id}"),
                        })?;
                return Ok(CreateOutcome::Existing(Box::new(existing)));
            }
            inner.idempotency.insert(idem, record.task_id.clone());
        }
        inner
            .by_conversation
            .entry(record.conversation_id.clone())
            .or_default()
            .insert((record.created_at_ms, record.task_id.clone()));
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
            .get_mut(&current.task_id)
            .ok_or_else(|| StoreError::Conflict(current.task_id.clone()))?;
        if stored.revision != current.revision || stored.status != current.status {
            return Err(StoreError::Conflict(current.task_id.clone()));
        }
        *stored = next.clone();
        Ok(())
    }

    async fn list_by_conversation(
        &self,
        conversation_id: &str,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<TaskPage, StoreError> {
        let inner = self.lock();
        let Some(index) = inner.by_conversation.get(conversation_id) else {
            return Ok(TaskPage {
                tasks: vec![],
                next_cursor: None,
            });
        };
        let mut keys = match cursor {
            Some(c) => index
                .range((c.created_at_ms, c.task_id.clone())..)
                .filter(|(created, id)| !(*created == c.created_at_ms && *id == c.task_id))
                .collect::<Vec<_>>()
                .into_iter(),
            None => index.iter().collect::<Vec<_>>().into_iter(),
        };
        let mut tasks = Vec::new();
        for (_, id) in keys.by_ref().take(limit as usize) {
            if let Some(task) = inner.tasks.get(id) {
                tasks.push(task.clone());
            }
        }
        Ok(TaskPage::new(tasks, keys.next().is_some()))
    }
}
