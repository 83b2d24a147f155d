//! The tools behind the catalog. A tool checks its arguments (at submit time, so bad input fails fast)
//! and runs them; the worker bounds every run by the tool's timeout.

pub mod custom;
mod research;
pub mod scaffold;
mod schema;
mod sentiment;
pub mod synthetic;

pub use research::Research;
pub use schema::SchemaCheck;
pub use sentiment::{Sentiment, analyze};
pub use synthetic::Synthetic;

use crate::catalog::Catalog;
use crate::error::InputError;
use async_trait::async_trait;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// What a run knows besides its arguments.
#[derive(Debug, Clone)]
pub struct ToolContext {
    pub task_id: String,
    pub conversation_id: String,
    /// Time left for this run (the worker enforces it; tools may use it to stop early).
    pub budget: Duration,
    /// Cancelled when the task is cancelled (or taken over) while it runs: a tool should stop, since
    /// whatever it returns afterwards is discarded.
    pub cancelled: tokio_util::sync::CancellationToken,
}

impl ToolContext {
    pub fn new(task_id: &str, conversation_id: &str, budget: Duration) -> ToolContext {
        ToolContext {
            task_id: task_id.to_string(),
            conversation_id: conversation_id.to_string(),
            budget,
            cancelled: tokio_util::sync::CancellationToken::new(),
        }
    }

    /// Waits `duration`, or fails with `why` as soon as the task is cancelled (a cancelled run's
    /// result is discarded, and its worker is free for the next task at once).
    pub async fn wait(&self, duration: Duration, why: &str) -> Result<(), ToolFailure> {
        tokio::select! {
            () = tokio::time::sleep(duration) => Ok(()),
            () = self.cancelled.cancelled() => Err(ToolFailure::new(why)),
        }
    }
}

/// A tool's own failure: recorded as FAILED (or TIMED_OUT when the tool's target says it ran out of
/// time), never retried (a retry would run the effect twice). The worker cuts the message to
/// `MAX_ERROR_MESSAGE_BYTES` before it is written; tools quoting what their target said cut it too.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ToolFailure {
    pub message: String,
    /// The target timed out (a Lambda function's own timeout, say): the task ends TIMED_OUT.
    pub timed_out: bool,
    /// The target answered more than a result may be: the task ends FAILED `result_too_large`.
    pub result_too_large: bool,
}

impl ToolFailure {
    pub fn new(message: impl Into<String>) -> ToolFailure {
        ToolFailure {
            message: message.into(),
            timed_out: false,
            result_too_large: false,
        }
    }

    pub fn timed_out(message: impl Into<String>) -> ToolFailure {
        ToolFailure {
            timed_out: true,
            ..ToolFailure::new(message)
        }
    }

    pub fn result_too_large(message: impl Into<String>) -> ToolFailure {
        ToolFailure {
            result_too_large: true,
            ..ToolFailure::new(message)
        }
    }
}

#[async_trait]
pub trait Tool: Send + Sync {
    /// Checks the arguments without running anything.
    fn check_arguments(&self, arguments: &Value) -> Result<(), InputError>;

    async fn run(&self, arguments: Value, context: ToolContext) -> Result<Value, ToolFailure>;
}

/// The tool implementations by name.
#[derive(Clone)]
pub struct ToolBox {
    tools: BTreeMap<String, Arc<dyn Tool>>,
}

impl ToolBox {
    /// The built-in tools of the issue: `sentiment`, `research` and `synthetic`.
    pub fn builtin() -> Self {
        let mut tools: BTreeMap<String, Arc<dyn Tool>> = BTreeMap::new();
        tools.insert("sentiment".into(), Arc::new(Sentiment));
        tools.insert("research".into(), Arc::new(Research));
        tools.insert("synthetic".into(), Arc::new(Synthetic));
        // Yours, from `asynctools tools new` (workers/src/tools/custom/).
        custom::register(ToolBox { tools })
    }

    /// Adds or replaces a tool (tests use it to count executions).
    pub fn with(mut self, name: &str, tool: Arc<dyn Tool>) -> Self {
        self.tools.insert(name.to_string(), tool);
        self
    }

    pub fn get(&self, name: &str) -> Result<&Arc<dyn Tool>, InputError> {
        self.tools.get(name).ok_or_else(|| {
            InputError::new(
                "tool",
                format!("{name:?} has no implementation in this build"),
            )
        })
    }

    /// Every catalog tool must have an implementation, or the binary would accept tasks it cannot run.
    pub fn covers(&self, catalog: &Catalog) -> Result<(), InputError> {
        for spec in catalog.tools() {
            self.get(&spec.name).map_err(|_| {
                InputError::new(
                    format!("tools.{}", spec.name),
                    format!(
                        "kind = \"{}\" but no such tool is built into this binary: `asynctools \
                         tools new NAME` writes one and registers it (docs/tools.md)",
                        spec.kind.as_str()
                    ),
                )
            })?;
        }
        Ok(())
    }
}

/// Argument helpers shared by the tools (here and the AWS-backed ones): each error names the argument.
pub mod args {
    use crate::error::InputError;
    use serde_json::Value;

    pub fn field(name: &str) -> String {
        format!("arguments.{name}")
    }

    pub fn only_known(arguments: &Value, known: &[&str]) -> Result<(), InputError> {
        let unknown = arguments
            .as_object()
            .and_then(|map| map.keys().find(|k| !known.contains(&k.as_str())));
        if let Some(unknown) = unknown {
            return Err(InputError::new(
                field(unknown),
                format!(
                    "is not an argument of this tool (known: {})",
                    known.join(", ")
                ),
            ));
        }
        Ok(())
    }

    pub fn required_str<'a>(arguments: &'a Value, name: &str) -> Result<&'a str, InputError> {
        match arguments.get(name) {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(InputError::new(field(name), "must be a string")),
            None => Err(InputError::new(field(name), "is required")),
        }
    }

    pub fn optional_u64(
        arguments: &Value,
        name: &str,
        max: u64,
    ) -> Result<Option<u64>, InputError> {
        match arguments.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if n <= max => Ok(Some(n)),
                Some(n) => Err(InputError::new(
                    field(name),
                    format!("{n} is above the limit {max}"),
                )),
                None => Err(InputError::new(
                    field(name),
                    "must be a non-negative integer",
                )),
            },
        }
    }

    pub fn optional_str<'a>(
        arguments: &'a Value,
        name: &str,
    ) -> Result<Option<&'a str>, InputError> {
        match arguments.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(InputError::new(field(name), "must be a string")),
        }
    }
}
