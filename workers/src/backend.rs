//! Assembles a backend (memory or AWS) into the store and queues the dispatcher and workers use.

use crate::aws::{DynamoStore, Resources, SqsQueue};
use crate::catalog::Catalog;
use crate::dispatcher::{Dispatcher, DispatcherSettings};
use crate::error::InputError;
use crate::memory::{MemoryQueue, MemoryStore, QueueSettings};
use crate::ports::{MessageQueue, TaskStore};
use crate::tools::ToolBox;
use crate::watch::ResultWatcher;
use crate::worker::{Worker, WorkerSettings};
use aws_config::SdkConfig;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct Backend {
    pub catalog: Arc<Catalog>,
    pub store: Arc<dyn TaskStore>,
    pub work_queues: BTreeMap<String, Arc<dyn MessageQueue>>,
    pub dead_letter_queues: BTreeMap<String, Arc<dyn MessageQueue>>,
    pub results: Arc<dyn MessageQueue>,
    pub results_dead_letter: Option<Arc<dyn MessageQueue>>,
}

impl Backend {
    /// Everything in this process, with the catalog's queue settings.
    pub fn in_memory(catalog: Arc<Catalog>) -> Backend {
        Self::in_memory_with(catalog, None)
    }

    /// As `in_memory`, with every work queue's visibility timeout replaced (tests use short ones).
    pub fn in_memory_with(
        catalog: Arc<Catalog>,
        work_visibility_timeout: Option<Duration>,
    ) -> Backend {
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
            };
            work_queues.insert(
                tool.name.clone(),
                Arc::new(MemoryQueue::new(tool.name.clone(), settings)),
            );
            dead_letter_queues.insert(tool.name.clone(), dlq);
        }
        let results_dlq = Arc::new(MemoryQueue::new("results-dlq", QueueSettings::default()));
        let results = Arc::new(MemoryQueue::new(
            "results",
            QueueSettings {
                visibility_timeout: Duration::from_secs(u64::from(
                    crate::aws::RESULTS_VISIBILITY_TIMEOUT_S,
                )),
                max_receive_count: crate::aws::RESULTS_MAX_RECEIVE_COUNT,
                dead_letter: Some(results_dlq.clone()),
            },
        ));
        Backend {
            catalog,
            store: Arc::new(MemoryStore::new()),
            work_queues,
            dead_letter_queues,
            results,
            results_dead_letter: Some(results_dlq),
        }
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
            results: queue(&resources.results_queue_url),
            results_dead_letter: resources.results_dead_letter_queue_url.as_ref().map(queue),
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
            self.results.clone(),
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
            self.results.clone(),
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

    pub fn watcher(&self, conversation_id: &str) -> ResultWatcher {
        ResultWatcher::new(self.results.clone(), conversation_id)
    }
}
