//! The in-memory backend: the embedded default, with the same conditional semantics as DynamoDB and
//! the same visibility / receive-count / DLQ semantics as SQS. Lives inside one process, so it
//! drops tasks at their TTL (DynamoDB's does within days) and holds a bounded amount (see `limits`).

mod queue;
mod store;

pub use queue::{MemoryQueue, QueueSettings};
pub use store::{MemoryStore, MemoryStoreSettings, MemoryUsage, RECORD_OVERHEAD_BYTES};

use crate::replies::{
    REPLY_MAX_RECEIVE_COUNT, REPLY_VISIBILITY_TIMEOUT_S, ReplyQueue, ReplyQueues,
};
use std::sync::Arc;
use std::time::Duration;

/// A consumer's reply queue and its DLQ, in memory, with the deployed queues' settings.
pub fn reply_queue(consumer: &str) -> ReplyQueue {
    let dead_letter = Arc::new(MemoryQueue::new(
        format!("reply-{consumer}-dlq"),
        QueueSettings::default(),
    ));
    ReplyQueue {
        queue: Arc::new(MemoryQueue::new(
            format!("reply-{consumer}"),
            QueueSettings {
                visibility_timeout: Duration::from_secs(u64::from(REPLY_VISIBILITY_TIMEOUT_S)),
                max_receive_count: REPLY_MAX_RECEIVE_COUNT,
                dead_letter: Some(dead_letter.clone()),
                ..QueueSettings::default()
            },
        )),
        dead_letter: Some(dead_letter),
    }
}

impl ReplyQueues {
    /// In-memory queues made on first use.
    pub fn in_memory() -> ReplyQueues {
        ReplyQueues::on_demand(reply_queue)
    }
}
