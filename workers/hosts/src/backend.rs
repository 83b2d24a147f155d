//! Assembles a backend (memory or AWS) into the store and queues the dispatcher and workers use.

use crate::aws::{
    AwsSettings, DynamoStore, ResourceSources, Resources, SdkConfig, SqsQueue, sdk_config,
};
use crate::catalog::Catalog;
use crate::delivery::{ResultRouter, StoreLedger};
use crate::dispatcher::{Dispatcher, DispatcherSettings};
use crate::error::{InputError, QueueError};
use crate::memory::{MemoryQueue, MemoryStore, MemoryStoreSettings, QueueSettings};
use crate::ports::{MessageQueue, TaskStore};
use crate::replies::{ReplyQueue, ReplyQueues};
use crate::tools::ToolBox;
use crate::worker::{Worker, WorkerSettings};

/// Where tasks live: this process's memory, or DynamoDB and SQS (deployed or emulated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    Memory,
    Aws,
}

impl BackendKind {
    pub const NAMES: [&'static str; 2] = ["memory", "aws"];

    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Memory => "memory",
            BackendKind::Aws => "aws",
        }
    }
}

impl std::str::FromStr for BackendKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "memory" => Ok(BackendKind::Memory),
            "aws" => Ok(BackendKind::Aws),
            other => Err(format!("unknown backend {other:?}: give memory or aws")),
        }
    }
}
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::sync::Arc;
use std::time::Duration;

/// How a memory backend keeps its tasks and queues.
#[derive(Debug, Clone, Default)]
pub struct MemorySettings {
    /// The store's clock, retention and limits.
    pub store: MemoryStoreSettings,
    /// Replaces every work queue's visibility timeout (tests use short ones).
    pub work_visibility_timeout: Option<Duration>,
}

#[derive(Clone)]
pub struct Backend {
    pub catalog: Arc<Catalog>,
    pub store: Arc<dyn TaskStore>,
    pub work_queues: BTreeMap<String, Arc<dyn MessageQueue>>,
    pub dead_letter_queues: BTreeMap<String, Arc<dyn MessageQueue>>,
    /// One reply queue per consumer.
    pub replies: Arc<ReplyQueues>,
}

impl Backend {
    /// Everything in this process, with the catalog's queue settings, on the system clock, with
    /// the default retention and limits.
    pub fn in_memory(catalog: Arc<Catalog>) -> Backend {
        Self::in_memory_with(catalog, None)
    }

    /// As `in_memory`, with every work queue's visibility timeout replaced (tests use short ones).
    pub fn in_memory_with(
        catalog: Arc<Catalog>,
        work_visibility_timeout: Option<Duration>,
    ) -> Backend {
        let settings = MemorySettings {
            work_visibility_timeout,
            ..MemorySettings::default()
        };
        Self::in_memory_configured(catalog, settings)
            .expect("the default memory store settings are valid")
    }

    /// Everything in this process, as `settings` say.
    pub fn in_memory_configured(
        catalog: Arc<Catalog>,
        settings: MemorySettings,
    ) -> Result<Backend, InputError> {
        let store = MemoryStore::with_settings(settings.store)?;
        let work_visibility_timeout = settings.work_visibility_timeout;
        let mut work_queues: BTreeMap<String, Arc<dyn MessageQueue>> = BTreeMap::new();
        let mut dead_letter_queues: BTreeMap<String, Arc<dyn MessageQueue>> = BTreeMap::new();
        for tool in catalog.tools() {
            let dlq = Arc::new(MemoryQueue::new(
                format!("{}-dlq", tool.name),
                QueueSettings::default(),
            ));
            let settings = QueueSettings {
                visibility_timeout: work_visibility_timeout
                    .unwrap_or(Duration::from_secs(u64::from(tool.visibility_timeout_s()))),
                max_receive_count: tool.max_receive_count,
                dead_letter: Some(dlq.clone()),
                ..QueueSettings::default()
            };
            work_queues.insert(
                tool.name.clone(),
                Arc::new(MemoryQueue::new(tool.name.clone(), settings)),
            );
            dead_letter_queues.insert(tool.name.clone(), dlq);
        }
        Ok(Backend {
            catalog,
            store: Arc::new(store),
            work_queues,
            dead_letter_queues,
            replies: Arc::new(ReplyQueues::in_memory()),
        })
    }

    /// DynamoDB and SQS at the given resource names.
    pub fn aws(
        sdk: &SdkConfig,
        resources: &Resources,
        catalog: Arc<Catalog>,
    ) -> Result<Backend, InputError> {
        resources.check_complete(&catalog)?;
        let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let queue =
            |url: &String| -> Arc<dyn MessageQueue> { Arc::new(SqsQueue::new(sqs.clone(), url)) };
        let replies = resources
            .reply_queue_urls
            .iter()
            .map(|(consumer, url)| {
                let reply = ReplyQueue {
                    queue: queue(url),
                    dead_letter: resources
                        .reply_dead_letter_queue_urls
                        .get(consumer)
                        .map(queue),
                };
                (consumer.clone(), reply)
            })
            .collect();
        Ok(Backend {
            store: Arc::new(DynamoStore::new(dynamodb, &resources.table)),
            work_queues: resources
                .work_queue_urls
                .iter()
                .map(|(t, u)| (t.clone(), queue(u)))
                .collect(),
            dead_letter_queues: resources
                .dead_letter_queue_urls
                .iter()
                .map(|(t, u)| (t.clone(), queue(u)))
                .collect(),
            replies: Arc::new(ReplyQueues::fixed(replies)?),
            catalog,
        })
    }

    pub fn dispatcher(
        &self,
        tools: ToolBox,
        settings: DispatcherSettings,
    ) -> Result<Dispatcher, InputError> {
        Dispatcher::new(
            self.catalog.clone(),
            tools,
            self.store.clone(),
            self.work_queues.clone(),
            self.replies.clone(),
            settings,
        )
    }

    pub fn worker(
        &self,
        tool: &str,
        tools: &ToolBox,
        settings: WorkerSettings,
    ) -> Result<Worker, InputError> {
        let spec = self.catalog.get(tool)?.clone();
        Worker::new(
            spec,
            tools,
            self.store.clone(),
            self.replies.clone(),
            Some(self.work_queue(tool)?),
            settings,
        )
    }

    pub fn work_queue(&self, tool: &str) -> Result<Arc<dyn MessageQueue>, InputError> {
        self.catalog.get(tool)?;
        self.work_queues.get(tool).cloned().ok_or_else(|| {
            InputError::new(
                "tool",
                format!("{tool:?} has no work queue in this backend"),
            )
        })
    }

    /// Messages (visible and in flight) on each dead-letter queue, by `tool:<name>` and
    /// `consumer:<name>`.
    pub async fn dead_letter_depths(&self) -> Result<BTreeMap<String, u64>, QueueError> {
        let tools = self
            .dead_letter_queues
            .iter()
            .map(|(tool, queue)| (format!("tool:{tool}"), queue.clone()));
        let consumers = self
            .replies
            .all()
            .into_iter()
            .filter_map(|(consumer, reply)| {
                Some((format!("consumer:{consumer}"), reply.dead_letter?))
            });
        let mut depths = BTreeMap::new();
        for (name, queue) in tools.chain(consumers) {
            let depth = queue.depth().await?;
            depths.insert(name, depth.visible + depth.in_flight);
        }
        Ok(depths)
    }

    /// The router of one consumer process: `owner`'s results from `consumer`'s reply queue, with the
    /// table read directly.
    pub fn router(&self, owner: &str, consumer: &str) -> Result<ResultRouter, InputError> {
        crate::protocol::check_principal(owner)?;
        let queue = self.replies.queue(consumer)?;
        let ledger = Arc::new(StoreLedger {
            store: self.store.clone(),
            owner: owner.to_string(),
            consumer: consumer.to_string(),
        });
        Ok(ResultRouter::new(queue, ledger, owner))
    }
}

/// What names an AWS backend on a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsTarget {
    /// An endpoint, e.g. an emulator's (default: `AWS_ENDPOINT_URL`, else AWS itself).
    pub endpoint: Option<String>,
    pub resources: ResourceSources,
    /// Run the dispatcher logic in this process even when the outputs name a `DispatcherUrl`.
    pub in_process: bool,
}

/// An AWS backend, with what a client of the deployed dispatcher needs besides.
pub struct AwsConnection {
    pub backend: Backend,
    /// The deployed dispatcher's Function URL, unless `in_process`.
    pub dispatcher_url: Option<String>,
    pub sdk: SdkConfig,
}

impl AwsConnection {
    /// Resolves the resources `target` names (outputs file, environment, flags), configures the
    /// SDK for its endpoint and builds the backend. `env` reads the environment.
    pub async fn connect(
        target: &AwsTarget,
        catalog: Arc<Catalog>,
        env: impl Fn(&str) -> Option<OsString>,
    ) -> Result<AwsConnection, InputError> {
        let resources = target
            .resources
            .resolve(&catalog, |k| env(k).and_then(|v| v.into_string().ok()))?;
        let sdk = sdk_config(&AwsSettings::for_endpoint(target.endpoint.clone(), &env)).await;
        let dispatcher_url = resources
            .dispatcher_url
            .clone()
            .filter(|_| !target.in_process);
        let backend = Backend::aws(&sdk, &resources, catalog)?;
        Ok(AwsConnection {
            backend,
            dispatcher_url,
            sdk,
        })
    }
}
