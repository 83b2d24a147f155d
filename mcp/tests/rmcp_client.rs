//! rmcp's own client (the official Rust SDK, a client nobody here wrote) with the tasks extension:
//! tasks, fast calls answered inline, cancellation, pushed status notifications; and the blocking
//! mode for clients without it.

mod common;

use rmcp::model::{
    CancelTaskParams, ClientCapabilities, ClientConfig, GetTaskParams, Implementation, JsonObject,
    ProtocolVersion, TaskPayload, TaskStatus, TaskStatusNotificationParams,
};
use rmcp::service::{NotificationContext, RoleClient, RunningService};
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

use common::{call, start_task};

async fn wait_terminal<S: rmcp::Service<RoleClient>>(
    client: &RunningService<RoleClient, S>,
    task_id: &str,
) -> rmcp::model::DetailedTask {
    common::wait_terminal(
        client,
        task_id,
        Duration::from_millis(25),
        Duration::from_secs(30),
    )
    .await
}

fn completed(task: &rmcp::model::DetailedTask) -> &JsonObject {
    match &task.payload {
        TaskPayload::Completed { result } => result,
        other => panic!("expected completed, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tasks_from_the_rmcp_client() {
    let stack = common::memory_stack().await;
    let client = common::client(common::tasks_client_config(), stack.url(), None).await;

    let tools = client.list_all_tools().await.expect("tools/list");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "sentiment",
            "research",
            "synthetic",
            "task_results",
            "task_status",
            "task_cancel"
        ]
    );
    let research_schema = &tools[1].input_schema;
    assert_eq!(research_schema["required"], json!(["topic"]));

    let (research, ack) = start_task(
        &client,
        call("research", json!({"topic": "rmcp", "latency_ms": 2000})),
    )
    .await;
    assert_eq!(research.status, TaskStatus::Working);
    assert!(ack < Duration::from_millis(500), "ack took {ack:?}");
    assert!(research.ttl_ms.is_some_and(|t| t > 0) && research.poll_interval_ms == Some(50));

    // A fast call is answered with its result, not a task: no poll interval to pay.
    let fast = inline(&client, call("sentiment", json!({"text": "I love it"}))).await;
    assert_eq!(fast.structured_content.unwrap()["sentiment"], "positive");
    let still = client
        .peer()
        .get_task(GetTaskParams::new(research.task_id.clone()))
        .await
        .unwrap();
    assert_eq!(
        still.task.status(),
        TaskStatus::Working,
        "the slow call is still running"
    );

    let slow = wait_terminal(&client, &research.task_id).await;
    assert_eq!(completed(&slow)["structuredContent"]["latency_ms"], 2000);
    assert_eq!(completed(&slow)["isError"], false);

    // A tool's own error: a result, with isError.
    let failed = inline(&client, call("synthetic", json!({"fail": "no luck"}))).await;
    assert_eq!(failed.is_error, Some(true));

    // Cancel a 20 s call while it runs: the tool is told, the task ends cancelled at once.
    let (long, _) = start_task(&client, call("synthetic", json!({"sleep_ms": 20_000}))).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cancelled_at = Instant::now();
    client
        .peer()
        .cancel_task(CancelTaskParams::new(long.task_id.clone()))
        .await
        .expect("tasks/cancel");
    let final_state = wait_terminal(&client, &long.task_id).await;
    assert_eq!(final_state.status(), TaskStatus::Cancelled);
    assert!(cancelled_at.elapsed() < Duration::from_secs(5));
    // tasks/update: nothing is outstanding, so responses are ignored, but the task must exist.
    client
        .peer()
        .update_task(rmcp::model::UpdateTaskParams::new(
            long.task_id.clone(),
            Default::default(),
        ))
        .await
        .expect("tasks/update");

    client.cancel().await.unwrap();
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_queued_task_that_is_cancelled_never_runs() {
    let mut options = common::options(mcp::Principals::Fixed(
        workers::Caller::new(common::PRINCIPAL).unwrap(),
    ));
    options.local_workers = None;
    let stack = common::memory_stack_with(options).await;
    let client = common::client(common::tasks_client_config(), stack.url(), None).await;
    let (queued, _) = start_task(&client, call("synthetic", json!({"echo": "never"}))).await;
    client
        .peer()
        .cancel_task(CancelTaskParams::new(queued.task_id.clone()))
        .await
        .unwrap();
    let mut pool = workers::poller::PoolOptions::new("late-worker");
    pool.wait = Duration::from_millis(100);
    let workers_now = workers::poller::WorkerPool::start(
        stack.backend(),
        &workers::ToolBox::builtin(),
        &["synthetic".to_string()],
        &pool,
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    workers_now.stop().await;
    let record = stack
        .backend()
        .store
        .get(&queued.task_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, workers::TaskStatus::Cancelled);
    assert_eq!(record.attempts, 0, "no worker ever claimed it");
    assert!(record.result.is_none());
    client.cancel().await.unwrap();
    stack.stop().await;
}

/// Collects pushed `notifications/tasks`.
#[derive(Clone)]
struct Pushes {
    info: ClientConfig,
    sender: mpsc::UnboundedSender<TaskStatusNotificationParams>,
}

impl ClientHandler for Pushes {
    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }

    async fn on_task_status(
        &self,
        params: TaskStatusNotificationParams,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.sender.send(params);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_client_gets_the_status_pushed() {
    let stack = common::memory_stack().await;
    let (sender, mut pushed) = mpsc::unbounded_channel();
    let handler = Pushes {
        info: common::tasks_client_config(),
        sender,
    };
    let client = common::client(handler, stack.url(), None).await;
    let (task, _) = start_task(
        &client,
        call("research", json!({"topic": "push", "latency_ms": 300})),
    )
    .await;
    let push = tokio::time::timeout(Duration::from_secs(10), pushed.recv())
        .await
        .expect("a status push within 10 s")
        .expect("push channel open");
    assert_eq!(push.task.task.task_id, task.task_id);
    assert_eq!(push.task.status(), TaskStatus::Completed);
    assert_eq!(
        completed(&push.task)["structuredContent"]["latency_ms"],
        300
    );
    // Delivered: the table says so (marked right after the hand-over, so give it a moment).
    let mut delivered = false;
    for _ in 0..50 {
        let record = stack
            .backend()
            .store
            .get(&task.task_id)
            .await
            .unwrap()
            .unwrap();
        if record.delivered {
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(delivered, "the pushed result is marked delivered");
    client.cancel().await.unwrap();
    stack.stop().await;
}

/// A call the server answered with its result (it finished within the inline bound).
async fn inline<S: rmcp::Service<RoleClient>>(
    client: &RunningService<RoleClient, S>,
    params: rmcp::model::CallToolRequestParams,
) -> rmcp::model::CallToolResult {
    match client.call_tool_once(params).await.expect("tools/call") {
        rmcp::model::CallToolResponse::Complete(result) => result,
        other => panic!("expected the result inline, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_block_mode_a_client_without_the_extension_waits_for_the_result() {
    let mut options = common::options(mcp::Principals::Fixed(
        workers::Caller::new(common::PRINCIPAL).unwrap(),
    ));
    options.settings.call_mode = mcp::CallMode::Block;
    let stack = common::memory_stack_with(options).await;
    let client = common::client((), stack.url(), None).await;
    let started = Instant::now();
    let result = client
        .call_tool(call(
            "research",
            json!({"topic": "sync", "latency_ms": 700}),
        ))
        .await
        .expect("blocking tools/call");
    assert!(started.elapsed() >= Duration::from_millis(650));
    assert_eq!(result.is_error, Some(false));
    assert_eq!(result.structured_content.unwrap()["latency_ms"], 700);
    // A tool's own error is still a result, with isError.
    let failed = client
        .call_tool(call("synthetic", json!({"fail": "nope"})))
        .await
        .expect("blocking tools/call");
    assert_eq!(failed.is_error, Some(true));
    client.cancel().await.unwrap();
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stateless_2026_client_gets_tasks_too() {
    let stack = common::memory_stack().await;
    let config = ClientConfig::new(
        ClientCapabilities::builder().enable_tasks().build(),
        Implementation::new("asynctools-mcp-tests-modern", "0"),
    );
    let client = config
        .serve_with_lifecycle(
            rmcp::transport::StreamableHttpClientTransport::from_uri(stack.url().to_string()),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("discover");
    let (task, _) = start_task(
        &client,
        call("research", json!({"topic": "modern", "latency_ms": 300})),
    )
    .await;
    let done = wait_terminal(&client, &task.task_id).await;
    assert_eq!(completed(&done)["structuredContent"]["latency_ms"], 300);
    let fast = inline(&client, call("sentiment", json!({"text": "awful"}))).await;
    assert_eq!(fast.structured_content.unwrap()["sentiment"], "negative");
    client.cancel().await.unwrap();
    stack.stop().await;
}
