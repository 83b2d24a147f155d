//! Conversations: where the results of acknowledged calls are handed to the model.
//!
//! A conversation is one MCP session (a stateful HTTP session, or the stdio connection). Every call
//! it acknowledges is a task recorded under the conversation's handle; the task's result is handed
//! to the model exactly once, by whichever comes first: `task_results`, a later tool result it is
//! appended to, or a channel push. The hand-over itself is a conditional write in the table (the
//! task's `delivered` flag, see `handover.rs`); what lives here is only what makes it fast: which
//! finished tasks are waiting (offered by the result pump), who is waiting for them, and how to
//! push to the session.
//!
//! Tasks a client asked for as tasks (SEP-2663, SEP-1686) are recorded under the handle's task
//! conversation (`<handle>.tasks`): their results reach the model through the tasks protocol, so
//! the results tools never hand them over a second time.

use rmcp::RoleServer;
use rmcp::service::Peer;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The conversation of a stateless server's acknowledged calls when the caller names none.
pub const DEFAULT_HANDLE: &str = "mcp";
/// Appended to a handle for the conversation of the tasks a client asked for as tasks.
const TASKS_SUFFIX: &str = ".tasks";
/// Finished tasks a conversation keeps offered before the oldest are dropped from memory (they
/// stay undelivered in the table, where `task_results` finds them).
const MAX_OFFERED: usize = 1_000;
/// A session not seen for this long is forgotten (rmcp ends idle sessions after 5 minutes).
pub const SESSION_IDLE: Duration = Duration::from_secs(15 * 60);
/// Sessions remembered at once; past this the longest idle is forgotten first.
pub const MAX_SESSIONS: usize = 10_000;

/// The conversation id of the tasks a client of `handle` asked for as tasks.
pub fn tasks_conversation(handle: &str) -> String {
    format!("{handle}{TASKS_SUFFIX}")
}

/// The handle whose task conversation `conversation_id` is, if it is one.
pub fn handle_of_tasks(conversation_id: &str) -> Option<&str> {
    conversation_id.strip_suffix(TASKS_SUFFIX)
}

/// A fresh handle: `mcp-` and a ULID (unguessable enough to be no use to another principal, who
/// could not read its tasks anyway: every read is scoped by owner).
pub fn new_handle() -> String {
    format!("mcp-{}", ulid::Ulid::generate())
}

/// One conversation's live state.
pub struct Conversation {
    handle: String,
    state: Mutex<State>,
    /// Woken whenever a task of this conversation is offered.
    offered: Notify,
}

#[derive(Default)]
struct State {
    /// The principal that opened it; every later request must be the same one.
    owner: Option<String>,
    /// Finished tasks not yet handed over, oldest first (ULIDs sort by creation).
    offered: BTreeSet<String>,
    /// Tasks a call in progress is waiting for itself (inline or blocking): never handed over by
    /// anyone else while held.
    held: HashSet<String>,
    /// The session's connection, for pushes.
    peer: Option<Peer<RoleServer>>,
    /// Whether pushes reach the client: always over stdio; over HTTP while a GET stream is open.
    always_connected: bool,
    open_streams: usize,
    /// The client declared the 2026-07-28 tasks extension (SEP-2663) at `initialize`: its task
    /// requests are that protocol's, even on a 2025-11-25 session.
    tasks_extension: bool,
}

impl Conversation {
    pub fn new(handle: String) -> Arc<Conversation> {
        Arc::new(Conversation {
            handle,
            state: Mutex::default(),
            offered: Notify::new(),
        })
    }

    /// A conversation on a connection that stays open for its whole life (stdio).
    pub fn connected(handle: String) -> Arc<Conversation> {
        let conversation = Conversation::new(handle);
        conversation.lock().always_connected = true;
        conversation
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn handle(&self) -> &str {
        &self.handle
    }

    /// Binds the conversation to `principal` on first use; afterwards only that principal may use
    /// it (a session stays with whoever opened it, whatever a later request's header says).
    pub fn bind(&self, principal: &str) -> Result<(), String> {
        let mut state = self.lock();
        match &state.owner {
            None => {
                state.owner = Some(principal.to_string());
                Ok(())
            }
            Some(owner) if owner == principal => Ok(()),
            Some(_) => Err(
                "this MCP session was opened by another principal; open a session of your own"
                    .to_string(),
            ),
        }
    }

    pub fn owner(&self) -> Option<String> {
        self.lock().owner.clone()
    }

    /// Notes a finished task of this conversation and wakes whoever waits for results.
    pub fn offer(&self, task_id: &str) {
        {
            let mut state = self.lock();
            state.offered.insert(task_id.to_string());
            while state.offered.len() > MAX_OFFERED {
                state.offered.pop_first();
            }
        }
        self.offered.notify_waiters();
    }

    /// The offered tasks (oldest first, at most `limit`, of `only` if given), taken out of the
    /// offer list; those held by a call in progress stay.
    pub fn take_offered(&self, limit: usize, only: Option<&BTreeSet<String>>) -> Vec<String> {
        let mut state = self.lock();
        let taken: Vec<String> = state
            .offered
            .iter()
            .filter(|id| !state.held.contains(*id))
            .filter(|id| only.is_none_or(|o| o.contains(*id)))
            .take(limit)
            .cloned()
            .collect();
        for id in &taken {
            state.offered.remove(id);
        }
        taken
    }

    /// Puts tasks back on offer (a hand-over that could not be completed now).
    pub fn reoffer(&self, task_ids: impl IntoIterator<Item = String>) {
        let mut state = self.lock();
        state.offered.extend(task_ids);
    }

    pub fn has_offered(&self) -> bool {
        let state = self.lock();
        state.offered.iter().any(|id| !state.held.contains(id))
    }

    /// A future that completes at the next offer; create it before checking, so none is missed.
    pub fn offered(&self) -> tokio::sync::futures::Notified<'_> {
        self.offered.notified()
    }

    /// Marks `task_id` as awaited by the calling request until the guard drops.
    pub fn hold(self: &Arc<Self>, task_id: &str) -> Hold {
        self.lock().held.insert(task_id.to_string());
        Hold {
            conversation: self.clone(),
            task_id: task_id.to_string(),
        }
    }

    pub fn is_held(&self, task_id: &str) -> bool {
        self.lock().held.contains(task_id)
    }

    /// Remembers the session's connection (the first one seen).
    pub fn attach(&self, peer: &Peer<RoleServer>) {
        let mut state = self.lock();
        if state.peer.is_none() {
            state.peer = Some(peer.clone());
        }
    }

    /// The connection to push on, if a push would reach the client now.
    pub fn push_peer(&self) -> Option<Peer<RoleServer>> {
        let state = self.lock();
        if state.always_connected || state.open_streams > 0 {
            state.peer.clone()
        } else {
            None
        }
    }

    pub fn declare_tasks_extension(&self, declared: bool) {
        self.lock().tasks_extension = declared;
    }

    /// Whether task requests of this session are SEP-2663's (else, on a 2025-11-25 session,
    /// SEP-1686's).
    pub fn has_tasks_extension(&self) -> bool {
        self.lock().tasks_extension
    }

    pub fn stream_opened(&self) {
        self.lock().open_streams += 1;
    }

    pub fn stream_closed(&self) {
        let mut state = self.lock();
        state.open_streams = state.open_streams.saturating_sub(1);
    }

    fn is_streaming(&self) -> bool {
        self.lock().open_streams > 0
    }
}

/// Releases a held task when the call that awaited it ends.
pub struct Hold {
    conversation: Arc<Conversation>,
    task_id: String,
}

impl Drop for Hold {
    fn drop(&mut self) {
        let offered = {
            let mut state = self.conversation.lock();
            state.held.remove(&self.task_id);
            state.offered.contains(&self.task_id)
        };
        if offered {
            self.conversation.offered.notify_waiters();
        }
    }
}

/// Closes an HTTP session's GET stream count when the stream's body is dropped.
pub struct StreamGuard(pub Arc<Conversation>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.stream_closed();
    }
}

/// The live conversations of one server process: by handle (for the result pump) and by HTTP
/// session id (for the transport).
#[derive(Default)]
pub struct Conversations {
    state: Mutex<Registry>,
}

#[derive(Default)]
struct Registry {
    by_handle: HashMap<String, Weak<Conversation>>,
    sessions: HashMap<String, (Arc<Conversation>, Instant)>,
}

impl Conversations {
    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a conversation for the result pump (it is forgotten once dropped).
    pub fn register(&self, conversation: &Arc<Conversation>) {
        let mut registry = self.lock();
        registry.by_handle.retain(|_, weak| weak.strong_count() > 0);
        registry.by_handle.insert(
            conversation.handle().to_string(),
            Arc::downgrade(conversation),
        );
    }

    /// The live conversation recorded under `conversation_id`, if any.
    pub fn get(&self, conversation_id: &str) -> Option<Arc<Conversation>> {
        self.lock()
            .by_handle
            .get(conversation_id)
            .and_then(Weak::upgrade)
    }

    /// The conversation of HTTP session `session_id`, made on first sight. `true` with it when it
    /// is new (the caller forgets it again if the session turns out not to exist).
    pub fn for_session(&self, session_id: &str, now: Instant) -> (Arc<Conversation>, bool) {
        let mut registry = self.lock();
        if let Some((conversation, seen)) = registry.sessions.get_mut(session_id) {
            *seen = now;
            return (conversation.clone(), false);
        }
        if registry.sessions.len() >= MAX_SESSIONS {
            registry.forget_idle(now);
        }
        let conversation = Conversation::new(new_handle());
        registry.by_handle.insert(
            conversation.handle().to_string(),
            Arc::downgrade(&conversation),
        );
        registry
            .sessions
            .insert(session_id.to_string(), (conversation.clone(), now));
        (conversation, true)
    }

    /// Forgets an HTTP session (closed by the client, or refused by the transport).
    pub fn end_session(&self, session_id: &str) {
        self.lock().sessions.remove(session_id);
    }

    pub fn sessions(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Forgets sessions idle past [`SESSION_IDLE`] (called on every new session).
    pub fn forget_idle_sessions(&self, now: Instant) {
        self.lock().forget_idle(now);
    }

    /// The principals of the live conversations, for reconciling their results from the table.
    pub fn owners(&self) -> BTreeSet<String> {
        let registry = self.lock();
        registry
            .by_handle
            .values()
            .filter_map(Weak::upgrade)
            .filter_map(|c| c.owner())
            .collect()
    }
}

impl Registry {
    fn forget_idle(&mut self, now: Instant) {
        self.sessions.retain(|_, (conversation, seen)| {
            conversation.is_streaming() || now.duration_since(*seen) < SESSION_IDLE
        });
        // Still full of active sessions: the longest idle goes.
        if self.sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = self
                .sessions
                .iter()
                .min_by_key(|(_, (_, seen))| *seen)
                .map(|(id, _)| id.clone())
        {
            self.sessions.remove(&oldest);
        }
        self.by_handle.retain(|_, weak| weak.strong_count() > 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversation_stays_with_the_principal_that_opened_it() {
        let conversation = Conversation::new(new_handle());
        assert!(conversation.bind("alice").is_ok());
        assert!(conversation.bind("alice").is_ok());
        let refused = conversation.bind("bob").unwrap_err();
        assert!(refused.contains("another principal"), "{refused}");
        assert_eq!(conversation.owner().as_deref(), Some("alice"));
    }

    #[test]
    fn held_tasks_are_not_taken_until_released() {
        let conversation = Conversation::new(new_handle());
        let hold = conversation.hold("01A");
        conversation.offer("01A");
        conversation.offer("01B");
        assert_eq!(conversation.take_offered(10, None), ["01B"]);
        assert!(!conversation.has_offered());
        drop(hold);
        assert!(conversation.has_offered());
        assert_eq!(conversation.take_offered(10, None), ["01A"]);
        assert!(conversation.take_offered(10, None).is_empty());
    }

    #[test]
    fn offers_are_bounded_and_oldest_first() {
        let conversation = Conversation::new(new_handle());
        for i in 0..MAX_OFFERED + 5 {
            conversation.offer(&format!("{i:06}"));
        }
        let taken = conversation.take_offered(usize::MAX, None);
        assert_eq!(taken.len(), MAX_OFFERED);
        assert_eq!(taken[0], "000005");
    }

    #[test]
    fn sessions_are_forgotten_when_idle_and_their_handles_with_them() {
        let conversations = Conversations::default();
        let start = Instant::now();
        let (first, new) = conversations.for_session("s1", start);
        assert!(new);
        let handle = first.handle().to_string();
        let (again, new) = conversations.for_session("s1", start + Duration::from_secs(1));
        assert!(!new);
        assert!(Arc::ptr_eq(&first, &again));
        drop((first, again));
        assert!(conversations.get(&handle).is_some());
        conversations.forget_idle_sessions(start + SESSION_IDLE + Duration::from_secs(2));
        assert_eq!(conversations.sessions(), 0);
        assert!(conversations.get(&handle).is_none());
    }

    #[test]
    fn a_session_with_an_open_stream_is_not_idle() {
        let conversations = Conversations::default();
        let start = Instant::now();
        let (conversation, _) = conversations.for_session("s1", start);
        conversation.stream_opened();
        conversations.forget_idle_sessions(start + SESSION_IDLE * 2);
        assert_eq!(conversations.sessions(), 1);
        conversation.stream_closed();
        conversations.forget_idle_sessions(start + SESSION_IDLE * 2);
        assert_eq!(conversations.sessions(), 0);
    }

    #[test]
    fn task_conversations_name_their_handle() {
        let handle = new_handle();
        let tasks = tasks_conversation(&handle);
        assert_eq!(handle_of_tasks(&tasks), Some(handle.as_str()));
        assert_eq!(handle_of_tasks(&handle), None);
        workers::protocol::check_conversation_id(&tasks).unwrap();
    }
}
