//! Sleeps for the duration in its arguments and echoes them: replays scenario latencies through the
//! real pipeline. Can also fail or return a padded result on request, to exercise those paths.

use super::{Tool, ToolContext, ToolFailure, args};
use crate::error::InputError;
use async_trait::async_trait;
use serde_json::{Value, json};
use std::time::Duration;

/// The longest one run may sleep.
pub const MAX_SLEEP_MS: u64 = 900_000;
/// Lets tests produce a result just over the result limit.
const MAX_PAD_BYTES: u64 = 1024 * 1024;

pub struct Synthetic;

#[async_trait]
impl Tool for Synthetic {
    fn check_arguments(&self, arguments: &Value) -> Result<(), InputError> {
        args::only_known(arguments, &["sleep_ms", "echo", "fail", "pad_bytes"])?;
        args::optional_u64(arguments, "sleep_ms", MAX_SLEEP_MS)?;
        args::optional_str(arguments, "fail")?;
        args::optional_u64(arguments, "pad_bytes", MAX_PAD_BYTES)?;
        Ok(())
    }

    async fn run(&self, arguments: Value, context: ToolContext) -> Result<Value, ToolFailure> {
        self.check_arguments(&arguments)
            .map_err(|e| ToolFailure::new(e.to_string()))?;
        let sleep_ms = args::optional_u64(&arguments, "sleep_ms", MAX_SLEEP_MS)
            .map_err(|e| ToolFailure::new(e.to_string()))?
            .unwrap_or(0);
        record_start(&context.task_id);
        if sleep_ms > 0 {
            context
                .wait(Duration::from_millis(sleep_ms), "cancelled while sleeping")
                .await?;
        }
        record_run(&context.task_id);
        if let Ok(Some(message)) = args::optional_str(&arguments, "fail") {
            return Err(ToolFailure::new(message.to_string()));
        }
        let pad_bytes = args::optional_u64(&arguments, "pad_bytes", MAX_PAD_BYTES)
            .map_err(|e| ToolFailure::new(e.to_string()))?
            .unwrap_or(0);
        let mut result = json!({ "slept_ms": sleep_ms, "echo": arguments });
        if pad_bytes > 0 {
            result["pad"] = Value::String("x".repeat(pad_bytes as usize));
        }
        Ok(result)
    }
}

/// `ASYNCTOOLS_SYNTHETIC_RUN_LOG=<file>`: each completed run appends `<task id> <pid>` to the file
/// (one small O_APPEND write, atomic between processes). The chaos tests count runs with it: the
/// run's visible effect.
fn record_run(task_id: &str) {
    append_run_log(&format!("{task_id} {}\n", std::process::id()));
}

/// `ASYNCTOOLS_SYNTHETIC_RUN_LOG=<file>`: each run's start appends `start <task id> <pid> <epoch
/// ms>`: the chaos tests measure how soon a killed worker's task starts again.
fn record_start(task_id: &str) {
    append_run_log(&format!(
        "start {task_id} {} {}\n",
        std::process::id(),
        crate::clock::now_ms()
    ));
}

fn append_run_log(line: &str) {
    use std::io::Write;
    let Some(path) = std::env::var_os("ASYNCTOOLS_SYNTHETIC_RUN_LOG") else {
        return;
    };
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        tracing::warn!(error = %e, "could not append to the synthetic run log");
    }
}
