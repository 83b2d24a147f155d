//! `asynctools mcp serve --stdio --channels` spawned as an MCP host spawns it (Claude Code does so
//! for a channel server), spoken to by rmcp's stdio client, which records the notifications: a
//! slow call is acknowledged at once, and its result arrives by itself as a
//! `notifications/claude/channel` event, once; a fast call answers with its result.

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ClientCapabilities, ClientConfig, CustomNotification,
    Implementation,
};
use rmcp::service::{NotificationContext, RoleClient};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, ServiceExt};
use serde_json::json;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Clone)]
struct Recorder(mpsc::UnboundedSender<CustomNotification>);

impl ClientHandler for Recorder {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("stdio-host", "0"),
        )
    }

    async fn on_custom_notification(
        &self,
        notification: CustomNotification,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(notification);
    }
}

fn call(tool: &'static str, arguments: serde_json::Value) -> CallToolRequestParams {
    CallToolRequestParams::new(tool).with_arguments(arguments.as_object().unwrap().clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_host_gets_acknowledgements_and_channel_pushes() {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_asynctools"));
    command.args([
        "mcp",
        "serve",
        "--stdio",
        "--channels",
        "--principal",
        "local:host",
    ]);
    let transport = TokioChildProcess::new(command).expect("spawns the server");
    let (sender, mut events) = mpsc::unbounded_channel();
    let client = Recorder(sender)
        .serve(transport)
        .await
        .expect("initializes over stdio");
    let info = client.peer().peer_info().expect("server info");
    assert!(
        info.capabilities
            .experimental
            .as_ref()
            .is_some_and(|e| e.contains_key("claude/channel"))
    );

    let ack = match client
        .call_tool_once(call(
            "research",
            json!({"topic": "stdio", "latency_ms": 500}),
        ))
        .await
        .expect("tools/call")
    {
        CallToolResponse::Complete(ack) => ack,
        other => panic!("expected an acknowledgement, got {other:?}"),
    };
    let ack = ack.structured_content.expect("structuredContent");
    assert_eq!(ack["status"], "working", "{ack}");
    let fast = client
        .call_tool(call("sentiment", json!({"text": "what a great day"})))
        .await
        .expect("tools/call");
    assert_eq!(fast.structured_content.unwrap()["sentiment"], "positive");

    let event = tokio::time::timeout(Duration::from_secs(20), events.recv())
        .await
        .expect("a channel event")
        .expect("recorder open");
    assert_eq!(event.method, "notifications/claude/channel");
    let params = event.params.expect("params");
    assert_eq!(params["meta"]["task_id"], ack["taskId"]);
    assert!(
        params["content"]
            .as_str()
            .unwrap()
            .contains("Result of research"),
        "{params}"
    );
    let left = client
        .call_tool(call("task_results", json!({"wait_s": 1})))
        .await
        .expect("task_results");
    assert_eq!(left.structured_content.unwrap()["results"], json!([]));
    assert!(events.try_recv().is_err(), "pushed once");
    client.cancel().await.unwrap();
}
