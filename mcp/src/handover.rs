//! Handing finished results to the model: what a result looks like in the model's context (text
//! and JSON), and the claim that makes each hand-over happen once.
//!
//! Every path that puts a result before the model — `task_results`, a result appended to a later
//! tool result, a channel push, an inline answer — first claims the task (a conditional write of
//! its `delivered` flag, `workers::delivery::claim_delivery`) and shows the result only if it won.
//! So a result reaches a conversation once, even with two requests of that conversation racing,
//! server replicas sharing a reply queue, or a restart in between.

use crate::status::{is_tool_error, kind_name, mcp_status};
use serde_json::{Value, json};
use workers::TaskRecord;
use workers::record::TaskError;

/// Results one reply carries at most; the rest wait for the next one.
pub const MAX_RESULTS_PER_REPLY: usize = 20;
/// The `_meta` key under which a tool result lists the results appended to it.
pub const RESULTS_META_KEY: &str = "io.asynctools/results";

/// A finished task as the model reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// `{taskId, tool, status, result?, error?}`
    pub json: Value,
    /// One line naming the tool and task, then the result.
    pub text: String,
}

impl Finished {
    pub fn of(record: &TaskRecord) -> Finished {
        let status = mcp_status(record.status, record.error.as_ref());
        let status = status_name(status);
        let mut json = json!({
            "taskId": record.task_id,
            "tool": record.tool,
            "status": status,
        });
        let (tool, id) = (&record.tool, &record.task_id);
        let text = match (&record.result, &record.error) {
            (_, Some(error)) if error.kind == workers::record::ErrorKind::Cancelled => {
                json["error"] = error_json(error);
                format!("[asynctools] {tool} (task {id}) was cancelled: it has no result.")
            }
            (_, Some(error)) => {
                json["error"] = error_json(error);
                let whose = if is_tool_error(Some(error)) {
                    "the tool reported an error"
                } else {
                    "the task failed"
                };
                format!(
                    "[asynctools] {tool} (task {id}) finished without a result: {whose} ({}): {}",
                    kind_name(error.kind),
                    error.message
                )
            }
            (Some(result), None) => {
                json["result"] = result.clone();
                format!("[asynctools] Result of {tool} (task {id}): {result}")
            }
            (None, None) => format!("[asynctools] {tool} (task {id}) finished with no output."),
        };
        Finished { json, text }
    }
}

fn error_json(error: &TaskError) -> Value {
    json!({"kind": kind_name(error.kind), "message": error.message})
}

pub fn status_name(status: rmcp::model::TaskStatus) -> &'static str {
    use rmcp::model::TaskStatus::*;
    match status {
        Working => "working",
        InputRequired => "input_required",
        Completed => "completed",
        Failed => "failed",
        Cancelled => "cancelled",
        // A status of a later SDK: named as it serializes.
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use workers::TaskStatus;
    use workers::record::{ErrorKind, NewTask};

    fn record(status: TaskStatus) -> TaskRecord {
        let mut record = TaskRecord::pending(
            NewTask {
                task_id: "01M8RHG0JA4TF2PYGERHQTV0J2".into(),
                owner: "local:test".into(),
                reply_to: "mcp".into(),
                conversation_id: "mcp-x".into(),
                tool: "research".into(),
                arguments: json!({}),
                idempotency_key: None,
                deadline_ms: None,
            },
            1_764_583_200_000,
            7,
        );
        record.status = status;
        record
    }

    #[test]
    fn a_result_names_its_tool_and_task_and_carries_the_json() {
        let mut done = record(TaskStatus::Succeeded);
        done.result = Some(json!({"findings": "x"}));
        let finished = Finished::of(&done);
        assert_eq!(
            finished.text,
            r#"[asynctools] Result of research (task 01M8RHG0JA4TF2PYGERHQTV0J2): {"findings":"x"}"#
        );
        assert_eq!(finished.json["status"], "completed");
        assert_eq!(finished.json["result"]["findings"], "x");
    }

    #[test]
    fn failures_and_cancels_say_there_is_no_result() {
        let mut failed = record(TaskStatus::Failed);
        failed.error = Some(TaskError::new(ErrorKind::ToolFailed, "boom"));
        let finished = Finished::of(&failed);
        assert!(
            finished
                .text
                .contains("the tool reported an error (tool_failed): boom")
        );
        assert_eq!(finished.json["status"], "completed");
        assert_eq!(finished.json["error"]["kind"], "tool_failed");

        let mut timed_out = record(TaskStatus::TimedOut);
        timed_out.error = Some(TaskError::new(ErrorKind::TimedOut, "too slow"));
        let finished = Finished::of(&timed_out);
        assert!(finished.text.contains("the task failed (timed_out)"));
        assert_eq!(finished.json["status"], "failed");

        let mut cancelled = record(TaskStatus::Cancelled);
        cancelled.error = Some(TaskError::new(ErrorKind::Cancelled, "cancelled"));
        let finished = Finished::of(&cancelled);
        assert!(finished.text.ends_with("was cancelled: it has no result."));
        assert_eq!(finished.json["status"], "cancelled");
    }
}
