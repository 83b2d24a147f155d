//! `kind = "http"` tools against a local HTTP server: the request (body, task headers, the
//! Authorization header from Secrets Manager on moto), retries on 429/5xx and connection errors,
//! the budget, the response-size limit, redirects, bodies that are not JSON, cancellation; and the
//! real pipeline (catalog -> dispatcher -> worker) recording SUCCEEDED, FAILED and TIMED_OUT.

mod common;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use bytes::Bytes;
use common::{alice, submit_as};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use workers::aws::{AwsSettings, sdk_config};
use workers::limits::MAX_TOOL_ANSWER_BYTES;
use workers::testkit::MotoServer;
use workers::tools::{HttpTool, Tool, ToolContext, ToolFailure};
use workers::{
    Backend, Catalog, Delivery, DispatcherSettings, TaskRecord, TaskStatus, ToolBox, ToolSpec,
    WorkerSettings,
};

/// What `/huge` streams: far more than any kernel socket buffer on loopback (a few MB), so a client
/// that stopped reading cannot have let it all through.
const HUGE_CHUNK: usize = 64 * 1024;
const HUGE_CHUNKS: usize = 1024;
/// How long `/slow` takes to answer: longer than any budget below.
const SLOW: Duration = Duration::from_secs(10);
const LONG_ERROR_TAIL: &str = "END-OF-A-LONG-ERROR-BODY";

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Default)]
struct ServerState {
    requests: Mutex<Vec<Seen>>,
    huge_sent: AtomicUsize,
    huge_finished: AtomicBool,
    huge_dropped: AtomicBool,
}

impl ServerState {
    fn hits(&self, path: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .count()
    }

    fn requests_to(&self, path: &str) -> Vec<Seen> {
        let requests = self.requests.lock().unwrap();
        requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

/// The test service on 127.0.0.1; its accept loop stops when dropped (its connections end with the
/// test's runtime).
struct Server {
    addr: SocketAddr,
    state: Arc<ServerState>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start() -> Server {
        let state = Arc::new(ServerState::default());
        let app = Router::new().fallback(serve).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Server { addr, state, task }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn hits(&self, path: &str) -> usize {
        self.state.hits(path)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Sets `huge_dropped` when `/huge`'s body stream is dropped: the client hung up (or it ended).
struct Hangup(Arc<ServerState>);

impl Drop for Hangup {
    fn drop(&mut self) {
        self.0.huge_dropped.store(true, Ordering::SeqCst);
    }
}

fn answer(status: StatusCode, headers: &[(&str, &str)], body: impl Into<Body>) -> Response {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body.into()).unwrap()
}

fn json_answer(value: Value) -> Response {
    answer(
        StatusCode::OK,
        &[("content-type", "application/json")],
        value.to_string(),
    )
}

async fn serve(
    State(state): State<Arc<ServerState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let hits = {
        let mut requests = state.requests.lock().unwrap();
        requests.push(Seen {
            path: path.clone(),
            headers,
            body: body.clone(),
        });
        requests.iter().filter(|r| r.path == path).count()
    };
    let unavailable = || answer(StatusCode::SERVICE_UNAVAILABLE, &[], "try later");
    match path.as_str() {
        "/ok" => {
            let arguments: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            json_answer(json!({"answer": 42, "echo": arguments}))
        }
        "/slow" => {
            tokio::time::sleep(SLOW).await;
            json_answer(json!({"late": true}))
        }
        "/flaky" if hits <= 2 => unavailable(),
        "/flaky" => json_answer(json!({"hits": hits})),
        "/unavailable" => unavailable(),
        "/throttled" if hits == 1 => answer(
            StatusCode::TOO_MANY_REQUESTS,
            &[("retry-after", "1")],
            "slow down",
        ),
        "/throttled" => json_answer(json!({"hits": hits})),
        "/missing" => answer(StatusCode::NOT_FOUND, &[], "no such endpoint"),
        "/bad" => answer(
            StatusCode::BAD_REQUEST,
            &[],
            format!(
                "bad input: city is required {}{LONG_ERROR_TAIL}",
                "x".repeat(1000)
            ),
        ),
        "/huge" => {
            let guard = Hangup(state.clone());
            let chunk = Bytes::from(vec![b'7'; HUGE_CHUNK]);
            let stream = futures::stream::unfold((0, guard), move |(i, guard)| {
                let chunk = chunk.clone();
                async move {
                    if i == HUGE_CHUNKS {
                        guard.0.huge_finished.store(true, Ordering::SeqCst);
                        return None;
                    }
                    guard.0.huge_sent.fetch_add(chunk.len(), Ordering::SeqCst);
                    Some((Ok::<_, Infallible>(chunk), (i + 1, guard)))
                }
            });
            answer(
                StatusCode::OK,
                &[("content-type", "application/json")],
                Body::from_stream(stream),
            )
        }
        "/text" => answer(
            StatusCode::OK,
            &[("content-type", "text/plain")],
            "not json",
        ),
        "/empty" => answer(StatusCode::NO_CONTENT, &[], Body::empty()),
        "/redirect" => answer(StatusCode::FOUND, &[("location", "/target")], ""),
        "/target" => json_answer(json!({"followed": true})),
        _ => answer(StatusCode::NOT_FOUND, &[], "unknown test path"),
    }
}

/// An http tool named `remote` posting to `url`; `extra` adds keys (one per line).
fn spec(url: &str, extra: &str) -> ToolSpec {
    let text = format!(
        "version = 1\n[[tools]]\nname = \"remote\"\ndescription = \"test\"\nkind = \"http\"\n\
         url = \"{url}\"\ntimeout_s = 10\nmemory_mb = 128\nbatch_size = 1\nmax_concurrency = 2\n\
         max_receive_count = 5\n{extra}\n"
    );
    Catalog::parse(&text).unwrap().tools()[0].clone()
}

fn tool(url: &str) -> HttpTool {
    HttpTool::new(&spec(url, ""), None).unwrap()
}

fn context(budget: Duration) -> ToolContext {
    ToolContext::new(&ulid::Ulid::generate().to_string(), "conv-1", budget)
}

const BUDGET: Duration = Duration::from_secs(10);

async fn run(tool: &HttpTool, arguments: Value) -> Result<Value, ToolFailure> {
    tool.run(arguments, context(BUDGET)).await
}

fn header<'a>(seen: &'a Seen, name: &str) -> Option<&'a str> {
    seen.headers.get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_the_arguments_with_the_task_headers_and_returns_the_answer() {
    let server = Server::start().await;
    let tool = tool(&server.url("/ok"));
    let arguments = json!({"city": "Zürich", "n": [1, 2, {"deep": null}]});
    let ctx = context(BUDGET);
    let task_id = ctx.task_id.clone();
    let result = tool.run(arguments.clone(), ctx).await.unwrap();
    assert_eq!(result, json!({"answer": 42, "echo": arguments}));

    let seen = server.state.requests_to("/ok");
    assert_eq!(seen.len(), 1);
    let seen = &seen[0];
    let body: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(body, arguments, "the body is the arguments");
    assert_eq!(header(seen, "content-type"), Some("application/json"));
    assert_eq!(header(seen, "accept"), Some("application/json"));
    assert_eq!(header(seen, "idempotency-key"), Some(task_id.as_str()));
    assert_eq!(header(seen, "x-asynctools-task-id"), Some(task_id.as_str()));
    assert_eq!(header(seen, "x-asynctools-conversation-id"), Some("conv-1"));
    assert_eq!(
        header(seen, "authorization"),
        None,
        "no auth_secret, no header"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_is_timed_out_within_the_budget() {
    let server = Server::start().await;
    let tool = tool(&server.url("/slow"));
    let started = Instant::now();
    let failure = tool
        .run(json!({}), context(Duration::from_millis(500)))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(failure.timed_out, "{failure:?}");
    assert!(
        failure.message.contains(&server.url("/slow")),
        "{failure:?}"
    );
    assert!(
        failure.message.contains(" ms"),
        "names the elapsed time: {failure:?}"
    );
    assert!(took >= Duration::from_millis(450), "{took:?}");
    assert!(took < SLOW / 2, "did not wait for the answer: {took:?}");
    assert_eq!(server.hits("/slow"), 1, "no retry once the budget is spent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_503_with_the_same_idempotency_key_until_it_succeeds() {
    let server = Server::start().await;
    let tool = tool(&server.url("/flaky"));
    let ctx = context(BUDGET);
    let task_id = ctx.task_id.clone();
    let started = Instant::now();
    let result = tool.run(json!({"q": 1}), ctx).await.unwrap();
    assert_eq!(result, json!({"hits": 3}), "succeeded on attempt 3");
    assert_eq!(server.hits("/flaky"), 3);
    // Backoff 200 ms then 400 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(550),
        "{:?}",
        started.elapsed()
    );
    for seen in server.state.requests_to("/flaky") {
        assert_eq!(header(&seen, "idempotency-key"), Some(task_id.as_str()));
        assert_eq!(
            serde_json::from_slice::<Value>(&seen.body).unwrap(),
            json!({"q": 1})
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_503_fails_after_exactly_max_attempts() {
    let server = Server::start().await;
    for (extra, attempts) in [("", 3), ("max_attempts = 4", 4), ("max_attempts = 1", 1)] {
        let before = server.hits("/unavailable");
        let tool = HttpTool::new(&spec(&server.url("/unavailable"), extra), None).unwrap();
        let failure = run(&tool, json!({})).await.unwrap_err();
        assert!(!failure.timed_out, "{failure:?}");
        assert!(failure.message.contains("503"), "{failure:?}");
        assert!(
            failure
                .message
                .contains(&format!("after {attempts} attempts")),
            "{failure:?}"
        );
        assert_eq!(server.hits("/unavailable") - before, attempts, "{extra:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_when_it_fits_the_budget() {
    let server = Server::start().await;
    let tool = tool(&server.url("/throttled"));
    let started = Instant::now();
    let result = run(&tool, json!({})).await.unwrap();
    let took = started.elapsed();
    assert_eq!(result, json!({"hits": 2}));
    assert_eq!(server.hits("/throttled"), 2);
    assert!(
        took >= Duration::from_millis(900),
        "waited for Retry-After: 1, took {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_past_the_budget_gives_up_at_once_naming_the_status() {
    let server = Server::start().await;
    let tool = tool(&server.url("/throttled"));
    let started = Instant::now();
    let failure = tool
        .run(json!({}), context(Duration::from_millis(700)))
        .await
        .unwrap_err();
    assert!(!failure.timed_out, "{failure:?}");
    assert!(failure.message.contains("429"), "{failure:?}");
    assert!(failure.message.contains("budget"), "{failure:?}");
    assert_eq!(server.hits("/throttled"), 1, "no second attempt");
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "did not sleep through the budget"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_client_errors_are_not_retried() {
    let server = Server::start().await;
    let failure = run(&tool(&server.url("/missing")), json!({}))
        .await
        .unwrap_err();
    assert!(failure.message.contains("404"), "{failure:?}");
    assert!(failure.message.contains("no such endpoint"), "{failure:?}");
    assert_eq!(server.hits("/missing"), 1);

    let failure = run(&tool(&server.url("/bad")), json!({}))
        .await
        .unwrap_err();
    assert!(!failure.timed_out);
    assert!(failure.message.contains("400 Bad Request"), "{failure:?}");
    assert!(
        failure.message.contains("bad input: city is required"),
        "{failure:?}"
    );
    assert!(
        !failure.message.contains(LONG_ERROR_TAIL),
        "only the body's first 300 chars: {}",
        failure.message.len()
    );
    assert!(failure.message.len() < 600, "{}", failure.message.len());
    assert_eq!(server.hits("/bad"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_answer_fails_and_is_not_read_to_its_end() {
    let server = Server::start().await;
    let tool = tool(&server.url("/huge"));
    let failure = run(&tool, json!({})).await.unwrap_err();
    assert!(!failure.timed_out, "{failure:?}");
    assert!(failure.result_too_large, "{failure:?}");
    assert!(
        failure
            .message
            .contains(&format!("more than {MAX_TOOL_ANSWER_BYTES} bytes")),
        "{failure:?}"
    );
    assert_eq!(server.hits("/huge"), 1, "not retried");
    // The tool hung up: the server's body stream is dropped before its end.
    let state = &server.state;
    assert!(
        common::eventually(Duration::from_secs(10), || async {
            state.huge_dropped.load(Ordering::SeqCst)
        })
        .await,
        "the server never noticed the client hang up"
    );
    assert!(
        !state.huge_finished.load(Ordering::SeqCst),
        "the whole body was sent: the tool read it all"
    );
    let sent = state.huge_sent.load(Ordering::SeqCst);
    assert!(sent < HUGE_CHUNK * HUGE_CHUNKS, "{sent}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_is_not_json_fails() {
    let server = Server::start().await;
    let failure = run(&tool(&server.url("/text")), json!({}))
        .await
        .unwrap_err();
    assert!(failure.message.contains("not JSON"), "{failure:?}");
    assert!(
        failure.message.contains("not json"),
        "quotes the body: {failure:?}"
    );
    let failure = run(&tool(&server.url("/empty")), json!({}))
        .await
        .unwrap_err();
    assert!(failure.message.contains("204"), "{failure:?}");
    assert!(failure.message.contains("no JSON"), "{failure:?}");
    assert_eq!((server.hits("/text"), server.hits("/empty")), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed() {
    let server = Server::start().await;
    let failure = run(&tool(&server.url("/redirect")), json!({}))
        .await
        .unwrap_err();
    assert!(failure.message.contains("302"), "{failure:?}");
    assert!(failure.message.contains("not followed"), "{failure:?}");
    assert!(failure.message.contains("/target"), "{failure:?}");
    assert_eq!(server.hits("/redirect"), 1);
    assert_eq!(server.hits("/target"), 0, "the redirect was followed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_retried_then_fails() {
    // A port nobody listens on (just released by this test).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tool = tool(&format!("http://127.0.0.1:{port}/ok"));
    let started = Instant::now();
    let failure = run(&tool, json!({})).await.unwrap_err();
    assert!(!failure.timed_out, "{failure:?}");
    assert!(failure.message.contains("could not connect"), "{failure:?}");
    assert!(failure.message.contains("after 3 attempts"), "{failure:?}");
    // Two waits between three attempts: 200 ms and 400 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(550),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_stops_at_once() {
    let server = Server::start().await;
    let tool = tool(&server.url("/slow"));
    let ctx = context(Duration::from_secs(30));
    let token = ctx.cancelled.clone();
    let started = Instant::now();
    let run = tokio::spawn(async move { tool.run(json!({}), ctx).await });
    assert!(
        common::eventually(Duration::from_secs(5), || async {
            server.hits("/slow") == 1
        })
        .await,
        "the request reached the server"
    );
    token.cancel();
    let failure = run.await.unwrap().unwrap_err();
    assert!(failure.message.contains("cancelled"), "{failure:?}");
    assert!(!failure.timed_out);
    assert!(started.elapsed() < SLOW / 2, "{:?}", started.elapsed());
}

#[test]
fn arguments_are_checked_against_the_input_schema() {
    let with_schema = spec(
        "https://geo.example.com/lookup",
        r#"input_schema = { type = "object", properties = { city = { type = "string" } }, required = ["city"] }"#,
    );
    let tool = HttpTool::new(&with_schema, None).unwrap();
    tool.check_arguments(&json!({"city": "Bern"})).unwrap();
    let wrong = tool.check_arguments(&json!({"city": 5})).unwrap_err();
    assert_eq!(wrong.field, "arguments.city", "{wrong:?}");
    let missing = tool.check_arguments(&json!({})).unwrap_err();
    assert!(missing.message.contains("city"), "{missing:?}");
    for not_object in [json!([1]), json!("city"), json!(null)] {
        let err = tool.check_arguments(&not_object).unwrap_err();
        assert_eq!(err.field, "arguments");
        assert!(err.message.contains("JSON object"), "{err:?}");
    }
    // Without a schema, any object goes.
    let plain = HttpTool::new(&spec("https://geo.example.com/lookup", ""), None).unwrap();
    plain.check_arguments(&json!({"anything": [1]})).unwrap();
    assert!(plain.check_arguments(&json!(1)).is_err());
}

#[test]
fn a_secret_needs_an_aws_configuration() {
    let with_secret = spec(
        "https://geo.example.com/lookup",
        "auth_secret = \"geo/key\"",
    );
    let err = HttpTool::new(&with_secret, None).err().unwrap();
    assert_eq!(err.field, "tools.remote.auth_secret");
}

/// Takes the next message off `tool`'s work queue and has a worker handle it.
async fn handle_one(backend: &Backend, tools: &ToolBox, tool: &str) {
    let worker = backend
        .worker(tool, tools, WorkerSettings::new("http-test-worker"))
        .unwrap();
    let message = backend.work_queues[tool]
        .receive(1, Duration::from_secs(2), None)
        .await
        .unwrap()
        .pop()
        .expect("a work message");
    let delivery = Delivery {
        message_id: message.message_id,
        body: message.body,
        receive_count: message.receive_count,
        receipt_handle: Some(message.receipt_handle),
    };
    worker.handle(&delivery, None).await;
}

async fn record(backend: &Backend, task_id: &str) -> TaskRecord {
    backend
        .store
        .get(task_id)
        .await
        .unwrap()
        .expect("the task exists")
}

fn catalog_entry(name: &str, url: &str, timeout_s: u32, extra: &str) -> String {
    format!(
        "[[tools]]\nname = \"{name}\"\ndescription = \"test\"\nkind = \"http\"\nurl = \"{url}\"\n\
         timeout_s = {timeout_s}\nmemory_mb = 128\nbatch_size = 1\nmax_concurrency = 2\n\
         max_receive_count = 5\n{extra}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_pipeline_tasks_succeed_fail_and_time_out() {
    let server = Server::start().await;
    let text = format!(
        "version = 1\n{}{}{}",
        catalog_entry("geo", &server.url("/ok"), 5, ""),
        catalog_entry("missing", &server.url("/missing"), 5, ""),
        catalog_entry("slow", &server.url("/slow"), 1, ""),
    );
    let catalog = Arc::new(Catalog::parse(&text).unwrap());
    let backend = Backend::in_memory(catalog.clone());
    let tools = workers::tools::for_catalog(&catalog, None).await.unwrap();
    let dispatcher = backend
        .dispatcher(tools.clone(), DispatcherSettings::default())
        .unwrap();
    // Refused at submit time, before anything is queued.
    let refused = dispatcher
        .submit(
            &alice(),
            workers::TaskRequest::new("c1", "geo", json!(["not", "an", "object"])),
        )
        .await;
    assert!(refused.is_err());

    let ok = submit_as(&dispatcher, &alice(), "c1", "geo", json!({"city": "Bern"})).await;
    handle_one(&backend, &tools, "geo").await;
    let done = record(&backend, &ok).await;
    assert_eq!(done.status, TaskStatus::Succeeded, "{done:#?}");
    assert_eq!(
        done.result,
        Some(json!({"answer": 42, "echo": {"city": "Bern"}}))
    );
    let seen = server.state.requests_to("/ok");
    assert_eq!(seen.len(), 1);
    assert_eq!(header(&seen[0], "idempotency-key"), Some(ok.as_str()));
    assert_eq!(header(&seen[0], "x-asynctools-conversation-id"), Some("c1"));

    let missing = submit_as(&dispatcher, &alice(), "c1", "missing", json!({})).await;
    handle_one(&backend, &tools, "missing").await;
    let failed = record(&backend, &missing).await;
    assert_eq!(failed.status, TaskStatus::Failed, "{failed:#?}");
    assert!(
        failed.error.as_ref().unwrap().message.contains("404"),
        "{failed:#?}"
    );
    assert_eq!(server.hits("/missing"), 1);

    let slow = submit_as(&dispatcher, &alice(), "c1", "slow", json!({})).await;
    let started = Instant::now();
    handle_one(&backend, &tools, "slow").await;
    let timed_out = record(&backend, &slow).await;
    assert_eq!(timed_out.status, TaskStatus::TimedOut, "{timed_out:#?}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(started.elapsed() < SLOW / 2, "{:?}", started.elapsed());
}

async fn secrets_client(
    moto: &MotoServer,
) -> (aws_config::SdkConfig, aws_sdk_secretsmanager::Client) {
    let sdk = sdk_config(&AwsSettings::emulator(&moto.endpoint)).await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    (sdk, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_header_comes_from_the_secret_and_is_cached() {
    let Some(moto) = MotoServer::start_or_skip("the_authorization_header_comes_from_the_secret")
    else {
        return;
    };
    let (sdk, secrets) = secrets_client(&moto).await;
    let name = "asynctools-test/geo-key";
    secrets
        .create_secret()
        .name(name)
        .secret_string("Bearer first-s3cret\n")
        .send()
        .await
        .unwrap();
    let rotate = |value: &'static str| {
        let secrets = secrets.clone();
        async move {
            secrets
                .put_secret_value()
                .secret_id(name)
                .secret_string(value)
                .send()
                .await
                .unwrap();
        }
    };
    let server = Server::start().await;
    let with_secret = spec(&server.url("/ok"), &format!("auth_secret = \"{name}\""));
    let last_authorization = || {
        let seen = server.state.requests_to("/ok");
        header(seen.last().unwrap(), "authorization").map(str::to_string)
    };

    let cached = HttpTool::new(&with_secret, Some(&sdk)).unwrap();
    run(&cached, json!({})).await.unwrap();
    assert_eq!(
        last_authorization().as_deref(),
        Some("Bearer first-s3cret"),
        "exactly the secret (its trailing newline trimmed)"
    );
    rotate("Bearer second-s3cret").await;
    run(&cached, json!({})).await.unwrap();
    assert_eq!(
        last_authorization().as_deref(),
        Some("Bearer first-s3cret"),
        "cached for 5 minutes"
    );

    let uncached = HttpTool::new(&with_secret, Some(&sdk))
        .unwrap()
        .with_secret_cache_ttl(Duration::ZERO);
    run(&uncached, json!({})).await.unwrap();
    assert_eq!(
        last_authorization().as_deref(),
        Some("Bearer second-s3cret")
    );
    rotate("Bearer third-s3cret").await;
    run(&uncached, json!({})).await.unwrap();
    assert_eq!(
        last_authorization().as_deref(),
        Some("Bearer third-s3cret"),
        "a rotated secret is picked up once the cache expires"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_fails_the_task_naming_it() {
    let Some(moto) = MotoServer::start_or_skip("a_missing_secret_fails_the_task_naming_it") else {
        return;
    };
    let (sdk, secrets) = secrets_client(&moto).await;
    // Another secret exists: its value must not leak into the failure.
    secrets
        .create_secret()
        .name("asynctools-test/present")
        .secret_string("Bearer must-not-leak")
        .send()
        .await
        .unwrap();
    let server = Server::start().await;
    let missing = "asynctools-test/absent";
    let text = format!(
        "version = 1\n{}",
        catalog_entry(
            "geo",
            &server.url("/ok"),
            5,
            &format!("auth_secret = \"{missing}\"")
        )
    );
    let catalog = Arc::new(Catalog::parse(&text).unwrap());
    let backend = Backend::in_memory(catalog.clone());
    let tools = workers::tools::for_catalog(&catalog, Some(&sdk))
        .await
        .unwrap();
    let dispatcher = backend
        .dispatcher(tools.clone(), DispatcherSettings::default())
        .unwrap();
    let task_id = submit_as(&dispatcher, &alice(), "c1", "geo", json!({"city": "Bern"})).await;
    handle_one(&backend, &tools, "geo").await;
    let failed = record(&backend, &task_id).await;
    assert_eq!(failed.status, TaskStatus::Failed, "{failed:#?}");
    let message = &failed.error.as_ref().unwrap().message;
    assert!(message.contains(missing), "{message}");
    assert!(!message.contains("must-not-leak"), "{message}");
    assert_eq!(
        server.hits("/ok"),
        0,
        "no request without its Authorization header"
    );
}
