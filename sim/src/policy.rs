//! The agent-loop policies of the contract (`shared/design/agent-loop-model.md`).

use crate::time::Nanos;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyKind {
    /// One call per turn: issue one ready call, wait for it, read it next turn.
    Sequential,
    /// Issue every ready call, wait for all of them, read them all next turn.
    Sync,
    /// Issue every ready call and return at once; read whatever has arrived whenever idle.
    Async,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub kind: PolicyKind,
    /// Async only: after the first waiting result, hold up to this long for more.
    pub batch_window: Nanos,
}

impl Policy {
    pub const SEQUENTIAL: Policy = Policy {
        kind: PolicyKind::Sequential,
        batch_window: 0,
    };
    pub const SYNC: Policy = Policy {
        kind: PolicyKind::Sync,
        batch_window: 0,
    };
    pub const ASYNC: Policy = Policy {
        kind: PolicyKind::Async,
        batch_window: 0,
    };

    pub fn with_batch_window(mut self, window: Nanos) -> Policy {
        if self.kind == PolicyKind::Async {
            self.batch_window = window;
        }
        self
    }

    /// Whether calls pay the synchronous invocation overhead (else dispatch + delivery).
    pub fn is_blocking(&self) -> bool {
        self.kind != PolicyKind::Async
    }

    /// The policy's name in reports: `sync`, `async`, or `async+batch(100ms)`.
    pub fn name(&self) -> String {
        match (self.kind, self.batch_window) {
            (PolicyKind::Sequential, _) => "sequential".into(),
            (PolicyKind::Sync, _) => "sync".into(),
            (PolicyKind::Async, 0) => "async".into(),
            (PolicyKind::Async, w) => format!(
                "async+batch({})",
                crate::duration::format(&std::time::Duration::from_nanos(w))
            ),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for PolicyKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "sequential" | "seq" => Ok(PolicyKind::Sequential),
            "sync" => Ok(PolicyKind::Sync),
            "async" => Ok(PolicyKind::Async),
            other => Err(format!(
                "unknown policy \"{other}\"; the policies are sequential, sync and async"
            )),
        }
    }
}
