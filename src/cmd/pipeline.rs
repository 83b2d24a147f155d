//! `tasks`, `worker`, `local`, `demo`: the task pipeline commands, a thin layer over `workers`.
//!
//! Backends: `memory` (the default) keeps everything inside this one process, so it suits `demo`,
//! `tasks submit` (which then runs a worker in-process and waits for the result) and `worker` (which
//! reads task requests from stdin); `aws` uses DynamoDB and SQS, deployed or on an emulator made by
//! `local up`, and every command works against it across processes.

use super::local::{DemoArgs, LocalUpArgs, demo, local_up};
use super::recovery::{RequeueArgs, SweepArgs, requeue, stuck, sweep};
use super::tasks::{
    ListArgs, StatusArgs, SubmitArgs, WatchArgs, cancel, list, status, submit, watch,
};
use super::worker::{WorkerArgs, worker};
use super::{CmdError, CmdResult};
use anyhow::anyhow;

#[derive(clap::Subcommand, Debug)]
pub enum PipelineCommand {
    /// Submit tool calls and follow them: submit, status, list, cancel, watch.
    #[command(subcommand)]
    Tasks(TasksCommand),
    /// Run workers that long-poll the work queues with the Lambda handler's code.
    Worker(WorkerArgs),
    /// Create the stack's table and queues on a local emulator.
    #[command(subcommand)]
    Local(LocalCommand),
    /// Replay the seed's example end to end on the in-memory backend.
    Demo(DemoArgs),
}

#[derive(clap::Subcommand, Debug)]
pub enum TasksCommand {
    /// Submit a tool call; prints the acknowledgement at once (memory backend: then waits for the result).
    Submit(SubmitArgs),
    /// Print a task's record.
    Status(StatusArgs),
    /// List a conversation's tasks, oldest first.
    List(ListArgs),
    /// Cancel a pending or running task (a running tool is told at its next heartbeat; whatever it
    /// returns is discarded).
    Cancel(StatusArgs),
    /// Hand over a consumer's results as they arrive, each exactly once (JSON lines).
    Watch(WatchArgs),
    /// Re-enqueue lost tasks and publish unpublished results once (what the stack's sweeper does).
    Sweep(SweepArgs),
    /// List open tasks past a bound, unpublished results and DLQ depths, without acting.
    Stuck(SweepArgs),
    /// Send a task's work message again (or publish its result), or do so for every stuck task.
    Requeue(RequeueArgs),
    ExportLatencies(super::export::ExportLatenciesArgs),
}

#[derive(clap::Subcommand, Debug)]
pub enum LocalCommand {
    /// Create the table and queues on an emulator and write the stack outputs file.
    Up(LocalUpArgs),
}

pub fn run(cmd: PipelineCommand) -> CmdResult {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CmdError::runtime(anyhow!("starting the async runtime: {e}")))?;
    runtime.block_on(async {
        match cmd {
            PipelineCommand::Tasks(TasksCommand::Submit(args)) => submit(args).await,
            PipelineCommand::Tasks(TasksCommand::Status(args)) => status(args).await,
            PipelineCommand::Tasks(TasksCommand::List(args)) => list(args).await,
            PipelineCommand::Tasks(TasksCommand::Cancel(args)) => cancel(args).await,
            PipelineCommand::Tasks(TasksCommand::Watch(args)) => watch(args).await,
            PipelineCommand::Tasks(TasksCommand::Sweep(args)) => sweep(args).await,
            PipelineCommand::Tasks(TasksCommand::Stuck(args)) => stuck(args).await,
            PipelineCommand::Tasks(TasksCommand::Requeue(args)) => requeue(args).await,
            PipelineCommand::Tasks(TasksCommand::ExportLatencies(args)) => {
                super::export::export_latencies(args).await
            }
            PipelineCommand::Worker(args) => worker(args).await,
            PipelineCommand::Local(LocalCommand::Up(args)) => local_up(args).await,
            PipelineCommand::Demo(args) => demo(args).await,
        }
    })
}
