//! `asynctools mcp demo`: the seed's scenario through the MCP server. An MCP client that declares
//! the tasks extension calls the slow `research` tool and the fast `sentiment` tool; both are
//! answered at once with tasks, the sentiment result lands first, and the research result later.

use crate::runtime::{Runtime, RuntimeOptions};
use crate::transport::{HttpOptions, serve_http};
use anyhow::{Context, Result, bail};
use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ClientCapabilities, ClientConfig, GetTaskParams,
    Implementation, JsonObject, TaskPayload,
};
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::json;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};
use workers::{Backend, Caller, Catalog};

const REVIEW: &str = "The battery life is great, but the screen is awful and support was rude.";

/// Labels of what happened, in order, with their times (for tests).
#[derive(Debug, Default)]
pub struct DemoReport {
    pub events: Vec<(Duration, String)>,
}

fn args(value: serde_json::Value) -> JsonObject {
    match value {
        serde_json::Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

pub async fn run(out: &mut (dyn Write + Send), research_latency: Duration) -> Result<DemoReport> {
    let backend = Backend::in_memory(Arc::new(Catalog::embedded().clone()));
    let runtime = Runtime::start(backend, RuntimeOptions::local(Caller::new("local:demo")?))?;
    let server = serve_http(runtime.door.clone(), HttpOptions::loopback(0)).await?;
    let result = play(out, &server.url, research_latency).await;
    server.shutdown().await?;
    runtime.stop().await;
    result
}

async fn play(out: &mut (dyn Write + Send), url: &str, latency: Duration) -> Result<DemoReport> {
    let started = Instant::now();
    let mut report = DemoReport::default();
    let mut say = |event: &str, text: String| -> Result<()> {
        let at = started.elapsed();
        writeln!(out, "[+{:>7.3}s] {text}", at.as_secs_f64())?;
        out.flush()?;
        report.events.push((at, event.to_string()));
        Ok(())
    };
    let client = ClientConfig::new(
        ClientCapabilities::builder().enable_tasks().build(),
        Implementation::new("asynctools-mcp-demo", env!("CARGO_PKG_VERSION")),
    )
    .serve(StreamableHttpClientTransport::from_uri(url.to_string()))
    .await
    .context("connecting to the MCP server")?;
    say(
        "connected",
        format!("agent      connected to {url} (tasks extension declared)"),
    )?;
    let calls = [
        (
            "research",
            json!({"topic": "asynchronous tool calls", "latency_ms": latency.as_millis() as u64}),
        ),
        ("sentiment", json!({"text": REVIEW})),
    ];
    let mut pending = Vec::new();
    for (tool, arguments) in calls {
        let sent = Instant::now();
        let response = client
            .call_tool_once(CallToolRequestParams::new(tool).with_arguments(args(arguments)))
            .await
            .with_context(|| format!("tools/call {tool}"))?;
        let CallToolResponse::Task(created) = response else {
            bail!("the server answered {tool} without a task");
        };
        say(
            &format!("ack:{tool}"),
            format!(
                "server     {tool}: task {} is {:?} (ack in {:.1} ms)",
                created.task.task_id,
                created.task.status,
                sent.elapsed().as_secs_f64() * 1e3
            ),
        )?;
        pending.push((tool, created.task.task_id));
    }
    say(
        "meanwhile",
        "agent      carries on with the conversation while both run".into(),
    )?;
    while !pending.is_empty() {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut still = Vec::new();
        for (tool, task_id) in pending {
            let current = client
                .peer()
                .get_task(GetTaskParams::new(task_id.clone()))
                .await?;
            match &current.task.payload {
                TaskPayload::Completed { result } => {
                    let text = result
                        .get("structuredContent")
                        .map(|v| v.to_string())
                        .unwrap_or_default();
                    say(
                        &format!("result:{tool}"),
                        format!("server     {tool} completed: {text}"),
                    )?;
                }
                TaskPayload::Working | TaskPayload::InputRequired { .. } => {
                    still.push((tool, task_id))
                }
                other => say(
                    &format!("result:{tool}"),
                    format!("server     {tool}: {other:?}"),
                )?,
            }
        }
        pending = still;
    }
    client.cancel().await?;
    Ok(report)
}
