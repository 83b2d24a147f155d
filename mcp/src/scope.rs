//! Who is calling, and in which conversation: the scope every request runs in.

use crate::conversation::{Conversation, DEFAULT_HANDLE, Hold};
use std::sync::Arc;
use workers::Caller;

/// The `_meta` key a client of a stateless server may set on `tools/call` to record the call in a
/// conversation of its own (default [`DEFAULT_HANDLE`]).
pub const CONVERSATION_META_KEY: &str = "io.asynctools/conversation";

/// Where a request's calls are recorded and its results handed over.
#[derive(Clone)]
pub enum Place {
    /// A session of this process (stateful HTTP, stdio): results are offered to it as they land.
    Live(Arc<Conversation>),
    /// A conversation known only by its handle (the stateless server; a handle named explicitly):
    /// its results are found in the table.
    Named(String),
}

#[derive(Clone)]
pub struct Scope {
    pub caller: Caller,
    pub place: Place,
}

impl Scope {
    pub fn handle(&self) -> &str {
        match &self.place {
            Place::Live(conversation) => conversation.handle(),
            Place::Named(handle) => handle,
        }
    }

    pub fn live(&self) -> Option<&Arc<Conversation>> {
        match &self.place {
            Place::Live(conversation) => Some(conversation),
            Place::Named(_) => None,
        }
    }

    /// Keeps `task_id` from being handed over by anyone else while this request waits for it.
    pub fn hold(&self, task_id: &str) -> Option<Hold> {
        self.live().map(|c| c.hold(task_id))
    }

    pub fn stateless(caller: Caller, handle: Option<&str>) -> Scope {
        Scope {
            caller,
            place: Place::Named(handle.unwrap_or(DEFAULT_HANDLE).to_string()),
        }
    }
}
