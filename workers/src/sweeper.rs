//! The sweeper: nothing is lost between the table and the queues. The dispatcher writes the record,
//! then sends the work message; a worker writes the terminal state, then publishes the result. A
//! process that dies between the two leaves a task the queues know nothing about. The sparse
//! `open_tasks` index holds exactly the tasks that may be in that gap (not terminal, or terminal and
//! not yet published), oldest first, and the sweeper walks it:
//!
//! - PENDING, last enqueued longer ago than the bound: enqueue again;
//! - RUNNING whose lease expired (its worker died) and last enqueued longer ago than the bound:
//!   enqueue again, and the next worker takes the lease over;
//! - terminal and unpublished, with no live publisher: publish (a result whose message is too large
//!   to send is published as FAILED `result_too_large`: `TaskRecord::make_publishable`).
//!
//! It pages through every shard, the shards taking turns a page at a time within a per-sweep
//! budget (tasks read, and the Lambda function's time). A task whose remedy fails is set aside
//! (the index's aside shard, `limits::ASIDE_SHARD`) and retried there each sweep, counted as
//! `UnfixableTasks` (the stack alarms on it) while it keeps failing: nothing it cannot fix stands in
//! front of what it can, however many there are.
//!
//! Duplicates are harmless by design (the worker's conditional claim runs the tool once; routers drop
//! results already handed over). It runs in the stack every minute (`sweeper-lambda`), inside every
//! local worker, and as `asynctools tasks sweep`; `tasks stuck` lists the same classification.

use crate::clock::{Clock, SharedClock, system};
use crate::error::{InputError, PipelineError};
use crate::limits::*;
use crate::ports::{MessageQueue, TaskStore, Updated, update_with_retry};
use crate::protocol::WorkMessage;
use crate::record::{ErrorKind, TaskRecord};
use crate::replies::ReplyQueues;
use crate::results::{Publication, ensure_published};
use crate::state::TaskStatus;
use futures::StreamExt;
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
    /// The sweep's budget: at most this many open tasks read (1..=`MAX_SWEEP_TASKS`; default
    /// `DEFAULT_SWEEP_TASKS`), the shards taking turns a page at a time, so a crowded shard gets
    /// what the others leave and cannot take their share.
    pub max_tasks: u32,
    /// No page is read after this time (epoch ms on `clock`): the Lambda function stops its walk
    /// before its own timeout, so its figures are still logged.
    pub stop_at_ms: Option<u64>,
    /// What ages, leases and publishers' leases are measured against.
    pub clock: SharedClock,
}

impl Default for SweepSettings {
    fn default() -> Self {
        SweepSettings {
            older_than_ms: DEFAULT_SWEEP_OLDER_THAN_S * 1000,
            max_tasks: DEFAULT_SWEEP_TASKS,
            stop_at_ms: None,
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
    /// Why an earlier sweep set it aside (its remedy failed), if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_aside: Option<String>,
}

/// Errors a report lists at most (`unfixable` counts them all).
pub const MAX_REPORTED_ERRORS: usize = 100;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SweepReport {
    /// Open tasks read.
    pub scanned: u64,
    pub requeued: u64,
    /// Results published (those failed as `result_too_large` included).
    pub republished: u64,
    /// Results that could never be published (their message over the limit), published instead
    /// as FAILED `result_too_large` (`TaskRecord::make_publishable`).
    pub failed_too_large: u64,
    /// Tasks whose remedy failed in this sweep (set aside now, or already): `UnfixableTasks`.
    pub unfixable: u64,
    /// Of them, set aside by this sweep.
    pub set_aside: u64,
    /// Age of the oldest open task not set aside (the stack alarms on it); `None` when nothing is
    /// open. Tasks set aside are counted by `unfixable` instead.
    pub oldest_open_age_s: Option<u64>,
    /// The budget (tasks read, or time) ran out before every shard's old tasks were read; the
    /// next sweep starts again from the oldest.
    pub budget_exhausted: bool,
    /// What needed a remedy (acted on by `sweep`, only listed by `find_stuck`).
    pub stuck: Vec<StuckTask>,
    /// Actions that failed (tried again next sweep), the first `MAX_REPORTED_ERRORS` of them.
    pub errors: Vec<String>,
}

/// What a remedy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    Requeued,
    Published,
    /// Its result message was too large to send: published as FAILED `result_too_large`.
    FailedTooLarge,
    /// Someone else holds the publishing lease; left to them.
    LeftToPublisher,
}

/// How one task of a walk ended.
enum Acted {
    Done(Applied),
    Failed { error: String, set_aside: bool },
}

/// The open tasks past the bound and what each needs, without acting.
pub async fn find_stuck(
    store: &dyn TaskStore,
    settings: SweepSettings,
) -> Result<SweepReport, PipelineError> {
    let mut report = walk(store, settings, |_, remedy, _| async move {
        Acted::Done(match remedy {
            Remedy::Requeue => Applied::Requeued,
            Remedy::Publish => Applied::Published,
        })
    })
    .await?;
    // Nothing was acted on: the counts of what `sweep` would do are in `stuck`.
    (report.requeued, report.republished) = (0, 0);
    Ok(report)
}

/// One sweep: re-enqueues and publishes what `remedy` says. A task whose remedy fails is set aside
/// (`TaskRecord::mark_set_aside`: the `open_tasks` index's aside shard), where each later sweep
/// tries it again after the others' pages and counts it in `unfixable` while it keeps failing; so
/// however many tasks cannot be fixed, they never stand in front of those that can.
pub async fn sweep(
    store: &dyn TaskStore,
    work_queues: &BTreeMap<String, Arc<dyn MessageQueue>>,
    replies: &ReplyQueues,
    settings: SweepSettings,
) -> Result<SweepReport, PipelineError> {
    let clock = settings.clock.clone();
    let clock = clock.as_ref();
    let older_than_ms = settings.older_than_ms;
    walk(store, settings, |record, remedy, aside| async move {
        let error = match apply(store, work_queues, replies, record.clone(), remedy, clock).await {
            Ok(applied) => return Acted::Done(applied),
            Err(e) => e.to_string(),
        };
        let set_aside =
            !aside && put_aside(store, record, remedy, &error, older_than_ms, clock).await;
        Acted::Failed { error, set_aside }
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
) -> Result<Applied, PipelineError> {
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
            Ok(Applied::Requeued)
        }
        Remedy::Publish => {
            let was_too_large = is_too_large_failure(&record);
            match ensure_published(store, replies, record, SWEEPER, clock).await? {
                Publication::Published(r) if !was_too_large && is_too_large_failure(&r) => {
                    Ok(Applied::FailedTooLarge)
                }
                Publication::Published(_) => Ok(Applied::Published),
                Publication::HeldElsewhere(_) => Ok(Applied::LeftToPublisher),
            }
        }
    }
}

fn is_too_large_failure(record: &TaskRecord) -> bool {
    record
        .error
        .as_ref()
        .is_some_and(|e| e.kind == ErrorKind::ResultTooLarge)
}

/// Sets `record` aside after its remedy failed with `error`, unless it has meanwhile moved on (or
/// is already aside). Whether it did.
async fn put_aside(
    store: &dyn TaskStore,
    record: TaskRecord,
    needed: Remedy,
    error: &str,
    older_than_ms: u64,
    clock: &dyn Clock,
) -> bool {
    let task_id = record.task_id.clone();
    let written = update_with_retry(store, record, |r| {
        let now = clock.now_ms();
        (r.set_aside.is_none() && remedy(r, now, older_than_ms) == Some(needed))
            .then(|| r.mark_set_aside(error, now))
    })
    .await;
    match written {
        Ok(Updated::Written(_)) => true,
        Ok(_) => false,
        Err(e) => {
            tracing::warn!(%task_id, error = %e, "could not set the task aside");
            false
        }
    }
}

/// One shard's walk through a sweep.
struct ShardWalk {
    shard: u32,
    cursor: Option<crate::ports::Cursor>,
    done: bool,
}

async fn walk<F, Fut>(
    store: &dyn TaskStore,
    settings: SweepSettings,
    act: F,
) -> Result<SweepReport, PipelineError>
where
    F: Fn(TaskRecord, Remedy, bool) -> Fut,
    Fut: std::future::Future<Output = Acted>,
{
    settings.check()?;
    let now = settings.clock.now_ms();
    let mut report = SweepReport::default();
    let mut budget = u64::from(settings.max_tasks);
    let mut walks: Vec<ShardWalk> = (0..OPEN_SHARDS)
        .chain([ASIDE_SHARD])
        .map(|shard| ShardWalk {
            shard,
            cursor: None,
            done: false,
        })
        .collect();
    // The shards take turns, a page each, until each has no old task left or the budget is spent.
    while walks.iter().any(|w| !w.done) {
        for walk in walks.iter_mut().filter(|w| !w.done) {
            if budget == 0 || out_of_time(&settings) {
                report.budget_exhausted = true;
                return Ok(report);
            }
            let aside = walk.shard == ASIDE_SHARD;
            let limit = budget.min(u64::from(MAX_LIST_PAGE)) as u32;
            let first_page = walk.cursor.is_none();
            let page = store
                .list_open(walk.shard, limit, walk.cursor.as_ref())
                .await?;
            let mut todo = Vec::new();
            for (i, record) in page.tasks.into_iter().enumerate() {
                let age_ms = now.saturating_sub(record.created_at_ms);
                if !aside {
                    if i == 0 && first_page {
                        report.oldest_open_age_s =
                            report.oldest_open_age_s.max(Some(age_ms / 1000));
                    }
                    // Oldest first: once one is younger than the bound, so is the rest of the shard.
                    if age_ms < settings.older_than_ms {
                        walk.done = true;
                        break;
                    }
                } else if record.set_aside.as_ref().is_some_and(|s| s.at_ms >= now) {
                    // Set aside by this very sweep: tried once already (its read still counts).
                    budget -= 1;
                    continue;
                }
                report.scanned += 1;
                budget -= 1;
                if let Some(remedy) = remedy(&record, now, settings.older_than_ms) {
                    report.stuck.push(StuckTask {
                        task_id: record.task_id.clone(),
                        tool: record.tool.clone(),
                        owner: record.owner.clone(),
                        status: record.status,
                        age_s: age_ms / 1000,
                        remedy,
                        set_aside: record.set_aside.as_ref().map(|s| s.reason.clone()),
                    });
                    todo.push((record, remedy));
                }
            }
            // Remedies start only while there is time: each may take several AWS calls.
            let settings = &settings;
            let acts = todo.into_iter().map(|(record, remedy)| {
                let task_id = record.task_id.clone();
                let acted = act(record, remedy, aside);
                async move {
                    if out_of_time(settings) {
                        return (task_id, None);
                    }
                    (task_id, Some(acted.await))
                }
            });
            let mut acted = futures::stream::iter(acts).buffer_unordered(SWEEP_CONCURRENCY);
            while let Some((task_id, acted)) = acted.next().await {
                let Some(acted) = acted else {
                    report.budget_exhausted = true;
                    continue;
                };
                match acted {
                    Acted::Done(Applied::Requeued) => report.requeued += 1,
                    Acted::Done(Applied::Published) => report.republished += 1,
                    Acted::Done(Applied::FailedTooLarge) => {
                        report.republished += 1;
                        report.failed_too_large += 1;
                    }
                    Acted::Done(Applied::LeftToPublisher) => {}
                    Acted::Failed { error, set_aside } => {
                        report.unfixable += 1;
                        report.set_aside += u64::from(set_aside);
                        if report.errors.len() < MAX_REPORTED_ERRORS {
                            report.errors.push(format!("task {task_id}: {error}"));
                        }
                    }
                }
            }
            match page.next_cursor {
                Some(c) if !walk.done => walk.cursor = Some(crate::ports::Cursor::decode(&c)?),
                _ => walk.done = true,
            }
        }
    }
    Ok(report)
}

/// Whether the sweep is past its `stop_at_ms`.
fn out_of_time(settings: &SweepSettings) -> bool {
    settings
        .stop_at_ms
        .is_some_and(|stop| settings.clock.now_ms() >= stop)
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
                    {"Name": "RepublishedTasks", "Unit": "Count"},
                    {"Name": "ResultTooLargeTasks", "Unit": "Count"},
                    {"Name": "UnfixableTasks", "Unit": "Count"}
                ]
            }]
        },
        "Stack": stack,
        "OldestOpenTaskAgeSeconds": report.oldest_open_age_s.unwrap_or(0),
        "RequeuedTasks": report.requeued,
        "RepublishedTasks": report.republished,
        "ResultTooLargeTasks": report.failed_too_large,
        "UnfixableTasks": report.unfixable,
    })
    .to_string()
}
