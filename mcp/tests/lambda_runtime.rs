//! The `mcp-lambda` binary under cargo-lambda's Lambda Runtime API emulator against moto, reached
//! by rmcp's own client through a loopback stand-in for the Function URL (`function_url`): it
//! verifies each request's SigV4 signature (service `lambda`) and turns it into a Function URL
//! event (payload 2.0) whose IAM authorizer names the principal of the access key that signed,
//! as Lambda does. rmcp does not sign, so each client talks to a loopback signing proxy holding
//! its principal's key (as `aws-sigv4-proxy` would). So this runs the real `lambda_http`
//! streaming loop, the stateless server, the principal taken from the request context (a header
//! the client sends is ignored), and the dispatcher on DynamoDB and SQS.
//!
//! Needs moto (`make venv`) and cargo-lambda (`make venv-lambda`); skipped without them unless
//! `ASYNCTOOLS_REQUIRE_MOTO=1` (as `make test` sets).

#[allow(dead_code)]
#[path = "../../workers/hosts/tests/lambda_runtime/emulator.rs"]
mod emulator;

mod common;
mod function_url;

use emulator::Emulator;
use function_url::{Key, REGION, Verifier};
use rmcp::model::ProtocolVersion;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CancelTaskParams, ErrorCode, GetTaskParams, TaskStatus,
};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientLifecycleMode, ClientServiceExt, ServiceError, ServiceExt};
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use workers::aws::{AwsSettings, ProvisionOptions, provision, sdk_config};
use workers::poller::{PoolOptions, WorkerPool};
use workers::testkit::MotoServer;
use workers::{Backend, Catalog, ToolBox};

const TEST: &str = "mcp_lambda_runtime";
const FUNCTION: &str = "mcp-lambda";
const ALICE: &str = "arn:aws:sts::123456789012:assumed-role/AgentRole/alice-session";
/// The owner a role session gets: the caller, role and session (`ASYNCTOOLS_OWNER_SCOPE` default).
const ALICE_OWNER: &str = ALICE;
const BOB: &str = "arn:aws:sts::123456789012:assumed-role/OtherRole/bob-session";

/// The access keys the Function URL knows, each a principal's.
fn keys() -> [Key; 2] {
    [
        Key::new("AKIAALICEEXAMPLE0001", "alice-secret-access-key", ALICE),
        Key::new("ASIABOBEXAMPLE000002", "bob-secret-access-key", BOB)
            .with_session_token("bob-session-token"),
    ]
}
/// How long the function lets a blocking call wait (ASYNCTOOLS_MCP_MAX_WAIT_S).
const MAX_WAIT_S: u64 = 3;

fn cargo_lambda_or_skip() -> Option<PathBuf> {
    let found = emulator::find_cargo_lambda();
    if found.is_none() {
        let required = std::env::var("ASYNCTOOLS_REQUIRE_MOTO").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "{TEST}: cargo-lambda not found (run `make venv-lambda`); ASYNCTOOLS_REQUIRE_MOTO=1 \
             makes this a failure"
        );
        eprintln!("{TEST}: SKIPPED (no cargo-lambda; run `make venv-lambda`)");
    }
    found
}

use common::call;

async fn task_of<S: rmcp::Service<RoleClient>>(
    client: &RunningService<RoleClient, S>,
    params: CallToolRequestParams,
) -> rmcp::model::Task {
    common::start_task(client, params).await.0
}

async fn terminal<S: rmcp::Service<RoleClient>>(
    client: &RunningService<RoleClient, S>,
    task_id: &str,
) -> rmcp::model::DetailedTask {
    common::wait_terminal(
        client,
        task_id,
        Duration::from_millis(200),
        Duration::from_secs(40),
    )
    .await
}

/// A client of protocol 2026-07-28, which carries its capabilities in every request: the only kind
/// a stateless server can serve tasks to (a legacy `initialize` session's capabilities are gone
/// by the next request, so its calls block). `principal_header` is sent as the trusted header.
async fn stateless_client(
    url: &str,
    principal_header: Option<&str>,
) -> RunningService<RoleClient, rmcp::model::ClientConfig> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_string());
    if let Some(value) = principal_header {
        config = config.custom_headers(HashMap::from([(
            http::HeaderName::from_static(common::PRINCIPAL_HEADER),
            http::HeaderValue::from_str(value).unwrap(),
        )]));
    }
    common::tasks_client_config()
        .serve_with_lifecycle(
            StreamableHttpClientTransport::from_config(config),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("a 2026-07-28 client connects")
}

fn code<T: std::fmt::Debug>(result: Result<T, ServiceError>) -> (ErrorCode, String) {
    match result {
        Err(ServiceError::McpError(e)) => (e.code, e.message.to_string()),
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_mcp_function_serves_rmcp_clients_under_the_lambda_runtime() {
    let Some(cargo_lambda) = cargo_lambda_or_skip() else {
        return;
    };
    let Some(moto) = MotoServer::start_or_skip(TEST) else {
        return;
    };
    let logs =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{TEST}-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&logs).unwrap();
    let catalog = Arc::new(Catalog::embedded().clone());
    let sdk = sdk_config(&AwsSettings::emulator(&moto.endpoint)).await;
    let options = ProvisionOptions {
        work_visibility_timeout_s: Some(5),
        consumers: vec!["default".into(), "mcp".into()],
        ..ProvisionOptions::new("McpLambda")
    };
    let resources = provision(&sdk, &catalog, &options).await.unwrap();
    let backend = Backend::aws(&sdk, &resources, catalog).unwrap();
    // The tools run here (the stack's worker functions are checked in workers/tests).
    let mut pool_options = PoolOptions::new("mcp-lambda-test");
    pool_options.wait = Duration::from_millis(200);
    let names: Vec<String> = backend
        .catalog
        .names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let pool = WorkerPool::start(&backend, &ToolBox::builtin(), &names, &pool_options).unwrap();

    let emulator = Emulator::start(&cargo_lambda, &logs, Duration::from_secs(60));
    let home = logs.join("home");
    std::fs::create_dir_all(&home).unwrap();
    // Exactly what the stack sets (cdk/lib/mcp-server.ts), plus the SDK's endpoint and test keys.
    let env: Vec<(String, String)> = [
        ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("HOME", home.to_string_lossy().into_owned()),
        ("ASYNCTOOLS_TABLE", resources.table.clone()),
        (
            "ASYNCTOOLS_WORK_QUEUES",
            serde_json::to_string(&resources.work_queue_urls).unwrap(),
        ),
        (
            "ASYNCTOOLS_REPLY_QUEUES",
            serde_json::to_string(&resources.reply_queue_urls).unwrap(),
        ),
        ("ASYNCTOOLS_TASK_TTL_DAYS", "7".into()),
        ("ASYNCTOOLS_MCP_CONSUMER", "mcp".into()),
        ("ASYNCTOOLS_MCP_MAX_WAIT_S", MAX_WAIT_S.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let function = emulator.function(
        FUNCTION,
        &PathBuf::from(env!("CARGO_BIN_EXE_mcp-lambda")),
        &env,
        &logs,
    );
    let [alice_key, bob_key] = keys();
    let stand_in = function_url::start(
        function_url::invoke_url(emulator.port, FUNCTION),
        Verifier::new(REGION, keys()),
    )
    .await;
    let alice_url = function_url::signing_proxy(&stand_in.base, &alice_key, REGION).await;
    let bob_url = function_url::signing_proxy(&stand_in.base, &bob_key, REGION).await;

    // An unsigned client is refused by the Function URL before the function runs.
    let unsigned = common::tasks_client_config()
        .serve_with_lifecycle(
            StreamableHttpClientTransport::from_uri(stand_in.url.clone()),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await;
    assert!(unsigned.is_err(), "an unsigned client must not connect");
    let refusals = stand_in.refusals();
    assert!(
        !refusals.is_empty() && refusals.iter().all(|r| r.0.contains("not signed")),
        "{refusals:?}"
    );

    // Alice's client also sends a principal header naming Bob: the function must ignore it.
    let alice = stateless_client(&alice_url.url, Some(BOB)).await;
    let tools = alice.list_all_tools().await.expect("tools/list");
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
    assert_eq!(tools[0].input_schema["required"], json!(["text"]));

    let sent = Instant::now();
    let research = task_of(
        &alice,
        call("research", json!({"topic": "lambda", "latency_ms": 3000})),
    )
    .await;
    eprintln!("{TEST}: research acknowledged in {:?}", sent.elapsed());
    assert_eq!(research.status, TaskStatus::Working);
    // A fast call is answered with its result, not a task.
    let fast = alice
        .call_tool_once(call("sentiment", json!({"text": "I love it"})))
        .await
        .expect("tools/call");
    let CallToolResponse::Complete(fast) = fast else {
        panic!("sentiment: {fast:?}")
    };
    assert_eq!(fast.structured_content.unwrap()["sentiment"], "positive");
    let still = alice
        .peer()
        .get_task(GetTaskParams::new(research.task_id.clone()))
        .await
        .unwrap();
    assert_eq!(
        still.task.status(),
        TaskStatus::Working,
        "the slow call is still running"
    );

    // Stored as Alice's role (the IAM principal, not the header), for the `mcp` consumer.
    let record = backend.store.get(&research.task_id).await.unwrap().unwrap();
    assert_eq!(record.owner, ALICE_OWNER);
    assert_eq!(record.reply_to, "mcp");

    // Bob's client does not see Alice's task.
    let bob = stateless_client(&bob_url.url, None).await;
    let (code_seen, _) = code(
        bob.peer()
            .get_task(GetTaskParams::new(research.task_id.clone()))
            .await,
    );
    assert_eq!(code_seen, ErrorCode::INVALID_PARAMS);
    let (code_seen, _) = code(
        bob.peer()
            .cancel_task(CancelTaskParams::new(research.task_id.clone()))
            .await,
    );
    assert_eq!(code_seen, ErrorCode::INVALID_PARAMS);

    let slow = terminal(&alice, &research.task_id).await;
    assert_eq!(slow.status(), TaskStatus::Completed);

    // Cancel a 20 s call: it ends cancelled.
    let long = task_of(&alice, call("synthetic", json!({"sleep_ms": 20_000}))).await;
    alice
        .peer()
        .cancel_task(CancelTaskParams::new(long.task_id.clone()))
        .await
        .expect("tasks/cancel");
    assert_eq!(
        terminal(&alice, &long.task_id).await.status(),
        TaskStatus::Cancelled
    );

    // A client without task support is acknowledged at once, and collects the result with
    // task_results (the function polls the table: no process outlives a request).
    // (a legacy `initialize` client: the stateless function answers each request on its own)
    let plain = ()
        .serve(StreamableHttpClientTransport::from_uri(
            alice_url.url.clone(),
        ))
        .await
        .expect("a plain client connects");
    let ack = plain
        .call_tool(call(
            "synthetic",
            json!({"sleep_ms": 1_500, "echo": "later"}),
        ))
        .await
        .expect("tools/call");
    let ack = ack.structured_content.expect("an acknowledgement");
    assert_eq!(ack["status"], "working", "{ack}");
    assert_eq!(ack["conversation"], "mcp");
    let results = plain
        .call_tool(call(
            "task_results",
            json!({"wait_s": 20, "conversation": "mcp"}),
        ))
        .await
        .expect("task_results");
    let results = results.structured_content.unwrap();
    assert_eq!(results["results"][0]["taskId"], ack["taskId"], "{results}");
    assert_eq!(results["results"][0]["result"]["echo"]["echo"], "later");
    let stored = backend
        .store
        .get(ack["taskId"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(stored.delivered, "handed over, and marked so in the table");

    for client in [alice, bob] {
        client.cancel().await.unwrap();
    }
    plain.cancel().await.unwrap();
    assert_eq!(
        stand_in.refusals().len(),
        refusals.len(),
        "every signed request verified: {:?}",
        stand_in.refusals()
    );
    let principals = stand_in.principals();
    assert!(principals.iter().any(|p| p == ALICE) && principals.iter().any(|p| p == BOB));
    drop((alice_url, bob_url, stand_in));
    drop(function);
    emulator.stop();
    pool.stop().await;
    let _ = std::fs::remove_dir_all(&logs);
}
