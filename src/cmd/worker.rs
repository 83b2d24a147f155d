//! `worker`: workers that long-poll the work queues with the Lambda handler's code; with the
//! memory backend, a worker that reads task requests from stdin.

use super::backend::{BackendArgs, aws_connection, catalog, shutdown_signal, tool_box};
use super::{CmdError, CmdResult};
use anyhow::anyhow;
use std::time::Duration;
use workers::Backend;
use workers::local::{LineWorker, LineWorkerError, tools_to_serve, worker_id};
use workers::poller::{PoolOptions, WorkerPool};
use workers::sweeper::SweepSettings;

#[derive(clap::Args, Debug)]
pub struct WorkerArgs {
    /// Tools to serve, repeatable (default: every tool of the catalog).
    #[arg(long = "tool")]
    tools: Vec<String>,
    /// Receive loops per tool (default: the tool's max_concurrency, at most 8).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Long-poll wait of each receive (at most 20s).
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    wait: Duration,
    /// Written into leases; default: local:<host>:<pid>.
    #[arg(long)]
    worker_id: Option<String>,
    /// Replace every tool's recovery_s: how long this worker's tasks stay hidden if it dies.
    #[arg(long, value_parser = humantime::parse_duration)]
    recovery: Option<Duration>,
    /// Also sweep the table this often (0s: never); see `tasks sweep`.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    sweep_every: Duration,
    /// The sweep's bound: tasks waiting longer than this are re-enqueued or published.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    sweep_older_than: Duration,
    #[command(flatten)]
    backend: BackendArgs,
}

pub async fn worker(args: WorkerArgs) -> CmdResult {
    let catalog = catalog()?;
    let tools = tools_to_serve(&catalog, &args.tools).map_err(CmdError::input)?;
    let mut options = PoolOptions::new(worker_id(args.worker_id.clone()));
    options.concurrency = args.concurrency;
    options.wait = args.wait;
    options.recovery_ms = args.recovery.map(|d| d.as_millis() as u64);
    options.sweep_every = (!args.sweep_every.is_zero()).then_some(args.sweep_every);
    options.sweep = SweepSettings::older_than(args.sweep_older_than);
    let caller = args.backend.caller()?;
    if !args.backend.is_aws() {
        return memory_worker(tools, options, caller).await;
    }
    let connection = aws_connection(&args.backend).await?;
    let tool_box = tool_box(Some(&connection.sdk)).await?;
    let pool = WorkerPool::start(&connection.backend, &tool_box, &tools, &options)
        .map_err(CmdError::input)?;
    eprintln!(
        "worker {}: serving {} (Ctrl-C or SIGTERM stops after the current batches)",
        options.worker_id,
        tools.join(", ")
    );
    shutdown_signal().await?;
    let stats = pool.stats.clone();
    pool.stop().await;
    eprintln!("worker stopped: {stats:?}");
    Ok(())
}

/// The memory worker reads task requests (JSON lines) from stdin, prints each acknowledgement, and
/// prints results as they land; it exits when stdin is closed and every task has finished.
async fn memory_worker(
    tools: Vec<String>,
    options: PoolOptions,
    caller: workers::Caller,
) -> CmdResult {
    let backend = Backend::in_memory(catalog()?);
    let tool_box = tool_box(None).await?;
    let worker =
        LineWorker::start(&backend, &tool_box, tools, options, caller).map_err(CmdError::input)?;
    eprintln!(
        "worker (memory): reading task requests as JSON lines from stdin; results print as they land"
    );
    let input = std::io::BufReader::new(std::io::stdin());
    let refused = worker
        .run(input, &mut std::io::stdout())
        .await
        .map_err(|e| match e {
            LineWorkerError::Read(e) => CmdError::runtime(anyhow!("reading stdin: {e}")),
            LineWorkerError::Write(e) => CmdError::runtime(e),
            LineWorkerError::Pipeline(e) => super::backend::from_pipeline(e),
        })?;
    if refused > 0 {
        return Err(CmdError::input(anyhow!(
            "{refused} input line(s) were not valid task requests"
        )));
    }
    Ok(())
}
