//! What every pipeline command shares: the backend flags, the catalog and tools of this process,
//! the client of the dispatcher, and how errors and answers are printed.

use super::{CmdError, CmdResult};
use anyhow::anyhow;
use std::path::PathBuf;
use std::sync::Arc;
use workers::aws::{DEFAULT_STACK_NAME, ResourceSources};
use workers::{
    AwsConnection, AwsTarget, Backend, BackendKind, Caller, Catalog, ClientError, PipelineError,
    TaskClient, ToolBox,
};

#[derive(clap::Args, Debug, Clone)]
pub struct BackendArgs {
    /// Where tasks live: `memory` (this process only) or `aws` (DynamoDB + SQS, deployed or emulated).
    #[arg(long, default_value = "memory", env = "ASYNCTOOLS_BACKEND", value_parser = backend_kind())]
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

fn backend_kind() -> impl clap::builder::TypedValueParser<Value = BackendKind> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(BackendKind::NAMES)
        .map(|name| name.parse().expect("one of the possible values"))
}

impl BackendArgs {
    /// The backend chosen with `--backend`.
    pub(crate) fn kind(&self) -> BackendKind {
        self.backend
    }

    /// Whether `--backend aws` was chosen (`live` builds its own memory backend otherwise).
    pub(crate) fn is_aws(&self) -> bool {
        self.backend == BackendKind::Aws
    }

    /// Refuses the memory backend for a command that needs tasks shared between processes.
    pub(crate) fn require_aws(&self, command: &str) -> CmdResult {
        if self.is_aws() {
            Ok(())
        } else {
            Err(memory_only_here(command))
        }
    }

    pub(crate) fn caller(&self) -> Result<Caller, CmdError> {
        Caller::new(&self.principal).map_err(CmdError::input)
    }

    fn target(&self) -> AwsTarget {
        AwsTarget {
            endpoint: self.endpoint.clone(),
            resources: ResourceSources {
                outputs: self.outputs.clone(),
                stack_name: self.stack_name.clone(),
                table: self.table.clone(),
                work_queues: self.work_queues.clone(),
            },
            in_process: self.in_process,
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

/// The AWS backend the flags, the environment and the outputs file name.
pub(crate) async fn aws_connection(args: &BackendArgs) -> Result<AwsConnection, CmdError> {
    AwsConnection::connect(&args.target(), catalog()?, |k: &str| std::env::var_os(k))
        .await
        .map_err(CmdError::input)
}

pub(crate) async fn aws_backend(args: &BackendArgs) -> Result<Backend, CmdError> {
    Ok(aws_connection(args).await?.backend)
}

/// Where `tasks submit|status|list|cancel` go: the deployed dispatcher's Function URL when the
/// stack outputs name one, else the dispatcher logic in this process.
pub(crate) async fn client(args: &BackendArgs) -> Result<TaskClient, CmdError> {
    let connection = aws_connection(args).await?;
    TaskClient::for_connection(&connection, || Caller::new(&args.principal))
        .await
        .map_err(from_client)
}

/// The tool catalog compiled in (`workers/tools.toml`), or the file `ASYNCTOOLS_CATALOG` names.
pub(crate) fn catalog() -> Result<Arc<Catalog>, CmdError> {
    Catalog::for_process(|k: &str| std::env::var_os(k))
        .map(Arc::new)
        .map_err(CmdError::input)
}

/// The catalog's tools: the built-in ones and the Lambda- and HTTP-backed ones it names. `sdk`
/// (the backend's) reaches Lambda and Secrets Manager; without it the default AWS configuration
/// is loaded when a tool needs one.
pub(crate) async fn tool_box(sdk: Option<&workers::aws::SdkConfig>) -> Result<ToolBox, CmdError> {
    workers::tools::for_catalog(&*catalog()?, sdk)
        .await
        .map_err(CmdError::input)
}

pub(crate) fn from_pipeline(e: PipelineError) -> CmdError {
    if e.is_caller_error() {
        CmdError::input(e)
    } else {
        CmdError::runtime(e)
    }
}

pub(crate) fn from_client(e: ClientError) -> CmdError {
    match e {
        ClientError::Pipeline(e) => from_pipeline(e),
        ClientError::Transport(e) => CmdError::runtime(e),
        e if e.is_caller_error() => CmdError::input(anyhow!("{e}")),
        e => CmdError::runtime(anyhow!("{e}")),
    }
}

pub(crate) fn print_json(value: &impl serde::Serialize) -> CmdResult {
    let text = serde_json::to_string_pretty(value).map_err(CmdError::runtime)?;
    println!("{text}");
    Ok(())
}

/// A JSON value: an answer of the dispatcher's API prints with its keys sorted, whichever
/// dispatcher gave it.
pub(crate) fn to_value(value: &impl serde::Serialize) -> Result<serde_json::Value, CmdError> {
    serde_json::to_value(value).map_err(CmdError::runtime)
}

/// One JSON line on standard output.
pub(crate) fn print_line(value: &impl serde::Serialize) -> CmdResult {
    workers::local::write_json_line(&mut std::io::stdout().lock(), value).map_err(CmdError::runtime)
}

/// Ctrl-C or SIGTERM (what `timeout`, systemd and container runtimes send).
pub(crate) async fn shutdown_signal() -> CmdResult {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(CmdError::runtime)?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.map_err(CmdError::runtime),
        _ = terminate.recv() => Ok(()),
    }
}
