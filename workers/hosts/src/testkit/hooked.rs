//! A task store with a test's behaviour in front of a real one: the test says what it changes
//! (`StoreHook`, whose every method forwards by default) and `Hooked` forwards the rest, so a port
//! method added later is forwarded in one place, not in every test that wraps a store.

use crate::error::StoreError;
use crate::ports::{CreateOutcome, Cursor, PendingClaim, RunPage, TaskPage, TaskStore};
use crate::record::TaskRecord;
use async_trait::async_trait;
use std::sync::Arc;

/// What a test changes of a store's writes and reads; each method is given the real store.
#[async_trait]
pub trait StoreHook: Send + Sync {
    async fn create(
        &self,
        inner: &dyn TaskStore,
        record: &TaskRecord,
    ) -> Result<CreateOutcome, StoreError> {
        inner.create(record).await
    }

    async fn get(
        &self,
        inner: &dyn TaskStore,
        task_id: &str,
    ) -> Result<Option<TaskRecord>, StoreError> {
        inner.get(task_id).await
    }

    async fn transition(
        &self,
        inner: &dyn TaskStore,
        current: &TaskRecord,
        next: &TaskRecord,
    ) -> Result<(), StoreError> {
        inner.transition(current, next).await
    }

    async fn claim_pending(
        &self,
        inner: &dyn TaskStore,
        claim: &PendingClaim<'_>,
    ) -> Result<Option<TaskRecord>, StoreError> {
        inner.claim_pending(claim).await
    }

    async fn deliver(
        &self,
        inner: &dyn TaskStore,
        task_id: &str,
        owner: &str,
        now_ms: u64,
    ) -> Result<Option<TaskRecord>, StoreError> {
        inner.deliver(task_id, owner, now_ms).await
    }
}

/// `inner` with `hook` in front of it.
pub struct Hooked<H> {
    pub inner: Arc<dyn TaskStore>,
    pub hook: H,
}

impl<H> Hooked<H> {
    pub fn new(inner: Arc<dyn TaskStore>, hook: H) -> Hooked<H> {
        Hooked { inner, hook }
    }
}

#[async_trait]
impl<H: StoreHook> TaskStore for Hooked<H> {
    async fn create(&self, record: &TaskRecord) -> Result<CreateOutcome, StoreError> {
        self.hook.create(self.inner.as_ref(), record).await
    }

    async fn get(&self, task_id: &str) -> Result<Option<TaskRecord>, StoreError> {
        self.hook.get(self.inner.as_ref(), task_id).await
    }

    async fn task_for_key(
        &self,
        owner: &str,
        conversation_id: &str,
        key: &str,
    ) -> Result<Option<TaskRecord>, StoreError> {
        self.inner.task_for_key(owner, conversation_id, key).await
    }

    async fn transition(&self, current: &TaskRecord, next: &TaskRecord) -> Result<(), StoreError> {
        self.hook
            .transition(self.inner.as_ref(), current, next)
            .await
    }

    async fn list_by_conversation(
        &self,
        owner: &str,
        conversation_id: &str,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<TaskPage, StoreError> {
        self.inner
            .list_by_conversation(owner, conversation_id, limit, cursor)
            .await
    }

    async fn list_open(
        &self,
        shard: u32,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<TaskPage, StoreError> {
        self.inner.list_open(shard, limit, cursor).await
    }

    async fn list_undelivered(
        &self,
        owner: &str,
        consumer: &str,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<TaskPage, StoreError> {
        self.inner
            .list_undelivered(owner, consumer, limit, cursor)
            .await
    }

    async fn claim_pending(
        &self,
        claim: &PendingClaim<'_>,
    ) -> Result<Option<TaskRecord>, StoreError> {
        self.hook.claim_pending(self.inner.as_ref(), claim).await
    }

    async fn deliver(
        &self,
        task_id: &str,
        owner: &str,
        now_ms: u64,
    ) -> Result<Option<TaskRecord>, StoreError> {
        self.hook
            .deliver(self.inner.as_ref(), task_id, owner, now_ms)
            .await
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> Result<bool, StoreError> {
        self.inner
            .acquire_lease(name, holder, now_ms, until_ms)
            .await
    }

    async fn take_open_place(
        &self,
        owner: &str,
        task_id: &str,
        limit: u32,
        expires_at: u64,
    ) -> Result<bool, StoreError> {
        self.inner
            .take_open_place(owner, task_id, limit, expires_at)
            .await
    }

    async fn release_open_places(
        &self,
        owner: &str,
        task_ids: &[String],
    ) -> Result<(), StoreError> {
        self.inner.release_open_places(owner, task_ids).await
    }

    async fn open_places(&self, owner: &str) -> Result<Vec<String>, StoreError> {
        self.inner.open_places(owner).await
    }

    async fn finished_runs(
        &self,
        tool: &str,
        since_ms: u64,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<RunPage, StoreError> {
        self.inner
            .finished_runs(tool, since_ms, limit, cursor)
            .await
    }
}
