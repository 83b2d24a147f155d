//! The synthetic tool, timed: when each task's tool run started and ended, to the microsecond,
//! and how many times it ran (the exactly-once check).

use async_trait::async_trait;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use workers::tools::{Tool, ToolContext, ToolFailure};

/// When the tool ran, per task id, and how often.
#[derive(Default)]
pub(crate) struct ToolLog {
    pub(crate) runs: HashMap<String, (Instant, Option<Instant>, u32)>,
}

/// The built-in synthetic tool, timed: the worker handler runs this in its place, so the start
/// and end of each run are known to the microsecond (the task record keeps milliseconds only).
pub(crate) struct TimedSynthetic {
    pub(crate) inner: Arc<dyn Tool>,
    pub(crate) log: Arc<Mutex<ToolLog>>,
}

#[async_trait]
impl Tool for TimedSynthetic {
    fn check_arguments(&self, arguments: &Value) -> Result<(), workers::InputError> {
        self.inner.check_arguments(arguments)
    }

    async fn run(&self, arguments: Value, context: ToolContext) -> Result<Value, ToolFailure> {
        let task = context.task_id.clone();
        {
            let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
            let entry = log
                .runs
                .entry(task.clone())
                .or_insert((Instant::now(), None, 0));
            entry.0 = Instant::now();
            entry.2 += 1;
        }
        let result = self.inner.run(arguments, context).await;
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = log.runs.get_mut(&task) {
            entry.1 = Some(Instant::now());
        }
        result
    }
}
