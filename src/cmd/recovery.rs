//! `tasks sweep|stuck|requeue`: what the stack's sweeper does, on demand.

use super::backend::{BackendArgs, aws_backend, from_pipeline, print_json};
use super::{CmdError, CmdResult};
use anyhow::anyhow;
use serde_json::json;
use std::time::Duration;
use workers::sweeper::{SweepSettings, manual_remedy};
use workers::{Backend, PipelineError};

#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    /// Tasks waiting longer than this count as stuck.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    older_than: Duration,
    #[command(flatten)]
    backend: BackendArgs,
}

#[derive(clap::Args, Debug)]
pub struct RequeueArgs {
    /// The task to re-enqueue (or whose result to publish, if it has finished).
    #[arg(required_unless_present = "stuck", conflicts_with = "stuck")]
    task_id: Option<String>,
    /// Every stuck task (as `tasks stuck` lists them).
    #[arg(long)]
    stuck: bool,
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    older_than: Duration,
    #[command(flatten)]
    backend: BackendArgs,
}

pub async fn sweep(args: SweepArgs) -> CmdResult {
    args.backend.require_aws("tasks sweep")?;
    let backend = aws_backend(&args.backend).await?;
    sweep_once(&backend, args.older_than).await
}

async fn sweep_once(backend: &Backend, older_than: Duration) -> CmdResult {
    let report = workers::sweeper::sweep(
        backend.store.as_ref(),
        &backend.work_queues,
        &backend.replies,
        SweepSettings::older_than(older_than),
    )
    .await
    .map_err(from_pipeline)?;
    print_json(&report)
}

pub async fn stuck(args: SweepArgs) -> CmdResult {
    args.backend.require_aws("tasks stuck")?;
    let backend = aws_backend(&args.backend).await?;
    let settings = SweepSettings::older_than(args.older_than);
    let report = workers::sweeper::find_stuck(backend.store.as_ref(), settings)
        .await
        .map_err(from_pipeline)?;
    let dead_letters = backend
        .dead_letter_depths()
        .await
        .map_err(|e| CmdError::runtime(anyhow!(e)))?;
    print_json(&json!({
        "older_than_s": args.older_than.as_secs(),
        "oldest_open_age_s": report.oldest_open_age_s,
        "stuck": report.stuck,
        "dead_letter_queues": dead_letters,
    }))
}

pub async fn requeue(args: RequeueArgs) -> CmdResult {
    args.backend.require_aws("tasks requeue")?;
    let backend = aws_backend(&args.backend).await?;
    if args.stuck {
        return sweep_once(&backend, args.older_than).await;
    }
    let task_id = args.task_id.unwrap_or_default();
    workers::protocol::check_task_id(&task_id).map_err(CmdError::input)?;
    let record = backend
        .store
        .get(&task_id)
        .await
        .map_err(|e| from_pipeline(e.into()))?
        .ok_or_else(|| from_pipeline(PipelineError::NotFound(task_id.clone())))?;
    let Some(remedy) = manual_remedy(&record) else {
        return Err(CmdError::input(anyhow!(
            "task {task_id} is {} and its result was published: nothing to requeue",
            record.status
        )));
    };
    let clock = workers::clock::SystemClock;
    let applied = workers::sweeper::apply(
        backend.store.as_ref(),
        &backend.work_queues,
        &backend.replies,
        record,
        remedy,
        &clock,
    )
    .await
    .map_err(from_pipeline)?;
    print_json(&json!({ "task_id": task_id, "done": remedy, "outcome": applied }))
}
