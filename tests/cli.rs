//! The `asynctools` binary's task pipeline commands, run as a user would.

use serde_json::Value;
use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use workers::aws::{AwsSettings, Resources, sdk_config};
use workers::lambda::http::route;
use workers::testkit::MotoServer;
use workers::{Backend, Catalog, DispatcherSettings, ToolBox};

fn asynctools(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_asynctools"))
        .args(args)
        .env_remove("ASYNCTOOLS_BACKEND")
        .env_remove("ASYNCTOOLS_OUTPUTS")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .expect("running asynctools")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_lines(o: &Output) -> Vec<Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

#[test]
fn demo_replays_the_seed_example() {
    let out = asynctools(&["demo", "--research-latency", "500ms"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let position = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing in:\n{text}"))
    };
    assert!(position("(research) is PENDING") < position("(sentiment) is PENDING"));
    assert!(position("(sentiment) is PENDING") < position("SQS stands for Simple Queue Service"));
    assert!(position("SQS stands for") < position("(sentiment) SUCCEEDED"));
    assert!(position("(sentiment) SUCCEEDED") < position("(research) SUCCEEDED"));
    assert!(
        text.contains("do not guess"),
        "the model-facing message is shown"
    );
}

#[test]
fn bad_submits_exit_2_with_a_message() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["tasks", "submit", "nope"],
            "error: tool: \"nope\" is not in the tool catalog",
        ),
        (
            &["tasks", "submit", "sentiment", "--args", "{bad"],
            "error: --args: is not JSON",
        ),
        (
            &["tasks", "submit", "sentiment", "--args", "{}"],
            "error: arguments.text: is required",
        ),
        (
            &["tasks", "submit", "synthetic", "--conversation", "a b"],
            "error: conversation_id: contains ' '",
        ),
        (
            &["tasks", "status", "01M80HR80YKCF4BFK68BDT97PX"],
            "needs a backend shared between processes",
        ),
        (
            &[
                "tasks",
                "list",
                "--conversation",
                "c",
                "--backend",
                "aws",
                "--outputs",
                "/nonexistent/out.json",
            ],
            "error: outputs file /nonexistent/out.json",
        ),
    ];
    for (args, expected) in cases {
        let out = asynctools(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
}

#[test]
fn a_memory_submit_acks_then_prints_the_result() {
    let out = asynctools(&[
        "tasks",
        "submit",
        "sentiment",
        "--args",
        r#"{"text": "I love it"}"#,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2, "{}", stdout(&out));
    assert_eq!(lines[0]["status"], "PENDING");
    assert_eq!(lines[1]["status"], "SUCCEEDED");
    assert_eq!(lines[1]["result"]["sentiment"], "positive");
}

#[test]
fn the_memory_worker_serves_requests_from_stdin() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_asynctools"))
        .args(["worker", "--backend", "memory"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(
        stdin,
        r#"{{"conversation_id": "c", "tool": "synthetic", "arguments": {{"sleep_ms": 50}}}}"#
    )
    .unwrap();
    writeln!(
        stdin,
        r#"{{"conversation_id": "c", "tool": "sentiment", "arguments": {{"text": "bad"}}}}"#
    )
    .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = json_lines(&out);
    let statuses: Vec<&str> = lines
        .iter()
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "PENDING").count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == "SUCCEEDED").count(),
        2,
        "{statuses:?}"
    );
}

#[test]
fn the_local_stack_serves_every_command_across_processes() {
    let Some(moto) =
        MotoServer::start_or_skip("the_local_stack_serves_every_command_across_processes")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let outputs = dir.path().join("out.json");
    let outputs = outputs.to_str().unwrap();
    let up = asynctools(&[
        "local",
        "up",
        "--endpoint",
        &moto.endpoint,
        "--outputs",
        outputs,
    ]);
    assert!(up.status.success(), "{}", stderr(&up));
    let written: Value = serde_json::from_str(&std::fs::read_to_string(outputs).unwrap()).unwrap();
    for key in [
        "TaskTableName",
        "Consumers",
        "ReplyQueueUrlDefault",
        "ReplyDeadLetterQueueUrlDefault",
        "ReplyQueueUrlMcp",
        "WorkQueueUrlSynthetic",
        "DeadLetterQueueUrlResearch",
    ] {
        assert!(
            written["AsyncTools"][key].is_string(),
            "{key} missing: {written}"
        );
    }
    assert!(written["AsyncTools"].get("DispatcherUrl").is_none());

    let aws = |extra: &[&str]| {
        let mut args = extra.to_vec();
        args.extend([
            "--backend",
            "aws",
            "--outputs",
            outputs,
            "--endpoint",
            &moto.endpoint,
        ]);
        asynctools(&args)
    };
    let submitted = aws(&[
        "tasks",
        "submit",
        "sentiment",
        "--args",
        r#"{"text": "great"}"#,
        "--conversation",
        "cli-test",
    ]);
    assert!(submitted.status.success(), "{}", stderr(&submitted));
    let task_id = json_lines(&submitted)[0]["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let to_cancel = aws(&["tasks", "submit", "synthetic", "--conversation", "cli-test"]);
    let cancel_id = json_lines(&to_cancel)[0]["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let cancelled = aws(&["tasks", "cancel", &cancel_id]);
    assert!(cancelled.status.success(), "{}", stderr(&cancelled));

    let worker = Command::new(env!("CARGO_BIN_EXE_asynctools"))
        .args([
            "worker",
            "--backend",
            "aws",
            "--outputs",
            outputs,
            "--endpoint",
            &moto.endpoint,
            "--wait",
            "1s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let watched = aws(&[
        "tasks",
        "watch",
        "--consumer",
        "default",
        "--count",
        "2",
        "--timeout",
        "60s",
    ]);
    let _ = Command::new("kill").arg(worker.id().to_string()).status();
    let worker_out = worker.wait_with_output().unwrap();
    assert!(
        worker_out.status.success(),
        "the worker stops cleanly on SIGTERM: {}",
        stderr(&worker_out)
    );
    assert!(watched.status.success(), "{}", stderr(&watched));
    let mut results: Vec<(String, String)> = json_lines(&watched)
        .iter()
        .map(|r| {
            (
                r["task_id"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    results.sort();
    let mut expected = vec![
        (task_id.clone(), "SUCCEEDED".to_string()),
        (cancel_id, "CANCELLED".to_string()),
    ];
    expected.sort();
    assert_eq!(results, expected);

    let status = aws(&["tasks", "status", &task_id]);
    let record: Value = serde_json::from_str(&stdout(&status)).unwrap();
    assert_eq!(record["status"], "SUCCEEDED");
    let listed = aws(&["tasks", "list", "--conversation", "cli-test"]);
    let page: Value = serde_json::from_str(&stdout(&listed)).unwrap();
    assert_eq!(page["tasks"].as_array().unwrap().len(), 2);
    let missing = aws(&["tasks", "status", "01M80HR80YKCF4BFK68BDT97PX"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("task 01M80HR80YKCF4BFK68BDT97PX not found"));
}

/// A stand-in for the deployed dispatcher's Function URL: plain HTTP on 127.0.0.1, the real routes
/// (`workers::lambda::http::route`) over the moto stack, and a record of each request's SigV4 header.
fn serve_function_url(endpoint: String, outputs: String) -> (String, Arc<Mutex<Vec<String>>>) {
    let authorizations = Arc::new(Mutex::new(Vec::new()));
    let seen = authorizations.clone();
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let catalog = Arc::new(Catalog::embedded().clone());
            let text = std::fs::read_to_string(&outputs).unwrap();
            let resources = Resources::from_outputs_json(&text, "AsyncTools", &catalog).unwrap();
            let sdk = sdk_config(&AwsSettings::emulator(endpoint)).await;
            let backend = Backend::aws(&sdk, &resources, catalog).unwrap();
            let dispatcher = backend
                .dispatcher(ToolBox::builtin(), DispatcherSettings::default())
                .unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            port_tx.send(listener.local_addr().unwrap().port()).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let reply = answer(stream, &dispatcher, &seen).await;
                if let Err(e) = reply {
                    eprintln!("fake function URL: {e}");
                }
            }
        });
    });
    let port = port_rx.recv().unwrap();
    (format!("http://127.0.0.1:{port}/"), authorizations)
}

async fn answer(
    stream: tokio::net::TcpStream,
    dispatcher: &workers::Dispatcher,
    seen: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).await?;
    let mut parts = request_line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut content_length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        match name.to_ascii_lowercase().as_str() {
            "content-length" => content_length = value.trim().parse().unwrap_or(0),
            "authorization" => seen.lock().unwrap().push(value.trim().to_string()),
            _ => {}
        }
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body).await?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query: HashMap<String, String> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("%2E", ".")))
        .collect();
    let body = String::from_utf8(body).unwrap();
    // Lambda passes the SigV4 signer's identity; the test's signer is this one principal.
    let caller = workers::Caller::new("arn:aws:iam::123456789012:user/cli-test").unwrap();
    let reply = route(
        dispatcher,
        Some(&caller),
        &method,
        path,
        &query,
        (!body.is_empty()).then_some(body.as_str()),
    )
    .await;
    let text = reply.body.to_string();
    let response = format!(
        "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        reply.status,
        text.len()
    );
    reader.get_mut().write_all(response.as_bytes()).await
}

#[test]
fn with_a_dispatcher_url_the_cli_calls_it_signed() {
    let Some(moto) = MotoServer::start_or_skip("with_a_dispatcher_url_the_cli_calls_it_signed")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local.json").to_str().unwrap().to_string();
    let up = asynctools(&[
        "local",
        "up",
        "--endpoint",
        &moto.endpoint,
        "--outputs",
        &local,
    ]);
    assert!(up.status.success(), "{}", stderr(&up));
    let (url, authorizations) = serve_function_url(moto.endpoint.clone(), local.clone());
    let mut outputs: Value =
        serde_json::from_str(&std::fs::read_to_string(&local).unwrap()).unwrap();
    outputs["AsyncTools"]["DispatcherUrl"] = Value::String(url);
    let deployed = dir
        .path()
        .join("deployed.json")
        .to_str()
        .unwrap()
        .to_string();
    std::fs::write(&deployed, outputs.to_string()).unwrap();
    let aws = |extra: &[&str]| {
        let mut args = extra.to_vec();
        args.extend([
            "--backend",
            "aws",
            "--outputs",
            &deployed,
            "--endpoint",
            &moto.endpoint,
        ]);
        asynctools(&args)
    };

    let submitted = aws(&[
        "tasks",
        "submit",
        "research",
        "--args",
        r#"{"topic": "x"}"#,
        "--conversation",
        "remote",
    ]);
    assert!(submitted.status.success(), "{}", stderr(&submitted));
    let ack = &json_lines(&submitted)[0];
    assert_eq!(ack["status"], "PENDING");
    let task_id = ack["task_id"].as_str().unwrap();
    let status = aws(&["tasks", "status", task_id]);
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&status)).unwrap()["tool"],
        "research"
    );
    let listed = aws(&["tasks", "list", "--conversation", "remote", "--limit", "5"]);
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&listed)).unwrap()["tasks"][0]["task_id"],
        task_id
    );
    let cancelled = aws(&["tasks", "cancel", task_id]);
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&cancelled)).unwrap()["cancelled"],
        true
    );
    // The dispatcher's 4xx answers are input errors here too.
    let bad = aws(&["tasks", "submit", "research", "--args", "{}"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("dispatcher answered HTTP 400: arguments.topic: is required"),
        "{}",
        stderr(&bad)
    );

    let authorizations = authorizations.lock().unwrap();
    assert_eq!(
        authorizations.len(),
        5,
        "every call went through the URL: {authorizations:?}"
    );
    for header in authorizations.iter() {
        assert!(
            header.starts_with("AWS4-HMAC-SHA256 Credential=test/")
                && header.contains("/us-east-1/lambda/aws4_request"),
            "SigV4 for the lambda service: {header}"
        );
    }
    // --in-process skips the URL; the task belongs to the URL's IAM principal, so only as that
    // principal is it there at all.
    let as_other = aws(&["tasks", "status", task_id, "--in-process"]);
    assert_eq!(as_other.status.code(), Some(2), "{}", stderr(&as_other));
    assert!(stderr(&as_other).contains(&format!("task {task_id} not found")));
    let local_status = aws(&[
        "tasks",
        "status",
        task_id,
        "--in-process",
        "--principal",
        "arn:aws:iam::123456789012:user/cli-test",
    ]);
    assert!(local_status.status.success(), "{}", stderr(&local_status));
    assert_eq!(authorizations.len(), 5);
}

/// The line worker ends once its input ends and every result that comes back to it is out: a
/// repeated idempotency key whose task had already finished, and a task addressed to another
/// consumer, are not waited for (it used to wait for them forever).
#[test]
fn the_memory_worker_exits_after_a_repeated_key_and_another_consumer() {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_asynctools"))
        .args(["worker", "--backend", "memory"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let keyed = r#"{"conversation_id": "c", "tool": "sentiment", "arguments": {"text": "good"}, "idempotency_key": "k1"}"#;
    writeln!(stdin, "{keyed}").unwrap();
    // The ack, then the result: the task has finished before the key is repeated.
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("SUCCEEDED")) {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "output ended early: {seen:?}"
        );
        seen.push(line);
    }
    writeln!(stdin, "{keyed}").unwrap();
    writeln!(
        stdin,
        r#"{{"conversation_id": "c", "tool": "sentiment", "arguments": {{"text": "ok"}}, "reply_to": "mcp"}}"#
    )
    .unwrap();
    drop(stdin);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the worker did not exit after its input ended");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success());
    let rest: Vec<String> = stdout.lines().map(Result::unwrap).collect();
    let duplicate: Value = serde_json::from_str(&rest[0]).unwrap();
    assert_eq!(duplicate["duplicate"], true, "{rest:?}");
    assert_eq!(
        rest.len(),
        2,
        "two acks, no result of another consumer: {rest:?}"
    );
}
