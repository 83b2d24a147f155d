//! Protocol edge cases, each with the error the spec gives it: unknown task, another owner's task,
//! a task past its TTL, a client without the tasks extension, malformed JSON-RPC, a body over the
//! limit, a request without a principal.

mod common;

use mcp::Principals;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CancelTaskParams, ClientCapabilities, ClientConfig,
    ErrorCode, GetTaskParams, Implementation, ProtocolVersion, UpdateTaskParams,
};
use rmcp::service::{RoleClient, RunningService};
use rmcp::{ClientLifecycleMode, ClientServiceExt, ServiceError};
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
    let task_id = task_of(
        &client,
        "research",
        json!({"topic": "ttl", "latency_ms": 100}),
    )
    .await;
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
    let task_id = task_of(
        &with,
        "research",
        json!({"topic": "extension", "latency_ms": 100}),
    )
    .await;
    // A 2026-07-28 client that did not declare the extension. (A 2025-11-25 session's task
    // requests are the experimental tasks of that protocol: `tests/legacy_tasks.rs`.)
    let without = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("asynctools-mcp-tests-no-tasks", "0"),
    )
    .serve_with_lifecycle(
        rmcp::transport::StreamableHttpClientTransport::from_uri(stack.url().to_string()),
        ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
    )
    .await
    .expect("discover");
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

/// The transport spec's MUST: a request whose `Origin` is present and not allowed is refused with
/// 403 before anything runs (a page of another site cannot reach the local server through the
/// browser); loopback origins and `--allow-origin` ones pass. On the stateless server too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_from_foreign_origins_are_forbidden() {
    let stateful = common::memory_stack().await;
    let stateless = common::memory_stack_stateless().await;
    let http = reqwest::Client::new();
    // A stateless tools/call runs at once if it gets through: the sharpest case.
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "research", "arguments": {"topic": "csrf", "latency_ms": 100}}});
    for stack in [&stateful, &stateless] {
        for origin in [
            "https://evil.example",
            "http://localhost.evil.example",
            "null",
        ] {
            let response = http
                .post(stack.url())
                .header("accept", ACCEPT)
                .header("mcp-protocol-version", "2026-07-28")
                .header("origin", origin)
                .json(&call)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 403, "{origin}");
        }
        let get = http
            .get(stack.url())
            .header("accept", "text/event-stream")
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(get.status(), 403);
        assert!(stack.stored(common::PRINCIPAL).await.is_empty());
        let loopback = http
            .post(stack.url())
            .header("accept", ACCEPT)
            .header("origin", "http://localhost:5173")
            .json(
                &json!({"jsonrpc": "2.0", "id": 2, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "page", "version": "0"}}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(loopback.status(), 200);
    }
    stateful.stop().await;
    stateless.stop().await;

    let options = common::options(Principals::Fixed(
        workers::Caller::new(common::PRINCIPAL).unwrap(),
    ));
    let allowed = common::memory_stack_with_http(options, |http| {
        http.allowed_origins = vec!["https://app.example.com".into()];
    })
    .await;
    let response = http
        .post(allowed.url())
        .header("accept", ACCEPT)
        .header("origin", "https://app.example.com")
        .json(
            &json!({"jsonrpc": "2.0", "id": 2, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "page", "version": "0"}}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    allowed.stop().await;
}
