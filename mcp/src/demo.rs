//! `asynctools mcp demo`: the seed's scenario through the MCP server, from an MCP client without
//! task support (as most agent hosts are): the slow `research` call is acknowledged at once, the
//! fast `sentiment` call answers with its result, and the research result is delivered later by
//! `task_results`.

use crate::runtime::{Runtime, RuntimeOptions};
use crate::transport::{HttpOptions, serve_http};
use anyhow::{Context, Result, bail};
use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ClientCapabilities, ClientConfig, Implementation,
    JsonObject,
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
    // An agent host's MCP client as most are today: no task support at all.
    let client = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("asynctools-mcp-demo", env!("CARGO_PKG_VERSION")),
    )
    .serve(StreamableHttpClientTransport::from_uri(url.to_string()))
    .await
    .context("connecting to the MCP server")?;
    say(
        "connected",
        format!("agent      connected to {url} (a plain MCP client: no task support)"),
    )?;
    let calls = [
        (
            "research",
            json!({"topic": "asynchronous tool calls", "latency_ms": latency.as_millis() as u64}),
        ),
        ("sentiment", json!({"text": REVIEW})),
    ];
    for (tool, arguments) in calls {
        let sent = Instant::now();
        let response = client
            .call_tool_once(CallToolRequestParams::new(tool).with_arguments(args(arguments)))
            .await
            .with_context(|| format!("tools/call {tool}"))?;
        let CallToolResponse::Complete(result) = response else {
            bail!("the server answered {tool} with a task to a client without task support");
        };
        let took = sent.elapsed().as_secs_f64() * 1e3;
        let structured = result.structured_content.unwrap_or_default();
        if structured.get("status").and_then(|s| s.as_str()) == Some("working") {
            say(
                &format!("ack:{tool}"),
                format!(
                    "server     {tool}: acknowledged in {took:.1} ms as task {}; the model is told \
                     the result comes later and not to guess it",
                    structured["taskId"].as_str().unwrap_or("?")
                ),
            )?;
        } else {
            say(
                &format!("result:{tool}"),
                format!("server     {tool}: result inline in {took:.1} ms: {structured}"),
            )?;
        }
    }
    say(
        "meanwhile",
        "agent      answers the user from the sentiment result while research runs".into(),
    )?;
    let mut research_delivered = false;
    while !research_delivered {
        let response = client
            .call_tool_once(
                CallToolRequestParams::new("task_results")
                    .with_arguments(args(json!({"wait_s": 30}))),
            )
            .await
            .context("tools/call task_results")?;
        let CallToolResponse::Complete(result) = response else {
            bail!("task_results answered with a task");
        };
        let structured = result.structured_content.unwrap_or_default();
        let results = structured["results"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if results.is_empty() {
            bail!("task_results waited 30 s and found no result: {structured}");
        }
        for finished in results {
            let tool = finished["tool"].as_str().unwrap_or("?").to_string();
            research_delivered |= tool == "research";
            say(
                &format!("result:{tool}"),
                format!(
                    "server     {tool} delivered by task_results: {}",
                    finished.get("result").cloned().unwrap_or_default()
                ),
            )?;
        }
    }
    client.cancel().await?;
    Ok(report)
}
