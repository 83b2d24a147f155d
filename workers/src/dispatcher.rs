//! The dispatcher: validates a tool call, records it PENDING, enqueues it and answers at once.
//! Also `get`, `list` and `cancel`. The same code runs in the Lambda handler and in the CLI.

use crate::catalog::Catalog;
use crate::clock::now_ms;
use crate::error::{InputError, PipelineError, StoreError};
use crate::limits::*;
use crate::ports::{CreateOutcome, MessageQueue, TaskPage, TaskStore, check_list_args};
use crate::protocol::{
    PROTOCOL_VERSION, SubmitAck, TaskRequest, WorkMessage, check_conversation_id, check_task_id,
};
use crate::record::TaskRecord;
use crate::results::{Publication, ensure_published};
use crate::state::TaskStatus;
use crate::tools::ToolBox;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct DispatcherSettings {
    pub task_ttl_days: u32,
    /// A replayed request whose task is still PENDING after this long is enqueued again: it covers a
    /// dispatcher that died between the record write and the enqueue. Duplicates are harmless (the
    /// worker's conditional claim runs the tool once).
    pub reenqueue_pending_after_ms: u64,
}

impl Default for DispatcherSettings {
    fn default() -> Self {
        DispatcherSettings {
            task_ttl_days: DEFAULT_TASK_TTL_DAYS,
            reenqueue_pending_after_ms: 30_000,
        }
    }
}

impl DispatcherSettings {
    pub fn check(&self) -> Result<(), InputError> {
        if !(1..=MAX_TASK_TTL_DAYS).contains(&self.task_ttl_days) {
            return Err(InputError::new(
                "task_ttl_days",
                format!("{} is outside 1..={MAX_TASK_TTL_DAYS}", self.task_ttl_days),
            ));
        }
        Ok(())
    }
}

/// The publisher named on a cancelled record while the dispatcher sends its CANCELLED result. If the
/// dispatcher dies before sending, the task's work message (redelivered after this lease) sends it.
const CANCEL_PUBLISHER: &str = "dispatcher:cancel";
const CANCEL_PUBLISH_LEASE_MS: u64 = 5_000;

/// What `cancel` did.
#[derive(Debug, Clone, PartialEq)]
pub struct CancelOutcome {
    pub record: TaskRecord,
    /// False when the task had already finished: terminal states never change.
    pub cancelled: bool,
}

pub struct Dispatcher {
    catalog: Arc<Catalog>,
    tools: ToolBox,
    store: Arc<dyn TaskStore>,
    work_queues: BTreeMap<String, Arc<dyn MessageQueue>>,
    results: Arc<dyn MessageQueue>,
    settings: DispatcherSettings,
}

impl Dispatcher {
    pub fn new(
        catalog: Arc<Catalog>,
        tools: ToolBox,
        store: Arc<dyn TaskStore>,
        work_queues: BTreeMap<String, Arc<dyn MessageQueue>>,
        results: Arc<dyn MessageQueue>,
        settings: DispatcherSettings,
    ) -> Result<Dispatcher, InputError> {
        settings.check()?;
        tools.covers(&catalog)?;
        for name in catalog.names() {
            if !work_queues.contains_key(name) {
                return Err(InputError::new(
                    "work_queues",
                    format!("has no queue for tool {name:?} of the catalog"),
                ));
            }
        }
        Ok(Dispatcher {
            catalog,
            tools,
            store,
            work_queues,
            results,
            settings,
        })
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub async fn submit(&self, request: TaskRequest) -> Result<SubmitAck, PipelineError> {
        let now = now_ms();
        request.validate(&self.catalog, now)?;
        self.tools
            .get(&request.tool)?
            .check_arguments(&request.arguments)?;
        let record = TaskRecord {
            version: PROTOCOL_VERSION,
            task_id: ulid::Ulid::generate().to_string(),
            conversation_id: request.conversation_id,
            tool: request.tool,
            arguments: request.arguments,
            status: TaskStatus::Pending,
            revision: 1,
            idempotency_key: request.idempotency_key,
            deadline_ms: request.deadline_ms,
            created_at_ms: now,
            updated_at_ms: now,
            started_at_ms: None,
            finished_at_ms: None,
            attempts: 0,
            lease_owner: None,
            lease_expires_at_ms: None,
            result: None,
            error: None,
            result_published: false,
            expires_at: now / 1000 + u64::from(self.settings.task_ttl_days) * 86_400,
        };
        match self.store.create(&record).await? {
            CreateOutcome::Created => {
                self.enqueue(&record).await?;
                Ok(SubmitAck::for_record(&record, false))
            }
            CreateOutcome::Existing(existing) => {
                if existing.tool != record.tool || existing.arguments != record.arguments {
                    return Err(InputError::new(
                        "idempotency_key",
                        format!(
                            "{:?} was already used in conversation {} for a different request (task {}, tool {})",
                            record.idempotency_key.as_deref().unwrap_or_default(),
                            existing.conversation_id,
                            existing.task_id,
                            existing.tool
                        ),
                    )
                    .into());
                }
                let stale = now.saturating_sub(existing.created_at_ms)
                    >= self.settings.reenqueue_pending_after_ms;
                if existing.status == TaskStatus::Pending && stale {
                    self.enqueue(&existing).await?;
                }
                Ok(SubmitAck::for_record(&existing, true))
            }
        }
    }

    async fn enqueue(&self, record: &TaskRecord) -> Result<(), PipelineError> {
        let queue = self.work_queues.get(&record.tool).ok_or_else(|| {
            InputError::new(
                "tool",
                format!("{:?} has no work queue configured", record.tool),
            )
        })?;
        queue
            .send(&WorkMessage::new(&record.task_id, &record.tool).to_body())
            .await?;
        Ok(())
    }

    pub async fn get(&self, task_id: &str) -> Result<TaskRecord, PipelineError> {
        check_task_id(task_id)?;
        self.store
            .get(task_id)
            .await?
            .ok_or_else(|| PipelineError::NotFound(task_id.to_string()))
    }

    pub async fn list(
        &self,
        conversation_id: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<TaskPage, PipelineError> {
        check_conversation_id(conversation_id)?;
        let cursor = check_list_args(limit, cursor)?;
        Ok(self
            .store
            .list_by_conversation(conversation_id, limit, cursor.as_ref())
            .await?)
    }

    /// PENDING or RUNNING -> CANCELLED, then a CANCELLED result on the results queue. A running tool is
    /// not interrupted; its late result is discarded because its conditional write loses.
    pub async fn cancel(&self, task_id: &str) -> Result<CancelOutcome, PipelineError> {
        check_task_id(task_id)?;
        for _ in 0..MAX_CONFLICT_RETRIES {
            let current = self.get(task_id).await?;
            if current.status.is_terminal() {
                return Ok(CancelOutcome {
                    record: current,
                    cancelled: false,
                });
            }
            let now = now_ms();
            let next = current
                .cancel(now)
                .map_err(|e| StoreError::IllegalTransition {
                    task_id: e.task_id,
                    from: current.status.to_string(),
                    to: TaskStatus::Cancelled.to_string(),
                })?
                .with_publisher(CANCEL_PUBLISHER, now + CANCEL_PUBLISH_LEASE_MS);
            match self.store.transition(&current, &next).await {
                Ok(()) => {
                    let record = match ensure_published(
                        self.store.as_ref(),
                        self.results.as_ref(),
                        next,
                        CANCEL_PUBLISHER,
                    )
                    .await?
                    {
                        Publication::Published(r) | Publication::HeldElsewhere(r) => r,
                    };
                    return Ok(CancelOutcome {
                        record,
                        cancelled: true,
                    });
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict(task_id.to_string()).into())
    }
}
