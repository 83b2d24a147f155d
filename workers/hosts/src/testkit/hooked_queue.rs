//! A queue with a test's behaviour in front of a real one, as `Hooked` is for a store: the test
//! says what it changes of sends and receives (`QueueHook`, forwarding by default) and
//! `HookedQueue` forwards every other call.

use crate::error::QueueError;
use crate::ports::{MessageQueue, QueueDepth, ReceivedMessage};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// What a test changes of a queue's sends and receives; each method is given the real queue.
#[async_trait]
pub trait QueueHook: Send + Sync {
    async fn send(&self, inner: &dyn MessageQueue, body: &str) -> Result<String, QueueError> {
        inner.send(body).await
    }

    async fn receive(
        &self,
        inner: &dyn MessageQueue,
        max_messages: u32,
        wait: Duration,
        visibility: Option<Duration>,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        inner.receive(max_messages, wait, visibility).await
    }
}

/// `inner` with `hook` in front of it.
pub struct HookedQueue<H> {
    pub inner: Arc<dyn MessageQueue>,
    pub hook: H,
}

impl<H> HookedQueue<H> {
    pub fn new(inner: Arc<dyn MessageQueue>, hook: H) -> HookedQueue<H> {
        HookedQueue { inner, hook }
    }
}

#[async_trait]
impl<H: QueueHook> MessageQueue for HookedQueue<H> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn send(&self, body: &str) -> Result<String, QueueError> {
        self.hook.send(self.inner.as_ref(), body).await
    }

    async fn receive(
        &self,
        max_messages: u32,
        wait: Duration,
        visibility: Option<Duration>,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        self.hook
            .receive(self.inner.as_ref(), max_messages, wait, visibility)
            .await
    }

    async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        self.inner.delete(receipt_handle).await
    }

    async fn delete_batch(&self, receipt_handles: &[String]) -> Result<(), QueueError> {
        self.inner.delete_batch(receipt_handles).await
    }

    async fn change_visibility(
        &self,
        receipt_handle: &str,
        timeout: Duration,
    ) -> Result<(), QueueError> {
        self.inner.change_visibility(receipt_handle, timeout).await
    }

    async fn depth(&self) -> Result<QueueDepth, QueueError> {
        self.inner.depth().await
    }
}
