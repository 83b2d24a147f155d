//! The dispatcher: validates a tool call, records it PENDING, enqueues it and answers at once.
//! Also `get`, `list` and `cancel`. The same code runs in the Lambda handler and in the CLI.

pub use crate::caller::{Caller, OwnerScope};
use crate::catalog::Catalog;
use crate::clock::{SharedClock, system};
use crate::error::{InputError, PipelineError, StoreError};
use crate::limits::*;
use crate::ports::{
    CreateOutcome, MessageQueue, TaskPage, TaskStore, Updated, check_list_args, update_with_retry,
};
use crate::protocol::{
    SubmitAck, TaskRequest, WorkMessage, check_consumer_name, check_conversation_id, check_task_id,
};
use crate::quota::PlaceChecks;
use crate::record::{NewTask, TaskRecord};
use crate::replies::ReplyQueues;
use crate::results::{Publication, ensure_published};
use crate::state::TaskStatus;
use crate::tools::ToolBox;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct DispatcherSettings {
    pub task_ttl_days: u32,
    /// Creation times, deadlines and expiry are read on it.
    pub clock: SharedClock,
    /// Who owns an IAM caller's tasks: the caller (role and session), or the role.
    pub owner_scope: OwnerScope,
    /// Open tasks (submitted, result not yet published) one principal may hold at most
    /// (1..=`MAX_OPEN_TASKS_LIMIT`); a submit past it is refused (`PipelineError::QuotaExceeded`).
    /// `None`: no limit, and no write for it (see `quota`).
    pub max_open_tasks: Option<u32>,
}

impl Default for DispatcherSettings {
    fn default() -> Self {
        DispatcherSettings {
            task_ttl_days: DEFAULT_TASK_TTL_DAYS,
            clock: system(),
            owner_scope: OwnerScope::Session,
            max_open_tasks: None,
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
        if let Some(limit) = self.max_open_tasks
            && !(1..=MAX_OPEN_TASKS_LIMIT).contains(&limit)
        {
            return Err(InputError::new(
                "max_open_tasks",
                format!("{limit} is outside 1..={MAX_OPEN_TASKS_LIMIT}"),
            ));
        }
        Ok(())
    }
}

/// The publisher named on a cancelled record while the dispatcher sends its CANCELLED result. If the
/// dispatcher dies before sending, the task's work message (redelivered after this lease) sends it.
const CANCEL_PUBLISHER: &str = "dispatcher:cancel";
const CANCEL_PUBLISH_LEASE_MS: u64 = 5_000;

/// A fresh task id: a ULID, so ids sort by creation time.
pub fn new_task_id() -> String {
    ulid::Ulid::generate().to_string()
}

/// One of a caller's slots (`Dispatcher::take_slot`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    name: String,
    holder: String,
}

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
    replies: Arc<ReplyQueues>,
    settings: DispatcherSettings,
    place_checks: PlaceChecks,
}

impl Dispatcher {
    pub fn new(
        catalog: Arc<Catalog>,
        tools: ToolBox,
        store: Arc<dyn TaskStore>,
        work_queues: BTreeMap<String, Arc<dyn MessageQueue>>,
        replies: Arc<ReplyQueues>,
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
            replies,
            settings,
            place_checks: PlaceChecks::default(),
        })
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// How IAM callers map to owners.
    pub fn owner_scope(&self) -> OwnerScope {
        self.settings.owner_scope
    }

    pub fn tools(&self) -> &ToolBox {
        &self.tools
    }

    /// Records the call PENDING, enqueues it and acknowledges. The same idempotency key (per owner
    /// and conversation) with the same request returns the same task, enqueued again while it is
    /// still PENDING (duplicates are harmless: the worker's conditional claim runs the tool once);
    /// with a different request it is refused.
    pub async fn submit(
        &self,
        caller: &Caller,
        request: TaskRequest,
    ) -> Result<SubmitAck, PipelineError> {
        self.submit_as(caller, request, new_task_id()).await
    }

    /// `submit`, the new task named `task_id` (a fresh [`new_task_id`]): its caller can wait for
    /// the task before it exists. An MCP call that answers inline holds its task, so that nobody
    /// else hands the result over, and a fast tool may finish before `submit` returns.
    pub async fn submit_as(
        &self,
        caller: &Caller,
        request: TaskRequest,
        task_id: String,
    ) -> Result<SubmitAck, PipelineError> {
        check_task_id(&task_id)?;
        let now = self.settings.clock.now_ms();
        request.validate(&self.catalog, now)?;
        self.tools
            .get(&request.tool)?
            .check_arguments(&request.arguments)?;
        let reply_to = request.consumer().to_string();
        self.replies.get(&reply_to)?;
        let mut record = TaskRecord::pending(
            NewTask {
                task_id,
                owner: caller.principal.clone(),
                reply_to,
                conversation_id: request.conversation_id,
                tool: request.tool,
                arguments: request.arguments,
                idempotency_key: request.idempotency_key,
                deadline_ms: request.deadline_ms,
            },
            now,
            self.settings.task_ttl_days,
        );
        if let Some(limit) = self.settings.max_open_tasks {
            if !self
                .take_open_place(caller, &record.task_id, limit, now)
                .await?
            {
                // A retry of a task already submitted is answered with it, limit or not.
                if let Some(key) = &record.idempotency_key
                    && let Some(existing) = self
                        .store
                        .task_for_key(&caller.principal, &record.conversation_id, key)
                        .await?
                {
                    return self.answer_existing(caller, &record, existing).await;
                }
                return Err(crate::quota::open_tasks_refusal(limit));
            }
            record.holds_open_place = true;
        }
        let created = self.store.create(&record).await;
        if record.holds_open_place && !matches!(created, Ok(CreateOutcome::Created)) {
            // Not created (an error, or the idempotency key's task answers): the place goes back.
            crate::quota::release_place(self.store.as_ref(), &caller.principal, &record.task_id)
                .await;
        }
        match created? {
            CreateOutcome::Created => {
                crate::fault::point("after-create");
                // The task is in the table: answer with it whatever happens to the enqueue. A
                // lost enqueue is the sweeper's to repair (it re-enqueues PENDING tasks past its
                // bound); an error here would make a client without an idempotency key retry,
                // and the tool would run twice.
                if let Err(e) = self.enqueue(&record).await {
                    tracing::warn!(task_id = %record.task_id, error = %e, "enqueue failed after the record was written; the sweeper will enqueue it");
                }
                Ok(SubmitAck::for_record(&record, false))
            }
            CreateOutcome::Existing(existing) => {
                self.answer_existing(caller, &record, *existing).await
            }
        }
    }

    /// The answer to a submit whose idempotency key names `existing`: the same task if `record`
    /// asks for the same thing (enqueued again while it is PENDING), a refusal otherwise.
    async fn answer_existing(
        &self,
        caller: &Caller,
        record: &TaskRecord,
        existing: TaskRecord,
    ) -> Result<SubmitAck, PipelineError> {
        // Idempotency items are keyed by owner; a task id chosen by the caller (`submit_as`) could
        // still name another owner's task, which does not exist for this caller.
        if !caller.owns(&existing) {
            return Err(InputError::new("task_id", "is taken: submit with a fresh id").into());
        }
        let same_request = existing.tool == record.tool
            && existing.arguments == record.arguments
            && existing.deadline_ms == record.deadline_ms
            && existing.reply_to == record.reply_to;
        if !same_request {
            return Err(InputError::new(
                "idempotency_key",
                format!(
                    "{:?} was already used in conversation {} for a different request \
                     (tool, arguments, deadline or reply_to differ)",
                    record.idempotency_key.as_deref().unwrap_or_default(),
                    existing.conversation_id,
                ),
            )
            .into());
        }
        if existing.status == TaskStatus::Pending {
            self.enqueue(&existing).await?;
            self.note_enqueued(&existing).await;
        }
        Ok(SubmitAck::for_record(&existing, true))
    }

    /// Takes a place among the caller's open tasks (at most `limit`) for `task_id`: false when
    /// all are taken.
    async fn take_open_place(
        &self,
        caller: &Caller,
        task_id: &str,
        limit: u32,
        now_ms: u64,
    ) -> Result<bool, PipelineError> {
        // The places live as long as the tasks may, plus a day.
        let expires_at = now_ms / 1000 + (u64::from(self.settings.task_ttl_days) + 1) * 86_400;
        Ok(crate::quota::take_place(
            self.store.as_ref(),
            &self.place_checks,
            &caller.principal,
            task_id,
            limit,
            expires_at,
            now_ms,
        )
        .await?)
    }

    async fn enqueue(&self, record: &TaskRecord) -> Result<(), PipelineError> {
        let queue = self.work_queues.get(&record.tool).ok_or_else(|| {
            InputError::new(
                "tool",
                format!("{:?} has no work queue configured", record.tool),
            )
        })?;
        let body = WorkMessage::new(&record.task_id, &record.tool).to_body();
        queue.send(&body).await?;
        // Chaos tests: the same work message three times, as an at-least-once queue may deliver it.
        if crate::fault::chance("duplicate-enqueue") {
            queue.send(&body).await?;
            queue.send(&body).await?;
        }
        Ok(())
    }

    /// Best effort: the sweeper only looks at how long ago a task was enqueued, so a lost note costs
    /// at most one extra (harmless) message.
    async fn note_enqueued(&self, record: &TaskRecord) {
        let next = record.mark_enqueued(self.settings.clock.now_ms());
        if let Err(e) = self.store.transition(record, &next).await {
            tracing::debug!(task_id = %record.task_id, error = %e, "could not note the re-enqueue");
        }
    }

    /// The caller's task; another owner's task is reported exactly like a missing one.
    pub async fn get(&self, caller: &Caller, task_id: &str) -> Result<TaskRecord, PipelineError> {
        check_task_id(task_id)?;
        match self.store.get(task_id).await? {
            // DynamoDB deletes expired items within days, not at once: past its TTL a task is
            // gone for its owner too, whether or not the item still exists.
            Some(record)
                if caller.owns(&record) && !record.expired(self.settings.clock.now_ms()) =>
            {
                Ok(record)
            }
            _ => Err(PipelineError::NotFound(task_id.to_string())),
        }
    }

    pub async fn list(
        &self,
        caller: &Caller,
        conversation_id: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<TaskPage, PipelineError> {
        check_conversation_id(conversation_id)?;
        let cursor = check_list_args(limit, cursor)?;
        Ok(self
            .store
            .list_by_conversation(&caller.principal, conversation_id, limit, cursor.as_ref())
            .await?)
    }

    /// The caller's terminal tasks that `consumer` has not handed over yet: what a router reconciles.
    pub async fn undelivered(
        &self,
        caller: &Caller,
        consumer: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<TaskPage, PipelineError> {
        check_consumer_name(consumer)?;
        let cursor = check_list_args(limit, cursor)?;
        let page = self
            .store
            .list_undelivered(&caller.principal, consumer, limit, cursor.as_ref())
            .await?;
        Ok(page)
    }

    /// Notes that the caller's consumer handed the result over. Idempotent.
    pub async fn mark_delivered(
        &self,
        caller: &Caller,
        task_id: &str,
    ) -> Result<TaskRecord, PipelineError> {
        let record = self.get(caller, task_id).await?;
        crate::delivery::mark_delivered_with(
            self.store.as_ref(),
            record,
            self.settings.clock.as_ref(),
        )
        .await
    }

    /// Claims the hand-over of the caller's finished task (see `delivery::claim_delivery`): `Won`
    /// when this call marked it delivered, `Lost` when it was handed over before.
    pub async fn claim_delivery(
        &self,
        caller: &Caller,
        record: TaskRecord,
    ) -> Result<crate::delivery::Claim, PipelineError> {
        if !caller.owns(&record) {
            return Err(PipelineError::NotFound(record.task_id));
        }
        crate::delivery::claim_delivery(self.store.as_ref(), record, self.settings.clock.as_ref())
            .await
    }

    /// Takes one of the caller's `limit` slots named `kind` (e.g. calls waiting for results) for
    /// `ttl`, as a lease in the store: `Some(slot)` when one was free. Slots are global to the
    /// deployment (every server instance sees the same ones), and one whose holder died frees
    /// itself when its lease runs out. Release with [`Dispatcher::release_slot`].
    pub async fn take_slot(
        &self,
        caller: &Caller,
        kind: &str,
        limit: u32,
        ttl: std::time::Duration,
    ) -> Result<Option<Slot>, PipelineError> {
        let holder = ulid::Ulid::generate().to_string();
        let now = self.settings.clock.now_ms();
        let until = now + ttl.as_millis() as u64;
        // Start at a random slot, so concurrent takers rarely try the same one first.
        let start = (ulid::Ulid::generate().random() % u128::from(limit.max(1))) as u32;
        for i in 0..limit {
            let name = format!("{kind}#{}#{}", caller.principal, (start + i) % limit);
            if self.store.acquire_lease(&name, &holder, now, until).await? {
                return Ok(Some(Slot { name, holder }));
            }
        }
        Ok(None)
    }

    /// Frees a slot taken with [`Dispatcher::take_slot`].
    pub async fn release_slot(&self, slot: &Slot) -> Result<(), PipelineError> {
        let now = self.settings.clock.now_ms();
        self.store
            .acquire_lease(&slot.name, &slot.holder, now, now)
            .await?;
        Ok(())
    }

    /// PENDING or RUNNING -> CANCELLED, then a CANCELLED result to the consumer. A running tool is
    /// told through its context at its next heartbeat; whatever it returns later is discarded,
    /// because its conditional write loses.
    pub async fn cancel(
        &self,
        caller: &Caller,
        task_id: &str,
    ) -> Result<CancelOutcome, PipelineError> {
        let current = self.get(caller, task_id).await?;
        let clock = self.settings.clock.as_ref();
        let mut refused = None;
        let updated = update_with_retry(self.store.as_ref(), current, |current| {
            if current.status.is_terminal() {
                return None;
            }
            let now = clock.now_ms();
            match current.cancel(now) {
                Ok(next) => {
                    Some(next.with_publisher(CANCEL_PUBLISHER, now + CANCEL_PUBLISH_LEASE_MS))
                }
                Err(e) => {
                    refused = Some(StoreError::IllegalTransition {
                        task_id: e.task_id,
                        from: current.status.to_string(),
                        to: TaskStatus::Cancelled.to_string(),
                    });
                    None
                }
            }
        })
        .await?;
        if let Some(e) = refused {
            return Err(e.into());
        }
        match updated {
            Updated::Written(next) => {
                let published = ensure_published(
                    self.store.as_ref(),
                    &self.replies,
                    next,
                    CANCEL_PUBLISHER,
                    clock,
                )
                .await?;
                let (Publication::Published(record) | Publication::HeldElsewhere(record)) =
                    published;
                Ok(CancelOutcome {
                    record,
                    cancelled: true,
                })
            }
            // Already finished: terminal states never change.
            Updated::Unchanged(record) => Ok(CancelOutcome {
                record,
                cancelled: false,
            }),
            Updated::Missing => Err(PipelineError::NotFound(task_id.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Caller;

    #[test]
    fn each_session_of_a_role_is_its_own_owner_unless_the_role_is_asked_for() {
        use super::OwnerScope::{Role, Session};
        let sso = |who: &str| {
            format!("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Dev_0123abcd/{who}")
        };
        let alice = Caller::from_iam_arn(&sso("alice@example.com"), Session).unwrap();
        let bob = Caller::from_iam_arn(&sso("bob@example.com"), Session).unwrap();
        assert_ne!(
            alice, bob,
            "two people on one permission set are two owners"
        );
        assert_eq!(alice.principal, sso("alice@example.com"));
        let fleet_a =
            Caller::from_iam_arn("arn:aws:sts::123456789012:assumed-role/Agent/i-0abc", Role)
                .unwrap();
        let fleet_b =
            Caller::from_iam_arn("arn:aws:sts::123456789012:assumed-role/Agent/i-0def", Role)
                .unwrap();
        assert_eq!(fleet_a, fleet_b);
        assert_eq!(
            fleet_a.principal,
            "arn:aws:sts::123456789012:assumed-role/Agent"
        );
        for scope in [Session, Role] {
            let user = Caller::from_iam_arn("arn:aws:iam::123456789012:user/alice", scope).unwrap();
            assert_eq!(user.principal, "arn:aws:iam::123456789012:user/alice");
        }
        assert!(Caller::new("a#b").is_err());
        assert!(Caller::new("").is_err());
        assert_eq!(super::OwnerScope::parse("role").unwrap(), Role);
        assert!(
            super::OwnerScope::parse("user")
                .unwrap_err()
                .to_string()
                .contains("neither")
        );
    }
}
