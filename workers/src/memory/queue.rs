use crate::error::QueueError;
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
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            visibility_timeout: Duration::from_secs(30),
            max_receive_count: u32::MAX,
            dead_letter: None,
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

    fn push(&self, message: Message) {
        self.lock().ready.push_back(message);
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
                dlq.push(message);
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
        });
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
        self.lock().in_flight.remove(receipt_handle);
        Ok(())
    }

    async fn delete_batch(&self, receipt_handles: &[String]) -> Result<(), QueueError> {
        ports::check_batch_len(receipt_handles.len())?;
        let mut state = self.lock();
        for handle in receipt_handles {
            state.in_flight.remove(handle);
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
