//! `tasks submit|status|list|cancel|watch`: tool calls through the dispatcher, and the results
//! handed over as they arrive.

use super::backend::{
    BackendArgs, aws_backend, catalog, client, from_client, from_pipeline, print_json, print_line,
    shutdown_signal, to_value, tool_box,
};
use super::{CmdError, CmdResult};
use serde::Serialize;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;
use workers::delivery::{FileSink, ResultSink, StdoutSink, WatchLimits};
use workers::limits::{DEFAULT_CONSUMER, DEFAULT_LIST_PAGE};
use workers::poller::{PoolOptions, WorkerPool};
use workers::{
    Backend, ClientError, DispatcherSettings, InputError, PipelineError, ResultMessage, TaskClient,
    TaskRequest,
};

#[derive(clap::Args, Debug)]
pub struct SubmitArgs {
    /// The tool, from the catalog (workers/tools.toml).
    tool: String,
    /// The tool's arguments, a JSON object (at most 64 KiB).
    #[arg(long = "args", value_name = "JSON", default_value = "{}")]
    arguments: String,
    /// The conversation the task belongs to (`tasks watch` and `tasks list` select by it).
    #[arg(long, default_value = "cli")]
    conversation: String,
    /// The same key in the same conversation returns the same task instead of a new one.
    #[arg(long)]
    idempotency_key: Option<String>,
    /// Give up on the task unless it starts within this long (e.g. 30s, 5m).
    #[arg(long, value_parser = humantime::parse_duration)]
    deadline: Option<Duration>,
    /// The consumer whose reply queue gets the result (`tasks watch --consumer`).
    #[arg(long, default_value = DEFAULT_CONSUMER)]
    reply_to: String,
    /// Wait for the task to finish and print its result message (always on with the memory backend).
    #[arg(long)]
    wait: bool,
    /// How long --wait waits.
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    wait_timeout: Duration,
    #[command(flatten)]
    backend: BackendArgs,
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    task_id: String,
    #[command(flatten)]
    backend: BackendArgs,
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    #[arg(long)]
    conversation: String,
    /// Tasks per page (1..=100).
    #[arg(long, default_value_t = DEFAULT_LIST_PAGE)]
    limit: u32,
    /// The `next_cursor` of the previous page.
    #[arg(long)]
    cursor: Option<String>,
    #[command(flatten)]
    backend: BackendArgs,
}

#[derive(clap::Args, Debug)]
pub struct WatchArgs {
    /// The consumer whose reply queue to read: every result of yours sent to it, any conversation.
    #[arg(long, default_value = DEFAULT_CONSUMER)]
    consumer: String,
    /// Append results to this file instead of printing them. The file is the checkpoint: a
    /// restarted watcher skips what it holds, so each result lands in it exactly once.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Stop after this many results.
    #[arg(long)]
    count: Option<usize>,
    /// Stop after this long (default: run until interrupted).
    #[arg(long, value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    #[command(flatten)]
    backend: BackendArgs,
}

/// Short enough that Ctrl-C ends `tasks watch` promptly.
const WATCH_POLL_WAIT: Duration = Duration::from_secs(2);

pub async fn submit(args: SubmitArgs) -> CmdResult {
    let arguments: Value = serde_json::from_str(&args.arguments)
        .map_err(|e| CmdError::input(InputError::new("--args", format!("is not JSON: {e}"))))?;
    let deadline_ms = args
        .deadline
        .map(|d| workers::clock::now_ms() + d.as_millis() as u64);
    let request = TaskRequest {
        idempotency_key: args.idempotency_key.clone(),
        deadline_ms,
        reply_to: Some(args.reply_to.clone()),
        ..TaskRequest::new(&args.conversation, &args.tool, arguments)
    };
    let (client, pool) = if args.backend.is_aws() {
        (client(&args.backend).await?, None)
    } else {
        let (client, pool) = in_process(&args, &request).await?;
        (client, Some(pool))
    };
    let ack = client.submit(request).await.map_err(from_client)?;
    print_line(&to_value(&ack)?)?;
    if args.wait || pool.is_some() {
        let record = client
            .wait(&ack.task_id, args.wait_timeout)
            .await
            .map_err(from_client)?;
        print_line(&ResultMessage::for_record(&record))?;
    }
    if let Some(pool) = pool {
        pool.stop().await;
    }
    Ok(())
}

/// With the memory backend: the dispatcher and a worker for the tool, in this process.
async fn in_process(
    args: &SubmitArgs,
    request: &TaskRequest,
) -> Result<(TaskClient, WorkerPool), CmdError> {
    let backend = Backend::in_memory(catalog()?);
    // Validate before starting a worker, so bad input fails with the request's own error.
    request
        .validate(&backend.catalog, workers::clock::now_ms())
        .map_err(CmdError::input)?;
    let mut options = PoolOptions::new(workers::local::worker_id(None));
    options.wait = Duration::from_secs(1);
    let tools = tool_box(None).await?;
    let pool = WorkerPool::start(&backend, &tools, std::slice::from_ref(&args.tool), &options)
        .map_err(CmdError::input)?;
    let dispatcher = backend
        .dispatcher(tools, DispatcherSettings::default())
        .map_err(CmdError::input)?;
    let client = TaskClient::InProcess {
        dispatcher: Box::new(dispatcher),
        caller: args.backend.caller()?,
    };
    Ok((client, pool))
}

/// One call of the dispatcher's API, for a command that needs the AWS backend; prints the answer.
async fn answer<T: Serialize>(
    backend: &BackendArgs,
    command: &str,
    call: impl AsyncFnOnce(&TaskClient) -> Result<T, ClientError>,
) -> CmdResult {
    backend.require_aws(command)?;
    let client = client(backend).await?;
    let answer = call(&client).await.map_err(from_client)?;
    print_json(&to_value(&answer)?)
}

pub async fn status(args: StatusArgs) -> CmdResult {
    let get = async |c: &TaskClient| c.get(&args.task_id).await;
    answer(&args.backend, "tasks status", get).await
}

pub async fn list(args: ListArgs) -> CmdResult {
    let cursor = args.cursor.as_deref();
    let list = async |c: &TaskClient| c.list(&args.conversation, args.limit, cursor).await;
    answer(&args.backend, "tasks list", list).await
}

/// Cancels a pending or running task; prints whether it did, and the task.
pub async fn cancel(args: StatusArgs) -> CmdResult {
    let cancel = async |c: &TaskClient| c.cancel(&args.task_id).await;
    answer(&args.backend, "tasks cancel", cancel).await
}

pub async fn watch(args: WatchArgs) -> CmdResult {
    args.backend.require_aws("tasks watch")?;
    let caller = args.backend.caller()?;
    let backend = aws_backend(&args.backend).await?;
    let mut router = backend
        .router(&caller.principal, &args.consumer)
        .map_err(CmdError::input)?
        .with_delete_linger(Duration::from_millis(workers::limits::DELETE_LINGER_MS));
    let mut sink: Box<dyn ResultSink> = match &args.out {
        Some(path) => Box::new(FileSink::open(path).map_err(CmdError::input)?),
        None => Box::new(StdoutSink),
    };
    // A signal stops the loop between polls, never inside one: a result is handed over, marked
    // delivered and only then deleted, and each of those steps finishes.
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _ = shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let limits = WatchLimits {
        count: args.count,
        timeout: args.timeout,
    };
    let retry = |e: PipelineError| {
        if e.is_caller_error() {
            return Err(e);
        }
        eprintln!("watch: {e}; retrying");
        Ok(())
    };
    router
        .watch(sink.as_mut(), WATCH_POLL_WAIT, limits, stop, retry)
        .await
        .map_err(from_pipeline)?;
    eprintln!("watch stopped: {:?}", router.stats);
    Ok(())
}
