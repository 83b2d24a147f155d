//! Shared test support: backends (memory and moto), a test catalog with short timeouts, owners,
//! instrumented tools (execution counts, cancellation probes), and waiting helpers.
#![allow(dead_code)]

use async_trait::async_trait;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use workers::aws::{AwsSettings, ProvisionOptions, provision, sdk_config};
use workers::delivery::VecSink;
use workers::poller::{PoolOptions, WorkerPool};
use workers::testkit::MotoServer;
use workers::tools::{Synthetic, Tool, ToolContext, ToolFailure};
use workers::{
    Backend, Caller, Catalog, InputError, ResultMessage, ResultRouter, TaskRecord, TaskRequest,
};

/// The built-in tool names with short timeouts, so leases and visibility timeouts are seconds.
/// `research` (10 s, batch size 1) is the slot tests fill with long-running or probing tools.
pub const TEST_CATALOG: &str = r#"
version = 1
[[tools]]
name = "sentiment"
description = "test"
timeout_s = 5
memory_mb = 128
batch_size = 10
max_concurrency = 4
max_receive_count = 5
[[tools]]
name = "research"
description = "test"
timeout_s = 10
memory_mb = 128
batch_size = 1
max_concurrency = 4
max_receive_count = 5
[[tools]]
name = "synthetic"
description = "test"
timeout_s = 1
memory_mb = 128
batch_size = 10
max_concurrency = 4
max_receive_count = 5
"#;

/// Work queues' default visibility timeout in the tests. Workers hide what they receive for their
/// `recovery_ms` instead, so this only matters for receives without an override.
pub const TEST_VISIBILITY_S: u32 = 2;
/// The recovery period of the tests about crashes and heartbeats: a crashed worker's task comes
/// back after this long.
pub const TEST_RECOVERY_MS: u64 = 600;
/// The recovery period of the other tests' pools. Leases, visibility and the publishing window are
/// this long; 600 ms is too short for a loaded moto (a batch's calls can take longer, its messages
/// come back while still being handled, and results are published twice: harmless, but not what
/// those tests check).
pub const STEADY_RECOVERY_MS: u64 = 3_000;

/// The two principals of the owner tests.
pub const ALICE: &str = "local:alice";
pub const BOB: &str = "arn:aws:iam::123456789012:user/bob";
pub const DEFAULT_CONSUMER: &str = "default";

pub fn alice() -> Caller {
    Caller::new(ALICE).unwrap()
}

pub fn bob() -> Caller {
    Caller::new(BOB).unwrap()
}

pub fn test_catalog() -> Arc<Catalog> {
    Arc::new(Catalog::parse(TEST_CATALOG).expect("the test catalog is valid"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Memory,
    Moto,
}

/// A backend and whatever keeps it alive.
pub struct Harness {
    pub backend: Backend,
    pub kind: Kind,
}

/// What a harness is made with.
#[derive(Debug, Clone)]
pub struct HarnessOptions {
    /// Reply queues (memory makes any on first use; moto gets exactly these).
    pub consumers: Vec<String>,
    pub work_visibility_s: u32,
}

impl Default for HarnessOptions {
    fn default() -> Self {
        HarnessOptions {
            consumers: vec![DEFAULT_CONSUMER.to_string()],
            work_visibility_s: TEST_VISIBILITY_S,
        }
    }
}

/// A memory store that never drops a record, as moto never does: the shared suites write records
/// dated 1970 (`created_at_ms` 1_000) and compare what they read back. The memory store's expiry
/// and limits have their own tests (`memory::store`, `tests/memory_soak.rs`).
pub fn never_expiring_store() -> workers::memory::MemoryStoreSettings {
    workers::memory::MemoryStoreSettings {
        clock: workers::FakeClock::at(0),
        retention: None,
        ..Default::default()
    }
}

/// `None` when moto is not installed and not required (the test then returns early).
pub async fn harness(kind: Kind, test: &str) -> Option<Harness> {
    harness_with(kind, test, HarnessOptions::default()).await
}

pub async fn harness_with(kind: Kind, test: &str, options: HarnessOptions) -> Option<Harness> {
    let catalog = test_catalog();
    match kind {
        Kind::Memory => Some(Harness {
            backend: Backend::in_memory_configured(
                catalog,
                workers::MemorySettings {
                    store: never_expiring_store(),
                    work_visibility_timeout: Some(Duration::from_secs(u64::from(
                        options.work_visibility_s,
                    ))),
                },
            )
            .unwrap(),
            kind,
        }),
        Kind::Moto => {
            let moto = MotoServer::shared(test)?;
            let sdk = sdk_config(&AwsSettings::emulator(&moto.endpoint)).await;
            let provision_options = ProvisionOptions {
                work_visibility_timeout_s: Some(options.work_visibility_s),
                consumers: options.consumers.clone(),
                ..ProvisionOptions::new(format!("T{}", ulid::Ulid::generate()))
            };
            let resources = provision(&sdk, &catalog, &provision_options)
                .await
                .expect("provisioning the test stack on moto");
            let backend = Backend::aws(&sdk, &resources, catalog).expect("a backend on moto");
            Some(Harness { backend, kind })
        }
    }
}

/// A local worker pool for `tool` with the steady recovery period.
pub fn pool_for(
    backend: &Backend,
    tools: &workers::ToolBox,
    tool: &str,
    worker_id: &str,
    concurrency: usize,
) -> WorkerPool {
    let mut options = PoolOptions::new(worker_id);
    options.concurrency = Some(concurrency);
    options.wait = Duration::from_secs(1);
    options.recovery_ms = Some(STEADY_RECOVERY_MS);
    WorkerPool::start(backend, tools, &[tool.to_string()], &options).unwrap()
}

pub fn pool(
    backend: &Backend,
    tools: &workers::ToolBox,
    worker_id: &str,
    concurrency: usize,
) -> WorkerPool {
    pool_for(backend, tools, "synthetic", worker_id, concurrency)
}

/// Runs `synthetic` and counts executions per task id; can block its first `hang_first` runs forever
/// (ignoring cancellation, like a stuck call).
#[derive(Default)]
pub struct Counting {
    pub runs: Mutex<HashMap<String, u32>>,
    pub total: AtomicU64,
    pub hang_first: AtomicU64,
}

impl Counting {
    pub fn runs_of(&self, task_id: &str) -> u32 {
        self.runs.lock().unwrap().get(task_id).copied().unwrap_or(0)
    }
}

#[async_trait]
impl Tool for Counting {
    fn check_arguments(&self, arguments: &Value) -> Result<(), InputError> {
        Synthetic.check_arguments(arguments)
    }

    async fn run(&self, arguments: Value, context: ToolContext) -> Result<Value, ToolFailure> {
        *self
            .runs
            .lock()
            .unwrap()
            .entry(context.task_id.clone())
            .or_default() += 1;
        self.total.fetch_add(1, Ordering::SeqCst);
        let hang = self
            .hang_first
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if hang {
            std::future::pending::<()>().await;
        }
        Synthetic.run(arguments, context).await
    }
}

/// Waits for its context's cancellation token (never finishing on its own), and records that it saw
/// it; then returns a result, which the pipeline must discard.
#[derive(Default)]
pub struct AwaitsCancel {
    pub started: AtomicU64,
    pub saw_cancel: AtomicBool,
}

#[async_trait]
impl Tool for AwaitsCancel {
    fn check_arguments(&self, _arguments: &Value) -> Result<(), InputError> {
        Ok(())
    }

    async fn run(&self, _arguments: Value, context: ToolContext) -> Result<Value, ToolFailure> {
        self.started.fetch_add(1, Ordering::SeqCst);
        context.cancelled.cancelled().await;
        self.saw_cancel.store(true, Ordering::SeqCst);
        Ok(json!({"late": "this result must be discarded"}))
    }
}

/// Blocks until `release` is notified (or forever), counting runs.
#[derive(Default)]
pub struct Gate {
    pub runs: AtomicU64,
    pub release: tokio::sync::Notify,
}

#[async_trait]
impl Tool for Gate {
    fn check_arguments(&self, _arguments: &Value) -> Result<(), InputError> {
        Ok(())
    }

    async fn run(&self, arguments: Value, _context: ToolContext) -> Result<Value, ToolFailure> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        self.release.notified().await;
        Ok(json!({ "echo": arguments }))
    }
}

/// Polls `check` every 50 ms until it holds or `limit` passes; returns whether it held.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn get(backend: &Backend, task_id: &str) -> TaskRecord {
    backend
        .store
        .get(task_id)
        .await
        .unwrap()
        .expect("the task exists")
}

pub async fn wait_for(
    backend: &Backend,
    task_id: &str,
    limit: Duration,
    done: impl Fn(&TaskRecord) -> bool,
) -> TaskRecord {
    let reached = eventually(limit, || async { done(&get(backend, task_id).await) }).await;
    let record = get(backend, task_id).await;
    assert!(
        reached,
        "task did not reach the expected state in {limit:?}: {record:#?}"
    );
    record
}

/// Terminal and its result on the reply queue.
pub fn finished(r: &TaskRecord) -> bool {
    r.status.is_terminal() && r.result_published
}

pub async fn submit_as(
    dispatcher: &workers::Dispatcher,
    caller: &Caller,
    conversation: &str,
    tool: &str,
    arguments: Value,
) -> String {
    dispatcher
        .submit(caller, TaskRequest::new(conversation, tool, arguments))
        .await
        .unwrap()
        .task_id
}

/// Every raw message on `consumer`'s reply queue now (deleting them), until a receive comes back
/// empty: what was published, before any router dedupes it.
pub async fn drain_raw(backend: &Backend, consumer: &str) -> Vec<ResultMessage> {
    let queue = backend.replies.queue(consumer).unwrap();
    let mut out = Vec::new();
    loop {
        let got = queue
            .receive(10, Duration::from_secs(1), None)
            .await
            .unwrap();
        if got.is_empty() {
            return out;
        }
        for m in got {
            out.push(ResultMessage::parse(&m.body).unwrap());
            queue.delete(&m.receipt_handle).await.unwrap();
        }
    }
}

/// Polls `router` until `count` results were handed over (panics after `limit`).
pub async fn route_until(
    router: &mut ResultRouter,
    count: usize,
    limit: Duration,
) -> Vec<ResultMessage> {
    let start = Instant::now();
    let mut sink = VecSink::default();
    while sink.0.len() < count {
        assert!(
            start.elapsed() < limit,
            "got {} of {count} results in {limit:?}: {:?}",
            sink.0.len(),
            router.stats
        );
        router
            .poll(&mut sink, Duration::from_millis(500))
            .await
            .unwrap();
    }
    sink.0
}

pub async fn work_queue_is_empty(backend: &Backend, tool: &str) -> bool {
    let d = backend.work_queues[tool].depth().await.unwrap();
    d.visible == 0 && d.in_flight == 0
}

/// Runs each named `async fn(Harness)` as two tests, `memory::<name>` and `moto::<name>` (the
/// latter skipped without moto unless ASYNCTOOLS_REQUIRE_MOTO=1). The test file must have
/// `harness` and `Kind` in scope (`use common::*`).
#[allow(unused_macros)]
macro_rules! on_every_backend {
    ($($test:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let h = super::harness(super::Kind::Memory, stringify!($test)).await.unwrap();
                    super::$test(h).await;
                }
            )*
        }
        mod moto {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let Some(h) = super::harness(super::Kind::Moto, stringify!($test)).await else { return };
                    super::$test(h).await;
                }
            )*
        }
    };
}
