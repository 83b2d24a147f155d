//! `tasks`, `worker`, `local`, `demo`: the task pipeline commands, a thin layer over `workers`.
//!
//! Backends: `memory` (the default) keeps everything inside this one process, so it suits `demo`,
//! `tasks submit` (which then runs a worker in-process and waits for the result) and `worker` (which
//! reads task requests from stdin); `aws` uses DynamoDB and SQS, deployed or on an emulator made by
//! `local up`, and every command works against it across processes.

use super::{CmdError, CmdResult};
use anyhow::{Context, anyhow};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use workers::aws::{
    AwsSettings, DEFAULT_STACK_NAME, FunctionUrlClient, ProvisionOptions, ResourceOverrides,
    Resources, provision, sdk_config, url_encode,
};
use workers::delivery::{FileSink, ResultSink, StdoutSink};
use workers::demo::{DemoOptions, run_demo};
use workers::limits::{DEFAULT_CONSUMER, DEFAULT_LIST_PAGE};
use workers::poller::{PoolOptions, WorkerPool};
use workers::sweeper::{Remedy, SweepSettings};
use workers::{
    Backend, Caller, Catalog, Dispatcher, DispatcherSettings, InputError, PipelineError,
    ResultMessage, TaskRecord, TaskRequest, ToolBox,
};

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

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    Memory,
    Aws,
}

#[derive(clap::Args, Debug, Clone)]
pub struct BackendArgs {
    /// Where tasks live: `memory` (this process only) or `aws` (DynamoDB + SQS, deployed or emulated).
    #[arg(long, value_enum, default_value = "memory", env = "ASYNCTOOLS_BACKEND")]
    backend: BackendKind,
    /// AWS endpoint URL, e.g. an emulator's (default: AWS_ENDPOINT_URL, else AWS itself).
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// Stack outputs file (`cdk deploy --outputs-file`, or written by `local up`) [default:
    /// out/asynctools-outputs.json when it exists].
    #[arg(long, value_name = "FILE", env = "ASYNCTOOLS_OUTPUTS")]
    outputs: Option<PathBuf>,
    /// The stack's key in the outputs file.
    #[arg(long, default_value = DEFAULT_STACK_NAME)]
    stack_name: String,
    /// Task table name (overrides ASYNCTOOLS_TABLE and the outputs file).
    #[arg(long)]
    table: Option<String>,
    /// Who you are, locally: tasks belong to the principal that submitted them and are invisible to
    /// others. Against a deployed dispatcher your IAM identity is the principal instead.
    #[arg(long, env = "ASYNCTOOLS_PRINCIPAL", default_value = "local")]
    principal: String,
    /// A tool's work queue URL, repeatable (overrides ASYNCTOOLS_WORK_QUEUES and the outputs file).
    #[arg(long = "work-queue", value_name = "TOOL=URL")]
    work_queues: Vec<String>,
    /// Run the dispatcher logic in this process even when the outputs name a DispatcherUrl.
    #[arg(long)]
    in_process: bool,
}

/// The outputs file `local up` writes and the `aws` backend reads when none is named.
const DEFAULT_OUTPUTS_FILE: &str = "out/asynctools-outputs.json";

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

#[derive(clap::Args, Debug)]
pub struct LocalUpArgs {
    /// The emulator, e.g. http://127.0.0.1:5000 (moto_server).
    #[arg(long, value_name = "URL")]
    endpoint: String,
    /// Where to write the outputs file.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_OUTPUTS_FILE)]
    outputs: PathBuf,
    #[arg(long, default_value = DEFAULT_STACK_NAME)]
    stack_name: String,
    /// Consumers to create a reply queue (+ DLQ) for, comma-separated (`mcp` is the MCP server's).
    #[arg(long, value_delimiter = ',', default_value = "default,mcp")]
    consumers: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// How long the slow research call takes (the seed's example: 15s).
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    research_latency: Duration,
    /// Play it through the MCP server (tasks extension) instead of calling the dispatcher.
    #[arg(long)]
    mcp: bool,
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

fn from_pipeline(e: PipelineError) -> CmdError {
    if e.is_caller_error() {
        CmdError::input(e)
    } else {
        CmdError::runtime(e)
    }
}

fn print_json(value: &impl serde::Serialize) -> CmdResult {
    let text = serde_json::to_string_pretty(value).map_err(CmdError::runtime)?;
    println!("{text}");
    Ok(())
}

fn print_line(value: &impl serde::Serialize) -> CmdResult {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value).map_err(CmdError::runtime)?;
    writeln!(out)
        .and_then(|_| out.flush())
        .map_err(CmdError::runtime)
}

/// The tool catalog compiled in (`workers/tools.toml`), or for trying tools locally without a
/// rebuild, the file `ASYNCTOOLS_CATALOG` names (the deployed stack always uses the compiled one).
fn catalog() -> Result<Arc<Catalog>, CmdError> {
    match std::env::var_os("ASYNCTOOLS_CATALOG").filter(|p| !p.is_empty()) {
        None => Ok(Arc::new(Catalog::embedded().clone())),
        Some(path) => {
            let path = std::path::PathBuf::from(path);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                CmdError::input(anyhow!(
                    "ASYNCTOOLS_CATALOG: reading {}: {e}",
                    path.display()
                ))
            })?;
            Catalog::parse(&text)
                .map(Arc::new)
                .map_err(|e| CmdError::input(anyhow!("{}: {e}", path.display())))
        }
    }
}

pub(crate) fn memory_only_here(command: &str) -> CmdError {
    CmdError::input(anyhow!(
        "`{command}` needs a backend shared between processes, and the memory backend lives inside one \
         process. Use `--backend aws` (locally: `make local`, then `--backend aws --endpoint URL`), or \
         `tasks submit --backend memory`, which runs the task in-process and waits for its result."
    ))
}

async fn aws_parts(args: &BackendArgs) -> Result<AwsParts, CmdError> {
    let catalog = catalog()?;
    let outputs_path = args.outputs.clone().or_else(|| {
        let default = PathBuf::from(DEFAULT_OUTPUTS_FILE);
        default.exists().then_some(default)
    });
    let base = match &outputs_path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CmdError::input(anyhow!("outputs file {}: {e}", path.display())))?;
            Some(
                Resources::from_outputs_json(&text, &args.stack_name, &catalog)
                    .map_err(CmdError::input)?,
            )
        }
        None => None,
    };
    let env = ResourceOverrides::from_env(|k| std::env::var(k).ok(), &catalog)
        .map_err(CmdError::input)?;
    let mut flags = ResourceOverrides {
        table: args.table.clone(),
        reply_queue_urls: BTreeMap::new(),
        work_queue_urls: BTreeMap::new(),
    };
    for pair in &args.work_queues {
        let (tool, url) = pair.split_once('=').ok_or_else(|| {
            CmdError::input(InputError::new(
                "--work-queue",
                format!("{pair:?} is not TOOL=URL"),
            ))
        })?;
        catalog.get(tool).map_err(CmdError::input)?;
        flags
            .work_queue_urls
            .insert(tool.to_string(), url.to_string());
    }
    let resources = env.then(flags).apply(base);
    resources
        .check_complete(&catalog)
        .map_err(CmdError::input)?;
    let sdk = sdk_config(&aws_settings(args.endpoint.clone())).await;
    let dispatcher_url = resources
        .dispatcher_url
        .clone()
        .filter(|_| !args.in_process);
    let backend = Backend::aws(&sdk, &resources, catalog).map_err(CmdError::input)?;
    Ok(AwsParts {
        backend,
        dispatcher_url,
        sdk,
    })
}

impl BackendArgs {
    /// Whether `--backend aws` was chosen (`live` builds its own memory backend otherwise).
    pub(crate) fn is_aws(&self) -> bool {
        self.backend == BackendKind::Aws
    }

    pub(crate) fn caller(&self) -> Result<Caller, CmdError> {
        Caller::new(&self.principal).map_err(CmdError::input)
    }
}

pub(crate) async fn aws_backend(args: &BackendArgs) -> Result<Backend, CmdError> {
    Ok(aws_parts(args).await?.backend)
}

struct AwsParts {
    backend: Backend,
    dispatcher_url: Option<String>,
    sdk: workers::aws::SdkConfig,
}

/// Where `tasks submit|status|list|cancel` go: the dispatcher logic in this process, or the deployed
/// dispatcher's Function URL (SigV4-signed) when the stack outputs name one. Both answer the same JSON.
enum Front {
    Local(Box<Dispatcher>, Caller),
    Remote(Box<FunctionUrlClient>),
}

impl Front {
    async fn for_args(args: &BackendArgs) -> Result<Front, CmdError> {
        let parts = aws_parts(args).await?;
        match parts.dispatcher_url {
            Some(url) => Ok(Front::Remote(Box::new(
                FunctionUrlClient::new(&parts.sdk, &url).map_err(CmdError::runtime)?,
            ))),
            None => Ok(Front::Local(
                Box::new(dispatcher(
                    &parts.backend,
                    &tool_box(Some(&parts.sdk)).await?,
                )?),
                args.caller()?,
            )),
        }
    }

    async fn remote(
        client: &FunctionUrlClient,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<Value, CmdError> {
        let reply = client
            .call(method, path, body)
            .await
            .map_err(CmdError::runtime)?;
        if (200..300).contains(&reply.status) {
            return Ok(reply.body);
        }
        let message = reply.body["error"]
            .as_str()
            .map_or_else(|| reply.body.to_string(), str::to_string);
        let error = anyhow!("dispatcher answered HTTP {}: {message}", reply.status);
        Err(if (400..500).contains(&reply.status) {
            CmdError::input(error)
        } else {
            CmdError::runtime(error)
        })
    }

    async fn submit(&self, request: TaskRequest) -> Result<Value, CmdError> {
        match self {
            Front::Local(d, caller) => {
                to_value(&d.submit(caller, request).await.map_err(from_pipeline)?)
            }
            Front::Remote(c) => {
                let body = serde_json::to_string(&request).map_err(CmdError::runtime)?;
                Self::remote(c, "POST", "/tasks", Some(&body)).await
            }
        }
    }

    async fn get(&self, task_id: &str) -> Result<Value, CmdError> {
        match self {
            Front::Local(d, caller) => {
                to_value(&d.get(caller, task_id).await.map_err(from_pipeline)?)
            }
            Front::Remote(c) => {
                Self::remote(c, "GET", &format!("/tasks/{}", url_encode(task_id)), None).await
            }
        }
    }

    async fn list(
        &self,
        conversation_id: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Value, CmdError> {
        match self {
            Front::Local(d, caller) => {
                let page = d
                    .list(caller, conversation_id, limit, cursor)
                    .await
                    .map_err(from_pipeline)?;
                Ok(json!({ "tasks": page.tasks, "next_cursor": page.next_cursor }))
            }
            Front::Remote(c) => {
                let mut path = format!(
                    "/conversations/{}/tasks?limit={limit}",
                    url_encode(conversation_id)
                );
                if let Some(cursor) = cursor {
                    path.push_str(&format!("&cursor={}", url_encode(cursor)));
                }
                Self::remote(c, "GET", &path, None).await
            }
        }
    }

    async fn cancel(&self, task_id: &str) -> Result<Value, CmdError> {
        match self {
            Front::Local(d, caller) => {
                let outcome = d.cancel(caller, task_id).await.map_err(from_pipeline)?;
                Ok(json!({ "cancelled": outcome.cancelled, "task": outcome.record }))
            }
            Front::Remote(c) => {
                Self::remote(
                    c,
                    "POST",
                    &format!("/tasks/{}/cancel", url_encode(task_id)),
                    None,
                )
                .await
            }
        }
    }
}

fn to_value(value: &impl serde::Serialize) -> Result<Value, CmdError> {
    serde_json::to_value(value).map_err(CmdError::runtime)
}

/// An explicit endpoint (flag or AWS_ENDPOINT_URL) is an emulator unless credentials are set: then the
/// SDK gets dummy credentials and a default region instead of probing instance metadata.
fn aws_settings(endpoint: Option<String>) -> AwsSettings {
    let endpoint = endpoint
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
        .filter(|e| !e.is_empty());
    let has_credentials = std::env::var_os("AWS_ACCESS_KEY_ID").is_some()
        || std::env::var_os("AWS_PROFILE").is_some();
    let has_region = std::env::var_os("AWS_REGION").is_some()
        || std::env::var_os("AWS_DEFAULT_REGION").is_some();
    AwsSettings {
        dummy_credentials: endpoint.is_some() && !has_credentials,
        region: (endpoint.is_some() && !has_region).then(|| "us-east-1".to_string()),
        endpoint_url: endpoint,
        max_attempts: None,
        operation_timeout: None,
    }
}

fn dispatcher(backend: &Backend, tools: &ToolBox) -> Result<Dispatcher, CmdError> {
    backend
        .dispatcher(tools.clone(), DispatcherSettings::default())
        .map_err(CmdError::input)
}

/// The catalog's tools: the built-in ones and the Lambda- and HTTP-backed ones it names. `sdk`
/// (the backend's) reaches Lambda and Secrets Manager; without it the default AWS configuration
/// is loaded when a tool needs one.
pub(crate) async fn tool_box(sdk: Option<&workers::aws::SdkConfig>) -> Result<ToolBox, CmdError> {
    ToolBox::for_catalog(&*catalog()?, sdk)
        .await
        .map_err(CmdError::input)
}

fn worker_id(explicit: Option<String>) -> String {
    explicit.unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
        format!("local:{host}:{}", std::process::id())
    })
}

async fn submit(args: SubmitArgs) -> CmdResult {
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
    let (front, pool) = match args.backend.backend {
        BackendKind::Memory => {
            let backend = Backend::in_memory(catalog()?);
            // Validate before starting a worker, so bad input fails with the request's own error.
            request
                .validate(&backend.catalog, workers::clock::now_ms())
                .map_err(CmdError::input)?;
            let mut options = PoolOptions::new(worker_id(None));
            options.wait = Duration::from_secs(1);
            let tools = tool_box(None).await?;
            let pool =
                WorkerPool::start(&backend, &tools, std::slice::from_ref(&args.tool), &options)
                    .map_err(CmdError::input)?;
            (
                Front::Local(
                    Box::new(dispatcher(&backend, &tools)?),
                    args.backend.caller()?,
                ),
                Some(pool),
            )
        }
        BackendKind::Aws => (Front::for_args(&args.backend).await?, None),
    };
    let ack = front.submit(request).await?;
    print_line(&ack)?;
    let task_id = ack["task_id"]
        .as_str()
        .ok_or_else(|| CmdError::runtime(anyhow!("the acknowledgement has no task_id: {ack}")))?
        .to_string();
    if args.wait || pool.is_some() {
        let started = Instant::now();
        let record = loop {
            let record: TaskRecord = serde_json::from_value(front.get(&task_id).await?)
                .map_err(|e| CmdError::runtime(anyhow!("reading task {task_id}: {e}")))?;
            if record.status.is_terminal() {
                break record;
            }
            if started.elapsed() > args.wait_timeout {
                return Err(CmdError::runtime(anyhow!(
                    "task {task_id} is still {} after {}",
                    record.status,
                    humantime::format_duration(args.wait_timeout)
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        print_line(&ResultMessage::for_record(&record))?;
    }
    if let Some(pool) = pool {
        pool.stop().await;
    }
    Ok(())
}

async fn status(args: StatusArgs) -> CmdResult {
    if args.backend.backend == BackendKind::Memory {
        return Err(memory_only_here("tasks status"));
    }
    let front = Front::for_args(&args.backend).await?;
    print_json(&front.get(&args.task_id).await?)
}

async fn list(args: ListArgs) -> CmdResult {
    if args.backend.backend == BackendKind::Memory {
        return Err(memory_only_here("tasks list"));
    }
    let front = Front::for_args(&args.backend).await?;
    print_json(
        &front
            .list(&args.conversation, args.limit, args.cursor.as_deref())
            .await?,
    )
}

async fn cancel(args: StatusArgs) -> CmdResult {
    if args.backend.backend == BackendKind::Memory {
        return Err(memory_only_here("tasks cancel"));
    }
    let front = Front::for_args(&args.backend).await?;
    print_json(&front.cancel(&args.task_id).await?)
}

async fn watch(args: WatchArgs) -> CmdResult {
    if args.backend.backend == BackendKind::Memory {
        return Err(memory_only_here("tasks watch"));
    }
    let caller = args.backend.caller()?;
    let backend = aws_backend(&args.backend).await?;
    let mut router = backend
        .router(&caller.principal, &args.consumer)
        .map_err(CmdError::input)?;
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
    let started = Instant::now();
    let mut handed = router
        .reconcile(sink.as_mut())
        .await
        .map_err(from_pipeline)?;
    let mut last_reconcile = Instant::now();
    loop {
        let done = *stop.borrow()
            || args.count.is_some_and(|n| handed >= n)
            || args.timeout.is_some_and(|t| started.elapsed() >= t);
        if done {
            eprintln!("watch stopped: {:?}", router.stats);
            return Ok(());
        }
        let left = args
            .timeout
            .map_or(Duration::MAX, |t| t.saturating_sub(started.elapsed()));
        match router.poll(sink.as_mut(), left.min(WATCH_POLL_WAIT)).await {
            Ok(n) => handed += n,
            Err(e) if e.is_caller_error() => return Err(from_pipeline(e)),
            Err(e) => {
                eprintln!("watch: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        if last_reconcile.elapsed() >= workers::delivery::RECONCILE_EVERY {
            handed += router
                .reconcile(sink.as_mut())
                .await
                .map_err(from_pipeline)?;
            last_reconcile = Instant::now();
        }
    }
}

fn sweep_settings(older_than: Duration) -> SweepSettings {
    SweepSettings {
        older_than_ms: older_than.as_millis() as u64,
        ..SweepSettings::default()
    }
}

async fn sweep(args: SweepArgs) -> CmdResult {
    if args.backend.backend == BackendKind::Memory {
        return Err(memory_only_here("tasks sweep"));
    }
    let backend = aws_backend(&args.backend).await?;
    let report = workers::sweeper::sweep(
        backend.store.as_ref(),
        &backend.work_queues,
        &backend.replies,
        sweep_settings(args.older_than),
    )
    .await
    .map_err(from_pipeline)?;
    print_json(&report)
}

async fn stuck(args: SweepArgs) -> CmdResult {
    if args.backend.backend == BackendKind::Memory {
        return Err(memory_only_here("tasks stuck"));
    }
    let backend = aws_backend(&args.backend).await?;
    let report =
        workers::sweeper::find_stuck(backend.store.as_ref(), sweep_settings(args.older_than))
            .await
            .map_err(from_pipeline)?;
    let mut dead_letters = serde_json::Map::new();
    let depth = |q: &Arc<dyn workers::ports::MessageQueue>| {
        let q = q.clone();
        async move { q.depth().await.map(|d| d.visible + d.in_flight) }
    };
    for (tool, queue) in &backend.dead_letter_queues {
        let n = depth(queue)
            .await
            .map_err(|e| CmdError::runtime(anyhow!(e)))?;
        dead_letters.insert(format!("tool:{tool}"), json!(n));
    }
    for (consumer, reply) in backend.replies.all() {
        if let Some(queue) = &reply.dead_letter {
            let n = depth(queue)
                .await
                .map_err(|e| CmdError::runtime(anyhow!(e)))?;
            dead_letters.insert(format!("consumer:{consumer}"), json!(n));
        }
    }
    print_json(&json!({
        "older_than_s": args.older_than.as_secs(),
        "oldest_open_age_s": report.oldest_open_age_s,
        "stuck": report.stuck,
        "dead_letter_queues": dead_letters,
    }))
}

async fn requeue(args: RequeueArgs) -> CmdResult {
    if args.backend.backend == BackendKind::Memory {
        return Err(memory_only_here("tasks requeue"));
    }
    let backend = aws_backend(&args.backend).await?;
    if args.stuck {
        return sweep(SweepArgs {
            older_than: args.older_than,
            backend: args.backend,
        })
        .await;
    }
    let task_id = args.task_id.unwrap_or_default();
    workers::protocol::check_task_id(&task_id).map_err(CmdError::input)?;
    let record = backend
        .store
        .get(&task_id)
        .await
        .map_err(|e| from_pipeline(e.into()))?
        .ok_or_else(|| from_pipeline(PipelineError::NotFound(task_id.clone())))?;
    let remedy = match record.status {
        s if !s.is_terminal() => Remedy::Requeue,
        _ if !record.result_published => Remedy::Publish,
        s => {
            return Err(CmdError::input(anyhow!(
                "task {task_id} is {s} and its result was published: nothing to requeue"
            )));
        }
    };
    workers::sweeper::apply(
        backend.store.as_ref(),
        &backend.work_queues,
        &backend.replies,
        record,
        remedy,
    )
    .await
    .map_err(from_pipeline)?;
    print_json(&json!({ "task_id": task_id, "done": remedy }))
}

/// Short enough that Ctrl-C ends `tasks watch` promptly.
const WATCH_POLL_WAIT: Duration = Duration::from_secs(2);

async fn worker(args: WorkerArgs) -> CmdResult {
    let catalog = catalog()?;
    let tools: Vec<String> = if args.tools.is_empty() {
        catalog.names().iter().map(|s| s.to_string()).collect()
    } else {
        for tool in &args.tools {
            catalog.get(tool).map_err(CmdError::input)?;
        }
        args.tools.clone()
    };
    let mut options = PoolOptions::new(worker_id(args.worker_id.clone()));
    options.concurrency = args.concurrency;
    options.wait = args.wait;
    options.recovery_ms = args.recovery.map(|d| d.as_millis() as u64);
    options.sweep_every = (!args.sweep_every.is_zero()).then_some(args.sweep_every);
    options.sweep = sweep_settings(args.sweep_older_than);
    match args.backend.backend {
        BackendKind::Aws => {
            args.backend.caller()?;
            let parts = aws_parts(&args.backend).await?;
            let tool_box = tool_box(Some(&parts.sdk)).await?;
            let pool = WorkerPool::start(&parts.backend, &tool_box, &tools, &options)
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
        BackendKind::Memory => memory_worker(tools, options, args.backend.caller()?).await,
    }
}

/// Ctrl-C or SIGTERM (what `timeout`, systemd and container runtimes send).
async fn shutdown_signal() -> CmdResult {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(CmdError::runtime)?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.map_err(CmdError::runtime),
        _ = terminate.recv() => Ok(()),
    }
}

/// The memory worker reads task requests (JSON lines) from stdin, prints each acknowledgement, and
/// prints results as they land; it exits when stdin is closed and every task has finished.
async fn memory_worker(tools: Vec<String>, mut options: PoolOptions, caller: Caller) -> CmdResult {
    let backend = Backend::in_memory(catalog()?);
    options.wait = Duration::from_secs(1);
    options.sweep_every = None;
    let mut router = backend
        .router(&caller.principal, DEFAULT_CONSUMER)
        .map_err(CmdError::input)?;
    let mut results = workers::delivery::VecSink::default();
    let tool_box = tool_box(None).await?;
    let pool = WorkerPool::start(&backend, &tool_box, &tools, &options).map_err(CmdError::input)?;
    let dispatcher = dispatcher(&backend, &tool_box)?;
    eprintln!(
        "worker (memory): reading task requests as JSON lines from stdin; results print as they land"
    );
    let (lines_tx, mut lines) = tokio::sync::mpsc::channel::<std::io::Result<String>>(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if lines_tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    let mut pending = 0usize;
    let mut input_open = true;
    let mut bad_lines = 0;
    while input_open || pending > 0 {
        tokio::select! {
            line = lines.recv(), if input_open => match line {
                None => input_open = false,
                Some(Err(e)) => return Err(CmdError::runtime(anyhow!("reading stdin: {e}"))),
                Some(Ok(line)) if line.trim().is_empty() => {}
                Some(Ok(line)) => {
                    let submitted = match TaskRequest::from_json(&line) {
                        Ok(request) if tools.contains(&request.tool) => dispatcher.submit(&caller, request).await.map_err(|e| e.to_string()),
                        Ok(request) => Err(format!("tool {:?} is not served by this worker", request.tool)),
                        Err(e) => Err(e.to_string()),
                    };
                    match submitted {
                        Ok(ack) => {
                            pending += 1;
                            print_line(&ack)?;
                        }
                        Err(message) => {
                            bad_lines += 1;
                            print_line(&json!({ "error": message, "line": line }))?;
                        }
                    }
                }
            },
            polled = router.poll(&mut results, Duration::from_millis(500)) => {
                polled.map_err(from_pipeline)?;
                for result in results.0.drain(..) {
                    print_line(&result)?;
                    pending = pending.saturating_sub(1);
                }
            }
        }
    }
    pool.stop().await;
    if bad_lines > 0 {
        return Err(CmdError::input(anyhow!(
            "{bad_lines} input line(s) were not valid task requests"
        )));
    }
    Ok(())
}

async fn local_up(args: LocalUpArgs) -> CmdResult {
    let catalog = catalog()?;
    let sdk = sdk_config(&AwsSettings::emulator(&args.endpoint)).await;
    let options = ProvisionOptions {
        consumers: args.consumers.clone(),
        ..ProvisionOptions::new(&args.stack_name)
    };
    let resources = provision(&sdk, &catalog, &options)
        .await
        .with_context(|| format!("creating the stack on {}", args.endpoint))
        .map_err(CmdError::runtime)?;
    let outputs = resources.to_outputs_json(&args.stack_name, &catalog);
    if let Some(dir) = args.outputs.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(CmdError::runtime)?;
    }
    let text = serde_json::to_string_pretty(&outputs).map_err(CmdError::runtime)?;
    std::fs::write(&args.outputs, text + "\n")
        .with_context(|| format!("writing {}", args.outputs.display()))
        .map_err(CmdError::runtime)?;
    println!(
        "created on {}: table {}, a reply queue + DLQ for each consumer ({}), and a work queue + DLQ \
         for each of {}",
        args.endpoint,
        resources.table,
        args.consumers.join(", "),
        catalog.names().join(", ")
    );
    println!("wrote {}", args.outputs.display());
    Ok(())
}

async fn demo(args: DemoArgs) -> CmdResult {
    if args.research_latency > Duration::from_secs(120) {
        return Err(CmdError::input(InputError::new(
            "--research-latency",
            "must be at most 120s (the research tool's timeout)",
        )));
    }
    let mut out = std::io::stdout();
    if args.mcp {
        return mcp::demo::run(&mut out, args.research_latency)
            .await
            .map(|_| ())
            .map_err(CmdError::runtime);
    }
    run_demo(
        &mut out,
        &DemoOptions {
            research_latency: args.research_latency,
        },
    )
    .await
    .map(|_| ())
    .map_err(CmdError::runtime)
}
