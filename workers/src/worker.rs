//! The worker: turns one delivery of a work message into at most one run of the tool.
//!
//! Per message: read the task; claim it with a conditional write that carries a lease; run the tool
//! under its budget while a heartbeat renews the lease and the message's visibility every third of
//! the tool's `recovery_s` (so a crashed worker's tasks come back after at most that long, and a
//! cancel reaches the tool); write the terminal state conditionally; publish the result to the
//! consumer's reply queue; ack. Only retryable failures (backend errors, messages naming no task,
//! newer protocol versions, a task running under another live lease) are reported back, so the queue
//! redelivers them and, past its max receive count, moves them to the DLQ.

use crate::catalog::ToolSpec;
use crate::claim::{self, Claimant, Found};
use crate::clock::{Clock, SharedClock, system};
use crate::error::{InputError, PipelineError, StoreError};
use crate::limits::*;
use crate::ports::{
    MessageQueue, PendingClaim, TaskStore, Updated, stored_bytes, update_with_retry,
};
use crate::protocol::{MalformedMessage, ResultMessage, WorkMessage, check_result};
use crate::record::{ErrorKind, Outcome, TaskError, TaskRecord};
use crate::replies::ReplyQueues;
use crate::results::{Publication, ensure_published, send_announced};
use crate::tools::{Tool, ToolBox, ToolContext};
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

mod lease;

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Written into leases: who holds a task.
    pub worker_id: String,
    /// Replaces the tool's `recovery_s` (tests use short ones): the lease and the message's
    /// visibility last this long and are renewed every third of it.
    pub recovery_ms: Option<u64>,
    /// Leases, deadlines and run times are read on it.
    pub clock: SharedClock,
    /// Deliveries come hidden for longer than the lease (an SQS event source hides them for the
    /// queue's visibility timeout, at least the function's timeout): the worker hides its message
    /// for the lease as soon as it claims the task, so a crash before the first heartbeat brings
    /// the task back within the lease, not the visibility timeout. (The local poller receives for
    /// the lease already.)
    pub hide_on_claim: bool,
}

impl WorkerSettings {
    pub fn new(worker_id: impl Into<String>) -> Self {
        WorkerSettings {
            worker_id: worker_id.into(),
            recovery_ms: None,
            clock: system(),
            hide_on_claim: false,
        }
    }
}

/// How long past a live lease's expiry a delivery of the holder's own message is hidden: the
/// task comes back this soon after a crashed holder's lease lapses.
pub const LEASE_MARGIN: Duration = Duration::from_secs(1);

/// One delivery, as both SQS events and queue receives give it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message_id: String,
    pub body: String,
    pub receive_count: u32,
    /// With it the heartbeat keeps the message hidden while the task runs.
    pub receipt_handle: Option<String>,
}

/// What to do with a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Delete it: the task is terminal (or owned by a live lease elsewhere).
    Done(String),
    /// Leave it: it comes back after the visibility timeout, and goes to the DLQ past max receives.
    Retry(String),
}

pub struct Worker {
    spec: ToolSpec,
    tool: Arc<dyn Tool>,
    store: Arc<dyn TaskStore>,
    replies: Arc<ReplyQueues>,
    /// The queue deliveries come from, for the heartbeat's visibility renewals.
    work_queue: Option<Arc<dyn MessageQueue>>,
    worker_id: String,
    lease_ms: u64,
    clock: SharedClock,
    hide_on_claim: bool,
}

/// How many times the terminal write is retried on backend errors before the delivery is given up.
const FINISH_WRITE_ATTEMPTS: u32 = 4;

impl Worker {
    pub fn new(
        spec: ToolSpec,
        tools: &ToolBox,
        store: Arc<dyn TaskStore>,
        replies: Arc<ReplyQueues>,
        work_queue: Option<Arc<dyn MessageQueue>>,
        settings: WorkerSettings,
    ) -> Result<Worker, InputError> {
        let tool = tools.get(&spec.name)?.clone();
        let lease_ms = settings
            .recovery_ms
            .unwrap_or(u64::from(spec.recovery_s) * 1000);
        if !(MIN_RECOVERY_MS..=MAX_RECOVERY_MS).contains(&lease_ms) {
            return Err(InputError::new(
                "recovery_ms",
                format!("{lease_ms} is outside {MIN_RECOVERY_MS}..={MAX_RECOVERY_MS}"),
            ));
        }
        if settings.worker_id.is_empty() {
            return Err(InputError::new("worker_id", "must not be empty"));
        }
        Ok(Worker {
            lease_ms,
            spec,
            tool,
            store,
            replies,
            work_queue,
            worker_id: settings.worker_id,
            clock: settings.clock,
            hide_on_claim: settings.hide_on_claim,
        })
    }

    /// The clock leases and deadlines are read on.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// This worker, as it claims or ends a task with the delivery of `message_id`, now.
    fn claimant<'a>(&'a self, message_id: &'a str) -> Claimant<'a> {
        Claimant {
            worker_id: &self.worker_id,
            spec: &self.spec,
            message_id,
            lease_ms: self.lease_ms,
            now_ms: self.clock.now_ms(),
        }
    }

    /// How often the heartbeat renews a running task's lease and message visibility.
    pub fn heartbeat_every(&self) -> Duration {
        Duration::from_millis(self.lease_ms / 3)
    }

    pub fn tool_name(&self) -> &str {
        &self.spec.name
    }

    pub fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    pub fn lease_ms(&self) -> u64 {
        self.lease_ms
    }

    /// Handles a batch concurrently; returns the message ids to report as batch item failures.
    /// `budget_end_ms` is when the host (Lambda) stops this invocation, if it does.
    pub async fn handle_batch(
        &self,
        deliveries: &[Delivery],
        budget_end_ms: Option<u64>,
    ) -> Vec<String> {
        let dispositions =
            futures::future::join_all(deliveries.iter().map(|d| self.handle(d, budget_end_ms)))
                .await;
        deliveries
            .iter()
            .zip(dispositions)
            .filter_map(|(delivery, disposition)| match disposition {
                Disposition::Done(_) => None,
                Disposition::Retry(reason) => {
                    tracing::warn!(message_id = %delivery.message_id, %reason, "delivery will be retried");
                    Some(delivery.message_id.clone())
                }
            })
            .collect()
    }

    pub async fn handle(&self, delivery: &Delivery, budget_end_ms: Option<u64>) -> Disposition {
        match self.try_handle(delivery, budget_end_ms).await {
            Ok(disposition) => disposition,
            Err(e) => Disposition::Retry(e.to_string()),
        }
    }

    async fn try_handle(
        &self,
        delivery: &Delivery,
        budget_end_ms: Option<u64>,
    ) -> Result<Disposition, PipelineError> {
        let message = match WorkMessage::parse(&delivery.body) {
            Ok(message) => message,
            Err(MalformedMessage {
                newer_version: true,
                reason,
                ..
            }) => return Ok(Disposition::Retry(reason)),
            Err(MalformedMessage {
                task_id: Some(task_id),
                reason,
                ..
            }) => return self.fail_named_task(&task_id, reason).await,
            Err(MalformedMessage {
                task_id: None,
                reason,
                ..
            }) => return Ok(Disposition::Retry(reason)),
        };
        if message.tool != self.spec.name {
            let reason = format!(
                "work message for tool {:?} reached the worker of tool {:?}",
                message.tool, self.spec.name
            );
            return self.fail_named_task(&message.task_id, reason).await;
        }
        // The common case, a task still PENDING, is claimed without reading it first.
        let pending = PendingClaim {
            task_id: &message.task_id,
            tool: &self.spec.name,
            worker_id: &self.worker_id,
            message_id: &delivery.message_id,
            now_ms: self.clock.now_ms(),
            lease_ms: self.lease_ms,
            max_attempts: self.spec.max_receive_count,
        };
        if let Some(claimed) = self.store.claim_pending(&pending).await? {
            if self.hide_on_claim {
                self.hide(delivery, Duration::from_millis(self.lease_ms))
                    .await;
            }
            return self.run_claimed(claimed, delivery, budget_end_ms).await;
        }
        let Some(first) = self.store.get(&message.task_id).await? else {
            return Ok(Disposition::Retry(format!(
                "task {} is not in the store",
                message.task_id
            )));
        };
        let mut found = Found::Nothing;
        let updated = update_with_retry(self.store.as_ref(), first, |current| {
            let claimant = self.claimant(&delivery.message_id);
            claim::for_delivery(current, &claimant)
                .map_err(|why| found = why)
                .ok()
        })
        .await;
        let current = match updated {
            Ok(Updated::Written(next)) if next.status.is_terminal() => {
                return self.publish(next).await;
            }
            Ok(Updated::Written(next)) => {
                if self.hide_on_claim {
                    self.hide(delivery, Duration::from_millis(self.lease_ms))
                        .await;
                }
                return self.run_claimed(next, delivery, budget_end_ms).await;
            }
            Ok(Updated::Unchanged(current)) => current,
            Ok(Updated::Missing) => {
                return Ok(Disposition::Retry(format!(
                    "task {} is not in the store",
                    message.task_id
                )));
            }
            Err(StoreError::Conflict(_)) => {
                return Ok(Disposition::Retry(format!(
                    "task {} kept changing under {MAX_CONFLICT_RETRIES} attempts",
                    message.task_id
                )));
            }
            Err(e) => return Err(e.into()),
        };
        match found {
            Found::WrongTool(reason) => self.fail_named_task(&current.task_id, reason).await,
            // Publish as this delivery, not as the worker: another delivery of the task in this
            // same worker (a duplicate in the batch) may be the finisher, publishing under the
            // worker's id right now; its lease must hold this copy off too.
            Found::Terminal => {
                let me = format!("{}/{}", self.worker_id, delivery.message_id);
                self.publish_as(current, &me).await
            }
            Found::Leased => Ok(self.leased(&current, delivery).await),
            Found::Refused(e) => Err(e),
            Found::Nothing => Ok(Disposition::Retry(format!(
                "task {} could not be claimed",
                current.task_id
            ))),
        }
    }

    async fn run_claimed(
        &self,
        claimed: TaskRecord,
        delivery: &Delivery,
        budget_end_ms: Option<u64>,
    ) -> Result<Disposition, PipelineError> {
        let now = self.clock.now_ms();
        let mut budget_ms = u64::from(self.spec.timeout_s) * 1000;
        if let Some(deadline) = claimed.deadline_ms {
            budget_ms = budget_ms.min(deadline.saturating_sub(now));
        }
        if let Some(end) = budget_end_ms {
            budget_ms = budget_ms.min(end.saturating_sub(now));
        }
        let budget = Duration::from_millis(budget_ms);
        let cancelled = CancellationToken::new();
        let context = ToolContext {
            task_id: claimed.task_id.clone(),
            conversation_id: claimed.conversation_id.clone(),
            budget,
            cancelled: cancelled.clone(),
        };
        let latest = Mutex::new(claimed.clone());
        let run = AssertUnwindSafe(tokio::time::timeout(
            budget,
            self.tool.run(claimed.arguments.clone(), context),
        ))
        .catch_unwind();
        tokio::pin!(run);
        let result = loop {
            tokio::select! {
                result = &mut run => break result,
                () = self.heartbeat(&latest, delivery, &cancelled) => {}
            }
        };
        let outcome = match result {
            Ok(Ok(Ok(value))) => match check_result(&value) {
                Ok(()) => Outcome::Succeeded(value),
                Err(e) => Outcome::Failed(TaskError::new(ErrorKind::ResultTooLarge, e.to_string())),
            },
            Ok(Ok(Err(failure))) if failure.timed_out => Outcome::TimedOut(failure.message),
            Ok(Ok(Err(failure))) if failure.result_too_large => {
                Outcome::Failed(TaskError::new(ErrorKind::ResultTooLarge, failure.message))
            }
            Ok(Ok(Err(failure))) => {
                Outcome::Failed(TaskError::new(ErrorKind::ToolFailed, failure.message))
            }
            Err(_panic) => {
                Outcome::Failed(TaskError::new(ErrorKind::ToolFailed, "the tool panicked"))
            }
            Ok(Err(_elapsed)) => {
                Outcome::TimedOut(format!("the run exceeded its budget of {budget_ms} ms"))
            }
        };
        let held = latest.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let me = self.worker_id.clone();
        let mut outcome = fit(&held, outcome, &me, self.clock.now_ms());
        let mut attempt = 0;
        let mut fell_back = false;
        loop {
            attempt += 1;
            // Re-read on conflicts: a heartbeat cut short may still have renewed the lease (a new
            // revision), which is no reason to lose the run; a cancel or a takeover is.
            let written = update_with_retry(self.store.as_ref(), held.clone(), |current| {
                let ours = current.status == crate::state::TaskStatus::Running
                    && current.lease_owner.as_deref() == Some(me.as_str());
                if !ours {
                    return None;
                }
                // The finisher publishes next, and the terminal write says so (one write less per
                // task: `TaskRecord::announced`); its publishing lease starts now.
                let now = self.clock.now_ms();
                current
                    .finish(outcome.clone(), now)
                    .ok()
                    .map(|r| r.with_publisher(&me, now + self.lease_ms).announced())
            })
            .await
            .map(Updated::record);
            match written {
                Ok(Some(record)) if record.status.is_terminal() => {
                    if record.lease_owner.as_deref() == Some(me.as_str())
                        && record.finished_at_ms.is_some()
                        && record.attempts == held.attempts
                    {
                        crate::fault::point("after-finish");
                        send_announced(self.store.as_ref(), &self.replies, &record).await;
                        return Ok(Disposition::Done(format!(
                            "task {} is {}",
                            record.task_id, record.status
                        )));
                    }
                    return self.after_lost_finish(&held).await;
                }
                Ok(_) => return self.after_lost_finish(&held).await,
                // The store refused the record for its size: retrying the same write cannot help,
                // and would end the task `abandoned` with the real outcome lost. A minimal failure
                // saying why takes its place.
                Err(e @ StoreError::TooLarge { .. }) if !fell_back => {
                    tracing::warn!(task_id = %held.task_id, error = %e, "terminal record too large; writing a minimal failure");
                    fell_back = true;
                    outcome = Outcome::Failed(TaskError::new(
                        ErrorKind::ResultTooLarge,
                        format!(
                            "the task ended {} but its outcome could not be stored: {e}",
                            outcome_status(&outcome)
                        ),
                    ));
                }
                Err(e) if attempt < FINISH_WRITE_ATTEMPTS => {
                    tracing::warn!(task_id = %held.task_id, error = %e, "terminal write failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The terminal write lost: the task was cancelled meanwhile, or our lease was taken over.
    async fn after_lost_finish(&self, claimed: &TaskRecord) -> Result<Disposition, PipelineError> {
        let Some(latest) = self.store.get(&claimed.task_id).await? else {
            return Ok(Disposition::Done(format!(
                "task {} disappeared",
                claimed.task_id
            )));
        };
        if latest.status.is_terminal() {
            tracing::info!(task_id = %latest.task_id, status = %latest.status, "run result discarded: task already ended");
            return self.publish(latest).await;
        }
        Ok(Disposition::Done(format!(
            "task {} was taken over by {:?}; this run's result is discarded",
            latest.task_id, latest.lease_owner
        )))
    }

    async fn publish(&self, record: TaskRecord) -> Result<Disposition, PipelineError> {
        self.publish_as(record, &self.worker_id).await
    }

    async fn publish_as(&self, record: TaskRecord, me: &str) -> Result<Disposition, PipelineError> {
        let clock = self.clock.as_ref();
        match ensure_published(self.store.as_ref(), &self.replies, record, me, clock).await? {
            Publication::Published(record) => Ok(Disposition::Done(format!(
                "task {} is {}",
                record.task_id, record.status
            ))),
            // Its publisher's own delivery stays in flight until it has published; this copy comes
            // back after the visibility timeout and finds it done (or publishes, if that one died).
            Publication::HeldElsewhere(record) => Ok(Disposition::Retry(format!(
                "task {} is {}; {:?} is publishing its result",
                record.task_id,
                record.status,
                record.lease_owner.as_deref().unwrap_or_default()
            ))),
        }
    }

    /// A message that names a task but cannot be used: the task is failed, not retried forever.
    async fn fail_named_task(
        &self,
        task_id: &str,
        reason: String,
    ) -> Result<Disposition, PipelineError> {
        let Some(first) = self.store.get(task_id).await? else {
            return Ok(Disposition::Retry(format!(
                "{reason} (and task {task_id} is not in the store)"
            )));
        };
        let mut found = Found::Nothing;
        let updated = update_with_retry(self.store.as_ref(), first, |current| {
            let claimant = self.claimant("");
            claim::for_malformed(current, &claimant, &reason)
                .map_err(|why| found = why)
                .ok()
        })
        .await;
        match (updated, found) {
            (Ok(Updated::Written(next)), _) => self.publish(next).await,
            (Ok(Updated::Unchanged(current)), Found::Terminal) => self.publish(current).await,
            (Ok(Updated::Unchanged(_)), Found::Leased) => Ok(Disposition::Retry(format!(
                "{reason}; task {task_id} is running under a live lease"
            ))),
            (Ok(Updated::Unchanged(_)), Found::Refused(e)) => Err(e),
            (Ok(Updated::Missing), _) => Ok(Disposition::Retry(format!(
                "{reason} (and task {task_id} is not in the store)"
            ))),
            (Err(StoreError::Conflict(_)) | Ok(_), _) => Ok(Disposition::Retry(reason)),
            (Err(e), _) => Err(e.into()),
        }
    }
}

/// `outcome` as it can be written and published: if the record it makes would be larger than a
/// store keeps, or its result message larger than a queue takes (both measured on the bytes
/// stored and sent), a FAILED `result_too_large` saying which, with the size and the limit.
fn fit(held: &TaskRecord, outcome: Outcome, me: &str, now_ms: u64) -> Outcome {
    let Ok(finished) = held.finish(outcome.clone(), now_ms) else {
        return outcome;
    };
    let finished = finished.with_publisher(me, now_ms);
    let stored = stored_bytes(&finished);
    let why = if stored > MAX_RECORD_BYTES {
        Some(format!(
            "the task ended {} but its record would be {stored} bytes; the limit of a record is {} \
             bytes",
            finished.status, MAX_RECORD_BYTES
        ))
    } else {
        ResultMessage::for_record(&finished).too_large()
    };
    match why {
        Some(why) => {
            tracing::warn!(task_id = %held.task_id, %why, "outcome too large; failing the task as result_too_large");
            Outcome::Failed(TaskError::new(ErrorKind::ResultTooLarge, why))
        }
        None => outcome,
    }
}

fn outcome_status(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Succeeded(_) => "SUCCEEDED",
        Outcome::Failed(_) => "FAILED",
        Outcome::TimedOut(_) => "TIMED_OUT",
    }
}
