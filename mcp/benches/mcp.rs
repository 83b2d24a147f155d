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

/// A 2025-11-25 client speaking raw JSON-RPC over Streamable HTTP (as the TypeScript SDK v1 and
/// the Python SDK 1.x do), for the SEP-1686 tasks rmcp's client does not have.
struct RawClient {
    http: reqwest::Client,
    url: String,
    session: String,
    next_id: AtomicU64,
}

impl RawClient {
    async fn connect(url: &str) -> RawClient {
        let http = reqwest::Client::new();
        let initialize = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": LEGACY_PROTOCOL,
                "capabilities": {},
                "clientInfo": {"name": "asynctools-mcp-bench-raw", "version": "0"},
            },
        });
        let response = http
            .post(url)
            .header(
                reqwest::header::ACCEPT,
                "application/json, text/event-stream",
            )
            .json(&initialize)
            .send()
            .await
            .expect("initialize");
        let session = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .expect("a session id")
            .to_string();
        let answer = response_message(&response.text().await.expect("initialize body"));
        let result = &answer["result"];
        assert_eq!(result["protocolVersion"], LEGACY_PROTOCOL, "{answer}");
        assert!(
            result["capabilities"]["tasks"]["requests"]["tools"]["call"].is_object(),
            "the 2025-11-25 tasks capability: {answer}"
        );
        let client = RawClient {
            http,
            url: url.to_string(),
            session,
            next_id: AtomicU64::new(1),
        };
        let initialized = client
            .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        assert!(
            initialized.status().is_success(),
            "{}",
            initialized.status()
        );
        client
    }

    async fn post(&self, message: &Value) -> reqwest::Response {
        self.http
            .post(&self.url)
            .header(
                reqwest::header::ACCEPT,
                "application/json, text/event-stream",
            )
            .header("mcp-session-id", &self.session)
            .header("mcp-protocol-version", LEGACY_PROTOCOL)
            .json(message)
            .send()
            .await
            .expect("POST")
    }

    /// A request's `result` (panics on an error answer), and how long it took to arrive: read as
    /// a streaming client reads it, up to the answer (a JSON body, or the SSE event that carries
    /// it); the rest of the body is read after, so the connection is kept for the next request.
    async fn request(&self, method: &str, params: Value) -> (Value, Duration) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let sent = Instant::now();
        let mut response = self
            .post(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        let mut body = String::new();
        let mut answer = None;
        while let Some(chunk) = response.chunk().await.expect("body") {
            body.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
            if answer.is_none() {
                answer = answer_in(&body).map(|message| (message, sent.elapsed()));
            }
        }
        let (answer, took) = answer.unwrap_or_else(|| panic!("{method}: no answer in {body:?}"));
        match answer.get("result") {
            Some(result) => (result.clone(), took),
            None => panic!("{method}: {answer}"),
        }
    }

    /// Ends the session.
    async fn close(self) {
        let _ = self
            .http
            .delete(&self.url)
            .header("mcp-session-id", &self.session)
            .header("mcp-protocol-version", LEGACY_PROTOCOL)
            .send()
            .await;
    }
}

/// The JSON-RPC response in a whole body.
fn response_message(body: &str) -> Value {
    answer_in(body).unwrap_or_else(|| panic!("no JSON-RPC response in {body:?}"))
}

/// The JSON-RPC response in (the start of) a body, once it is there: plain JSON, or the `data:` of
/// an SSE event.
fn answer_in(body: &str) -> Option<Value> {
    if body.trim_start().starts_with('{') {
        return serde_json::from_str(body).ok();
    }
    body.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
        .find(|message| message.get("id").is_some())
}

// ---------------------------------------------------------------------------------------------
// Measurements.

/// Microseconds, 1 µs to 1 h, 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap()
}

fn record(h: &mut Histogram<u64>, took: Duration) {
    h.saturating_record((took.as_micros() as u64).max(1));
}

fn epoch_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

fn ms(h: &Histogram<u64>, quantile: f64) -> f64 {
    h.value_at_quantile(quantile) as f64 / 1000.0
}

/// One table row: the label, the count, p50/p90/p99/max in ms, and the target if any.
fn row(label: &str, h: &Histogram<u64>, target: Option<f64>) {
    let verdict = match target {
        Some(limit) if ms(h, 0.99) < limit => format!("p99 < {limit} ms: met"),
        Some(limit) => format!("p99 < {limit} ms: MISSED"),
        None => String::new(),
    };
    println!(
        "  {label:<50} {:>6} {:>8.3} {:>8.3} {:>8.3} {:>8.3}   {verdict}",
        h.len(),
        ms(h, 0.5),
        ms(h, 0.9),
        ms(h, 0.99),
        h.max() as f64 / 1000.0,
    );
}

fn note(text: &str) {
    println!("  {text}");
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlowMode {
    Ack,
    Sep2663,
    Sep1686,
    AckStateless,
    AckRaw,
}

impl SlowMode {
    const ALL: [SlowMode; 5] = [
        SlowMode::Ack,
        SlowMode::Sep2663,
        SlowMode::Sep1686,
        SlowMode::AckStateless,
        SlowMode::AckRaw,
    ];

    fn label(self) -> &'static str {
        match self {
            SlowMode::Ack => "(a) ack mode, session (rmcp, no task support)",
            SlowMode::Sep2663 => "(b) SEP-2663 task (rmcp, tasks extension)",
            SlowMode::Sep1686 => "(c) SEP-1686 task (2025-11-25, raw JSON-RPC)",
            SlowMode::AckStateless => "(d) ack mode, stateless server (rmcp)",
            SlowMode::AckRaw => "(e) ack mode, session, raw JSON-RPC keep-alive",
        }
    }
}

enum SlowClient {
    Rmcp(Client),
    Raw(RawClient),
}

/// One slow call, checked to be acknowledged the way `mode` answers; how long the answer took.
async fn slow_call(mode: SlowMode, client: &SlowClient, n: usize) -> Duration {
    let args = json!({"topic": format!("ack latency {n}"), "latency_ms": SLOW_RESEARCH_MS});
    let sent = Instant::now();
    match (mode, client) {
        (SlowMode::Ack | SlowMode::AckStateless, SlowClient::Rmcp(client)) => {
            let answer = client
                .call_tool(call("research", args))
                .await
                .expect("tools/call");
            let took = sent.elapsed();
            acked_task(&answer);
            took
        }
        (SlowMode::Sep2663, SlowClient::Rmcp(client)) => {
            let answer = client
                .call_tool_once(call("research", args))
                .await
                .expect("tools/call");
            let took = sent.elapsed();
            match answer {
                CallToolResponse::Task(created) => {
                    assert_eq!(created.task.status, McpTaskStatus::Working)
                }
                other => panic!("expected a task, got {other:?}"),
            }
            took
        }
        (SlowMode::Sep1686, SlowClient::Raw(client)) => {
            let params = json!({"name": "research", "arguments": args, "task": {"ttl": 60_000}});
            let (created, took) = client.request("tools/call", params).await;
            assert_eq!(created["task"]["status"], "working", "{created}");
            took
        }
        (SlowMode::AckRaw, SlowClient::Raw(client)) => {
            let params = json!({"name": "research", "arguments": args});
            let (answer, took) = client.request("tools/call", params).await;
            assert_eq!(answer["structuredContent"]["status"], "working", "{answer}");
            took
        }
        _ => unreachable!("{mode:?} with the wrong client"),
    }
}

/// Section 1: sequential slow calls on a stack of their own without workers.
async fn acknowledgements(mode: SlowMode, sizes: &Sizes) -> Histogram<u64> {
    let kind = match mode {
        SlowMode::AckStateless => Kind::Stateless,
        _ => Kind::Session,
    };
    let stack = Stack::start(kind, false, false).await;
    let client = match mode {
        SlowMode::Ack | SlowMode::AckStateless => {
            SlowClient::Rmcp(connect(stack.url(), ClientCapabilities::default()).await)
        }
        SlowMode::Sep2663 => SlowClient::Rmcp(
            connect(
                stack.url(),
                ClientCapabilities::builder().enable_tasks().build(),
            )
            .await,
        ),
        SlowMode::Sep1686 | SlowMode::AckRaw => {
            SlowClient::Raw(RawClient::connect(stack.url()).await)
        }
    };
    for n in 0..sizes.warm_up {
        slow_call(mode, &client, n).await;
    }
    let mut latency = histogram();
    for n in 0..sizes.latency_calls {
        let took = slow_call(mode, &client, n).await;
        record(&mut latency, took);
    }
    match client {
        SlowClient::Rmcp(client) => {
            client.cancel().await.ok();
        }
        SlowClient::Raw(client) => client.close().await,
    }
    stack.stop().await;
    latency
}

/// Section 2: sequential `sentiment` calls from an ack-mode client, answered with their result;
/// and the mean of each stretch of a call, from the task's timestamps (ms, from the table) and the
/// client's clock (the same machine's).
async fn fast_calls(sizes: &Sizes) -> (Histogram<u64>, usize, [f64; 4]) {
    let stack = Stack::start(Kind::Session, true, false).await;
    let client = connect(stack.url(), ClientCapabilities::default()).await;
    // The session's conversation handle (an acknowledgement names it), to find the tasks after;
    // that task's result is collected now so it rides along on no measured answer.
    let ack = client
        .call_tool(call(
            "research",
            json!({"topic": "handle", "latency_ms": WAKE_RESEARCH_MS}),
        ))
        .await
        .expect("tools/call");
    let first = acked_task(&ack);
    let handle = ack.structured_content.as_ref().unwrap()["conversation"]
        .as_str()
        .expect("conversation")
        .to_string();
    let collected = client
        .call_tool(task_results(RESULTS_WAIT_S))
        .await
        .expect("task_results");
    assert_eq!(results_of(&collected), [first]);

    let text = |label: &str, n: usize| json!({"text": format!("fast and reliable, {label} {n}")});
    for n in 0..sizes.warm_up {
        client
            .call_tool(call("sentiment", text("warm-up", n)))
            .await
            .expect("tools/call");
    }
    let mut latency = histogram();
    let mut inline = 0;
    let mut times: HashMap<String, (u64, u64)> = HashMap::new();
    for n in 0..sizes.latency_calls {
        let args = text("measured", n);
        let sent_us = epoch_us();
        let sent = Instant::now();
        let answer = client
            .call_tool(call("sentiment", args.clone()))
            .await
            .expect("tools/call");
        record(&mut latency, sent.elapsed());
        let returned_us = epoch_us();
        if answer
            .structured_content
            .as_ref()
            .is_some_and(|s| s.get("sentiment").is_some())
        {
            inline += 1;
        }
        times.insert(
            args["text"].as_str().unwrap().to_string(),
            (sent_us, returned_us),
        );
    }
    // client -> stored, stored -> worker started, run, finished -> answer at the client.
    let mut sums = [0f64; 4];
    let mut counted = 0;
    for task in stack.conversation(&handle).await {
        let Some(&(sent_us, returned_us)) =
            task.arguments["text"].as_str().and_then(|t| times.get(t))
        else {
            continue;
        };
        let (Some(started), Some(finished)) = (task.started_at_ms, task.finished_at_ms) else {
            continue;
        };
        // The table's times are whole ms (floored): +0.5 ms is each one's expected true time, so
        // the stretches that start or end on the client's µs clock are not off by half a ms.
        let [created, started, finished] =
            [task.created_at_ms, started, finished].map(|t| t as f64 + 0.5);
        sums[0] += created - sent_us as f64 / 1000.0;
        sums[1] += started - created;
        sums[2] += finished - started;
        sums[3] += returned_us as f64 / 1000.0 - finished;
        counted += 1;
    }
    let means = sums.map(|s| s / f64::from(counted.max(1)));
    client.cancel().await.ok();
    stack.stop().await;
    (latency, inline, means)
}

/// Section 3: `clients` ack-mode clients at once, each calling `research` and then `task_results`
/// until it returns that result; wake-up = answer at the client - the task's `finished_at_ms`.
async fn wake_ups(kind: Kind, sizes: &Sizes) -> Histogram<u64> {
    let stack = Arc::new(Stack::start(kind, true, true).await);
    let stateless = kind != Kind::Session;
    let mut clients = JoinSet::new();
    for c in 0..sizes.wake_clients {
        let stack = stack.clone();
        let calls = sizes.wake_calls_per_client;
        clients.spawn(async move {
            // Each client is a principal of its own, and has a conversation of its own: its
            // session's, or (no sessions) the one it names in `_meta`. (The principal keeps the
            // clients of a stateless server apart even where the server does not take the named
            // conversation: otherwise a finished result rides along on another client's answer.)
            let principal = format!("local:bench-wake-{c}");
            let client =
                connect_as(stack.url(), ClientCapabilities::default(), Some(&principal)).await;
            let handle = format!("bench-wake-{c}");
            let mut wake = histogram();
            for i in 0..calls {
                // 37 is coprime with 200: the calls' latencies cover the spread evenly.
                let spread = ((c * calls + i) as u64 * 37) % WAKE_SPREAD_MS;
                let mut params = call(
                    "research",
                    json!({
                        "topic": format!("wake-up {c}-{i}"),
                        "latency_ms": WAKE_RESEARCH_MS + spread,
                    }),
                );
                if stateless {
                    let mut meta = JsonObject::new();
                    meta.insert(CONVERSATION_META_KEY.to_string(), json!(handle));
                    params.meta = Some(RequestMetaObject::from(meta));
                }
                let ack = client.call_tool(params).await.expect("tools/call");
                let task_id = acked_task(&ack);
                let mut results = task_results(RESULTS_WAIT_S);
                if stateless {
                    // The conversation the acknowledgement names.
                    results.arguments.get_or_insert_default().insert(
                        "conversation".into(),
                        ack.structured_content.as_ref().unwrap()["conversation"].clone(),
                    );
                }
                let answer = client.call_tool(results).await.expect("task_results");
                let returned_us = epoch_us();
                assert_eq!(results_of(&answer), std::slice::from_ref(&task_id));
                let finished_ms = stack
                    .get(&task_id)
                    .await
                    .finished_at_ms
                    .expect("finished_at_ms");
                let woke_us = returned_us.saturating_sub(finished_ms * 1000);
                wake.saturating_record(woke_us.max(1));
            }
            client.cancel().await.ok();
            wake
        });
    }
    let mut wake = histogram();
    while let Some(done) = clients.join_next().await {
        wake.add(done.expect("a wake-up client")).unwrap();
    }
    Arc::into_inner(stack).expect("clients done").stop().await;
    wake
}

struct Flood {
    acks: Histogram<u64>,
    total: usize,
    acked_in: Duration,
    collected_in: Duration,
    by_task_results: usize,
    riding_along: usize,
    missing: usize,
    twice: usize,
    foreign: usize,
    stored_once: usize,
}

/// Section 4: every client's calls in flight at once, then every result collected by its client.
async fn flood(sizes: &Sizes) -> Flood {
    // Each client a principal of its own, as 50 users would be (one principal may have only a few
    // calls waiting at once: `task_results` with `wait_s` is one).
    let stack = Stack::start(Kind::Session, true, true).await;
    let mut clients = Vec::new();
    for c in 0..sizes.flood_clients {
        let principal = format!("local:bench-flood-{c}");
        clients.push(Arc::new(
            connect_as(stack.url(), ClientCapabilities::default(), Some(&principal)).await,
        ));
    }
    let started = Instant::now();
    let mut calls = JoinSet::new();
    for (c, client) in clients.iter().enumerate() {
        for i in 0..sizes.calls_per_client {
            let client = client.clone();
            calls.spawn(async move {
                let args =
                    json!({"topic": format!("flood {c}-{i}"), "latency_ms": FLOOD_RESEARCH_MS});
                let sent = Instant::now();
                let answer = client
                    .call_tool(call("research", args))
                    .await
                    .expect("tools/call");
                (
                    c,
                    sent.elapsed(),
                    acked_task(&answer),
                    riding_along(&answer),
                )
            });
        }
    }
    let mut acks = histogram();
    let mut acked: Vec<HashSet<String>> = vec![HashSet::new(); clients.len()];
    // How often each client was handed each task id, by either way.
    let mut handed: Vec<HashMap<String, usize>> = vec![HashMap::new(); clients.len()];
    let mut riding = 0;
    while let Some(done) = calls.join_next().await {
        let (c, took, task_id, along) = done.expect("a call");
        record(&mut acks, took);
        acked[c].insert(task_id);
        riding += along.len();
        for id in along {
            *handed[c].entry(id).or_default() += 1;
        }
    }
    let acked_in = started.elapsed();

    let mut collectors = JoinSet::new();
    for (c, client) in clients.iter().enumerate() {
        let client = client.clone();
        let expected = acked[c].len();
        let mut seen: HashSet<String> = handed[c].keys().cloned().collect();
        collectors.spawn(async move {
            let mut returned = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(120);
            while seen.len() < expected && Instant::now() < deadline {
                let answer = client
                    .call_tool(task_results(RESULTS_WAIT_S))
                    .await
                    .expect("task_results");
                for id in results_of(&answer) {
                    seen.insert(id.clone());
                    returned.push(id);
                }
            }
            // Nothing is handed over a second time.
            let again = client
                .call_tool(task_results(0))
                .await
                .expect("task_results");
            returned.extend(results_of(&again));
            (c, returned)
        });
    }
    let mut by_task_results = 0;
    while let Some(done) = collectors.join_next().await {
        let (c, returned) = done.expect("a collector");
        by_task_results += returned.len();
        for id in returned {
            *handed[c].entry(id).or_default() += 1;
        }
    }
    let collected_in = started.elapsed();

    let (mut missing, mut twice, mut foreign) = (0, 0, 0);
    for (acked, handed) in acked.iter().zip(&handed) {
        missing += acked.iter().filter(|id| !handed.contains_key(*id)).count();
        twice += handed.values().filter(|&&n| n > 1).count();
        foreign += handed.keys().filter(|id| !acked.contains(*id)).count();
    }
    // The table agrees: each ran once, succeeded, and is marked handed over.
    let mut stored_once = 0;
    for id in acked.iter().flatten() {
        let task = stack.get(id).await;
        if task.status == workers::TaskStatus::Succeeded && task.attempts == 1 && task.delivered {
            stored_once += 1;
        }
    }
    let total = acked.iter().map(HashSet::len).sum();
    for client in clients {
        if let Ok(client) = Arc::try_unwrap(client) {
            client.cancel().await.ok();
        }
    }
    stack.stop().await;
    Flood {
        acks,
        total,
        acked_in,
        collected_in,
        by_task_results,
        riding_along: riding,
        missing,
        twice,
        foreign,
        stored_once,
    }
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
