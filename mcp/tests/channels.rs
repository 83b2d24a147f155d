//! Claude Code's channels (`--channels`): each finished result of a session is pushed to it as a
//! `notifications/claude/channel` event the moment it lands, over stdio and over an HTTP session
//! with its stream open, recorded here by rmcp's client; a pushed result counts as handed over.

mod common;

use rmcp::model::{
    CallToolResponse, ClientCapabilities, ClientConfig, CustomNotification, Implementation,
};
use rmcp::service::{NotificationContext, RoleClient};
use rmcp::{ClientHandler, ServiceExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::mpsc;

/// Records the channel events it receives.
#[derive(Clone)]
struct Listener(mpsc::UnboundedSender<CustomNotification>);

impl ClientHandler for Listener {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("channel-listener", "0"),
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

fn with_channels() -> mcp::RuntimeOptions {
    let mut options = common::options(mcp::Principals::Fixed(
        workers::Caller::new(common::PRINCIPAL).unwrap(),
    ));
    options.settings.channels = true;
    options
}

async fn research<S: rmcp::Service<RoleClient>>(
    client: &rmcp::service::RunningService<RoleClient, S>,
    latency_ms: u64,
) -> String {
    let params = common::call(
        "research",
        json!({"topic": "push", "latency_ms": latency_ms}),
    );
    match client.call_tool_once(params).await.expect("tools/call") {
        CallToolResponse::Complete(ack) => ack.structured_content.unwrap()["taskId"]
            .as_str()
            .unwrap()
            .to_string(),
        other => panic!("expected an acknowledgement, got {other:?}"),
    }
}

/// The next channel event, checked: it names the task and carries its result.
async fn pushed(events: &mut mpsc::UnboundedReceiver<CustomNotification>, task_id: &str) {
    let event = tokio::time::timeout(Duration::from_secs(15), events.recv())
        .await
        .expect("a channel event within 15 s")
        .expect("listener open");
    assert_eq!(event.method, "notifications/claude/channel");
    let params = event.params.expect("params");
    assert_eq!(params["meta"]["task_id"], task_id, "{params}");
    assert_eq!(params["meta"]["tool"], "research");
    assert_eq!(params["meta"]["status"], "completed");
    // Claude Code takes string meta values only.
    for (key, value) in params["meta"].as_object().unwrap() {
        assert!(value.is_string(), "meta {key} = {value}");
    }
    let content = params["content"].as_str().unwrap();
    assert!(
        content.starts_with(&format!("[asynctools] Result of research (task {task_id})")),
        "{content}"
    );
}

async fn results<S: rmcp::Service<RoleClient>>(
    client: &rmcp::service::RunningService<RoleClient, S>,
) -> Value {
    let params = common::call("task_results", json!({"wait_s": 0.5}));
    match client.call_tool_once(params).await.expect("task_results") {
        CallToolResponse::Complete(result) => result.structured_content.unwrap(),
        other => panic!("{other:?}"),
    }
}

type Client = rmcp::service::RunningService<RoleClient, Listener>;

/// A channels server on `backend` with a stdio session open to it: the runtime, the client, the
/// channel events it receives, and the server's task.
async fn stdio_session(
    backend: workers::Backend,
) -> (
    mcp::Runtime,
    Client,
    mpsc::UnboundedReceiver<CustomNotification>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let runtime = mcp::Runtime::start(backend, with_channels()).expect("runtime");
    let (client_side, server_side) = tokio::io::duplex(1 << 16);
    let (server_read, server_write) = tokio::io::split(server_side);
    let server = tokio::spawn(mcp::stdio::serve_lines(
        runtime.door.clone(),
        server_read,
        server_write,
    ));
    let (sender, events) = mpsc::unbounded_channel();
    let client = Listener(sender)
        .serve(tokio::io::split(client_side))
        .await
        .expect("connects over the pipe");
    (runtime, client, events, server)
}

fn memory_backend() -> workers::Backend {
    workers::Backend::in_memory(std::sync::Arc::new(workers::Catalog::embedded().clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stdio_session_gets_each_result_pushed_once() {
    let (runtime, client, mut events, server) = stdio_session(memory_backend()).await;
    let info = client.peer().peer_info().expect("server info");
    assert!(
        info.capabilities
            .experimental
            .as_ref()
            .is_some_and(|e| e.contains_key("claude/channel")),
        "{:?}",
        info.capabilities
    );
    let first = research(&client, 200).await;
    pushed(&mut events, &first).await;
    let second = research(&client, 100).await;
    pushed(&mut events, &second).await;
    // Pushed is handed over: nothing is returned or appended again.
    let left = results(&client).await;
    assert_eq!(left["results"], json!([]), "{left}");
    for task_id in [&first, &second] {
        let record = runtime.backend.store.get(task_id).await.unwrap().unwrap();
        assert!(record.delivered, "{task_id} marked delivered");
    }
    assert!(events.try_recv().is_err(), "one event per result");
    client.cancel().await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    runtime.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_http_session_with_its_stream_open_gets_pushes() {
    let stack = common::memory_stack_with(with_channels()).await;
    let (sender, mut events) = mpsc::unbounded_channel();
    let client = common::client(Listener(sender), stack.url(), None).await;
    // rmcp's client opens the session's GET stream after initializing; give it a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let task_id = research(&client, 200).await;
    pushed(&mut events, &task_id).await;
    assert_eq!(results(&client).await["results"], json!([]));
    client.cancel().await.unwrap();
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_channels_nothing_is_pushed_and_task_results_has_it() {
    let stack = common::memory_stack().await;
    let (sender, mut events) = mpsc::unbounded_channel();
    let client = common::client(Listener(sender), stack.url(), None).await;
    let info = client.peer().peer_info().expect("server info");
    assert!(info.capabilities.experimental.is_none());
    let task_id = research(&client, 100).await;
    let params = common::call("task_results", json!({"wait_s": 10}));
    let CallToolResponse::Complete(got) = client.call_tool_once(params).await.unwrap() else {
        panic!("task_results answered with a task");
    };
    assert_eq!(
        got.structured_content.unwrap()["results"][0]["taskId"],
        task_id
    );
    assert!(
        events.try_recv().is_err(),
        "no channel events without --channels"
    );
    client.cancel().await.unwrap();
    stack.stop().await;
}

/// Sends return only `delay` after the message is out, as over a slow network: the task can run,
/// finish and be routed before `submit` returns to its caller.
struct SlowSends(Duration);

#[async_trait::async_trait]
impl workers::testkit::QueueHook for SlowSends {
    async fn send(
        &self,
        inner: &dyn workers::ports::MessageQueue,
        body: &str,
    ) -> Result<String, workers::QueueError> {
        let sent = inner.send(body).await;
        tokio::time::sleep(self.0).await;
        sent
    }
}

/// A fast tool's result is answered inline by its call, once: not also pushed as a channel event
/// when it finishes before `submit` has returned (the call held its task only after `submit`
/// returned, so the push won the hand-over and the inline answer showed the result a second time;
/// seen on a loaded machine in `tests/mcp_stdio.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_result_that_lands_before_submit_returns_is_handed_over_once() {
    let mut backend = memory_backend();
    for queue in backend.work_queues.values_mut() {
        let slow = SlowSends(Duration::from_millis(500));
        *queue = std::sync::Arc::new(workers::testkit::HookedQueue::new(queue.clone(), slow));
    }
    let (runtime, client, mut events, server) = stdio_session(backend).await;
    let params = common::call("sentiment", json!({"text": "what a great day"}));
    let answer = match client.call_tool_once(params).await.expect("tools/call") {
        CallToolResponse::Complete(answer) => answer.structured_content.unwrap(),
        other => panic!("expected the result inline, got {other:?}"),
    };
    assert_eq!(answer["sentiment"], "positive", "{answer}");
    let event = tokio::time::timeout(Duration::from_secs(1), events.recv()).await;
    assert!(event.is_err(), "pushed as well: {event:?}");
    client.cancel().await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    runtime.stop().await;
}
