//! Shared test support: backends (memory and moto), a test catalog with short timeouts, and an
//! instrumented tool that counts executions per task.
#![allow(dead_code)]

use async_trait::async_trait;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use workers::testkit::{MotoServer, provision_backend};
use workers::tools::{Synthetic, Tool, ToolContext, ToolFailure};
use workers::{Backend, Catalog, InputError};

/// The built-in tool names with short timeouts, so leases and visibility timeouts are seconds.
pub const TEST_CATALOG: &str = r#"
version = 1
[[tools]]
name = "sentiment"
description = "test"
timeout_s = 5
memory_mb = 128
batch_size = 10
max_concurrency = 4
max_receive_count = 3
[[tools]]
name = "research"
description = "test"
timeout_s = 5
memory_mb = 128
batch_size = 1
max_concurrency = 2
max_receive_count = 3
[[tools]]
name = "synthetic"
description = "test"
timeout_s = 1
memory_mb = 128
batch_size = 10
max_concurrency = 4
max_receive_count = 3
"#;

/// Work queues' visibility timeout in the tests: above the synthetic tool's lease (1 s + 0.3 s margin).
pub const TEST_VISIBILITY_S: u32 = 2;
pub const TEST_LEASE_MARGIN_MS: u64 = 300;

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

/// `None` when moto is not installed and not required (the test then returns early).
pub async fn harness(kind: Kind, test: &str) -> Option<Harness> {
    let catalog = test_catalog();
    match kind {
        Kind::Memory => Some(Harness {
            backend: Backend::in_memory_with(
                catalog,
                Some(Duration::from_secs(u64::from(TEST_VISIBILITY_S))),
            ),
            kind,
        }),
        Kind::Moto => {
            let moto = MotoServer::shared(test)?;
            let stack = format!("T{}", ulid::Ulid::generate());
            let (backend, _) =
                provision_backend(&moto.endpoint, catalog, &stack, Some(TEST_VISIBILITY_S))
                    .await
                    .expect("provisioning the test stack on moto");
            Some(Harness { backend, kind })
        }
    }
}

/// Runs `synthetic` and counts executions per task id; can block its first `hang_first` runs forever.
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
