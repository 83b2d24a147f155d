//! Results coming back: the server's reply queue feeds pushed `notifications/tasks` and wakes the
//! blocking (synchronous) calls waiting for a task.
//!
//! One `ResultPump` reads the server's consumer queue for every principal it has served.
//! `workers::ResultRouter` serves a single owner and deletes other owners' messages unread, so one
//! router per principal on a shared queue would make each principal's results late by up to a
//! reconcile period; this pump is the multi-owner router until `workers` has one. Like the router,
//! it treats the table as the truth: per result it hands over, marks the task delivered, then
//! deletes the message, and it reconciles undelivered tasks from the table periodically.

use crate::status::{TaskTiming, detailed};
use rmcp::RoleServer;
use rmcp::model::{ServerNotification, TaskStatusNotification, TaskStatusNotificationParams};
use rmcp::service::Peer;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use workers::ports::{MessageQueue, TaskStore};
use workers::{ResultMessage, TaskRecord};

/// How long one receive waits; also bounds how long a stop waits for the pump.
const RECEIVE_WAIT: Duration = Duration::from_secs(1);
const RECONCILE_EVERY: Duration = workers::delivery::RECONCILE_EVERY;
const RECONCILE_PAGE: u32 = 100;
/// A push that cannot be written within this long is dropped: the client can still poll.
const PUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Who waits for which task, and where its status is pushed.
#[derive(Default)]
pub struct Hub {
    state: Mutex<HubState>,
}

#[derive(Default)]
struct HubState {
    /// Blocking calls waiting for a task: woken (value `true`) when its result arrives.
    waiters: HashMap<String, watch::Sender<bool>>,
    /// Connections that asked for a task as a task and stay open (sessions, stdio).
    watchers: HashMap<String, Peer<RoleServer>>,
    /// Principals served: their undelivered results are reconciled from the table.
    owners: BTreeSet<String>,
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn note_owner(&self, principal: &str) {
        let mut state = self.lock();
        if !state.owners.contains(principal) {
            state.owners.insert(principal.to_string());
        }
    }

    pub fn owners(&self) -> Vec<String> {
        self.lock().owners.iter().cloned().collect()
    }

    /// A receiver that turns `true` when the task's result arrives.
    pub fn waiter(&self, task_id: &str) -> watch::Receiver<bool> {
        self.lock()
            .waiters
            .entry(task_id.to_string())
            .or_insert_with(|| watch::channel(false).0)
            .subscribe()
    }

    /// Drops a task's waiter entry once nobody waits on it.
    pub fn release_waiter(&self, task_id: &str) {
        let mut state = self.lock();
        if state
            .waiters
            .get(task_id)
            .is_some_and(|sender| sender.receiver_count() == 0)
        {
            state.waiters.remove(task_id);
        }
    }

    pub fn watch(&self, task_id: &str, peer: Peer<RoleServer>) {
        self.lock().watchers.insert(task_id.to_string(), peer);
    }

    pub fn watched(&self) -> usize {
        self.lock().watchers.len()
    }

    /// Wakes the task's waiters and pushes its status to the connection watching it.
    pub async fn deliver(&self, record: &TaskRecord, timing: TaskTiming) {
        let (waiter, watcher) = {
            let mut state = self.lock();
            (
                state.waiters.remove(&record.task_id),
                state.watchers.remove(&record.task_id),
            )
        };
        if let Some(waiter) = waiter {
            let _ = waiter.send(true);
        }
        if let Some(peer) = watcher {
            let params = TaskStatusNotificationParams::new(detailed(record, timing));
            let notification =
                ServerNotification::TaskStatusNotification(TaskStatusNotification::new(params));
            match tokio::time::timeout(PUSH_TIMEOUT, peer.send_notification(notification)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::debug!(task_id = %record.task_id, error = %e, "status push not sent")
                }
                Err(_) => tracing::debug!(task_id = %record.task_id, "status push timed out"),
            }
        }
    }
}

/// Reads the server's reply queue and hands each result to the hub exactly once.
pub struct ResultPump {
    pub store: Arc<dyn TaskStore>,
    pub queue: Arc<dyn MessageQueue>,
    pub consumer: String,
    pub hub: Arc<Hub>,
    pub timing: TaskTiming,
}

impl ResultPump {
    /// Receives and reconciles until `stop` turns true. Receives are not raced against `stop`: an
    /// abandoned long poll could take a message and hide it for the visibility timeout.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        let mut last_reconcile = tokio::time::Instant::now();
        while !*stop.borrow() {
            match self
                .queue
                .receive(workers::limits::MAX_RECEIVE_BATCH, RECEIVE_WAIT, None)
                .await
            {
                Ok(messages) => {
                    for message in messages {
                        if self.settle(&message.body).await
                            && let Err(e) = self.queue.delete(&message.receipt_handle).await
                        {
                            tracing::warn!(error = %e, "could not delete a settled result message");
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "result receive failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            if last_reconcile.elapsed() >= RECONCILE_EVERY {
                self.reconcile().await;
                last_reconcile = tokio::time::Instant::now();
            }
        }
    }

    /// True when the message can be deleted (handed over now, before, or not ours to hand over).
    async fn settle(&self, body: &str) -> bool {
        let message = match ResultMessage::parse(body) {
            Ok(message) => message,
            Err(e) => {
                // Left alone: it returns after the visibility timeout and ends in the DLQ.
                tracing::warn!(error = %e, "skipping a malformed result message");
                return false;
            }
        };
        match self.store.get(&message.task_id).await {
            Ok(Some(record)) => self.hand_over(record).await,
            // Expired from the table: nothing to hand over.
            Ok(None) => true,
            Err(e) => {
                tracing::warn!(task_id = %message.task_id, error = %e, "cannot read a finished task; retrying later");
                false
            }
        }
    }

    async fn hand_over(&self, record: TaskRecord) -> bool {
        if !record.status.is_terminal() || record.delivered {
            return true;
        }
        self.hub.note_owner(&record.owner);
        self.hub.deliver(&record, self.timing).await;
        let task_id = record.task_id.clone();
        match workers::delivery::mark_delivered(self.store.as_ref(), record).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(%task_id, error = %e, "could not mark a result delivered");
                false
            }
        }
    }

    /// Hands over the undelivered results the table holds for every principal served.
    pub async fn reconcile(&self) {
        for owner in self.hub.owners() {
            let mut cursor: Option<String> = None;
            loop {
                let parsed =
                    match workers::ports::check_list_args(RECONCILE_PAGE, cursor.as_deref()) {
                        Ok(parsed) => parsed,
                        Err(e) => {
                            tracing::warn!(error = %e, "bad reconcile cursor");
                            break;
                        }
                    };
                let page = match self
                    .store
                    .list_undelivered(&owner, &self.consumer, RECONCILE_PAGE, parsed.as_ref())
                    .await
                {
                    Ok(page) => page,
                    Err(e) => {
                        tracing::warn!(error = %e, "reconcile failed; next time");
                        break;
                    }
                };
                for record in page.tasks {
                    self.hand_over(record).await;
                }
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
    }
}
