//! Protocol edge cases, each with the error the spec gives it: unknown task, another owner's task,
//! a task past its TTL, a client without the tasks extension, malformed JSON-RPC, a body over the
//! limit, a request without a principal.

mod common;

use mcp::Principals;
use rmcp::ServiceError;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CancelTaskParams, ErrorCode, GetTaskParams,
    UpdateTaskParams,
};
use rmcp::service::{RoleClient, RunningService};
use serde_json::json;
use std::time::Duration;

fn code(result: Result<impl std::fmt::Debug, ServiceError>) -> ErrorCode {
    match result {
        Err(ServiceError::McpError(e)) => e.code,
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
}

async fn task_of<S: rmcp::Service<RoleClient>>(
    client: &RunningService<RoleClient, S>,
    tool: &'static str,
    arguments: serde_json::Value,
) -> String {
    let serde_json::Value::Object(arguments) = arguments else {
        unreachable!()
    };
    match client
        .call_tool_once(CallToolRequestParams::new(tool).with_arguments(arguments))
        .await
        .unwrap()
    {
        CallToolResponse::Task(created) => created.task.task_id,
        other => panic!("expected a task, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_answer_invalid_params() {
    let stack = common::memory_stack().await;
    let client = common::client(common::tasks_client_config(), stack.url(), None).await;
    let peer = client.peer();
    // A well-formed id nobody created, and a malformed one: the same error.
    for id in ["01M8RHG0JA4TF2PYGERHQTV0J2", "not-a-task"] {
        assert_eq!(
            code(peer.get_task(GetTaskParams::new(id)).await),
            ErrorCode::INVALID_PARAMS
        );
        assert_eq!(
            code(peer.cancel_task(CancelTaskParams::new(id)).await),
            ErrorCode::INVALID_PARAMS
        );
        assert_eq!(
            code(
                peer.update_task(UpdateTaskParams::new(id, Default::default()))
                    .await
            ),
            ErrorCode::INVALID_PARAMS
        );
    }
    // An unknown tool, and arguments the tool refuses: invalid params, nothing stored.
    let unknown = client
        .call_tool_once(CallToolRequestParams::new("nope"))
        .await;
    assert_eq!(code(unknown), ErrorCode::INVALID_PARAMS);
    let bad = client
        .call_tool_once(
            CallToolRequestParams::new("sentiment")
                .with_arguments(json!({"text": 5}).as_object().unwrap().clone()),
        )
        .await;
    assert_eq!(code(bad), ErrorCode::INVALID_PARAMS);
    assert!(stack.stored(common::PRINCIPAL).await.is_empty());
    client.cancel().await.unwrap();
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_owners_task_is_unknown() {
    let header = mcp::identity::HeaderName::from_static(common::PRINCIPAL_HEADER);
    let stack = common::memory_stack_with(common::options(Principals::TrustedHeader(header))).await;
    let alice = common::client(
        common::tasks_client_config(),
        stack.url(),
        Some("local:alice"),
    )
    .await;
    let bob = common::client(
        common::tasks_client_config(),
        stack.url(),
        Some("local:bob"),
    )
    .await;
    let task_id = task_of(&alice, "synthetic", json!({"sleep_ms": 2000})).await;
    let as_bob = bob.peer();
    assert_eq!(
        code(as_bob.get_task(GetTaskParams::new(task_id.clone())).await),
        ErrorCode::INVALID_PARAMS
    );
    assert_eq!(
        code(
            as_bob
                .cancel_task(CancelTaskParams::new(task_id.clone()))
                .await
        ),
        ErrorCode::INVALID_PARAMS
    );
    // Bob's cancel changed nothing; Alice still sees her task working.
    let mine = alice
        .peer()
        .get_task(GetTaskParams::new(task_id.clone()))
        .await
        .unwrap();
    assert_eq!(mine.task.status(), rmcp::model::TaskStatus::Working);
    let record = stack.backend().store.get(&task_id).await.unwrap().unwrap();
    assert_eq!(record.owner, "local:alice");

    // Without the header, the request is refused.
    let nobody = common::client(common::tasks_client_config(), stack.url(), None).await;
    let refused = nobody
        .peer()
        .get_task(GetTaskParams::new(task_id.clone()))
        .await;
    assert_eq!(code(refused), ErrorCode::INVALID_REQUEST);
    for client in [alice, bob, nobody] {
        client.cancel().await.unwrap();
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_past_its_ttl_is_unknown() {
    let mut options = common::options(Principals::Fixed(
        workers::Caller::new(common::PRINCIPAL).unwrap(),
    ));
    options.settings.timing.ttl_ms = 800;
    let stack = common::memory_stack_with(options).await;
    let client = common::client(common::tasks_client_config(), stack.url(), None).await;
    let task_id = task_of(&client, "sentiment", json!({"text": "fine"})).await;
    let fresh = client
        .peer()
        .get_task(GetTaskParams::new(task_id.clone()))
        .await
        .unwrap();
    assert_eq!(fresh.task.task.ttl_ms, Some(800));
    tokio::time::sleep(Duration::from_millis(900)).await;
    let expired = client
        .peer()
        .get_task(GetTaskParams::new(task_id.clone()))
        .await;
    assert_eq!(code(expired), ErrorCode::INVALID_PARAMS);
    client.cancel().await.unwrap();
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_methods_need_the_extension() {
    let stack = common::memory_stack().await;
    let with = common::client(common::tasks_client_config(), stack.url(), None).await;
    let task_id = task_of(&with, "sentiment", json!({"text": "fine"})).await;
    let without = common::client((), stack.url(), None).await;
    let error = match without
        .peer()
        .get_task(GetTaskParams::new(task_id.clone()))
        .await
    {
        Err(ServiceError::McpError(e)) => e,
        other => panic!("expected an error, got {other:?}"),
    };
    assert_eq!(error.code, ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY);
    let data = error.data.expect("the error names the capability");
    assert!(
        data["requiredCapabilities"]["extensions"]["io.modelcontextprotocol/tasks"].is_object()
    );
    for client in [with] {
        client.cancel().await.unwrap();
    }
    without.cancel().await.unwrap();
    stack.stop().await;
}

const ACCEPT: &str = "application/json, text/event-stream";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_rpc_and_oversize_bodies_are_refused() {
    let stack = common::memory_stack().await;
    let http = reqwest::Client::new();
    let post = |body: String| {
        http.post(stack.url())
            .header("content-type", "application/json")
            .header("accept", ACCEPT)
            .body(body)
    };

    let not_json = post("{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ".into())
        .send()
        .await
        .unwrap();
    let status = not_json.status();
    let text = not_json.text().await.unwrap();
    eprintln!("not JSON: {status} {text}");
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("-32700"), "a JSON-RPC parse error: {text}");

    let not_rpc = post(json!({"hello": "world"}).to_string())
        .send()
        .await
        .unwrap();
    let status = not_rpc.status();
    let text = not_rpc.text().await.unwrap();
    eprintln!("not JSON-RPC: {status} {text}");
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("-32600"),
        "a JSON-RPC invalid request: {text}"
    );

    let huge = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "sentiment", "arguments": {"text": "x".repeat(mcp::transport::MAX_REQUEST_BODY_BYTES)}}
    });
    let too_big = post(huge.to_string()).send().await.unwrap();
    assert_eq!(too_big.status(), 413);

    // A task method over the limit is refused by the compatibility layer too.
    let huge_get = http
        .post(stack.url())
        .header("content-type", "application/json")
        .header("accept", ACCEPT)
        .header("mcp-method", "tasks/get")
        .body(json!({"pad": "x".repeat(mcp::transport::MAX_REQUEST_BODY_BYTES)}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(huge_get.status(), 413);
    assert!(stack.stored(common::PRINCIPAL).await.is_empty());
    stack.stop().await;
}
