//! The in-memory backend: the embedded default, with the same conditional semantics as DynamoDB and
//! the same visibility / receive-count / DLQ semantics as SQS. Lives inside one process, so it
//! drops tasks at their TTL (DynamoDB's does within days) and holds a bounded amount (see `limits`).

mod queue;
mod store;

pub use queue::{MemoryQueue, QueueSettings};
pub use store::{MemoryStore, MemoryStoreSettings, MemoryUsage, RECORD_OVERHEAD_BYTES};
