//! Reading results for one conversation from the shared results queue: each result once, in the order
//! it lands, and nothing of other conversations lost (their messages are made visible again).

use crate::error::QueueError;
use crate::ports::MessageQueue;
use crate::protocol::ResultMessage;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

pub struct ResultWatcher {
    results: Arc<dyn MessageQueue>,
    conversation_id: String,
    seen: HashSet<String>,
    /// Grows while polls return only other conversations' messages, so a watcher does not spin on them.
    backoff: Duration,
}

const MAX_BACKOFF: Duration = Duration::from_millis(500);
/// Other conversations' messages one sweep may hold back before it releases them.
const MAX_HELD: usize = 500;

impl ResultWatcher {
    pub fn new(results: Arc<dyn MessageQueue>, conversation_id: impl Into<String>) -> Self {
        ResultWatcher {
            results,
            conversation_id: conversation_id.into(),
            seen: HashSet::new(),
            backoff: Duration::ZERO,
        }
    }

    /// Task ids delivered so far.
    pub fn seen(&self) -> &HashSet<String> {
        &self.seen
    }

    /// One sweep: receives until the queue has nothing more (or `MAX_HELD` other messages are held),
    /// returns this conversation's results not seen before in arrival order, and then makes the other
    /// conversations' messages visible again. Holding them for the sweep is what lets a watcher see
    /// past them (queues hand out the oldest visible messages first).
    pub async fn poll(&mut self, wait: Duration) -> Result<Vec<ResultMessage>, QueueError> {
        if !self.backoff.is_zero() {
            tokio::time::sleep(self.backoff).await;
        }
        let mut fresh = Vec::new();
        let mut held = Vec::new();
        let mut mine = 0;
        let mut first = true;
        let swept = loop {
            let received = self
                .results
                .receive(10, if first { wait } else { Duration::ZERO })
                .await;
            first = false;
            let messages = match received {
                Ok(m) => m,
                Err(e) => break Err(e),
            };
            if messages.is_empty() {
                break Ok(());
            }
            let mut delivered = Vec::new();
            for message in messages {
                match ResultMessage::parse(&message.body) {
                    Ok(result) if result.conversation_id == self.conversation_id => {
                        mine += 1;
                        delivered.push(message.receipt_handle);
                        if self.seen.insert(result.task_id.clone()) {
                            fresh.push(result);
                        }
                    }
                    Ok(_) => held.push(message.receipt_handle),
                    Err(e) => {
                        // Left in flight: it reappears after the visibility timeout and ends in the DLQ.
                        tracing::warn!(message_id = %message.message_id, error = %e, "skipping a malformed result message");
                    }
                }
            }
            if let Err(e) = self.results.delete_batch(&delivered).await {
                // They come back after the visibility timeout and are recognised as seen.
                tracing::warn!(error = %e, "could not delete delivered results");
            }
            if held.len() >= MAX_HELD {
                break Ok(());
            }
        };
        let foreign = held.len();
        for handle in held {
            self.results
                .change_visibility(&handle, Duration::ZERO)
                .await?;
        }
        swept?;
        self.backoff = if mine > 0 || foreign == 0 {
            Duration::ZERO
        } else {
            (self.backoff * 2).clamp(Duration::from_millis(20), MAX_BACKOFF)
        };
        Ok(fresh)
    }
}
