//! Result delivery: one router per consumer process reads the consumer's reply queue and hands each
//! of its owner's results to a sink (a conversation, a file, the screen) exactly once.
//!
//! The table is the source of truth. Per result: hand it over, mark the task delivered, then delete
//! the message — so a crash at any point loses nothing (the message comes back, or the task is still
//! undelivered in the table) and a repeat is recognised (the task is marked, or the sink has it).
//! On start, and every `RECONCILE_EVERY`, the router reads the owner's undelivered tasks for its
//! consumer from the table and hands over those it has not seen: a result whose message was lost,
//! went to a router that died, or was published before this router existed.

use crate::clock::{Clock, SystemClock};
use crate::error::PipelineError;
use crate::ports::{TaskStore, update_with_retry};
use crate::protocol::ResultMessage;
use crate::record::TaskRecord;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

mod router;
mod sinks;

pub use router::{ROUTER_LEASE, ResultRouter, RouterStats, WatchLimits};
pub use sinks::{ChannelSink, FileSink, StdoutSink, VecSink};

/// How often a running router reconciles from the table.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(30);
/// Task ids a router remembers having handed over, beyond which the oldest are forgotten (the table's
/// `delivered` flag still stops a repeat).
pub const MAX_REMEMBERED: usize = 100_000;
/// Undelivered tasks read per reconcile page.
pub(crate) const RECONCILE_PAGE: u32 = 100;

/// Where a router hands results over.
#[async_trait]
pub trait ResultSink: Send {
    /// Whether this result was already handed over (a sink with durable output knows).
    fn already_has(&self, _task_id: &str) -> bool {
        false
    }

    /// Hands the result over; returns only once it is safe (e.g. written and flushed).
    async fn hand_over(&mut self, result: ResultMessage) -> anyhow::Result<()>;

    /// Called when its router takes the owner and consumer's lease (again): a sink that replicas
    /// share (one file) reloads what the others handed over meanwhile.
    fn resume(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// The table side of delivery, as a consumer sees it: its owner's undelivered tasks, and marking one.
/// Backed by the store directly (local, tests) or by the dispatcher's HTTP API (a deployed stack).
#[async_trait]
pub trait DeliveryLedger: Send + Sync {
    async fn undelivered(
        &self,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<(Vec<TaskRecord>, Option<String>), PipelineError>;

    /// The owner's task, if it exists (another owner's is `None`).
    async fn get(&self, task_id: &str) -> Result<Option<TaskRecord>, PipelineError>;

    async fn mark_delivered(&self, task_id: &str) -> Result<(), PipelineError>;

    /// Takes or renews this owner and consumer's router lease for `holder` until `until_ms`
    /// (epoch ms): true when `holder` has it.
    async fn lease(&self, holder: &str, now_ms: u64, until_ms: u64) -> Result<bool, PipelineError>;
}

/// Marks a terminal record delivered, re-reading on conflicts. Idempotent. On the system clock.
pub async fn mark_delivered(
    store: &dyn TaskStore,
    record: TaskRecord,
) -> Result<TaskRecord, PipelineError> {
    mark_delivered_with(store, record, &SystemClock).await
}

/// `mark_delivered` on `clock`.
pub async fn mark_delivered_with(
    store: &dyn TaskStore,
    record: TaskRecord,
    clock: &dyn Clock,
) -> Result<TaskRecord, PipelineError> {
    if !record.status.is_terminal() {
        return Err(crate::error::InputError::new(
            "task_id",
            format!(
                "task {} is {}; only a finished task's result can be marked delivered",
                record.task_id, record.status
            ),
        )
        .into());
    }
    let task_id = record.task_id.clone();
    update_with_retry(store, record, |r| {
        (!r.delivered).then(|| r.mark_delivered(clock.now_ms()))
    })
    .await?
    .record()
    .ok_or(PipelineError::NotFound(task_id))
}

/// What [`claim_delivery`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This call marked the task delivered: the caller hands its result over, and nobody else.
    Won(TaskRecord),
    /// Someone else had handed it over already (or it is not finished).
    Lost(TaskRecord),
}

/// The hand-over's claim: marks a terminal task delivered if nobody has, as one conditional write,
/// and says whether this call did. Of two consumers (router replicas, two requests of one
/// conversation) handing over the same result, exactly one wins. Re-reads on conflicts.
pub async fn claim_delivery(
    store: &dyn TaskStore,
    record: TaskRecord,
    clock: &dyn Clock,
) -> Result<Claim, PipelineError> {
    // One conditional write, no read, in the common case.
    if let Some(won) = store
        .deliver(&record.task_id, &record.owner, clock.now_ms())
        .await?
    {
        return Ok(Claim::Won(won));
    }
    let task_id = record.task_id.clone();
    match update_with_retry(store, record, |r| {
        (r.status.is_terminal() && !r.delivered).then(|| r.mark_delivered(clock.now_ms()))
    })
    .await?
    {
        crate::ports::Updated::Written(record) => Ok(Claim::Won(record)),
        crate::ports::Updated::Unchanged(record) => Ok(Claim::Lost(record)),
        crate::ports::Updated::Missing => Err(PipelineError::NotFound(task_id)),
    }
}

/// The ledger on the task store itself.
pub struct StoreLedger {
    pub store: Arc<dyn TaskStore>,
    pub owner: String,
    pub consumer: String,
}

#[async_trait]
impl DeliveryLedger for StoreLedger {
    async fn undelivered(
        &self,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<(Vec<TaskRecord>, Option<String>), PipelineError> {
        let cursor = crate::ports::check_list_args(limit, cursor.as_deref())?;
        let page = self
            .store
            .list_undelivered(&self.owner, &self.consumer, limit, cursor.as_ref())
            .await?;
        Ok((page.tasks, page.next_cursor))
    }

    async fn get(&self, task_id: &str) -> Result<Option<TaskRecord>, PipelineError> {
        Ok(self
            .store
            .get(task_id)
            .await?
            .filter(|r| r.owner == self.owner))
    }

    async fn mark_delivered(&self, task_id: &str) -> Result<(), PipelineError> {
        // One conditional write, no read, in the common case; the read path when it is refused
        // (delivered already, gone, or written later than this clock says).
        let now = crate::clock::now_ms();
        if self
            .store
            .deliver(task_id, &self.owner, now)
            .await?
            .is_some()
        {
            return Ok(());
        }
        match self.get(task_id).await? {
            Some(record) => mark_delivered(self.store.as_ref(), record)
                .await
                .map(|_| ()),
            None => Err(PipelineError::NotFound(task_id.to_string())),
        }
    }

    async fn lease(&self, holder: &str, now_ms: u64, until_ms: u64) -> Result<bool, PipelineError> {
        let name = format!("router#{}#{}", self.owner, self.consumer);
        Ok(self
            .store
            .acquire_lease(&name, holder, now_ms, until_ms)
            .await?)
    }
}
