//! The sweeper: nothing is lost between the table and the queues. The dispatcher writes the record,
//! then sends the work message; a worker writes the terminal state, then publishes the result. A
//! process that dies between the two leaves a task the queues know nothing about. The sparse
//! `open_tasks` index holds exactly the tasks that may be in that gap (not terminal, or terminal and
//! not yet published), oldest first, and the sweeper walks it:
//!
//! - PENDING, last enqueued longer ago than the bound: enqueue again;
//! - RUNNING whose lease expired (its worker died) and last enqueued longer ago than the bound:
//!   enqueue again, and the next worker takes the lease over;
//! - terminal and unpublished, with no live publisher: publish.
//!
//! Duplicates are harmless by design (the worker's conditional claim runs the tool once; routers drop
//! results already handed over). It runs in the stack every minute (`sweeper-lambda`), inside every
//! local worker, and as `asynctools tasks sweep`; `tasks stuck` lists the same classification.

use crate::clock::{Clock, SharedClock, system};
use crate::error::{InputError, PipelineError};
use crate::limits::*;
use crate::ports::{MessageQueue, TaskStore, update_with_retry};
use crate::protocol::WorkMessage;
use crate::record::TaskRecord;
use crate::replies::ReplyQueues;
use crate::results::ensure_published;
use crate::state::TaskStatus;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Named as the publisher while the sweeper publishes a result.
const SWEEPER: &str = "sweeper";

/// What a task past the bound needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Remedy {
    /// PENDING, or RUNNING with an expired lease: send the work message again.
    Requeue,
    /// Terminal and its result not published: publish it.
    Publish,
}

/// The sweeper's rule for one open task at `now_ms`; `None` when it is fine (young, running under a
/// live lease, or being published by someone).
pub fn remedy(record: &TaskRecord, now_ms: u64, older_than_ms: u64) -> Option<Remedy> {
    let waited = |since: u64| now_ms.saturating_sub(since) >= older_than_ms;
    match record.status {
        TaskStatus::Pending if waited(record.enqueued_at_ms) => Some(Remedy::Requeue),
        TaskStatus::Running if !record.lease_is_live(now_ms) && waited(record.enqueued_at_ms) => {
            Some(Remedy::Requeue)
        }
        s if s.is_terminal()
            && !record.result_published
            && !record.held_by_other(SWEEPER, now_ms)
            && waited(record.finished_at_ms.unwrap_or(record.updated_at_ms)) =>
        {
            Some(Remedy::Publish)
        }
        _ => None,
    }
}

/// What a task needs when someone asks for it by id (`tasks requeue`), whatever its age: `None`
/// when it is finished and its result published.
pub fn manual_remedy(record: &TaskRecord) -> Option<Remedy> {
    match record.status {
        s if !s.is_terminal() => Some(Remedy::Requeue),
        _ if !record.result_published => Some(Remedy::Publish),
        _ => None,
    }
}

#[derive(Debug, Clone)]
pub struct SweepSettings {
    pub older_than_ms: u64,
    /// At most this many open tasks read per sweep (`MAX_SWEEP_TASKS` at most).
    pub max_tasks: u32,
    /// What ages, leases and publishers' leases are measured against.
    pub clock: SharedClock,
}

impl Default for SweepSettings {
    fn default() -> Self {
        SweepSettings {
            older_than_ms: DEFAULT_SWEEP_OLDER_THAN_S * 1000,
            max_tasks: MAX_SWEEP_TASKS,
            clock: system(),
        }
    }
}

impl SweepSettings {
    /// The default settings with another bound.
    pub fn older_than(older_than: std::time::Duration) -> SweepSettings {
        SweepSettings {
            older_than_ms: older_than.as_millis() as u64,
            ..SweepSettings::default()
        }
    }
}

impl SweepSettings {
    pub fn check(&self) -> Result<(), InputError> {
        if !(1..=MAX_SWEEP_TASKS).contains(&self.max_tasks) {
            return Err(InputError::new(
                "max_tasks",
                format!("{} is outside 1..={MAX_SWEEP_TASKS}", self.max_tasks),
            ));
        }
        Ok(())
    }
}

/// A task past the bound, as `tasks stuck` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StuckTask {
    pub task_id: String,
    pub tool: String,
    pub owner: String,
    pub status: TaskStatus,
    pub age_s: u64,
    pub remedy: Remedy,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SweepReport {
    /// Open tasks read.
    pub scanned: u64,
    pub requeued: u64,
    pub republished: u64,
    /// Age of the oldest open task (the stack alarms on it); `None` when nothing is open.
    pub oldest_open_age_s: Option<u64>,
    /// What needed a remedy (acted on by `sweep`, only listed by `find_stuck`).
    pub stuck: Vec<StuckTask>,
    /// Actions that failed (they are tried again next sweep).
    pub errors: Vec<String>,
}

/// The open tasks past the bound and what each needs, without acting.
pub async fn find_stuck(
    store: &dyn TaskStore,
    settings: SweepSettings,
) -> Result<SweepReport, PipelineError> {
    let mut report = walk(store, settings, |_, _| async { Ok(()) }).await?;
    // Nothing was acted on: the counts of what `sweep` would do are in `stuck`.
    (report.requeued, report.republished) = (0, 0);
    Ok(report)
}

/// One sweep: re-enqueues and publishes what `remedy` says.
pub async fn sweep(
    store: &dyn TaskStore,
    work_queues: &BTreeMap<String, Arc<dyn MessageQueue>>,
    replies: &ReplyQueues,
    settings: SweepSettings,
) -> Result<SweepReport, PipelineError> {
    let clock = settings.clock.clone();
    let clock = clock.as_ref();
    walk(store, settings, |record, remedy| async move {
        apply(store, work_queues, replies, record, remedy, clock).await
    })
    .await
}

/// Applies a remedy to one task (also `tasks requeue`), noting the time on `clock`.
pub async fn apply(
    store: &dyn TaskStore,
    work_queues: &BTreeMap<String, Arc<dyn MessageQueue>>,
    replies: &ReplyQueues,
    record: TaskRecord,
    remedy: Remedy,
    clock: &dyn Clock,
) -> Result<(), PipelineError> {
    match remedy {
        Remedy::Requeue => {
            let queue = work_queues.get(&record.tool).ok_or_else(|| {
                InputError::new(
                    "tool",
                    format!(
                        "task {}: no work queue for tool {:?}",
                        record.task_id, record.tool
                    ),
                )
            })?;
            queue
                .send(&WorkMessage::new(&record.task_id, &record.tool).to_body())
                .await?;
            update_with_retry(store, record, |r| {
                (!r.status.is_terminal()).then(|| r.mark_enqueued(clock.now_ms()))
            })
            .await?;
        }
        Remedy::Publish => {
            ensure_published(store, replies, record, SWEEPER, clock).await?;
        }
    }
    Ok(())
}

async fn walk<F, Fut>(
    store: &dyn TaskStore,
    settings: SweepSettings,
    act: F,
) -> Result<SweepReport, PipelineError>
where
    F: Fn(TaskRecord, Remedy) -> Fut,
    Fut: std::future::Future<Output = Result<(), PipelineError>>,
{
    settings.check()?;
    let now = settings.clock.now_ms();
    let mut report = SweepReport::default();
    let per_shard = settings
        .max_tasks
        .div_ceil(OPEN_SHARDS)
        .clamp(1, MAX_LIST_PAGE);
    for shard in 0..OPEN_SHARDS {
        let mut cursor = None;
        let mut read = 0;
        'shard: loop {
            let page = store
                .list_open(shard, per_shard.min(MAX_LIST_PAGE), cursor.as_ref())
                .await?;
            for (i, record) in page.tasks.into_iter().enumerate() {
                let age_s = now.saturating_sub(record.created_at_ms) / 1000;
                if i == 0 && cursor.is_none() {
                    report.oldest_open_age_s = report.oldest_open_age_s.max(Some(age_s));
                }
                // Oldest first: once one is younger than the bound, so is the rest of the shard.
                if now.saturating_sub(record.created_at_ms) < settings.older_than_ms {
                    break 'shard;
                }
                report.scanned += 1;
                read += 1;
                if let Some(remedy) = remedy(&record, now, settings.older_than_ms) {
                    report.stuck.push(StuckTask {
                        task_id: record.task_id.clone(),
                        tool: record.tool.clone(),
                        owner: record.owner.clone(),
                        status: record.status,
                        age_s,
                        remedy,
                    });
                    let task_id = record.task_id.clone();
                    match act(record, remedy).await {
                        Ok(()) => match remedy {
                            Remedy::Requeue => report.requeued += 1,
                            Remedy::Publish => report.republished += 1,
                        },
                        Err(e) => report.errors.push(format!("task {task_id}: {e}")),
                    }
                }
                if read >= per_shard {
                    break 'shard;
                }
            }
            match page.next_cursor {
                Some(c) => cursor = Some(crate::ports::Cursor::decode(&c)?),
                None => break,
            }
        }
    }
    Ok(report)
}

/// The sweep's figures as one CloudWatch Embedded Metric Format line: printed by the Lambda function,
/// it becomes the metrics the stack alarms on, with no PutMetricData call.
pub fn emf_line(stack: &str, report: &SweepReport, now_ms: u64) -> String {
    serde_json::json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": "AsyncTools",
                "Dimensions": [["Stack"]],
                "Metrics": [
                    {"Name": "OldestOpenTaskAgeSeconds", "Unit": "Seconds"},
                    {"Name": "RequeuedTasks", "Unit": "Count"},
                    {"Name": "RepublishedTasks", "Unit": "Count"}
                ]
            }]
        },
        "Stack": stack,
        "OldestOpenTaskAgeSeconds": report.oldest_open_age_s.unwrap_or(0),
        "RequeuedTasks": report.requeued,
        "RepublishedTasks": report.republished,
    })
    .to_string()
}
