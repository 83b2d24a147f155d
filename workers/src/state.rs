//! The task state machine. States only move forward; terminal states never change.
//!
//! ```text
//! PENDING ──claim──> RUNNING ──> SUCCEEDED | FAILED | TIMED_OUT
//!    │                  │ └─takeover (lease expired)─> RUNNING
//!    ├──────────────────┴──cancel──> CANCELLED
//!    └──> FAILED (malformed message) | TIMED_OUT (deadline passed before start)
//! ```

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Cancelled,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 6] = [
        TaskStatus::Pending,
        TaskStatus::Running,
        TaskStatus::Succeeded,
        TaskStatus::Failed,
        TaskStatus::TimedOut,
        TaskStatus::Cancelled,
    ];

    pub fn is_terminal(self) -> bool {
        !matches!(self, TaskStatus::Pending | TaskStatus::Running)
    }

    /// Whether `self -> next` is a legal transition. RUNNING -> RUNNING is a lease takeover.
    pub fn can_move_to(self, next: TaskStatus) -> bool {
        use TaskStatus::*;
        match self {
            Pending => next != Pending,
            Running => next != Pending,
            Succeeded | Failed | TimedOut | Cancelled => false,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "PENDING",
            TaskStatus::Running => "RUNNING",
            TaskStatus::Succeeded => "SUCCEEDED",
            TaskStatus::Failed => "FAILED",
            TaskStatus::TimedOut => "TIMED_OUT",
            TaskStatus::Cancelled => "CANCELLED",
        }
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::TaskStatus::{self, *};

    #[test]
    fn terminal_states_never_change() {
        for from in TaskStatus::ALL.into_iter().filter(|s| s.is_terminal()) {
            for to in TaskStatus::ALL {
                assert!(!from.can_move_to(to), "{from} -> {to} must be illegal");
            }
        }
    }

    #[test]
    fn nothing_returns_to_pending() {
        for from in TaskStatus::ALL {
            assert!(!from.can_move_to(Pending));
        }
    }

    #[test]
    fn the_issue_transitions_are_legal() {
        for (from, to) in [
            (Pending, Running),
            (Running, Succeeded),
            (Running, Failed),
            (Running, TimedOut),
            (Pending, Cancelled),
            (Running, Cancelled),
        ] {
            assert!(from.can_move_to(to), "{from} -> {to}");
        }
    }

    #[test]
    fn wire_names_are_screaming_snake_case() {
        assert_eq!(serde_json::to_string(&TimedOut).unwrap(), "\"TIMED_OUT\"");
        assert_eq!(
            serde_json::from_str::<TaskStatus>("\"CANCELLED\"").unwrap(),
            Cancelled
        );
    }
}
