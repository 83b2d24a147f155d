//! Shared by the integration tests: an MCP server on 127.0.0.1 over the memory backend or moto,
//! MCP clients, and the stored tasks.
#![allow(dead_code)]

use mcp::{HttpOptions, Principals, RunningServer, Runtime, RuntimeOptions};
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, ServiceExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use workers::aws::{AwsSettings, ProvisionOptions, provision, sdk_config};
use workers::poller::PoolOptions;
use workers::testkit::MotoServer;
use workers::{Backend, Caller, Catalog};

pub const PRINCIPAL: &str = "local:tester";
/// Tests that act as several callers name them in this header (`Principals::TrustedHeader`).
pub const PRINCIPAL_HEADER: &str = "x-asynctools-principal";

pub struct Stack {
    pub runtime: Runtime,
    pub server: RunningServer,
    pub principal: Caller,
    created: Arc<std::sync::Mutex<Vec<String>>>,
    /// Keeps the emulator alive for moto stacks.
    pub _moto: Option<MotoServer>,
}

impl Stack {
    pub fn url(&self) -> &str {
        &self.server.url
    }

    pub fn backend(&self) -> &Backend {
        &self.runtime.backend
    }

    pub async fn stop(self) {
        self.server.shutdown().await.expect("server shutdown");
        self.runtime.stop().await;
    }

    /// Stops the server (its workers finish what they hold) but keeps the emulator, for a restart.
    pub async fn stop_keeping_moto(self) -> (Backend, MotoServer) {
        let backend = self.runtime.backend.clone();
        let moto = self._moto.expect("a moto stack");
        self.server.shutdown().await.expect("server shutdown");
        self.runtime.stop().await;
        (backend, moto)
    }

    /// The tasks stored for `principal`, in creation order (every task the server created, as
    /// the store wrapper saw them).
    pub async fn stored(&self, principal: &str) -> Vec<workers::TaskRecord> {
        let ids = self.created.lock().unwrap().clone();
        let mut tasks = Vec::new();
        for id in ids {
            if let Some(record) = self.backend().store.get(&id).await.unwrap()
                && record.owner == principal
            {
                tasks.push(record);
            }
        }
        tasks
    }
}

/// The backend's store, noting the id of every task created through it.
struct NotingStore {
    created: Arc<std::sync::Mutex<Vec<String>>>,
}

#[async_trait::async_trait]
impl workers::testkit::StoreHook for NotingStore {
    async fn create(
        &self,
        inner: &dyn workers::ports::TaskStore,
        record: &workers::TaskRecord,
    ) -> Result<workers::ports::CreateOutcome, workers::StoreError> {
        let outcome = inner.create(record).await?;
        if outcome == workers::ports::CreateOutcome::Created {
            self.created.lock().unwrap().push(record.task_id.clone());
        }
        Ok(outcome)
    }
}

fn fast_workers() -> PoolOptions {
    let mut pool = PoolOptions::new("mcp-test");
    pool.wait = Duration::from_millis(200);
    pool.recovery_ms = Some(1_000);
    pool
}

pub fn options(principals: Principals) -> RuntimeOptions {
    let mut options = RuntimeOptions::local(Caller::new(PRINCIPAL).unwrap());
    options.principals = principals;
    options.local_workers = Some(fast_workers());
    options.settings.timing.poll_interval_ms = 50;
    options.settings.progress_every = Duration::from_millis(500);
    options
}

pub async fn memory_stack_with(options: RuntimeOptions) -> Stack {
    let backend = Backend::in_memory(Arc::new(Catalog::embedded().clone()));
    start(backend, options, None).await
}

/// A memory stack whose HTTP options `adjust` changes.
pub async fn memory_stack_with_http(
    options: RuntimeOptions,
    adjust: impl FnOnce(&mut HttpOptions),
) -> Stack {
    let backend = Backend::in_memory(Arc::new(Catalog::embedded().clone()));
    let mut http = HttpOptions::loopback(0);
    adjust(&mut http);
    start_with(backend, options, None, http).await
}

pub async fn memory_stack() -> Stack {
    memory_stack_with(options(Principals::Fixed(Caller::new(PRINCIPAL).unwrap()))).await
}

/// A stack on a fresh moto server (tables, work queues, and the `default` and `mcp` consumers'
/// reply queues), or `None` with a skip note when moto is not installed.
pub async fn moto_stack(test: &str) -> Option<Stack> {
    moto_stack_with(test, false).await
}

/// As `moto_stack`, served statelessly (as the Lambda function serves) when `stateless`.
pub async fn moto_stack_with(test: &str, stateless: bool) -> Option<Stack> {
    moto_stack_adjusted(test, stateless, |_| {}).await
}

/// As `moto_stack_with`, its runtime options changed by `adjust`.
pub async fn moto_stack_adjusted(
    test: &str,
    stateless: bool,
    adjust: impl FnOnce(&mut RuntimeOptions),
) -> Option<Stack> {
    let moto = MotoServer::start_or_skip(test)?;
    let catalog = Arc::new(Catalog::embedded().clone());
    let sdk = sdk_config(&AwsSettings::emulator(&moto.endpoint)).await;
    let provision_options = ProvisionOptions {
        work_visibility_timeout_s: Some(5),
        consumers: vec!["default".into(), mcp::server::DEFAULT_CONSUMER.into()],
        ..ProvisionOptions::new("McpTest")
    };
    let resources = provision(&sdk, &catalog, &provision_options)
        .await
        .expect("provisioning on moto");
    let backend = Backend::aws(&sdk, &resources, catalog).expect("aws backend");
    let mut options = options(Principals::Fixed(Caller::new(PRINCIPAL).unwrap()));
    options.settings.push_statuses = !stateless;
    adjust(&mut options);
    let mut http = HttpOptions::loopback(0);
    http.stateless = stateless;
    Some(start_with(backend, options, Some(moto), http).await)
}

/// A memory stack served as the Lambda function serves: stateless, no pushes.
pub async fn memory_stack_stateless() -> Stack {
    memory_stack_adjusted(true, |_| {}).await
}

/// A memory stack, served statelessly (no pushes) when `stateless`, its runtime options changed by
/// `adjust`.
pub async fn memory_stack_adjusted(
    stateless: bool,
    adjust: impl FnOnce(&mut RuntimeOptions),
) -> Stack {
    let mut options = options(Principals::Fixed(Caller::new(PRINCIPAL).unwrap()));
    options.settings.push_statuses = !stateless;
    adjust(&mut options);
    let backend = Backend::in_memory(Arc::new(Catalog::embedded().clone()));
    let mut http = HttpOptions::loopback(0);
    http.stateless = stateless;
    start_with(backend, options, None, http).await
}

async fn start(backend: Backend, options: RuntimeOptions, moto: Option<MotoServer>) -> Stack {
    start_with(backend, options, moto, HttpOptions::loopback(0)).await
}

async fn start_with(
    mut backend: Backend,
    options: RuntimeOptions,
    moto: Option<MotoServer>,
    http: HttpOptions,
) -> Stack {
    let created = Arc::new(std::sync::Mutex::new(Vec::new()));
    backend.store = Arc::new(workers::testkit::Hooked::new(
        backend.store.clone(),
        NotingStore {
            created: created.clone(),
        },
    ));
    let principal = match &options.principals {
        Principals::Fixed(caller) => caller.clone(),
        Principals::TrustedHeader(_) => Caller::new(PRINCIPAL).unwrap(),
    };
    let runtime = Runtime::start(backend, options).expect("runtime");
    let server = mcp::serve_http(runtime.door.clone(), http)
        .await
        .expect("listening");
    Stack {
        runtime,
        server,
        principal,
        created,
        _moto: moto,
    }
}

/// A new server (and workers) on the backend of a stopped one.
pub async fn restart_on(backend: Backend, moto: MotoServer) -> Stack {
    let options = options(Principals::Fixed(Caller::new(PRINCIPAL).unwrap()));
    start(backend, options, Some(moto)).await
}

/// Opens an MCP session by hand (2025-11-25 `initialize`, then `notifications/initialized`) as
/// `principal` (in the principal header); its session id.
pub async fn raw_session(url: &str, principal: Option<&str>) -> String {
    let http = reqwest::Client::new();
    let mut request = http
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .json(
            &serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"}}}),
        );
    if let Some(principal) = principal {
        request = request.header(PRINCIPAL_HEADER, principal);
    }
    let response = request.send().await.expect("initialize");
    let session = response
        .headers()
        .get("mcp-session-id")
        .expect("a session id")
        .to_str()
        .unwrap()
        .to_string();
    let _ = response.text().await;
    raw_post(
        url,
        &session,
        principal,
        serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    session
}

/// Posts one JSON-RPC message on a session; the answer's JSON-RPC message, if it has one (an SSE
/// event's data or a JSON body).
pub async fn raw_post(
    url: &str,
    session: &str,
    principal: Option<&str>,
    message: serde_json::Value,
) -> Option<serde_json::Value> {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-11-25")
        .json(&message);
    if let Some(principal) = principal {
        request = request.header(PRINCIPAL_HEADER, principal);
    }
    let text = request.send().await.expect("post").text().await.unwrap();
    let json = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .find(|d| d.starts_with('{'))
        .unwrap_or(text.trim());
    serde_json::from_str(json).ok()
}

pub fn tasks_client_config() -> ClientConfig {
    ClientConfig::new(
        ClientCapabilities::builder().enable_tasks().build(),
        Implementation::new("asynctools-mcp-tests", "0"),
    )
}

fn transport(url: &str, principal: Option<&str>) -> StreamableHttpClientTransport<reqwest::Client> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_string());
    if let Some(principal) = principal {
        config = config.custom_headers(HashMap::from([(
            http::HeaderName::from_static(PRINCIPAL_HEADER),
            http::HeaderValue::from_str(principal).unwrap(),
        )]));
    }
    StreamableHttpClientTransport::from_config(config)
}

/// An rmcp client (legacy `initialize` session) with the given handler and capabilities.
pub async fn client<H: ClientHandler>(
    handler: H,
    url: &str,
    principal: Option<&str>,
) -> RunningService<RoleClient, H> {
    handler
        .serve(transport(url, principal))
        .await
        .expect("MCP client connects")
}

/// The repository's Python venv (made by `make venv`), if fastmcp and fastmcp-tasks import in it.
/// With ASYNCTOOLS_REQUIRE_MOTO=1 (as `make test` sets) a missing one fails instead of skipping.
pub fn python_or_skip(test: &str) -> Option<std::path::PathBuf> {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    let usable = python.exists()
        && std::process::Command::new(&python)
            .args(["-c", "import fastmcp, fastmcp_tasks"])
            .output()
            .is_ok_and(|o| o.status.success());
    if usable {
        return Some(python);
    }
    let required = std::env::var("ASYNCTOOLS_REQUIRE_MOTO").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "{test}: {} with fastmcp and fastmcp-tasks not found (run `make venv`); \
         ASYNCTOOLS_REQUIRE_MOTO=1 makes this a failure",
        python.display()
    );
    eprintln!("{test}: SKIPPED (no .venv with fastmcp + fastmcp-tasks; run `make venv`)");
    None
}

/// A `tools/call` of `tool` with `arguments` (a JSON object).
pub fn call(
    tool: &'static str,
    arguments: serde_json::Value,
) -> rmcp::model::CallToolRequestParams {
    let serde_json::Value::Object(map) = arguments else {
        panic!("arguments must be an object")
    };
    rmcp::model::CallToolRequestParams::new(tool).with_arguments(map)
}

/// Calls a tool as a task; the task, and how long the acknowledgement took.
pub async fn start_task<S: rmcp::Service<RoleClient>>(
    client: &RunningService<RoleClient, S>,
    params: rmcp::model::CallToolRequestParams,
) -> (rmcp::model::Task, Duration) {
    let sent = std::time::Instant::now();
    let response = client.call_tool_once(params).await.expect("tools/call");
    let elapsed = sent.elapsed();
    match response {
        rmcp::model::CallToolResponse::Task(created) => (created.task, elapsed),
        other => panic!("expected a task, got {other:?}"),
    }
}

/// Polls `tasks/get` every `poll` until the task is terminal (panics after `limit`).
pub async fn wait_terminal<S: rmcp::Service<RoleClient>>(
    client: &RunningService<RoleClient, S>,
    task_id: &str,
    poll: Duration,
    limit: Duration,
) -> rmcp::model::DetailedTask {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let current = client
            .peer()
            .get_task(rmcp::model::GetTaskParams::new(task_id))
            .await
            .expect("tasks/get")
            .task;
        if current.status().is_terminal() {
            return current;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "task {task_id} did not finish"
        );
        tokio::time::sleep(poll).await;
    }
}
