//! Every limit and every malformed input, each checked by its error text. Memory backend: the checks
//! happen before any backend is touched.

mod common;

use common::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use workers::clock::now_ms;
use workers::dispatcher::DispatcherSettings;
use workers::poller::PollerSettings;
use workers::record::ErrorKind;
use workers::{
    Backend, Catalog, Dispatcher, PipelineError, TaskRequest, TaskStatus, ToolBox, WorkerSettings,
};

fn dispatcher() -> (Backend, Dispatcher) {
    let backend = Backend::in_memory_with(test_catalog(), Some(Duration::from_secs(2)));
    let dispatcher = backend
        .dispatcher(ToolBox::builtin(), DispatcherSettings::default())
        .unwrap();
    (backend, dispatcher)
}

async fn submit_error(request: TaskRequest) -> String {
    let (_, dispatcher) = dispatcher();
    match dispatcher.submit(&alice(), request).await {
        Ok(ack) => panic!("accepted: {ack:?}"),
        Err(e) => {
            assert!(e.is_caller_error(), "{e} must be the caller's fault");
            e.to_string()
        }
    }
}

fn request(tool: &str, arguments: Value) -> TaskRequest {
    TaskRequest::new("conv-1", tool, arguments)
}

#[tokio::test]
async fn arguments_up_to_64_kib_pass_and_beyond_fail() {
    // {"echo":"xxx..."} is 11 bytes of JSON around the string.
    let at_limit = json!({"echo": "x".repeat(64 * 1024 - 11)});
    let (_, d) = dispatcher();
    d.submit(&alice(), request("synthetic", at_limit))
        .await
        .unwrap();
    let over = json!({"echo": "x".repeat(64 * 1024 - 10)});
    assert_eq!(
        submit_error(request("synthetic", over)).await,
        "arguments: are 65537 bytes of JSON; the limit is 65536 bytes (64 KiB)"
    );
}

#[tokio::test]
async fn request_fields_are_checked() {
    let cases: Vec<(TaskRequest, &str)> = vec![
        (
            request("nope", json!({})),
            "tool: \"nope\" is not in the tool catalog (known: sentiment, research, synthetic)",
        ),
        (
            request("synthetic", json!([1])),
            "arguments: must be a JSON object",
        ),
        (
            request("synthetic", json!("text")),
            "arguments: must be a JSON object",
        ),
        (
            TaskRequest {
                conversation_id: "".into(),
                ..request("synthetic", json!({}))
            },
            "conversation_id: must not be empty",
        ),
        (
            TaskRequest {
                conversation_id: "c".repeat(129),
                ..request("synthetic", json!({}))
            },
            "conversation_id: is 129 characters; the limit is 128",
        ),
        (
            TaskRequest {
                conversation_id: "a#b".into(),
                ..request("synthetic", json!({}))
            },
            "conversation_id: contains '#'; allowed are ASCII letters, digits and - _ . :",
        ),
        (
            TaskRequest {
                idempotency_key: Some("k y".into()),
                ..request("synthetic", json!({}))
            },
            "idempotency_key: contains ' '; allowed are ASCII letters, digits and - _ . :",
        ),
        (
            TaskRequest {
                idempotency_key: Some("k".repeat(129)),
                ..request("synthetic", json!({}))
            },
            "idempotency_key: is 129 characters; the limit is 128",
        ),
        (
            TaskRequest {
                version: 2,
                ..request("synthetic", json!({}))
            },
            "version: protocol version 2 is not supported (this build speaks 1)",
        ),
    ];
    for (request, expected) in cases {
        assert_eq!(submit_error(request).await, expected);
    }
}

#[tokio::test]
async fn deadlines_must_be_ahead_but_not_too_far() {
    let past = TaskRequest {
        deadline_ms: Some(1_000),
        ..request("synthetic", json!({}))
    };
    assert!(
        submit_error(past)
            .await
            .starts_with("deadline_ms: 1000 is in the past")
    );
    let far = TaskRequest {
        deadline_ms: Some(now_ms() + 25 * 3600 * 1000),
        ..request("synthetic", json!({}))
    };
    let err = submit_error(far).await;
    assert!(
        err.starts_with("deadline_ms: is ") && err.ends_with("the limit is 86400000 ms (24 h)"),
        "{err}"
    );
}

#[tokio::test]
async fn tool_arguments_are_checked_at_submit() {
    let cases = [
        ("sentiment", json!({}), "arguments.text: is required"),
        (
            "sentiment",
            json!({"text": 5}),
            "arguments.text: must be a string",
        ),
        (
            "sentiment",
            json!({"text": "  "}),
            "arguments.text: must not be blank",
        ),
        (
            "sentiment",
            json!({"text": "ok", "lang": "en"}),
            "arguments.lang: is not an argument of this tool (known: text)",
        ),
        (
            "research",
            json!({"latency_ms": 5}),
            "arguments.topic: is required",
        ),
        (
            "research",
            json!({"topic": "t", "latency_ms": 900_001}),
            "arguments.latency_ms: 900001 is above the limit 900000",
        ),
        (
            "research",
            json!({"topic": "t".repeat(501)}),
            "arguments.topic: is 501 characters; the limit is 500",
        ),
        (
            "synthetic",
            json!({"sleep_ms": -1}),
            "arguments.sleep_ms: must be a non-negative integer",
        ),
        (
            "synthetic",
            json!({"sleep_ms": 1.5}),
            "arguments.sleep_ms: must be a non-negative integer",
        ),
        (
            "synthetic",
            json!({"fail": true}),
            "arguments.fail: must be a string",
        ),
        (
            "synthetic",
            json!({"pad_bytes": 2_000_000}),
            "arguments.pad_bytes: 2000000 is above the limit 1048576",
        ),
    ];
    for (tool, arguments, expected) in cases {
        assert_eq!(
            submit_error(request(tool, arguments)).await,
            expected,
            "{tool}"
        );
    }
}

#[test]
fn malformed_request_json_is_explained() {
    let cases = [
        (
            "not json",
            "request: is not a valid task request: expected ident",
        ),
        (
            r#"{"tool": "synthetic"}"#,
            "missing field `conversation_id`",
        ),
        (
            r#"{"conversation_id": "c", "tool": "synthetic", "colour": 1}"#,
            "unknown field `colour`",
        ),
        (
            r#"{"conversation_id": 5, "tool": "synthetic"}"#,
            "invalid type: integer `5`, expected a string",
        ),
    ];
    for (text, expected) in cases {
        let err = TaskRequest::from_json(text).unwrap_err().to_string();
        assert!(err.contains(expected), "{text}: {err}");
    }
}

/// Deliberately changed by issue 10: a replay of a still-PENDING task enqueues it again at once
/// (the dispatcher may have died between its put and its send), and the refusal of a different
/// request no longer names the existing task.
#[tokio::test]
async fn an_idempotency_key_returns_the_same_task_and_creates_nothing_new() {
    let (backend, d) = dispatcher();
    let keyed = TaskRequest {
        idempotency_key: Some("k1".into()),
        ..request("synthetic", json!({"echo": 1}))
    };
    let first = d.submit(&alice(), keyed.clone()).await.unwrap();
    let again = d.submit(&alice(), keyed.clone()).await.unwrap();
    assert_eq!(again.task_id, first.task_id);
    assert!(!first.duplicate && again.duplicate);
    assert_eq!(
        backend
            .store
            .as_ref()
            .get(&first.task_id)
            .await
            .unwrap()
            .unwrap()
            .revision,
        2
    );
    assert_eq!(
        backend.work_queues["synthetic"]
            .depth()
            .await
            .unwrap()
            .visible,
        2,
        "the pending task was enqueued again"
    );
    let page = d.list(&alice(), "conv-1", 10, None).await.unwrap();
    assert_eq!(page.tasks.len(), 1, "one task");
    let different = TaskRequest {
        arguments: json!({"echo": 2}),
        ..keyed
    };
    let err = d.submit(&alice(), different).await.unwrap_err().to_string();
    assert_eq!(
        err,
        "idempotency_key: \"k1\" was already used in conversation conv-1 for a different request \
         (tool, arguments, deadline or reply_to differ)"
    );
}

#[tokio::test]
async fn the_ack_tells_the_model_not_to_guess() {
    let (_, d) = dispatcher();
    let ack = d
        .submit(&alice(), request("synthetic", json!({})))
        .await
        .unwrap();
    assert_eq!(ack.status, TaskStatus::Pending);
    assert!(ack.message.contains("NOT available yet"), "{}", ack.message);
    assert!(ack.message.contains("do not guess"), "{}", ack.message);
    assert!(ack.message.contains(&ack.task_id));
    assert!(
        ulid::Ulid::from_string(&ack.task_id).is_ok(),
        "task ids are ULIDs"
    );
}

#[tokio::test]
async fn get_list_and_cancel_check_their_input() {
    let (_, d) = dispatcher();
    let a = alice();
    let err = |e: PipelineError| {
        assert!(e.is_caller_error());
        e.to_string()
    };
    assert!(
        err(d.get(&a, "123").await.unwrap_err())
            .starts_with("task_id: \"123\" is not a ULID task id")
    );
    assert!(
        err(d.cancel(&a, "../etc").await.unwrap_err())
            .starts_with("task_id: \"../etc\" is not a ULID task id")
    );
    let unknown = ulid::Ulid::generate().to_string();
    assert_eq!(
        err(d.get(&a, &unknown).await.unwrap_err()),
        format!("task {unknown} not found")
    );
    assert_eq!(
        err(d.cancel(&a, &unknown).await.unwrap_err()),
        format!("task {unknown} not found")
    );
    assert_eq!(
        err(d.list(&a, "c", 0, None).await.unwrap_err()),
        "limit: 0 is outside 1..=100"
    );
    assert_eq!(
        err(d.list(&a, "c", 101, None).await.unwrap_err()),
        "limit: 101 is outside 1..=100"
    );
    assert_eq!(
        err(d.list(&a, "c", 10, Some("garbage")).await.unwrap_err()),
        "cursor: \"garbage\" is not a cursor returned by a list call"
    );
    assert_eq!(
        err(d.list(&a, "", 10, None).await.unwrap_err()),
        "conversation_id: must not be empty"
    );
}

#[tokio::test]
async fn settings_are_checked() {
    let backend = Backend::in_memory(test_catalog());
    let err = backend
        .dispatcher(
            ToolBox::builtin(),
            DispatcherSettings {
                task_ttl_days: 0,
                ..DispatcherSettings::default()
            },
        )
        .err()
        .unwrap();
    assert_eq!(err.to_string(), "task_ttl_days: 0 is outside 1..=365");
    for (recovery_ms, expected) in [
        (
            16 * 60 * 1000,
            "recovery_ms: 960000 is outside 300..=900000",
        ),
        (299, "recovery_ms: 299 is outside 300..=900000"),
    ] {
        let settings = WorkerSettings {
            recovery_ms: Some(recovery_ms),
            ..WorkerSettings::new("w")
        };
        let err = backend
            .worker("synthetic", &ToolBox::builtin(), settings)
            .err()
            .unwrap();
        assert_eq!(err.to_string(), expected);
    }
    let err = backend
        .worker("synthetic", &ToolBox::builtin(), WorkerSettings::new(""))
        .err()
        .unwrap();
    assert_eq!(err.to_string(), "worker_id: must not be empty");
    let err = backend
        .worker("nope", &ToolBox::builtin(), WorkerSettings::new("w"))
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .starts_with("tool: \"nope\" is not in the tool catalog")
    );
    let poller = |batch_size, concurrency, wait_s| PollerSettings {
        batch_size,
        concurrency,
        wait: Duration::from_secs(wait_s),
    };
    assert_eq!(
        poller(0, 1, 1).check().unwrap_err().to_string(),
        "max_messages: 0 is outside 1..=10"
    );
    assert_eq!(
        poller(11, 1, 1).check().unwrap_err().to_string(),
        "max_messages: 11 is outside 1..=10"
    );
    assert_eq!(
        poller(1, 0, 1).check().unwrap_err().to_string(),
        "concurrency: 0 is outside 1..=1000"
    );
    assert_eq!(
        poller(1, 1, 21).check().unwrap_err().to_string(),
        "wait: 21s is longer than the 20 s long-poll limit"
    );
    // A catalog tool without an implementation is refused up front.
    let extra =
        Catalog::parse(&TEST_CATALOG.replace("name = \"research\"", "name = \"web-search\""))
            .unwrap();
    let err = Backend::in_memory(Arc::new(extra))
        .dispatcher(ToolBox::builtin(), DispatcherSettings::default())
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "tools.web-search: kind = \"builtin\" but no such tool is built into this binary: \
         `asynctools tools new NAME` writes one and registers it (docs/tools.md)"
    );
}

/// Runs one task through a worker pool and returns its final record.
async fn run_one(arguments: Value, deadline_ms: Option<u64>) -> workers::TaskRecord {
    let (backend, d) = dispatcher();
    let ack = d
        .submit(
            &alice(),
            TaskRequest {
                deadline_ms,
                ..request("synthetic", arguments)
            },
        )
        .await
        .unwrap();
    let mut options = workers::poller::PoolOptions::new("w");
    options.wait = Duration::from_millis(200);
    options.recovery_ms = Some(TEST_RECOVERY_MS);
    let pool = workers::poller::WorkerPool::start(
        &backend,
        &ToolBox::builtin(),
        &["synthetic".into()],
        &options,
    )
    .unwrap();
    let finished = eventually(Duration::from_secs(10), || async {
        backend
            .store
            .get(&ack.task_id)
            .await
            .unwrap()
            .unwrap()
            .result_published
    })
    .await;
    pool.stop().await;
    assert!(finished);
    backend.store.get(&ack.task_id).await.unwrap().unwrap()
}

#[tokio::test]
async fn results_over_200_kib_fail_the_task_as_result_too_large() {
    let record = run_one(json!({"pad_bytes": 200 * 1024}), None).await;
    assert_eq!(record.status, TaskStatus::Failed);
    let error = record.error.unwrap();
    assert_eq!(error.kind, ErrorKind::ResultTooLarge);
    assert!(
        error.message.starts_with("result: is 2048"),
        "{}",
        error.message
    );
    assert!(
        error
            .message
            .ends_with("the limit is 204800 bytes (200 KiB)"),
        "{}",
        error.message
    );
    let fits = run_one(json!({"pad_bytes": 200 * 1024 - 100}), None).await;
    assert_eq!(fits.status, TaskStatus::Succeeded);
}

#[tokio::test]
async fn a_run_over_its_timeout_ends_timed_out() {
    // The test catalog gives synthetic a 1 s timeout.
    let record = run_one(json!({"sleep_ms": 3_000}), None).await;
    assert_eq!(record.status, TaskStatus::TimedOut);
    assert_eq!(
        record.error.unwrap().message,
        "the run exceeded its budget of 1000 ms"
    );
}

#[tokio::test]
async fn a_tool_failure_is_recorded_not_retried() {
    let record = run_one(json!({"fail": "upstream said no"}), None).await;
    assert_eq!((record.status, record.attempts), (TaskStatus::Failed, 1));
    assert_eq!(record.error.unwrap().message, "upstream said no");
}

#[tokio::test]
async fn a_deadline_that_passes_before_the_start_ends_timed_out_without_running() {
    let (backend, d) = dispatcher();
    let ack = d
        .submit(
            &alice(),
            TaskRequest {
                deadline_ms: Some(now_ms() + 50),
                ..request("synthetic", json!({}))
            },
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let worker = backend
        .worker("synthetic", &ToolBox::builtin(), WorkerSettings::new("w"))
        .unwrap();
    let message = backend.work_queues["synthetic"]
        .receive(1, Duration::ZERO, None)
        .await
        .unwrap()
        .remove(0);
    let delivery = workers::Delivery {
        message_id: message.message_id,
        body: message.body,
        receive_count: 1,
        receipt_handle: Some(message.receipt_handle),
    };
    assert!(matches!(
        worker.handle(&delivery, None).await,
        workers::Disposition::Done(_)
    ));
    let record = backend.store.get(&ack.task_id).await.unwrap().unwrap();
    assert_eq!((record.status, record.attempts), (TaskStatus::TimedOut, 0));
    assert_eq!(
        record.error.unwrap().message,
        "the task's deadline passed before it started"
    );
}

#[tokio::test]
async fn malformed_work_messages_are_handled_without_crashing_the_batch() {
    let (backend, d) = dispatcher();
    let ack = d
        .submit(&alice(), request("synthetic", json!({})))
        .await
        .unwrap();
    let worker = backend
        .worker("synthetic", &ToolBox::builtin(), WorkerSettings::new("w"))
        .unwrap();
    let delivery = |id: &str, body: String| workers::Delivery {
        message_id: id.into(),
        body,
        receive_count: 1,
        receipt_handle: None,
    };
    let unknown = ulid::Ulid::generate().to_string();
    let batch = vec![
        delivery("garbage", "{{{".into()),
        delivery(
            "no-task",
            json!({"version": 1, "tool": "synthetic"}).to_string(),
        ),
        delivery(
            "unknown-task",
            json!({"version": 1, "task_id": unknown, "tool": "synthetic"}).to_string(),
        ),
        delivery(
            "wrong-tool",
            json!({"version": 1, "task_id": ack.task_id, "tool": "sentiment"}).to_string(),
        ),
    ];
    let mut failed = worker.handle_batch(&batch, None).await;
    failed.sort();
    // Only messages that name no usable task are retried (and so end in the DLQ).
    assert_eq!(failed, vec!["garbage", "no-task", "unknown-task"]);
    let record = backend.store.get(&ack.task_id).await.unwrap().unwrap();
    assert_eq!(record.status, TaskStatus::Failed);
    assert_eq!(
        record.error.unwrap().message,
        "work message for tool \"sentiment\" reached the worker of tool \"synthetic\""
    );
}

#[tokio::test]
async fn a_task_whose_workers_keep_dying_is_abandoned() {
    let (backend, d) = dispatcher();
    let ack = d
        .submit(&alice(), request("synthetic", json!({})))
        .await
        .unwrap();
    let worker = backend
        .worker("synthetic", &ToolBox::builtin(), WorkerSettings::new("w"))
        .unwrap();
    let body = workers::WorkMessage::new(&ack.task_id, "synthetic").to_body();
    let delivery = workers::Delivery {
        message_id: "m".into(),
        body,
        receive_count: 1,
        receipt_handle: None,
    };
    // Workers claimed it and died, each time with a lease that has run out since: as many claims
    // as the catalog's max_receive_count (5) allows deliveries. The rule counts claims, not this
    // message's receives (a live holder's message can come back under load without anyone dying).
    let mut current = backend.store.get(&ack.task_id).await.unwrap().unwrap();
    for claim in 1..=5u64 {
        if claim == 5 {
            // After four dead claims a delivery still runs it (checked on a copy of the record).
            let copy = Backend::in_memory_with(test_catalog(), None);
            copy.store.create(&current).await.unwrap();
            let w = copy
                .worker("synthetic", &ToolBox::builtin(), WorkerSettings::new("w"))
                .unwrap();
            assert!(matches!(
                w.handle(&delivery, None).await,
                workers::Disposition::Done(_)
            ));
            assert_eq!(
                copy.store.get(&ack.task_id).await.unwrap().unwrap().status,
                TaskStatus::Succeeded
            );
        }
        let next = current.claim("dead", claim, 1).unwrap();
        backend.store.transition(&current, &next).await.unwrap();
        current = next;
    }
    assert!(matches!(
        worker.handle(&delivery, None).await,
        workers::Disposition::Done(_)
    ));
    let record = backend.store.get(&ack.task_id).await.unwrap().unwrap();
    assert_eq!(record.status, TaskStatus::Failed);
    let error = record.error.unwrap();
    assert_eq!(error.kind, ErrorKind::Abandoned);
    assert_eq!(
        error.message,
        "abandoned after 5 attempts: the worker stopped before finishing each time"
    );
    assert!(record.result_published);
}

#[tokio::test]
async fn owners_consumers_and_sweeps_are_checked() {
    let long = "p".repeat(513);
    let principals = [
        ("", "principal: must be 1..=512 characters"),
        (long.as_str(), "principal: must be 1..=512 characters"),
        (
            "a#b",
            "principal: contains '#'; allowed are printable ASCII characters except '#'",
        ),
        (
            "a b",
            "principal: contains ' '; allowed are printable ASCII characters except '#'",
        ),
        (
            "ünï",
            "principal: contains 'ü'; allowed are printable ASCII characters except '#'",
        ),
    ];
    for (principal, expected) in principals {
        assert_eq!(
            workers::Caller::new(principal).unwrap_err().to_string(),
            expected
        );
    }
    assert!(workers::Caller::new("p".repeat(512)).is_ok());
    for bad in ["Bad", "a_b", "", &"c".repeat(33)] {
        let err = submit_error(TaskRequest {
            reply_to: Some(bad.to_string()),
            ..request("synthetic", json!({}))
        })
        .await;
        assert_eq!(
            err,
            format!("reply_to: {bad:?} must be 1..=32 lowercase letters, digits or '-'")
        );
    }
    let (backend, d) = dispatcher();
    let a = alice();
    assert_eq!(
        d.undelivered(&a, "Nope", 10, None)
            .await
            .unwrap_err()
            .to_string(),
        "reply_to: \"Nope\" must be 1..=32 lowercase letters, digits or '-'"
    );
    assert_eq!(
        d.undelivered(&a, "default", 0, None)
            .await
            .unwrap_err()
            .to_string(),
        "limit: 0 is outside 1..=100"
    );
    let ack = d.submit(&a, request("synthetic", json!({}))).await.unwrap();
    let err = d.mark_delivered(&a, &ack.task_id).await.unwrap_err();
    assert!(err.is_caller_error());
    assert_eq!(
        err.to_string(),
        format!(
            "task_id: task {} is PENDING; only a finished task's result can be marked delivered",
            ack.task_id
        )
    );
    assert!(
        !backend
            .store
            .get(&ack.task_id)
            .await
            .unwrap()
            .unwrap()
            .delivered
    );
    let sweep = |max_tasks| workers::sweeper::SweepSettings {
        older_than_ms: 1,
        max_tasks,
        ..Default::default()
    };
    assert_eq!(
        sweep(0).check().unwrap_err().to_string(),
        "max_tasks: 0 is outside 1..=10000"
    );
    assert_eq!(
        sweep(10_001).check().unwrap_err().to_string(),
        "max_tasks: 10001 is outside 1..=10000"
    );
    let err = workers::sweeper::find_stuck(backend.store.as_ref(), sweep(0))
        .await
        .unwrap_err();
    assert!(err.is_caller_error(), "{err}");
}
