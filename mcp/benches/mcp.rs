//! `cargo bench -p mcp`: the MCP front door on the memory backend.
//!
//! 1. `tools/call` -> task reply latency, one client calling back to back (p50/p99 over HTTP on
//!    127.0.0.1, measured at the client: rmcp's client, JSON-RPC over Streamable HTTP).
//! 2. 1,000 concurrent task calls from 50 clients (20 each, all in flight at once), then every
//!    task polled to completion: none lost, each completed exactly once in the table.

use hdrhistogram::Histogram;
use mcp::{HttpOptions, Runtime, RuntimeOptions};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ClientCapabilities, ClientConfig, GetTaskParams,
    Implementation, JsonObject, TaskStatus,
};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientServiceExt, ServiceExt};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use workers::{Backend, Caller, Catalog};

/// The measurement's sizes; `cargo test --all-targets` runs this binary without `--bench`, and then
/// it is a quick smoke run of the same code, not a measurement.
struct Sizes {
    warm_up: usize,
    latency_calls: usize,
    clients: usize,
    calls_per_client: usize,
}

const FULL: Sizes = Sizes {
    warm_up: 200,
    latency_calls: 2_000,
    clients: 50,
    calls_per_client: 20,
};
const SMOKE: Sizes = Sizes {
    warm_up: 5,
    latency_calls: 20,
    clients: 5,
    calls_per_client: 4,
};

type Client = RunningService<RoleClient, ClientConfig>;

async fn connect(url: &str) -> Client {
    ClientConfig::new(
        ClientCapabilities::builder().enable_tasks().build(),
        Implementation::new("asynctools-mcp-bench", "0"),
    )
    .serve(StreamableHttpClientTransport::from_uri(url.to_string()))
    .await
    .expect("connect")
}

async fn connect_stateless(url: &str) -> Client {
    ClientConfig::new(
        ClientCapabilities::builder().enable_tasks().build(),
        Implementation::new("asynctools-mcp-bench", "0"),
    )
    .serve_with_lifecycle(
        StreamableHttpClientTransport::from_uri(url.to_string()),
        rmcp::ClientLifecycleMode::Discover {
            preferred_versions: vec![rmcp::model::ProtocolVersion::V_2026_07_28],
        },
    )
    .await
    .expect("connect (2026-07-28)")
}

fn arguments(value: serde_json::Value) -> JsonObject {
    value.as_object().cloned().unwrap_or_default()
}

async fn call_task(client: &Client, tool: &'static str, args: &JsonObject) -> String {
    let params = CallToolRequestParams::new(tool).with_arguments(args.clone());
    match client.call_tool_once(params).await.expect("tools/call") {
        CallToolResponse::Task(created) => created.task.task_id,
        other => panic!("expected a task, got {other:?}"),
    }
}

fn micros(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let Sizes {
        warm_up,
        latency_calls,
        clients: client_count,
        calls_per_client,
    } = if full { FULL } else { SMOKE };
    let backend = Backend::in_memory(Arc::new(Catalog::embedded().clone()));
    let mut options = RuntimeOptions::local(Caller::new("local:bench").unwrap());
    if let Some(pool) = options.local_workers.as_mut() {
        pool.wait = Duration::from_millis(200);
    }
    let runtime = Runtime::start(backend, options).expect("runtime");
    let server = mcp::serve_http(runtime.door.clone(), HttpOptions::loopback(0))
        .await
        .expect("listen");
    let url = server.url.clone();

    // 1. Latency, sequential: a legacy session client (which also gets each task's status pushed
    //    on its session stream) and a 2026-07-28 client (stateless: nothing pushed).
    let session = connect(&url).await;
    let stateless = connect_stateless(&url).await;
    let args = arguments(json!({"text": "fast and reliable"}));
    for (name, client) in [("session", &session), ("2026-07-28", &stateless)] {
        for _ in 0..warm_up {
            call_task(client, "sentiment", &args).await;
        }
        let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for _ in 0..latency_calls {
            let started = Instant::now();
            call_task(client, "sentiment", &args).await;
            latency.record(started.elapsed().as_nanos() as u64).unwrap();
        }
        println!(
            "tools/call -> task reply, {name} client, {latency_calls} sequential calls: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            micros(&latency, 0.5) / 1000.0,
            micros(&latency, 0.99) / 1000.0,
            latency.max() as f64 / 1e6,
        );
    }
    session.cancel().await.ok();
    stateless.cancel().await.ok();

    // 2. 1,000 concurrent task calls from 50 clients.
    let mut clients = Vec::new();
    for _ in 0..client_count {
        clients.push(Arc::new(connect(&url).await));
    }
    let started = Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for (c, client) in clients.iter().enumerate() {
        for i in 0..calls_per_client {
            let client = client.clone();
            let args = arguments(json!({"sleep_ms": 50, "echo": format!("{c}-{i}")}));
            calls.spawn(async move {
                let sent = Instant::now();
                let id = call_task(&client, "synthetic", &args).await;
                (id, sent.elapsed(), client)
            });
        }
    }
    let mut acks = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    let mut tasks = Vec::new();
    while let Some(done) = calls.join_next().await {
        let (id, took, client) = done.expect("call task");
        acks.record(took.as_nanos() as u64).unwrap();
        tasks.push((id, client));
    }
    let acked_in = started.elapsed();
    let mut polls = tokio::task::JoinSet::new();
    for (id, client) in tasks {
        polls.spawn(async move {
            loop {
                let got = client
                    .peer()
                    .get_task(GetTaskParams::new(id.clone()))
                    .await
                    .expect("tasks/get");
                if got.task.status().is_terminal() {
                    return got.task.status();
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    }
    let mut completed = 0;
    while let Some(status) = polls.join_next().await {
        if status.expect("poll task") == TaskStatus::Completed {
            completed += 1;
        }
    }
    let all_done = started.elapsed();
    // The table agrees: every one of them ran and succeeded exactly once.
    let mut stored = 0;
    let mut cursor: Option<String> = None;
    loop {
        let parsed = workers::ports::check_list_args(100, cursor.as_deref()).unwrap();
        let page = runtime
            .backend
            .store
            .list_by_conversation("local:bench", "mcp", 100, parsed.as_ref())
            .await
            .unwrap();
        stored += page
            .tasks
            .iter()
            .filter(|t| {
                t.tool == "synthetic"
                    && t.status == workers::TaskStatus::Succeeded
                    && t.attempts == 1
            })
            .count();
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let total = client_count * calls_per_client;
    println!(
        "{total} concurrent task calls from {client_count} clients: acks p50 {:.2} ms, p99 {:.2} ms, all acked in {:.2} s; \
         all completed in {:.2} s; completed {completed}/{total}, lost {}, stored SUCCEEDED once: {stored}",
        micros(&acks, 0.5) / 1000.0,
        micros(&acks, 0.99) / 1000.0,
        acked_in.as_secs_f64(),
        all_done.as_secs_f64(),
        total - completed,
    );
    assert_eq!(completed, total, "every task completed");
    assert_eq!(stored, total, "the table holds each exactly once");
    if !full {
        println!("mcp bench smoke run passed (run `cargo bench -p mcp` to measure)");
    }
    for client in clients {
        if let Ok(client) = Arc::try_unwrap(client) {
            client.cancel().await.ok();
        }
    }
    server.shutdown().await.ok();
    runtime.stop().await;
}
