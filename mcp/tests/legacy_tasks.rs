//! The 2025-11-25 experimental tasks (SEP-1686), message by message over the stdio transport (the
//! SDK clients that speak them run over HTTP in `clients.rs`): the capability and `taskSupport`
//! its clients look for, a task and its result, a fast call's task already completed, a list, a
//! cancel, and the errors.

mod common;

use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

struct Line {
    writer: tokio::io::WriteHalf<tokio::io::DuplexStream>,
    reader: tokio::io::Lines<BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>>,
}

impl Line {
    async fn send(&mut self, message: Value) {
        let mut text = message.to_string();
        text.push('\n');
        self.writer.write_all(text.as_bytes()).await.unwrap();
    }

    /// The answer to request `id` (notifications in between are skipped).
    async fn answer(&mut self, id: u64) -> Value {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(20), self.reader.next_line())
                .await
                .expect("an answer within 20 s")
                .unwrap()
                .expect("the server is still there");
            let message: Value = serde_json::from_str(&line).unwrap();
            if message["id"] == id {
                return message;
            }
        }
    }

    async fn request(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        self.answer(id).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_2025_11_25_client_gets_tasks_over_stdio() {
    let backend =
        workers::Backend::in_memory(std::sync::Arc::new(workers::Catalog::embedded().clone()));
    let options = common::options(mcp::Principals::Fixed(
        workers::Caller::new(common::PRINCIPAL).unwrap(),
    ));
    let runtime = mcp::Runtime::start(backend, options).expect("runtime");
    let (client_side, server_side) = tokio::io::duplex(1 << 16);
    let (server_read, server_write) = tokio::io::split(server_side);
    let server = tokio::spawn(mcp::stdio::serve_lines(
        runtime.door.clone(),
        server_read,
        server_write,
    ));
    let (read, writer) = tokio::io::split(client_side);
    let mut line = Line {
        writer,
        reader: BufReader::new(read).lines(),
    };

    let init = line
        .request(
            1,
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {"tasks": {}},
                "clientInfo": {"name": "sep-1686", "version": "0"}}),
        )
        .await;
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(
        init["result"]["capabilities"]["tasks"]["requests"]["tools"]["call"],
        json!({}),
        "{init}"
    );
    line.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await;

    let tools = line.request(2, "tools/list", json!({})).await;
    let support: Vec<(String, String)> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["execution"]["taskSupport"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        support.contains(&("research".into(), "optional".into())),
        "{support:?}"
    );
    assert!(
        support.contains(&("task_results".into(), "forbidden".into())),
        "{support:?}"
    );

    // A slow call as a task: working at once, with the 2025-11-25 field names.
    let created = line
        .request(
            3,
            "tools/call",
            json!({"name": "research", "arguments": {"topic": "sep-1686", "latency_ms": 400},
                "task": {"ttl": 60000}}),
        )
        .await;
    let task = &created["result"]["task"];
    assert_eq!(task["status"], "working", "{created}");
    assert!(
        task["ttl"].is_u64() && task["pollInterval"].is_u64(),
        "{task}"
    );
    let research = task["taskId"].as_str().unwrap().to_string();

    // A fast call's task is already completed when first read.
    let fast = line
        .request(
            4,
            "tools/call",
            json!({"name": "sentiment", "arguments": {"text": "great"}, "task": {}}),
        )
        .await;
    assert_eq!(fast["result"]["task"]["status"], "completed", "{fast}");

    // tasks/result waits for the task, then answers as the call would have.
    let result = line
        .request(5, "tasks/result", json!({"taskId": research}))
        .await;
    assert_eq!(
        result["result"]["structuredContent"]["latency_ms"], 400,
        "{result}"
    );
    assert_eq!(
        result["result"]["_meta"]["io.modelcontextprotocol/related-task"]["taskId"],
        research
    );
    let got = line
        .request(6, "tasks/get", json!({"taskId": research}))
        .await;
    assert_eq!(got["result"]["status"], "completed");
    let listed = line.request(7, "tasks/list", json!({})).await;
    assert_eq!(
        listed["result"]["tasks"].as_array().unwrap().len(),
        2,
        "{listed}"
    );

    // Cancel: a running task is cancelled; a finished one cannot be.
    let long = line
        .request(
            8,
            "tools/call",
            json!({"name": "synthetic", "arguments": {"sleep_ms": 20000}, "task": {}}),
        )
        .await;
    let long = long["result"]["task"]["taskId"]
        .as_str()
        .unwrap()
        .to_string();
    let cancelled = line
        .request(9, "tasks/cancel", json!({"taskId": long}))
        .await;
    assert_eq!(cancelled["result"]["status"], "cancelled", "{cancelled}");
    let refused = line
        .request(10, "tasks/cancel", json!({"taskId": research}))
        .await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    let unknown = line
        .request(
            11,
            "tasks/get",
            json!({"taskId": "01M8RHG0JA4TF2PYGERHQTV0J2"}),
        )
        .await;
    assert_eq!(unknown["error"]["code"], -32602);
    let malformed = line.request(12, "tasks/result", json!({})).await;
    assert_eq!(malformed["error"]["code"], -32602);

    drop(line);
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    runtime.stop().await;
}

/// A client of the 2026-07-28 extension on a 2025-11-25 session (rmcp's, fastmcp-tasks') keeps
/// that extension's task requests: nothing here reshapes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_extension_client_on_a_2025_11_25_session_keeps_its_tasks() {
    let stack = common::memory_stack().await;
    let client = common::client(common::tasks_client_config(), stack.url(), None).await;
    let params = common::call("research", json!({"topic": "ext", "latency_ms": 100}));
    let (task, _) = common::start_task(&client, params).await;
    let done = common::wait_terminal(
        &client,
        &task.task_id,
        Duration::from_millis(25),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(done.task.ttl_ms, task.ttl_ms, "SEP-2663's ttlMs, not ttl");
    client.cancel().await.unwrap();
    stack.stop().await;
}
