//! Assembles a backend (memory or AWS) into the store and queues the dispatcher and workers use.

use crate::aws::{DynamoStore, Resources, SqsQueue};
use crate::catalog::Catalog;
use crate::delivery::{ResultRouter, StoreLedger};
use crate::dispatcher::{Dispatcher, DispatcherSettings};
use crate::error::InputError;
use crate::memory::{MemoryQueue, MemoryStore, QueueSettings};
use crate::ports::{MessageQueue, TaskStore};
use crate::replies::{ReplyQueue, ReplyQueues};
use crate::tools::ToolBox;
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
    /// One reply queue per consumer.
    pub replies: Arc<ReplyQueues>,
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
        Backend {
            catalog,
            store: Arc::new(MemoryStore::new()),
            work_queues,
            dead_letter_queues,
            replies: Arc::new(ReplyQueues::in_memory()),
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
