//! Results coming back: the server's reply queue wakes the calls waiting for a task, offers each
//! result to its conversation (or pushes it to the session, with channels), and pushes task
//! statuses to connections that asked for tasks.
//!
//! One `ResultPump` reads the server's consumer queue for every principal it has served.
//! `workers::ResultRouter` serves a single owner and deletes other owners' messages unread, so one
//! router per principal on a shared queue would make each principal's results late by up to a
//! reconcile period; this pump is the multi-owner router until `workers` has one. The table is the
//! truth: a message only says "look now". The pump marks a task delivered only when it hands the
//! result over itself (a push); results offered to a conversation are claimed by whoever puts them
//! before the model (`handover.rs`), and results of conversations this process does not hold stay
//! undelivered in the table for their own session, replica or a later `task_results` to find.

use crate::conversation::{Conversation, Conversations};
use crate::handover::Finished;
use crate::latency::Latencies;
use crate::status::{TaskTiming, detailed};
use rmcp::RoleServer;
use rmcp::model::{
    CustomNotification, ServerNotification, TaskStatusNotification, TaskStatusNotificationParams,
};
use rmcp::service::Peer;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use workers::clock::SystemClock;
use workers::delivery::{Claim, claim_delivery};
use workers::ports::{MessageQueue, TaskStore};
use workers::{ResultMessage, TaskRecord};

/// How long one receive waits; also bounds how long a stop waits for the pump.
const RECEIVE_WAIT: Duration = Duration::from_secs(1);
const RECONCILE_EVERY: Duration = workers::delivery::RECONCILE_EVERY;
const RECONCILE_PAGE: u32 = 100;
/// Pages one reconcile reads per principal at most; the rest waits for the next pass.
const RECONCILE_PAGES: usize = 10;
/// A push that cannot be written within this long is dropped: the client can still poll.
const PUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// The method of a Claude Code channel event.
pub const CHANNEL_METHOD: &str = "notifications/claude/channel";

/// Who waits for which task, where its status is pushed, the live conversations, and how long
/// each tool's calls take.
#[derive(Default)]
pub struct Hub {
    state: Mutex<HubState>,
    pub conversations: Conversations,
    pub latencies: Latencies,
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
    /// A hub for a server of `catalog`'s tools (their `typical_run_ms` hints).
    pub fn new(catalog: &workers::Catalog) -> Hub {
        Hub {
            latencies: Latencies::new(catalog),
            ..Hub::default()
        }
    }

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

    /// A receiver that turns `true` when a result of conversation `handle` arrives (for the
    /// conversations this process holds no session of: those of 2026-07-28 clients).
    pub fn conversation_waiter(&self, handle: &str) -> watch::Receiver<bool> {
        self.waiter(&conversation_key(handle))
    }

    pub fn release_conversation_waiter(&self, handle: &str) {
        self.release_waiter(&conversation_key(handle));
    }

    /// Wakes whoever waits for the task (blocking calls, inline waits, `tasks/result`).
    pub fn wake(&self, task_id: &str) {
        let waiter = self.lock().waiters.remove(task_id);
        if let Some(waiter) = waiter {
            let _ = waiter.send(true);
        }
    }

    /// Pushes the task's status to the connection watching it (a client that asked for a task);
    /// true when one was pushed.
    pub async fn push_status(&self, record: &TaskRecord, timing: TaskTiming) -> bool {
        let Some(peer) = self.lock().watchers.remove(&record.task_id) else {
            return false;
        };
        let params = TaskStatusNotificationParams::new(detailed(record, timing));
        let notification =
            ServerNotification::TaskStatusNotification(TaskStatusNotification::new(params));
        send(&peer, notification, &record.task_id).await
    }
}

/// A conversation's key among the waiters: task ids are ULIDs, which have no ':'.
fn conversation_key(handle: &str) -> String {
    format!("conversation:{handle}")
}

/// Sends a notification, giving up after [`PUSH_TIMEOUT`]; true when it went out.
async fn send(peer: &Peer<RoleServer>, notification: ServerNotification, task_id: &str) -> bool {
    match tokio::time::timeout(PUSH_TIMEOUT, peer.send_notification(notification)).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::debug!(%task_id, error = %e, "push not sent");
            false
        }
        Err(_) => {
            tracing::debug!(%task_id, "push timed out");
            false
        }
    }
}

/// A channel event for a finished task: its text is what the model reads.
pub fn channel_event(record: &TaskRecord, handle: &str) -> ServerNotification {
    let finished = Finished::of(record);
    let params = serde_json::json!({
        "content": finished.text,
        "meta": {
            "task_id": record.task_id,
            "tool": record.tool,
            "status": finished.json["status"],
            "conversation": handle,
        },
    });
    ServerNotification::CustomNotification(CustomNotification::new(CHANNEL_METHOD, Some(params)))
}

/// Reads the server's reply queue and routes each result (see the module documentation).
pub struct ResultPump {
    pub store: Arc<dyn TaskStore>,
    pub queue: Arc<dyn MessageQueue>,
    pub consumer: String,
    pub hub: Arc<Hub>,
    pub timing: TaskTiming,
    /// Push each result of a session to it as a Claude Code channel event.
    pub channels: bool,
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
                    let mut settled = Vec::new();
                    for message in messages {
                        if self.settle(&message.body).await {
                            settled.push(message.receipt_handle);
                        }
                    }
                    if let Err(e) = self.queue.delete_batch(&settled).await {
                        tracing::warn!(error = %e, "could not delete settled result messages");
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

    /// True when the message can be deleted: the record it names has been routed (or is gone).
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
            Ok(Some(record)) => {
                self.route(record).await;
                true
            }
            // Expired from the table: nothing to hand over.
            Ok(None) => true,
            Err(e) => {
                tracing::warn!(task_id = %message.task_id, error = %e, "cannot read a finished task; retrying later");
                false
            }
        }
    }

    async fn route(&self, record: TaskRecord) {
        if !record.status.is_terminal() {
            return;
        }
        self.hub.latencies.record(&record);
        self.hub.wake(&record.task_id);
        if record.delivered {
            return;
        }
        if let Some(conversation) = self.hub.conversations.get(&record.conversation_id) {
            self.offer(&conversation, record).await;
            return;
        }
        self.hub.wake(&conversation_key(&record.conversation_id));
        // A client that asked for a task and keeps its connection: its status is the hand-over.
        if self.hub.push_status(&record, self.timing).await
            && let Err(e) = claim_delivery(self.store.as_ref(), record, &SystemClock).await
        {
            tracing::warn!(error = %e, "could not mark a pushed result delivered");
        }
    }

    /// Offers a finished task to its conversation, or with channels pushes it to the session (a
    /// task a call in progress waits for itself is left to that call).
    async fn offer(&self, conversation: &Arc<Conversation>, record: TaskRecord) {
        let task_id = record.task_id.clone();
        let peer = conversation.push_peer().filter(|_| self.channels);
        let Some(peer) = peer.filter(|_| !conversation.is_held(&task_id)) else {
            conversation.offer(&task_id);
            return;
        };
        match claim_delivery(self.store.as_ref(), record, &SystemClock).await {
            Ok(Claim::Won(record)) => {
                let event = channel_event(&record, conversation.handle());
                if !send(&peer, event, &task_id).await {
                    // Claimed but not shown: `task_status` still gives it.
                    tracing::warn!(%task_id, "a channel push failed after its claim");
                }
            }
            Ok(Claim::Lost(_)) => {}
            Err(e) => {
                tracing::warn!(%task_id, error = %e, "could not claim a result for a push");
                conversation.offer(&task_id);
            }
        }
    }

    /// Routes the undelivered results the table holds for every principal served: results whose
    /// message went to another replica or was lost, and those of conversations that came back.
    pub async fn reconcile(&self) {
        let mut owners = self.hub.conversations.owners();
        owners.extend(self.hub.owners());
        for owner in owners {
            let mut cursor: Option<String> = None;
            for _ in 0..RECONCILE_PAGES {
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
                    self.route(record).await;
                }
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
    }
}
