//! `cargo bench -p mcp`: the MCP server on the memory backend, over Streamable HTTP on 127.0.0.1,
//! every time measured at the client (hdrhistogram; p50/p90/p99/max in ms).
//!
//! 1. Acknowledgement of a slow call: `research` with `latency_ms` 3000 (the catalog hints it slow,
//!    so the server answers without waiting its inline bound), `tools/call` sent -> answer read:
//!    - (a) ack mode: rmcp's client without task support, answered with a normal tool result
//!      whose `structuredContent.status` is "working";
//!    - (b) SEP-2663 tasks: rmcp's client with the tasks extension, answered with a task;
//!    - (c) the 2025-11-25 tasks (SEP-1686): raw JSON-RPC with `"task": {"ttl": ...}`, answered
//!      with `{"task": {...}}` (a JSON body);
//!    - (d) ack mode on the stateless server;
//!    - (e) ack mode from a raw JSON-RPC client (2025-11-25, no `task`) that keeps one HTTP/1.1
//!      connection and reads each answer (an SSE event) as it arrives, as the TypeScript SDK's
//!      clients do. Unlike rmcp's client, such a client waits ~40 ms for every SSE answer from a
//!      server that leaves Nagle's algorithm on (no TCP_NODELAY): the answer's segment waits for
//!      the client's delayed ACK of the headers'.
//!
//!    These stacks run no workers: the tasks are stored and queued, as always, but never run, so
//!    nothing piles up behind thousands of 3 s runs and no result rides along on a measured
//!    answer. (Cancelling each task after its acknowledgement is no way out: a cancelled task
//!    counts as a run of a few ms in the server's per-tool latencies, and after a few of them
//!    `research` is no longer acknowledged at once but waited for up to the 100 ms bound.)
//! 2. A fast call answered with its result (`sentiment`), ack-mode client, and where that time goes
//!    (the task's own timestamps against the client's clock).
//! 3. The `task_results` wake-up: a client calls `research` (200-399 ms), then `task_results` with
//!    `wait_s` 10; wake-up = when the answer reached the client - the task's `finished_at_ms` in
//!    the table. Several clients at once, each its own principal; on a stateful session, on the
//!    stateless server with the result pump in process (`asynctools mcp serve --stateless`), and
//!    on a stateless server with no pump (as the Lambda function: `task_results` reads the table
//!    every 200 ms).
//! 4. 1,000 concurrent ack-mode calls from 50 clients (50 principals); every result collected
//!    exactly once by its client, from `task_results` or riding along on a later answer: none
//!    missing, none twice, none another client's; the table agrees.
//!
//! `cargo test --all-targets` runs this binary without `--bench`: a quick smoke run of the same
//! code with small sizes, not a measurement.

use hdrhistogram::Histogram;
use mcp::delivery::Hub;
use mcp::handover::RESULTS_META_KEY;
use mcp::scope::CONVERSATION_META_KEY;
use mcp::{FrontDoor, HttpOptions, Principals, RunningServer, Runtime, RuntimeOptions, Settings};
use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
    Implementation, JsonObject, RequestMetaObject, TaskStatus as McpTaskStatus,
};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::task::JoinSet;
use workers::poller::{PoolOptions, WorkerPool};
use workers::ports::TaskStore;
use workers::{Backend, Caller, Catalog, DispatcherSettings, TaskRecord, ToolBox};

#[path = "mcp/measures.rs"]
mod measures;
#[path = "mcp/raw.rs"]
mod raw;

use measures::*;
use raw::*;

/// The measurement's sizes; without `--bench` (as `cargo test --all-targets` runs it) the smoke
/// sizes.
struct Sizes {
    warm_up: usize,
    latency_calls: usize,
    wake_clients: usize,
    wake_calls_per_client: usize,
    flood_clients: usize,
    calls_per_client: usize,
}

const FULL: Sizes = Sizes {
    warm_up: 200,
    latency_calls: 2_000,
    wake_clients: 10,
    wake_calls_per_client: 30,
    flood_clients: 50,
    calls_per_client: 20,
};
const SMOKE: Sizes = Sizes {
    warm_up: 5,
    latency_calls: 20,
    wake_clients: 2,
    wake_calls_per_client: 3,
    flood_clients: 5,
    calls_per_client: 4,
};

const PRINCIPAL: &str = "local:bench";
/// Where the clients of sections 3 and 4 name their principals (`Principals::TrustedHeader`).
const PRINCIPAL_HEADER: &str = "x-asynctools-principal";
/// The slow call of section 1 (never run there: those stacks have no workers).
const SLOW_RESEARCH_MS: u64 = 3_000;
/// The calls whose results `task_results` waits for (section 3) take this long and up to
/// [`WAKE_SPREAD_MS`] more, spread evenly: longer than the 100 ms inline bound, so the server's own
/// runs keep `research` acknowledged at once, and finishing at every phase of a 200 ms table poll.
const WAKE_RESEARCH_MS: u64 = 200;
const WAKE_SPREAD_MS: u64 = 200;
/// Section 4's calls: 1,000 of them on `research`'s 8 local receive loops take ~19 s to run.
const FLOOD_RESEARCH_MS: u64 = 150;
/// `task_results`' wait in sections 3 and 4.
const RESULTS_WAIT_S: u64 = 10;
/// The protocol of the raw JSON-RPC client (the one with the SEP-1686 tasks).
const LEGACY_PROTOCOL: &str = "2025-11-25";
const ACK_TARGET_MS: f64 = 2.0;
const WAKE_TARGET_MS: f64 = 20.0;

// ---------------------------------------------------------------------------------------------
// The servers under test.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `asynctools mcp serve`: stateful sessions, result pump, pushes.
    Session,
    /// `asynctools mcp serve --stateless`: no sessions, no pushes, the result pump in process.
    Stateless,
    /// As the Lambda function serves: stateless, and no result pump at all.
    StatelessNoPump,
}

struct Stack {
    server: RunningServer,
    store: Arc<dyn TaskStore>,
    runtime: Option<Runtime>,
    /// The no-pump stack's workers (a runtime has its own).
    pool: Option<WorkerPool>,
}

impl Stack {
    /// A stack of `kind`, with local workers or none, serving one principal ([`PRINCIPAL`]) or,
    /// `per_client`, whichever one each request names in [`PRINCIPAL_HEADER`].
    async fn start(kind: Kind, with_workers: bool, per_client: bool) -> Stack {
        let backend = Backend::in_memory(Arc::new(Catalog::embedded().clone()));
        let store = backend.store.clone();
        let principals = if per_client {
            Principals::TrustedHeader(mcp::identity::HeaderName::from_static(PRINCIPAL_HEADER))
        } else {
            Principals::Fixed(Caller::new(PRINCIPAL).unwrap())
        };
        let mut pool = PoolOptions::new("mcp-bench");
        // Prompt stops; receives on the memory queue are woken by arrivals anyway.
        pool.wait = Duration::from_millis(200);
        let mut http = HttpOptions::loopback(0);
        http.stateless = kind != Kind::Session;
        if kind == Kind::StatelessNoPump {
            let dispatcher_settings = DispatcherSettings::default();
            let dispatcher = backend
                .dispatcher(ToolBox::builtin(), dispatcher_settings.clone())
                .expect("dispatcher");
            let mut settings = Settings::new(dispatcher_settings.task_ttl_days);
            settings.push_statuses = false;
            let door = FrontDoor::new(
                Arc::new(dispatcher),
                principals,
                settings,
                Arc::new(Hub::new(&backend.catalog)),
            )
            .expect("front door");
            let names: Vec<String> = backend
                .catalog
                .names()
                .iter()
                .map(|n| n.to_string())
                .collect();
            let pool = with_workers.then(|| {
                WorkerPool::start(&backend, &ToolBox::builtin(), &names, &pool).expect("workers")
            });
            let server = mcp::serve_http(door, http).await.expect("listen");
            return Stack {
                server,
                store,
                runtime: None,
                pool,
            };
        }
        let mut options = RuntimeOptions::local(Caller::new(PRINCIPAL).unwrap());
        options.principals = principals;
        options.local_workers = with_workers.then_some(pool);
        options.settings.push_statuses = kind == Kind::Session;
        let runtime = Runtime::start(backend, options).expect("runtime");
        let server = mcp::serve_http(runtime.door.clone(), http)
            .await
            .expect("listen");
        Stack {
            server,
            store,
            runtime: Some(runtime),
            pool: None,
        }
    }

    fn url(&self) -> &str {
        &self.server.url
    }

    async fn get(&self, task_id: &str) -> TaskRecord {
        self.store
            .get(task_id)
            .await
            .expect("store get")
            .expect("the task is stored")
    }

    /// Every task of a conversation (of the bench's principal).
    async fn conversation(&self, handle: &str) -> Vec<TaskRecord> {
        let mut tasks = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let parsed = workers::ports::check_list_args(100, cursor.as_deref()).unwrap();
            let page = self
                .store
                .list_by_conversation(PRINCIPAL, handle, 100, parsed.as_ref())
                .await
                .expect("list");
            tasks.extend(page.tasks);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return tasks,
            }
        }
    }

    async fn stop(self) {
        self.server.shutdown().await.ok();
        if let Some(runtime) = self.runtime {
            runtime.stop().await;
        }
        if let Some(pool) = self.pool {
            pool.stop().await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Clients.

type Client = RunningService<RoleClient, ClientConfig>;

/// rmcp's client over Streamable HTTP (`initialize`, then a session where the server keeps them).
async fn connect(url: &str, capabilities: ClientCapabilities) -> Client {
    connect_as(url, capabilities, None).await
}

/// The same, naming its principal in [`PRINCIPAL_HEADER`] on every request.
async fn connect_as(
    url: &str,
    capabilities: ClientCapabilities,
    principal: Option<&str>,
) -> Client {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_string());
    if let Some(principal) = principal {
        config = config.custom_headers(HashMap::from([(
            http::HeaderName::from_static(PRINCIPAL_HEADER),
            http::HeaderValue::from_str(principal).unwrap(),
        )]));
    }
    ClientConfig::new(
        capabilities,
        Implementation::new("asynctools-mcp-bench", "0"),
    )
    .serve(StreamableHttpClientTransport::from_config(config))
    .await
    .expect("connect")
}

fn arguments(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        other => panic!("arguments must be an object, got {other}"),
    }
}

fn call(tool: &'static str, args: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(tool).with_arguments(arguments(args))
}

/// The task id of an acknowledgement (ack mode), checking it is one.
fn acked_task(answer: &CallToolResult) -> String {
    let structured = answer
        .structured_content
        .as_ref()
        .expect("an acknowledgement has structuredContent");
    assert_eq!(answer.is_error, Some(false), "{answer:?}");
    assert_eq!(
        structured["status"], "working",
        "not an acknowledgement: {structured}"
    );
    structured["taskId"].as_str().expect("taskId").to_string()
}

/// The task ids of the results riding along on an answer (`_meta["io.asynctools/results"]`).
fn riding_along(answer: &CallToolResult) -> Vec<String> {
    answer
        .meta
        .as_ref()
        .and_then(|meta| meta.0.get(RESULTS_META_KEY))
        .and_then(Value::as_array)
        .map(|listed| listed.iter().map(result_id).collect())
        .unwrap_or_default()
}

/// The task ids of a `task_results` answer, each checked completed.
fn results_of(answer: &CallToolResult) -> Vec<String> {
    assert_eq!(answer.is_error, Some(false), "{answer:?}");
    let structured = answer
        .structured_content
        .as_ref()
        .unwrap_or_else(|| panic!("task_results without structuredContent: {answer:?}"));
    structured["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(result_id)
        .collect()
}

fn result_id(result: &Value) -> String {
    assert_eq!(result["status"], "completed", "{result}");
    result["taskId"].as_str().expect("taskId").to_string()
}

/// A `task_results` call with `wait_s`.
fn task_results(wait_s: u64) -> CallToolRequestParams {
    call("task_results", json!({"wait_s": wait_s}))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let sizes = if full { FULL } else { SMOKE };
    // Client, server and workers share these cores: other load shows in the tails.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    println!(
        "MCP server, memory backend, Streamable HTTP on 127.0.0.1, {} cores (load average {load} \
         at start); times measured at the client, in ms",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "  {:<50} {:>6} {:>8} {:>8} {:>8} {:>8}   target",
        "", "count", "p50", "p90", "p99", "max"
    );

    println!(
        "1. slow call acknowledged: research {} s (catalog-hinted slow), {} sequential calls after {} warm-up; no workers",
        SLOW_RESEARCH_MS / 1000,
        sizes.latency_calls,
        sizes.warm_up
    );
    for mode in SlowMode::ALL {
        let latency = acknowledgements(mode, &sizes).await;
        row(mode.label(), &latency, Some(ACK_TARGET_MS));
    }

    println!(
        "2. fast call answered with its result: sentiment, ack-mode session, {} sequential calls",
        sizes.latency_calls
    );
    let (latency, inline, [stored, queued, run, answered]) = fast_calls(&sizes).await;
    row("sentiment, result inline", &latency, None);
    note(&format!(
        "answered inline: {inline}/{}; means: client -> task stored {stored:.2}, stored -> worker \
         started {queued:.2}, run {run:.2}, finished -> answer at the client {answered:.2}",
        sizes.latency_calls
    ));

    println!(
        "3. task_results wake-up (answer at the client - the task's finished_at_ms): research {}-{} ms, \
         then task_results wait_s {RESULTS_WAIT_S}; {} clients x {} calls",
        WAKE_RESEARCH_MS,
        WAKE_RESEARCH_MS + WAKE_SPREAD_MS - 1,
        sizes.wake_clients,
        sizes.wake_calls_per_client
    );
    for (kind, label, target) in [
        (Kind::Session, "stateful session", Some(WAKE_TARGET_MS)),
        (
            Kind::Stateless,
            "stateless server, result pump in process",
            None,
        ),
        (
            Kind::StatelessNoPump,
            "stateless, no pump (as Lambda: table every 200 ms)",
            None,
        ),
    ] {
        let wake = wake_ups(kind, &sizes).await;
        row(label, &wake, target);
    }
    note("(finished_at_ms is whole ms: a wake-up reads up to 1 ms long)");

    let total = sizes.flood_clients * sizes.calls_per_client;
    println!(
        "4. {total} concurrent ack-mode calls (research {FLOOD_RESEARCH_MS} ms) from {} clients, \
         {} each, all in flight at once; every result collected by its client",
        sizes.flood_clients, sizes.calls_per_client
    );
    let flood = flood(&sizes).await;
    row("acknowledgements under load", &flood.acks, None);
    note(&format!(
        "all acknowledged in {:.2} s, all results collected in {:.2} s; {} acknowledged, handed over: \
         {} by task_results + {} riding along on a later answer; missing {}, twice {}, foreign {}; \
         stored SUCCEEDED, run once, marked delivered: {}",
        flood.acked_in.as_secs_f64(),
        flood.collected_in.as_secs_f64(),
        flood.total,
        flood.by_task_results,
        flood.riding_along,
        flood.missing,
        flood.twice,
        flood.foreign,
        flood.stored_once,
    ));
    assert_eq!(
        flood.total, total,
        "every call acknowledged with its own task"
    );
    assert_eq!(flood.missing, 0, "no result missing");
    assert_eq!(flood.twice, 0, "no result handed over twice");
    assert_eq!(flood.foreign, 0, "no client got another's result");
    assert_eq!(
        flood.by_task_results + flood.riding_along,
        total,
        "each result handed over exactly once"
    );
    assert_eq!(flood.stored_once, total, "the table agrees");
    if !full {
        println!("mcp bench smoke run passed (run `cargo bench -p mcp` to measure)");
    }
}
