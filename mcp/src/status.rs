//! How a pipeline task looks to an MCP client (SEP-2663). The mapping, written down once:
//!
//! | pipeline record                                   | MCP task status | payload                  |
//! |---------------------------------------------------|-----------------|--------------------------|
//! | PENDING, RUNNING                                  | `working`       | none                     |
//! | SUCCEEDED                                         | `completed`     | result, `isError: false` |
//! | FAILED with `tool_failed` / `invalid_arguments`   | `completed`     | result, `isError: true`  |
//! | FAILED with `result_too_large`                    | `completed`     | result, `isError: true`  |
//! | FAILED (`abandoned`, `malformed_message`), TIMED_OUT | `failed`     | JSON-RPC error object    |
//! | CANCELLED                                         | `cancelled`     | none                     |
//!
//! A tool's own error is a result the model should read (MCP's `isError`); the infrastructure
//! failing is not the tool's answer, so the task itself fails. `result_too_large` is the
//! infrastructure's verdict, but on the tool's output for these arguments, not on the
//! infrastructure: running the same call again gives the same answer, and what helps is what only
//! the model can do (ask for less: a narrower query, fewer items). So, like the tool's own errors,
//! the model reads it (with the measured size and the limit) as an `isError` result.

use rmcp::model::{
    CallToolResult, ContentBlock, DetailedTask, ErrorCode, JsonObject, Task, TaskPayload,
    TaskStatus as McpStatus,
};
use serde_json::{Value, json};
use std::time::{Duration, UNIX_EPOCH};
use workers::TaskStatus;
use workers::record::{ErrorKind, TaskError, TaskRecord};

/// What the server advertises with every task.
#[derive(Debug, Clone, Copy)]
pub struct TaskTiming {
    /// How long a task stays readable, from its creation (`ttlMs`).
    pub ttl_ms: u64,
    /// The polling interval suggested to clients (`pollIntervalMs`).
    pub poll_interval_ms: u64,
}

impl TaskTiming {
    /// Whether a task created at `created_at_ms` is past its TTL at `now_ms`: it then answers
    /// like an unknown task (the table's own TTL deletes it later; DynamoDB takes up to days).
    pub fn expired(&self, created_at_ms: u64, now_ms: u64) -> bool {
        now_ms >= created_at_ms.saturating_add(self.ttl_ms)
    }
}

/// Whether a FAILED task's error is for the model to read (the tool's own answer, or its answer
/// being too large) rather than the infrastructure failing.
pub fn is_tool_error(error: Option<&TaskError>) -> bool {
    error.is_some_and(|e| {
        matches!(
            e.kind,
            ErrorKind::ToolFailed | ErrorKind::InvalidArguments | ErrorKind::ResultTooLarge
        )
    })
}

pub fn mcp_status(status: TaskStatus, error: Option<&TaskError>) -> McpStatus {
    match status {
        TaskStatus::Pending | TaskStatus::Running => McpStatus::Working,
        TaskStatus::Succeeded => McpStatus::Completed,
        TaskStatus::Failed if is_tool_error(error) => McpStatus::Completed,
        TaskStatus::Failed | TaskStatus::TimedOut => McpStatus::Failed,
        TaskStatus::Cancelled => McpStatus::Cancelled,
    }
}

/// RFC 3339 with milliseconds, UTC (`2026-12-01T10:00:00.123Z`).
pub fn timestamp(epoch_ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(epoch_ms)).to_string()
}

/// The base task (no payload) for a record.
pub fn task(record: &TaskRecord, timing: TaskTiming) -> Task {
    let status = mcp_status(record.status, record.error.as_ref());
    let message = match (record.status, &record.error) {
        (TaskStatus::Pending, _) => "queued; waiting for a worker".to_string(),
        (TaskStatus::Running, _) => format!("running (attempt {})", record.attempts.max(1)),
        (_, Some(error)) => format!("{}: {}", kind_name(error.kind), error.message),
        (status, None) => status.as_str().to_lowercase(),
    };
    Task::new(
        &record.task_id,
        status,
        timestamp(record.created_at_ms),
        timestamp(record.updated_at_ms),
    )
    .with_ttl_ms(timing.ttl_ms)
    .with_poll_interval_ms(timing.poll_interval_ms)
    .with_status_message(message)
}

/// The task a `tools/call` answers with, from the dispatcher's acknowledgement.
pub fn acknowledged(ack: &workers::SubmitAck, timing: TaskTiming) -> Task {
    Task::new(
        &ack.task_id,
        mcp_status(ack.status, None),
        timestamp(ack.created_at_ms),
        timestamp(ack.created_at_ms),
    )
    .with_ttl_ms(timing.ttl_ms)
    .with_poll_interval_ms(timing.poll_interval_ms)
    .with_status_message(ack.message.clone())
}

/// The task with its outcome inlined, as `tasks/get` and `notifications/tasks` carry it.
pub fn detailed(record: &TaskRecord, timing: TaskTiming) -> DetailedTask {
    let payload = match mcp_status(record.status, record.error.as_ref()) {
        McpStatus::Completed => TaskPayload::Completed {
            result: to_object(&tool_result(record)),
        },
        McpStatus::Failed => TaskPayload::Failed {
            error: failure(record),
        },
        McpStatus::Cancelled => TaskPayload::Cancelled,
        _ => TaskPayload::Working,
    };
    DetailedTask::new(task(record, timing), payload)
}

/// The `CallToolResult` of a finished task: the tool's JSON as structured content (and as text, for
/// clients that read only text), or the tool's own error with `isError`. Callers use it for
/// SUCCEEDED records and for FAILED ones whose error is the tool's own.
pub fn tool_result(record: &TaskRecord) -> CallToolResult {
    match (&record.result, &record.error) {
        (Some(value), None) => {
            let mut result = CallToolResult::success(vec![ContentBlock::text(value.to_string())]);
            result.structured_content = Some(value.clone());
            result
        }
        (_, Some(error)) => {
            let mut result = CallToolResult::error(vec![ContentBlock::text(format!(
                "{} failed ({}): {}",
                record.tool,
                kind_name(error.kind),
                error.message
            ))]);
            result.structured_content = Some(json!({
                "error": { "kind": kind_name(error.kind), "message": error.message },
                "task_id": record.task_id,
            }));
            result
        }
        (None, None) => CallToolResult::success(vec![ContentBlock::text("null")]),
    }
}

/// The JSON-RPC error object of a failed task.
pub fn failure(record: &TaskRecord) -> JsonObject {
    let (kind, message) = match &record.error {
        Some(e) => (kind_name(e.kind), e.message.clone()),
        None => (
            "unknown",
            format!("task {} ended {}", record.task_id, record.status),
        ),
    };
    let error = json!({
        "code": ErrorCode::INTERNAL_ERROR.0,
        "message": format!("{} {}: {message}", record.tool, kind.replace('_', " ")),
        "data": { "kind": kind, "status": record.status, "taskId": record.task_id },
    });
    to_object(&error)
}

pub fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidArguments => "invalid_arguments",
        ErrorKind::ToolFailed => "tool_failed",
        ErrorKind::TimedOut => "timed_out",
        ErrorKind::MalformedMessage => "malformed_message",
        ErrorKind::Abandoned => "abandoned",
        ErrorKind::Cancelled => "cancelled",
        ErrorKind::ResultTooLarge => "result_too_large",
    }
}

fn to_object(value: &impl serde::Serialize) -> JsonObject {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        // Results and errors above always serialize to objects.
        _ => JsonObject::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use workers::record::NewTask;

    const TIMING: TaskTiming = TaskTiming {
        ttl_ms: 60_000,
        poll_interval_ms: 250,
    };

    fn record(status: TaskStatus, error: Option<ErrorKind>) -> TaskRecord {
        let mut record = TaskRecord::pending(
            NewTask {
                task_id: "01M8RHG0JA4TF2PYGERHQTV0J2".into(),
                owner: "local:test".into(),
                reply_to: "mcp".into(),
                conversation_id: "mcp".into(),
                tool: "synthetic".into(),
                arguments: json!({}),
                idempotency_key: None,
                deadline_ms: None,
            },
            1_764_583_200_000,
            7,
        );
        record.status = status;
        record.error = error.map(|kind| TaskError::new(kind, "went wrong"));
        if status == TaskStatus::Succeeded {
            record.result = Some(json!({"answer": 42}));
        }
        record
    }

    /// The table in the module documentation, row by row.
    #[test]
    fn every_pipeline_state_maps_as_documented() {
        use ErrorKind::*;
        let rows = [
            (TaskStatus::Pending, None, McpStatus::Working),
            (TaskStatus::Running, None, McpStatus::Working),
            (TaskStatus::Succeeded, None, McpStatus::Completed),
            (TaskStatus::Failed, Some(ToolFailed), McpStatus::Completed),
            (
                TaskStatus::Failed,
                Some(InvalidArguments),
                McpStatus::Completed,
            ),
            (
                TaskStatus::Failed,
                Some(ResultTooLarge),
                McpStatus::Completed,
            ),
            (TaskStatus::Failed, Some(Abandoned), McpStatus::Failed),
            (
                TaskStatus::Failed,
                Some(MalformedMessage),
                McpStatus::Failed,
            ),
            (TaskStatus::TimedOut, Some(TimedOut), McpStatus::Failed),
            (TaskStatus::Cancelled, Some(Cancelled), McpStatus::Cancelled),
        ];
        for (status, kind, expected) in rows {
            let record = record(status, kind);
            let detailed = detailed(&record, TIMING);
            assert_eq!(detailed.status(), expected, "{status} {kind:?}");
            let wire = serde_json::to_value(&detailed).unwrap();
            match expected {
                McpStatus::Completed => {
                    let is_error = kind.is_some();
                    assert_eq!(wire["result"]["isError"], is_error, "{wire}");
                    assert!(wire.get("error").is_none());
                }
                McpStatus::Failed => {
                    assert_eq!(wire["error"]["code"], -32603, "{wire}");
                    assert_eq!(wire["error"]["data"]["kind"], kind_name(kind.unwrap()));
                    assert!(wire.get("result").is_none());
                }
                _ => assert!(wire.get("result").is_none() && wire.get("error").is_none()),
            }
            assert_eq!(wire["ttlMs"], 60_000);
            assert_eq!(wire["pollIntervalMs"], 250);
            assert_eq!(wire["createdAt"], "2025-12-01T10:00:00.000Z");
        }
    }

    #[test]
    fn a_success_carries_its_json_as_structured_content_and_text() {
        let result = tool_result(&record(TaskStatus::Succeeded, None));
        assert_eq!(result.structured_content, Some(json!({"answer": 42})));
        assert_eq!(result.is_error, Some(false));
        assert_eq!(
            result.content[0].as_text().unwrap().text,
            r#"{"answer":42}"#
        );
    }

    #[test]
    fn expiry_is_measured_from_creation() {
        assert!(!TIMING.expired(1_000, 60_999));
        assert!(TIMING.expired(1_000, 61_000));
        assert!(
            !TaskTiming {
                ttl_ms: u64::MAX,
                ..TIMING
            }
            .expired(u64::MAX - 1, u64::MAX - 1)
        );
    }
}
