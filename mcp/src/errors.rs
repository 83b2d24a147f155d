//! JSON-RPC errors with the codes the MCP spec gives them.

use rmcp::ErrorData as McpError;
use serde_json::json;
use workers::{InputError, PipelineError, QueueError};

/// SEP-2663: a task id the server does not know is `-32602 Invalid params`. Another owner's task,
/// an expired one and a malformed id all answer with this same error, so nothing is revealed.
pub fn unknown_task(task_id: &str) -> McpError {
    McpError::invalid_params(format!("unknown task: {task_id}"), None)
}

/// MCP tools spec: calling a tool the server does not have is `-32602 Invalid params`.
pub fn unknown_tool(name: &str, known: &[&str]) -> McpError {
    McpError::invalid_params(
        format!("unknown tool: {name:?} (known: {})", known.join(", ")),
        Some(json!({ "tool": name })),
    )
}

pub fn bad_input(e: &InputError) -> McpError {
    McpError::invalid_params(e.to_string(), Some(json!({ "field": e.field })))
}

/// A pipeline failure on a `tools/call`: the caller's mistakes are `-32602`; the backend failing is
/// `-32603` with an incident id (the error itself is logged under it, never sent: it names tables
/// and queues).
pub fn pipeline(e: PipelineError) -> McpError {
    match &e {
        PipelineError::Input(input) | PipelineError::Queue(QueueError::Input(input)) => {
            bad_input(input)
        }
        PipelineError::NotFound(id) => unknown_task(id),
        // A `tools/call` answers it as an `isError` result instead (`calls`), so the model reads
        // it; elsewhere (the tasks extensions) it is the request that is refused.
        PipelineError::QuotaExceeded { quota, message } => {
            McpError::invalid_request(message.clone(), Some(json!({ "quota": quota })))
        }
        PipelineError::Store(_) | PipelineError::Queue(_) => {
            McpError::internal_error(e.incident(), None)
        }
    }
}

/// A pipeline failure while looking a task up: anything the caller got wrong is an unknown task.
pub fn lookup(task_id: &str, e: PipelineError) -> McpError {
    if e.is_caller_error() {
        unknown_task(task_id)
    } else {
        pipeline(e)
    }
}

/// A blocking call that outlived the server's wait limit (a Lambda invocation's lifetime): the
/// task keeps running, and the error says how to get its result.
pub fn still_working(task_id: &str, waited_s: u64) -> McpError {
    McpError::internal_error(
        format!(
            "task {task_id} is still working after {waited_s} s, longer than this server waits \
             for a blocking call; it keeps running: call with the tasks extension and poll \
             tasks/get {task_id}"
        ),
        Some(json!({ "taskId": task_id, "status": "working" })),
    )
}
