//! Acknowledge-now mode from rmcp's client without task support (as most agent hosts are): a slow
//! call answers at once with an acknowledgement, its result reaches the conversation exactly once
//! (`task_results`, or appended to a later tool result), never another conversation or principal,
//! and bad input to the results tools changes nothing.

mod common;

use common::{PRINCIPAL_HEADER, Stack, call};
use mcp::Principals;
use rmcp::model::{
    CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
};
use rmcp::service::{RoleClient, RunningService};
use serde_json::{Value, json};
use std::time::Duration;

type Client = RunningService<RoleClient, ClientConfig>;

fn plain_config() -> ClientConfig {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("asynctools-ack-tests", "0"),
    )
}

async fn plain(stack: &Stack, principal: Option<&str>) -> Client {
    common::client(plain_config(), stack.url(), principal).await
}

async fn answer(client: &Client, tool: &'static str, arguments: Value) -> CallToolResult {
    match client
        .call_tool_once(call(tool, arguments))
        .await
        .expect("tools/call")
    {
        CallToolResponse::Complete(result) => result,
        other => panic!("{tool}: expected a tool result, got {other:?}"),
    }
}

fn structured(result: &CallToolResult) -> &Value {
    result
        .structured_content
        .as_ref()
        .expect("structuredContent")
}

fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The ids `task_results` handed over.
fn handed(result: &CallToolResult) -> Vec<String> {
    structured(result)["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["taskId"].as_str().unwrap().to_string())
        .collect()
}

/// Acknowledges a slow call and returns its task id and conversation handle.
async fn acknowledged(client: &Client, latency_ms: u64) -> (String, String) {
    let ack = answer(
        client,
        "research",
        json!({"topic": "acks", "latency_ms": latency_ms}),
    )
    .await;
    let body = structured(&ack);
    assert_eq!(body["status"], "working", "{ack:?}");
    assert_eq!(ack.is_error, Some(false));
    (
        body["taskId"].as_str().unwrap().to_string(),
        body["conversation"].as_str().unwrap().to_string(),
    )
}

async fn record(stack: &Stack, task_id: &str) -> workers::TaskRecord {
    stack.backend().store.get(task_id).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_call_is_acknowledged_and_its_result_handed_over_once() {
    let stack = common::memory_stack().await;
    let client = plain(&stack, None).await;
    let ack = answer(
        &client,
        "research",
        json!({"topic": "acks", "latency_ms": 800}),
    )
    .await;
    let body = structured(&ack).clone();
    let task_id = body["taskId"].as_str().unwrap().to_string();
    assert_eq!(body["tool"], "research");
    assert!(body["conversation"].as_str().unwrap().starts_with("mcp-"));
    // Worded for models: names the task, says the result comes later, forbids guessing.
    let said = text(&ack);
    for needle in [
        task_id.as_str(),
        "not available yet",
        "Do not guess",
        "task_results",
    ] {
        assert!(said.contains(needle), "{needle:?} in {said}");
    }
    // A fast call meanwhile answers with its result.
    let fast = answer(&client, "sentiment", json!({"text": "I love it"})).await;
    assert_eq!(structured(&fast)["sentiment"], "positive");
    let none_yet = answer(&client, "task_results", json!({})).await;
    assert!(handed(&none_yet).is_empty());
    assert_eq!(structured(&none_yet)["pending"][0]["taskId"], task_id);

    let results = answer(&client, "task_results", json!({"wait_s": 10})).await;
    assert_eq!(handed(&results), [task_id.as_str()]);
    assert_eq!(
        structured(&results)["results"][0]["result"]["latency_ms"],
        800
    );
    assert!(text(&results).contains(&format!("[asynctools] Result of research (task {task_id})")));
    assert!(
        record(&stack, &task_id).await.delivered,
        "marked in the table"
    );
    // Once: neither asked again nor appended to a later result.
    let again = answer(&client, "task_results", json!({"wait_s": 0.5})).await;
    assert!(handed(&again).is_empty(), "{again:?}");
    let later = answer(&client, "sentiment", json!({"text": "fine"})).await;
    assert_eq!(later.content.len(), 1, "{later:?}");
    // task_status still shows it on request.
    let status = answer(&client, "task_status", json!({"task_id": task_id})).await;
    assert_eq!(structured(&status)["result"]["latency_ms"], 800);
    client.cancel().await.unwrap();
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finished_results_ride_on_the_next_tool_result() {
    let stack = common::memory_stack().await;
    let client = plain(&stack, None).await;
    let (task_id, _) = acknowledged(&client, 100).await;
    // Wait until it has finished (read from the table, not through the client).
    for _ in 0..100 {
        if record(&stack, &task_id).await.status.is_terminal() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let next = answer(&client, "sentiment", json!({"text": "great"})).await;
    assert_eq!(
        structured(&next)["sentiment"],
        "positive",
        "its own result first"
    );
    assert_eq!(next.content.len(), 2, "{next:?}");
    let appended = next.content[1].as_text().unwrap().text.clone();
    assert!(
        appended.starts_with(&format!("[asynctools] Result of research (task {task_id})")),
        "{appended}"
    );
    let meta = next.meta.as_ref().expect("_meta lists what was appended");
    assert_eq!(meta.0["io.asynctools/results"][0]["taskId"], task_id);
    let results = answer(&client, "task_results", json!({"wait_s": 0.3})).await;
    assert!(
        handed(&results).is_empty(),
        "already handed over: {results:?}"
    );
    client.cancel().await.unwrap();
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn task_results_waits_for_the_first_result_not_for_all() {
    let stack = common::memory_stack().await;
    let client = plain(&stack, None).await;
    let (fast, _) = acknowledged(&client, 300).await;
    let (slow, _) = acknowledged(&client, 20_000).await;
    let first = answer(&client, "task_results", json!({"wait_s": 15})).await;
    assert_eq!(handed(&first), [fast.as_str()]);
    assert_eq!(structured(&first)["pending"][0]["taskId"], slow);
    assert!(
        text(&first).contains("Still running: research"),
        "{}",
        text(&first)
    );
    // Only the named tasks: the slow one is cancelled and that is its result.
    let cancelled = answer(&client, "task_cancel", json!({"task_id": slow})).await;
    assert_eq!(structured(&cancelled)["cancelled"], true);
    let only = answer(
        &client,
        "task_results",
        json!({"wait_s": 5, "task_ids": [slow]}),
    )
    .await;
    assert_eq!(handed(&only), [slow.as_str()]);
    assert_eq!(structured(&only)["results"][0]["status"], "cancelled");
    client.cancel().await.unwrap();
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conversations_never_see_each_others_results() {
    let stack = common::memory_stack().await;
    let first = plain(&stack, None).await;
    let second = plain(&stack, None).await;
    let (mine, handle) = acknowledged(&first, 200).await;
    let (theirs, other) = acknowledged(&second, 200).await;
    assert_ne!(handle, other, "each session is its own conversation");
    let got = answer(&second, "task_results", json!({"wait_s": 10})).await;
    assert_eq!(handed(&got), [theirs.as_str()]);
    let nothing_else = answer(&second, "task_results", json!({"wait_s": 1})).await;
    assert!(handed(&nothing_else).is_empty(), "{nothing_else:?}");
    let got = answer(&first, "task_results", json!({"wait_s": 10})).await;
    assert_eq!(handed(&got), [mine.as_str()]);
    // Asking for the other conversation's task by id is refused and hands nothing over.
    let foreign = answer(&first, "task_results", json!({"task_ids": [theirs]})).await;
    assert_eq!(foreign.is_error, Some(true));
    for client in [first, second] {
        client.cancel().await.unwrap();
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_to_the_results_tools_is_refused_and_changes_nothing() {
    let header = mcp::identity::HeaderName::from_static(PRINCIPAL_HEADER);
    let stack = common::memory_stack_with(common::options(Principals::TrustedHeader(header))).await;
    let alice = plain(&stack, Some("local:alice")).await;
    let bob = plain(&stack, Some("local:bob")).await;
    let (task_id, handle) = acknowledged(&alice, 300).await;
    let unknown = "01M8RHG0JA4TF2PYGERHQTV0J2";
    let refusals = [
        ("task_status", json!({"task_id": task_id}), "unknown task"),
        ("task_cancel", json!({"task_id": task_id}), "unknown task"),
        ("task_status", json!({"task_id": unknown}), "unknown task"),
        (
            "task_status",
            json!({"task_id": "nope"}),
            "is not a task id",
        ),
        ("task_status", json!({}), "task_id is required"),
        (
            "task_results",
            json!({"task_ids": [task_id]}),
            "unknown task",
        ),
        ("task_results", json!({"wait_s": -1}), "between 0 and 55"),
        ("task_results", json!({"wait_s": 56}), "between 0 and 55"),
        (
            "task_results",
            json!({"conversation": handle}),
            "unknown conversation",
        ),
        ("task_results", json!({"timeout": 3}), "unknown argument"),
    ];
    for (tool, arguments, needle) in refusals {
        let refused = answer(&bob, tool, arguments.clone()).await;
        assert_eq!(
            refused.is_error,
            Some(true),
            "{tool} {arguments}: {refused:?}"
        );
        assert!(
            text(&refused).contains(needle),
            "{tool} {arguments}: {}",
            text(&refused)
        );
        assert!(
            !text(&refused).contains("acks"),
            "nothing of alice's is revealed"
        );
    }
    // Alice's task ran untouched, and is still hers to collect.
    let got = answer(&alice, "task_results", json!({"wait_s": 10})).await;
    assert_eq!(handed(&got), [task_id.as_str()]);
    assert_eq!(
        record(&stack, &task_id).await.status,
        workers::TaskStatus::Succeeded
    );
    // Bob stored nothing.
    assert!(stack.stored("local:bob").await.is_empty());
    for client in [alice, bob] {
        client.cancel().await.unwrap();
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_stays_with_the_principal_that_opened_it() {
    let header = mcp::identity::HeaderName::from_static(PRINCIPAL_HEADER);
    let stack = common::memory_stack_with(common::options(Principals::TrustedHeader(header))).await;
    let session = common::raw_session(stack.url(), Some("local:alice")).await;
    let call = |id: u64| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "research", "arguments": {"topic": "mine", "latency_ms": 300}}})
    };
    let mine = common::raw_post(stack.url(), &session, Some("local:alice"), call(2))
        .await
        .expect("an answer");
    assert_eq!(
        mine["result"]["structuredContent"]["status"], "working",
        "{mine}"
    );
    // The same session with another principal's header: a session that does not exist for him,
    // whatever he sends (a message, its stream, its close); nothing stored for bob.
    let http = reqwest::Client::new();
    let as_bob = |request: reqwest::RequestBuilder| {
        request
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", "2025-11-25")
            .header(PRINCIPAL_HEADER, "local:bob")
    };
    // And with no principal header at all (found by the fuzz test: such a stream was served).
    let as_nobody = |request: reqwest::RequestBuilder| {
        request
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", "2025-11-25")
    };
    for request in [
        as_bob(http.post(stack.url())).json(&call(3)),
        as_bob(http.get(stack.url())),
        as_bob(http.delete(stack.url())),
        as_nobody(http.post(stack.url())).json(&call(5)),
        as_nobody(http.get(stack.url())),
        as_nobody(http.delete(stack.url())),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 404);
    }
    // Alice's session is still hers.
    let again = common::raw_post(stack.url(), &session, Some("local:alice"), call(4))
        .await
        .expect("an answer");
    assert_eq!(
        again["result"]["structuredContent"]["status"], "working",
        "{again}"
    );
    assert!(stack.stored("local:bob").await.is_empty());
    assert_eq!(stack.stored("local:alice").await.len(), 2);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stateless_server_names_the_conversation_in_the_acknowledgement() {
    let stack = common::memory_stack_stateless().await;
    let client = plain(&stack, None).await;
    let (task_id, handle) = acknowledged(&client, 200).await;
    assert_eq!(handle, "mcp", "the principal's default conversation");
    let got = answer(
        &client,
        "task_results",
        json!({"wait_s": 10, "conversation": handle}),
    )
    .await;
    assert_eq!(handed(&got), [task_id]);
    client.cancel().await.unwrap();
    stack.stop().await;
}

/// With `--backend aws`, a result that finished while no server ran is not lost: the table has
/// it, and the next server hands it over to whoever names the conversation from the ack.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_server_loses_no_result() {
    let Some(stack) = common::moto_stack("a_restarted_server_loses_no_result").await else {
        return;
    };
    let client = plain(&stack, None).await;
    let (task_id, handle) = acknowledged(&client, 1_500).await;
    client.cancel().await.unwrap();
    // The server stops while research runs (its workers finish what they hold).
    let (backend, moto) = stack.stop_keeping_moto().await;
    assert!(!record_in(&backend, &task_id).await.delivered);
    let restarted = common::restart_on(backend, moto).await;
    let client = plain(&restarted, None).await;
    let got = answer(
        &client,
        "task_results",
        json!({"wait_s": 20, "conversation": handle}),
    )
    .await;
    assert_eq!(handed(&got), [task_id.as_str()], "{got:?}");
    assert!(record(&restarted, &task_id).await.delivered);
    let again = answer(&client, "task_results", json!({"conversation": handle})).await;
    assert!(handed(&again).is_empty());
    client.cancel().await.unwrap();
    restarted.stop().await;
}

async fn record_in(backend: &workers::Backend, task_id: &str) -> workers::TaskRecord {
    backend.store.get(task_id).await.unwrap().unwrap()
}

/// Issue 24, item 8: one principal's calls waiting for results at once are limited (they held every
/// execution of the deployed function); the extra one is refused with a clear error, and the slots
/// come back when the waits end. Another principal is not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn waiting_calls_are_limited_per_principal() {
    let header = mcp::identity::HeaderName::from_static(PRINCIPAL_HEADER);
    let mut options = common::options(Principals::TrustedHeader(header));
    options.settings.max_waiting_calls = Some(2);
    let stack = common::memory_stack_with(options).await;
    let alice = [
        plain(&stack, Some("local:alice")).await,
        plain(&stack, Some("local:alice")).await,
        plain(&stack, Some("local:alice")).await,
    ];
    let bob = plain(&stack, Some("local:bob")).await;
    // Two waits hold alice's two slots (nothing will finish: their conversations have no tasks).
    let waits: Vec<_> = alice[..2]
        .iter()
        .map(|c| answer(c, "task_results", json!({"wait_s": 3})))
        .collect();
    let waiting = futures::future::join_all(waits);
    let refused = async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let third = answer(&alice[2], "task_results", json!({"wait_s": 3})).await;
        let bobs = answer(&bob, "task_results", json!({"wait_s": 0.5})).await;
        (third, bobs)
    };
    let (done, (third, bobs)) = tokio::join!(waiting, refused);
    for result in done {
        assert_eq!(result.is_error, Some(false), "{result:?}");
    }
    assert_eq!(third.is_error, Some(true));
    assert!(
        text(&third).contains("too many calls waiting"),
        "{}",
        text(&third)
    );
    assert_eq!(bobs.is_error, Some(false), "bob has slots of his own");
    // The slots are back once the waits ended; a wait of 0 never needs one.
    let now = answer(&alice[2], "task_results", json!({"wait_s": 0.2})).await;
    assert_eq!(now.is_error, Some(false), "{now:?}");
    for client in alice {
        client.cancel().await.unwrap();
    }
    bob.cancel().await.unwrap();
    stack.stop().await;
}

/// Issue 24, item 8: one principal's open tasks are limited; past the limit a call is refused with
/// a clear error the model reads (an `isError` result, nothing stored), another principal is not
/// affected, and a finished task gives its place back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn open_tasks_are_limited_per_principal() {
    let header = mcp::identity::HeaderName::from_static(PRINCIPAL_HEADER);
    let mut options = common::options(Principals::TrustedHeader(header));
    options.dispatcher.max_open_tasks = Some(2);
    let stack = common::memory_stack_with(options).await;
    let alice = plain(&stack, Some("local:alice")).await;
    let bob = plain(&stack, Some("local:bob")).await;
    let research = |latency_ms: u64| json!({"topic": "quota", "latency_ms": latency_ms});
    for latency_ms in [600, 600] {
        let ack = answer(&alice, "research", research(latency_ms)).await;
        assert_eq!(ack.is_error, Some(false), "{ack:?}");
    }
    let third = answer(&alice, "research", research(10)).await;
    assert_eq!(third.is_error, Some(true), "{third:?}");
    assert!(
        text(&third).contains("too many open tasks") && text(&third).contains("2 tasks"),
        "{}",
        text(&third)
    );
    let bobs = answer(&bob, "research", research(10)).await;
    assert_eq!(bobs.is_error, Some(false), "bob has places of his own");
    // Once alice's tasks are done, their places are back.
    let mut admitted = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let again = answer(&alice, "research", research(10)).await;
        if again.is_error == Some(false) {
            admitted = true;
            break;
        }
    }
    assert!(admitted, "alice's places came back when her tasks finished");
    alice.cancel().await.unwrap();
    bob.cancel().await.unwrap();
    stack.stop().await;
}
