//! The in-memory backend: the embedded default, with the same conditional semantics as DynamoDB and
//! the same visibility / receive-count / DLQ semantics as SQS. Lives inside one process.

mod queue;
mod store;

pub use queue::{MemoryQueue, QueueSettings};
pub use store::MemoryStore;
