//! `asynctools mcp serve` and `mcp demo`: the pipeline's tools over MCP (the `mcp` crate).

use super::backend::{BackendArgs, aws_backend, tool_box};
use super::{CmdError, CmdResult};
use anyhow::anyhow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use workers::memory::MemoryStoreSettings;
use workers::{Backend, Catalog, MemorySettings};

#[derive(clap::Subcommand, Debug)]
pub enum McpCommand {
    /// Serve the catalog's tools over MCP: Streamable HTTP at /mcp (or --stdio). A slow call
    /// answers at once: with a task for clients that ask for tasks, otherwise with an
    /// acknowledgement, the result following in a later message (task_results, or appended to a
    /// later tool result); a fast call answers with its result.
    Serve(Box<ServeArgs>),
    /// Play the seed's scenario (a slow research call, a fast sentiment call) through the MCP
    /// server, as an agent whose MCP client has no task support (the acknowledgement mode).
    Demo(DemoArgs),
}

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    backend: BackendArgs,
    /// Where to listen. Loopback only unless --allow-remote.
    #[arg(long, default_value = "127.0.0.1:8765")]
    listen: SocketAddr,
    /// Serve one client on standard input/output instead of HTTP.
    #[arg(long, conflicts_with = "listen")]
    stdio: bool,
    /// Accept a non-loopback --listen address (put authentication in front of it).
    #[arg(long)]
    allow_remote: bool,
    /// Also accept this Host header value (repeatable), e.g. a proxy's name.
    #[arg(long = "allow-host", value_name = "HOST")]
    allow_hosts: Vec<String>,
    /// The reply-queue consumer results come back on (a deployment must have it).
    #[arg(long, default_value = mcp::server::DEFAULT_CONSUMER)]
    consumer: String,
    /// Run the tools in this process too (always on with the memory backend; against AWS the
    /// stack's workers run them).
    #[arg(long)]
    local_workers: bool,
    /// How long a task stays readable through MCP (`ttlMs`); at most the table's TTL. With the
    /// memory backend, also how long the server keeps a task (arguments and result) in memory.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1day")]
    ttl: Duration,
    /// The polling interval suggested to clients.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "500ms")]
    poll_interval: Duration,
    /// Trust this request header to name the principal (set by an authenticating proxy or the
    /// Lambda adapter); requests without it are refused. Default: everyone is --principal.
    #[arg(long, value_name = "HEADER")]
    principal_header: Option<String>,
    /// With --principal-header naming IAM ARNs: who owns an assumed role's tasks. `session`: the
    /// caller (role and session name: each person on a shared role or permission set is their own
    /// owner); `role`: the role, for agent fleets that restart under new session names (everyone
    /// who can assume the role then shares its tasks).
    #[arg(
        long,
        value_enum,
        default_value = "session",
        requires = "principal_header"
    )]
    owner_scope: OwnerScopeArg,
    /// Serve exactly as the deployed Lambda function does: no sessions and no pushed statuses
    /// (clients of protocol 2026-07-28 get tasks and poll; legacy clients' calls block).
    #[arg(long, conflicts_with = "stdio")]
    stateless: bool,
    /// Answer a blocking call whose task runs longer than this with "still working" (the task
    /// keeps running), as the Lambda function does before its own timeout. Default: wait.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    max_wait: Option<Duration>,
    /// How a call from a client without task support is answered when its task takes longer
    /// than --inline-within: `ack`, at once with an acknowledgement naming the task (the result
    /// follows in a later message), or `block`, when the result is there.
    #[arg(long, value_enum, default_value = "ack")]
    call_mode: CallModeArg,
    /// A call whose task finishes within this answers with its result, whatever the client (at
    /// most 10s).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "100ms", value_name = "DURATION")]
    inline_within: Duration,
    /// Push each finished result to its session as a Claude Code channel event (declares the
    /// claude/channel capability). Only for Claude Code launched with
    /// `--dangerously-load-development-channels server:NAME`: a pushed result counts as handed over.
    #[arg(long, conflicts_with = "stateless")]
    channels: bool,
    /// How many of one principal's calls may wait for results at once (blocking calls,
    /// task_results with wait_s, tasks/result); more are refused with a clear error. The slots
    /// are leases in the task table, so the limit holds across server instances. Default: 8 with
    /// --principal-header (many callers), none otherwise (every session is --principal).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    max_waiting_calls: Option<u32>,
    /// How many open tasks (submitted, result not yet out) one principal may hold; more submits
    /// are refused with a clear error. Counted in the task table, so the limit holds across
    /// server instances. Default: 100 with --principal-header, none otherwise.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(workers::limits::MAX_OPEN_TASKS_LIMIT)))]
    max_open_tasks: Option<u32>,
    /// Also accept browser requests from this Origin (repeatable, exactly as browsers send it,
    /// e.g. https://app.example.com); loopback origins are always accepted, others get 403.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origins: Vec<String>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum OwnerScopeArg {
    Session,
    Role,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum CallModeArg {
    Ack,
    Block,
}

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// How long the demo research call takes.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "3s")]
    research_latency: Duration,
}

pub fn run(command: McpCommand) -> CmdResult {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CmdError::runtime)?;
    runtime.block_on(async {
        match command {
            McpCommand::Serve(args) => serve(*args).await,
            McpCommand::Demo(args) => demo(args).await,
        }
    })
}

async fn serve(args: ServeArgs) -> CmdResult {
    if !args.stdio && !args.listen.ip().is_loopback() && !args.allow_remote {
        return Err(CmdError::input(anyhow!(
            "--listen {} is not a loopback address; the server has no authentication of its own. \
             Put an authenticating proxy in front and pass --allow-remote.",
            args.listen
        )));
    }
    let caller = args.backend.caller()?;
    let memory = !args.backend.is_aws();
    let backend = if memory {
        memory_backend(args.ttl)?
    } else {
        aws_backend(&args.backend).await?
    };
    let mut options = mcp::RuntimeOptions::local(caller);
    options.dispatcher.owner_scope = match args.owner_scope {
        OwnerScopeArg::Session => workers::OwnerScope::Session,
        OwnerScopeArg::Role => workers::OwnerScope::Role,
    };
    options.tools = tool_box(None).await?;
    options.settings.consumer = args.consumer.clone();
    options.settings.timing.ttl_ms = args.ttl.as_millis().min(u128::from(u64::MAX)) as u64;
    options.settings.timing.poll_interval_ms = args.poll_interval.as_millis().max(1) as u64;
    options.settings.push_statuses = !args.stateless;
    options.settings.max_wait = args.max_wait;
    options.settings.call_mode = match args.call_mode {
        CallModeArg::Ack => mcp::CallMode::Ack,
        CallModeArg::Block => mcp::CallMode::Block,
    };
    options.settings.inline_within = args.inline_within;
    options.settings.channels = args.channels;
    options.dispatcher.max_open_tasks = args.max_open_tasks.or(args
        .principal_header
        .as_ref()
        .map(|_| workers::limits::DEFAULT_MAX_OPEN_TASKS));
    options.settings.max_waiting_calls = args.max_waiting_calls.or(args
        .principal_header
        .as_ref()
        .map(|_| mcp::server::DEFAULT_MAX_WAITING_CALLS));
    if let Some(header) = &args.principal_header {
        let name = http_header(header)?;
        options.principals = mcp::Principals::TrustedHeader(name);
    }
    if !memory && !args.local_workers {
        options.local_workers = None;
    }
    let runtime = mcp::Runtime::start(backend, options).map_err(CmdError::input)?;
    let outcome = if args.stdio {
        mcp::serve_stdio(runtime.door.clone())
            .await
            .map_err(CmdError::runtime)
    } else {
        let mut http = mcp::HttpOptions::loopback(args.listen.port());
        http.listen = args.listen;
        http.allowed_hosts.extend(args.allow_hosts.iter().cloned());
        http.stateless = args.stateless;
        http.allowed_origins
            .extend(args.allow_origins.iter().cloned());
        let server = mcp::serve_http(runtime.door.clone(), http)
            .await
            .map_err(|e| CmdError::runtime(anyhow!("listening on {}: {e}", args.listen)))?;
        eprintln!(
            "asynctools MCP server at {} ({} backend); Ctrl-C stops it",
            server.url,
            if memory { "memory" } else { "aws" }
        );
        tokio::signal::ctrl_c().await.map_err(CmdError::runtime)?;
        server.shutdown().await.map_err(CmdError::runtime)
    };
    runtime.stop().await;
    outcome
}

/// The memory backend of `mcp serve`: it keeps a task as long as MCP advertises it (`--ttl`), no
/// longer, so a long-running server holds a window of tasks rather than every task it ever ran.
fn memory_backend(ttl: Duration) -> Result<Backend, CmdError> {
    let settings = MemorySettings {
        store: MemoryStoreSettings {
            retention: Some(ttl),
            ..MemoryStoreSettings::default()
        },
        ..MemorySettings::default()
    };
    Backend::in_memory_configured(Arc::new(Catalog::embedded().clone()), settings)
        .map_err(|e| CmdError::input(anyhow!("--ttl {}: {e}", humantime::format_duration(ttl))))
}

fn http_header(name: &str) -> Result<mcp::identity::HeaderName, CmdError> {
    mcp::identity::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
        .map_err(|e| CmdError::input(anyhow!("--principal-header {name:?}: {e}")))
}

async fn demo(args: DemoArgs) -> CmdResult {
    let mut out = std::io::stdout();
    mcp::demo::run(&mut out, args.research_latency)
        .await
        .map(|_| ())
        .map_err(CmdError::runtime)
}
