use crate::error::QueueError;
use crate::limits::{MAX_MEMORY_QUEUE_BYTES, MAX_MEMORY_QUEUE_MESSAGES, bytes_label};
use crate::ports::{self, MessageQueue, QueueDepth, ReceivedMessage};
use async_trait::async_trait;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The SQS settings the memory queue honours.
#[derive(Clone)]
pub struct QueueSettings {
    pub visibility_timeout: Duration,
    /// With `dead_letter`, a message received this many times moves there instead of a further delivery.
    pub max_receive_count: u32,
    pub dead_letter: Option<Arc<MemoryQueue>>,
    /// Messages held at most (visible and in flight); a send past it is refused, and a message
    /// moved to a full queue as its dead-letter queue pushes out the oldest one there.
    pub max_messages: usize,
    /// Bytes of message bodies held at most, likewise.
    pub max_bytes: usize,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            visibility_timeout: Duration::from_secs(30),
            max_receive_count: u32::MAX,
            dead_letter: None,
            max_messages: MAX_MEMORY_QUEUE_MESSAGES,
            max_bytes: MAX_MEMORY_QUEUE_BYTES,
        }
    }
}

/// A standard queue in memory: visibility timeouts, receive counts, redrive to a DLQ, long polling.
pub struct MemoryQueue {
    name: String,
    settings: QueueSettings,
    state: Mutex<State>,
    arrivals: Notify,
    ids: AtomicU64,
}

struct Message {
    id: String,
    body: String,
    receive_count: u32,
}

struct InFlight {
    message: Message,
    visible_at: Instant,
}

#[derive(Default)]
struct State {
    ready: VecDeque<Message>,
    /// receipt handle -> message; a new delivery gets a new handle, so stale handles stop working.
    in_flight: HashMap<String, InFlight>,
    /// Bytes of the bodies of every message held, visible or in flight.
    bytes: usize,
}

impl State {
    fn len(&self) -> usize {
        self.ready.len() + self.in_flight.len()
    }

    fn remove_in_flight(&mut self, handle: &str) -> Option<InFlight> {
        let removed = self.in_flight.remove(handle)?;
        self.bytes -= removed.message.body.len();
        Some(removed)
    }
}

impl MemoryQueue {
    pub fn new(name: impl Into<String>, settings: QueueSettings) -> Self {
        MemoryQueue {
            name: name.into(),
            settings,
            state: Mutex::new(State::default()),
            arrivals: Notify::new(),
            ids: AtomicU64::new(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Why `bytes` more would not fit in `state`, if they would not.
    fn refusal(&self, state: &State, bytes: usize) -> Option<String> {
        if state.len() >= self.settings.max_messages {
            return Some(format!(
                "it holds {} messages (visible and in flight), its limit (memory backend): \
                 nothing is receiving from it",
                state.len()
            ));
        }
        if state.bytes + bytes > self.settings.max_bytes {
            return Some(format!(
                "it holds {} bytes of messages and this one has {bytes}; the limit is {} (memory \
                 backend): nothing is receiving from it",
                state.bytes,
                bytes_label(self.settings.max_bytes)
            ));
        }
        None
    }

    /// Adds a message unless the queue is full.
    fn push(&self, message: Message) -> Result<(), QueueError> {
        {
            let mut state = self.lock();
            if let Some(message) = self.refusal(&state, message.body.len()) {
                return Err(QueueError::Full {
                    queue: self.name.clone(),
                    message,
                });
            }
            state.bytes += message.body.len();
            state.ready.push_back(message);
        }
        self.arrivals.notify_waiters();
        Ok(())
    }

    /// Adds a message moved here as to a dead-letter queue: a full queue drops its oldest visible
    /// messages to make room (as SQS's retention period ends old messages), never the new one.
    fn push_dead(&self, message: Message) {
        {
            let mut state = self.lock();
            while self.refusal(&state, message.body.len()).is_some() {
                let Some(oldest) = state.ready.pop_front() else {
                    break;
                };
                state.bytes -= oldest.body.len();
                tracing::warn!(
                    queue = %self.name,
                    message_id = %oldest.id,
                    "dead-letter queue full: its oldest message is dropped"
                );
            }
            state.bytes += message.body.len();
            state.ready.push_back(message);
        }
        self.arrivals.notify_waiters();
    }

    /// Takes up to `max` deliverable messages; returns them and when the next in-flight one reappears.
    fn take(
        &self,
        max: usize,
        now: Instant,
        visibility: Duration,
    ) -> (Vec<ReceivedMessage>, Option<Instant>) {
        let mut dead = Vec::new();
        let mut out = Vec::new();
        let next_visible;
        {
            let mut state = self.lock();
            let expired: Vec<String> = state
                .in_flight
                .iter()
                .filter(|(_, m)| m.visible_at <= now)
                .map(|(handle, _)| handle.clone())
                .collect();
            for handle in expired {
                if let Some(m) = state.in_flight.remove(&handle) {
                    state.ready.push_back(m.message);
                }
            }
            while out.len() < max {
                let Some(mut message) = state.ready.pop_front() else {
                    break;
                };
                if self.settings.dead_letter.is_some()
                    && message.receive_count >= self.settings.max_receive_count
                {
                    state.bytes -= message.body.len();
                    dead.push(message);
                    continue;
                }
                message.receive_count += 1;
                let handle = format!("{}#{}", message.id, self.next_id());
                out.push(ReceivedMessage {
                    message_id: message.id.clone(),
                    receipt_handle: handle.clone(),
                    body: message.body.clone(),
                    receive_count: message.receive_count,
                });
                let visible_at = now + visibility;
                state.in_flight.insert(
                    handle,
                    InFlight {
                        message,
                        visible_at,
                    },
                );
            }
            next_visible = state.in_flight.values().map(|m| m.visible_at).min();
        }
        if let Some(dlq) = &self.settings.dead_letter {
            for mut message in dead {
                message.receive_count = 0;
                dlq.push_dead(message);
            }
        }
        (out, next_visible)
    }
}

#[async_trait]
impl MessageQueue for MemoryQueue {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, body: &str) -> Result<String, QueueError> {
        ports::check_send(body)?;
        let id = format!("{}-{}", self.name, self.next_id());
        self.push(Message {
            id: id.clone(),
            body: body.to_string(),
            receive_count: 0,
        })?;
        Ok(id)
    }

    async fn receive(
        &self,
        max_messages: u32,
        wait: Duration,
        visibility: Option<Duration>,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        ports::check_receive(max_messages, wait)?;
        if let Some(v) = visibility {
            ports::check_visibility(v)?;
        }
        let visibility = visibility.unwrap_or(self.settings.visibility_timeout);
        let deadline = Instant::now() + wait;
        loop {
            // Register for wake-ups before looking, so a send between the look and the wait is not missed.
            let arrival = self.arrivals.notified();
            tokio::pin!(arrival);
            arrival.as_mut().enable();
            let now = Instant::now();
            let (messages, next_visible) = self.take(max_messages as usize, now, visibility);
            if !messages.is_empty() || now >= deadline {
                return Ok(messages);
            }
            let wake_at = next_visible.map_or(deadline, |t| t.min(deadline));
            tokio::select! {
                _ = arrival => {}
                _ = tokio::time::sleep_until(wake_at) => {}
            }
        }
    }

    async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        // Like SQS, deleting with a stale handle of a message already gone is not an error.
        self.lock().remove_in_flight(receipt_handle);
        Ok(())
    }

    async fn delete_batch(&self, receipt_handles: &[String]) -> Result<(), QueueError> {
        ports::check_batch_len(receipt_handles.len())?;
        let mut state = self.lock();
        for handle in receipt_handles {
            state.remove_in_flight(handle);
        }
        Ok(())
    }

    async fn change_visibility(
        &self,
        receipt_handle: &str,
        timeout: Duration,
    ) -> Result<(), QueueError> {
        ports::check_visibility(timeout)?;
        let mut state = self.lock();
        let Some(in_flight) = state.in_flight.get_mut(receipt_handle) else {
            return Err(QueueError::Backend {
                queue: self.name.clone(),
                source: anyhow::anyhow!("message {receipt_handle} is not in flight"),
            });
        };
        if timeout.is_zero() {
            if let Some(m) = state.in_flight.remove(receipt_handle) {
                state.ready.push_back(m.message);
            }
            drop(state);
            self.arrivals.notify_waiters();
        } else {
            in_flight.visible_at = Instant::now() + timeout;
        }
        Ok(())
    }

    async fn depth(&self) -> Result<QueueDepth, QueueError> {
        let state = self.lock();
        Ok(QueueDepth {
            visible: state.ready.len() as u64,
            in_flight: state.in_flight.len() as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounded(max_messages: usize, max_bytes: usize) -> MemoryQueue {
        MemoryQueue::new(
            "q",
            QueueSettings {
                max_messages,
                max_bytes,
                ..QueueSettings::default()
            },
        )
    }

    async fn receive_all(queue: &MemoryQueue) -> Vec<ReceivedMessage> {
        queue.receive(10, Duration::ZERO, None).await.unwrap()
    }

    #[tokio::test]
    async fn a_full_queue_refuses_sends_until_messages_are_deleted() {
        let queue = bounded(3, 1024);
        for i in 0..3 {
            queue.send(&format!("m{i}")).await.unwrap();
        }
        let err = queue.send("m3").await.unwrap_err();
        assert!(matches!(err, QueueError::Full { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "queue q is full: it holds 3 messages (visible and in flight), its limit (memory \
             backend): nothing is receiving from it"
        );
        // In flight still counts: received is not gone.
        let received = receive_all(&queue).await;
        assert_eq!(received.len(), 3);
        assert!(queue.send("m3").await.is_err());
        queue.delete(&received[0].receipt_handle).await.unwrap();
        queue.send("m3").await.unwrap();
        assert!(queue.send("m4").await.is_err());
        queue
            .delete_batch(&[
                received[1].receipt_handle.clone(),
                received[2].receipt_handle.clone(),
            ])
            .await
            .unwrap();
        // A stale handle deletes nothing more.
        queue.delete(&received[1].receipt_handle).await.unwrap();
        queue.send("m4").await.unwrap();
        queue.send("m5").await.unwrap();
        let depth = queue.depth().await.unwrap();
        assert_eq!((depth.visible, depth.in_flight), (3, 0));
        assert_eq!(queue.lock().bytes, 6);
    }

    #[tokio::test]
    async fn the_byte_limit_counts_bodies_visible_and_in_flight() {
        let queue = bounded(100, 10);
        queue.send("12345").await.unwrap();
        queue.send("1234").await.unwrap();
        let err = queue.send("12").await.unwrap_err().to_string();
        assert_eq!(
            err,
            "queue q is full: it holds 9 bytes of messages and this one has 2; the limit is 10 \
             bytes (0 KiB) (memory backend): nothing is receiving from it"
        );
        queue.send("1").await.unwrap();
        let received = receive_all(&queue).await;
        // Made visible again, they still count once.
        for m in &received {
            queue
                .change_visibility(&m.receipt_handle, Duration::ZERO)
                .await
                .unwrap();
        }
        assert_eq!(queue.lock().bytes, 10);
        assert!(queue.send("x").await.is_err());
        for m in receive_all(&queue).await {
            queue.delete(&m.receipt_handle).await.unwrap();
        }
        assert_eq!(queue.lock().bytes, 0);
        queue.send("0123456789").await.unwrap();
    }

    #[tokio::test]
    async fn a_full_dead_letter_queue_drops_its_oldest_message() {
        let dlq = Arc::new(bounded(2, 1024));
        let queue = MemoryQueue::new(
            "work",
            QueueSettings {
                visibility_timeout: Duration::ZERO,
                max_receive_count: 1,
                dead_letter: Some(dlq.clone()),
                ..QueueSettings::default()
            },
        );
        // Each is received once and never deleted: the next receive moves it to the DLQ.
        for body in ["a", "b", "c"] {
            queue.send(body).await.unwrap();
            assert_eq!(receive_all(&queue).await.len(), 1);
            assert!(receive_all(&queue).await.is_empty());
            assert_eq!(queue.lock().bytes, 0, "moved out of the work queue");
        }
        let bodies: Vec<String> = receive_all(&dlq)
            .await
            .into_iter()
            .map(|m| m.body)
            .collect();
        assert_eq!(bodies, ["b", "c"], "the oldest gave way");
    }
}
