//! This function as an asynctools tool (`kind = "lambda"`): cargo-lambda's emulator hosts it and
//! serves Lambda's real Invoke API (`/2015-03-31/functions/<name>/invocations`); the pipeline's
//! `LambdaTool`, built from a catalog entry, invokes it through the AWS SDK. Through the dispatcher
//! and a worker: a result, the function's own error (FAILED with its message), a run past the
//! tool's timeout (TIMED_OUT), arguments the catalog's schema refuses (never queued), and a
//! function that does not exist (FAILED, naming it).
//!
//! Needs cargo-lambda (`make venv-lambda`); skipped without it unless ASYNCTOOLS_REQUIRE_MOTO=1.

#[allow(dead_code)]
#[path = "../../../../workers/hosts/tests/lambda_runtime/emulator.rs"]
mod emulator;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use workers::aws::{AwsSettings, sdk_config};
use workers::poller::{PoolOptions, WorkerPool};
use workers::{Backend, Caller, Catalog, DispatcherSettings, TaskRecord, TaskRequest, TaskStatus};

const TEST: &str = "word_count_as_a_tool";

fn catalog() -> Catalog {
    Catalog::parse(
        r#"
version = 1

[[tools]]
name = "word-count"
description = "Counts the words of a text (an existing Lambda function)."
kind = "lambda"
# cargo-lambda's emulator knows a function by its binary's name.
function = "word-count-lambda"
timeout_s = 3
memory_mb = 128
batch_size = 1
max_concurrency = 2
max_receive_count = 5

[tools.input_schema]
type = "object"
required = ["text"]
[tools.input_schema.properties.text]
type = "string"

[[tools]]
name = "missing"
description = "A function nobody deployed."
kind = "lambda"
function = "no-such-function"
timeout_s = 3
memory_mb = 128
batch_size = 1
max_concurrency = 2
max_receive_count = 5
"#,
    )
    .expect("the example catalog parses")
}

async fn finished(backend: &Backend, task_id: &str) -> TaskRecord {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let record = backend.store.get(task_id).await.unwrap().unwrap();
        if record.status.is_terminal() {
            return record;
        }
        assert!(
            Instant::now() < deadline,
            "task {task_id} did not finish: {record:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn word_count_runs_as_an_async_tool() {
    let Some(cargo_lambda) = emulator::find_cargo_lambda() else {
        let required = std::env::var("ASYNCTOOLS_REQUIRE_MOTO").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "{TEST}: cargo-lambda not found (run `make venv-lambda`)"
        );
        eprintln!("{TEST}: SKIPPED (no cargo-lambda; run `make venv-lambda`)");
        return;
    };
    let logs =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{TEST}-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&logs).unwrap();
    let emulator = emulator::Emulator::start(&cargo_lambda, &logs, Duration::from_secs(60));
    let function = emulator.function(
        "word-count-lambda",
        &PathBuf::from(env!("CARGO_BIN_EXE_word-count-lambda")),
        &[],
        &logs,
    );
    // The SDK's Lambda endpoint is the emulator: the same Invoke API as AWS, on loopback.
    let sdk = sdk_config(&AwsSettings::emulator(format!(
        "http://127.0.0.1:{}",
        emulator.port
    )))
    .await;

    let catalog = Arc::new(catalog());
    let backend = Backend::in_memory(catalog.clone());
    let tools = workers::tools::for_catalog(&catalog, Some(&sdk))
        .await
        .expect("the tools build");
    let dispatcher = backend
        .dispatcher(tools.clone(), DispatcherSettings::default())
        .unwrap();
    let mut options = PoolOptions::new("word-count-test");
    options.wait = Duration::from_millis(200);
    let names = vec!["word-count".to_string(), "missing".to_string()];
    let pool = WorkerPool::start(&backend, &tools, &names, &options).unwrap();
    let caller = Caller::new("local:tester").unwrap();
    let submit = |tool: &str, arguments: Value| {
        let request = TaskRequest::new("c1", tool, arguments);
        let (d, c) = (&dispatcher, &caller);
        async move { d.submit(c, request).await }
    };

    // A result: the function's JSON answer. (Lambda hands the function the client context with the
    // task id; cargo-lambda's emulator does not pass client contexts on, so it is not checked here.)
    let ok = submit(
        "word-count",
        json!({"text": "the cat and the hat", "top": 1}),
    )
    .await
    .unwrap();
    let done = finished(&backend, &ok.task_id).await;
    assert_eq!(
        done.status,
        TaskStatus::Succeeded,
        "{done:?}\n{}",
        function.log_tail(2000)
    );
    let result = done.result.unwrap();
    assert_eq!(result["words"], 5);
    assert_eq!(result["top"], json!([["the", 2]]));

    // The function's own error: FAILED with its message.
    let failing = submit(
        "word-count",
        json!({"text": "x", "fail": "the index is offline"}),
    )
    .await
    .unwrap();
    let failed = finished(&backend, &failing.task_id).await;
    assert_eq!(failed.status, TaskStatus::Failed);
    let message = failed.error.unwrap().message;
    assert!(message.contains("the index is offline"), "{message}");

    // Refused by the catalog's schema before anything is queued.
    let refused = submit("word-count", json!({"txt": "typo"}))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("text"), "{refused}");

    // A function that does not exist: FAILED, naming it.
    let missing = submit("missing", json!({"text": "x"})).await.unwrap();
    let gone = finished(&backend, &missing.task_id).await;
    assert_eq!(gone.status, TaskStatus::Failed);
    let message = gone.error.unwrap().message;
    assert!(message.contains("no-such-function"), "{message}");

    // Longer than the tool's 3 s timeout: TIMED_OUT.
    let slow = submit("word-count", json!({"text": "x", "sleep_ms": 6_000}))
        .await
        .unwrap();
    let timed_out = finished(&backend, &slow.task_id).await;
    assert_eq!(timed_out.status, TaskStatus::TimedOut, "{timed_out:?}");

    pool.stop().await;
    drop(function);
    emulator.stop();
    let _ = std::fs::remove_dir_all(&logs);
}
