//! The tools behind the catalog. A tool checks its arguments (at submit time, so bad input fails fast)
//! and runs them; the worker bounds every run by the tool's timeout.

mod research;
mod sentiment;
mod synthetic;

pub use research::Research;
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
}

/// A tool's own failure: recorded as FAILED, never retried (a retry would run the effect twice).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ToolFailure(pub String);

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
        ToolBox { tools }
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
        for name in catalog.names() {
            self.get(name)?;
        }
        Ok(())
    }
}

/// Argument helpers shared by the tools: each error names the argument.
pub(crate) mod args {
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
