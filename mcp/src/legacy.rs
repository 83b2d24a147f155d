//! The experimental tasks of protocol 2025-11-25 (SEP-1686), for the clients that speak them (the
//! TypeScript SDK v1's `experimental.tasks`, the Python SDK 1.x's `session.experimental`, VS Code):
//! a `task` parameter on `tools/call` answered with `CreateTaskResult`, and `tasks/get`,
//! `tasks/result`, `tasks/list`, `tasks/cancel`. rmcp 3.11 serves only the 2026-07-28 extension
//! (SEP-2663), whose `tasks/get` has another shape, so these requests are answered here, on the
//! JSON-RPC message, before rmcp sees them (`http.rs` for Streamable HTTP, `stdio.rs` for stdio),
//! through the same dispatcher, owners, status mapping and limits.
//!
//! 2025-11-25 clients look for task support in the server's `initialize` result
//! (`capabilities.tasks.requests.tools.call`) and in each tool's `execution.taskSupport`: both are
//! added here for sessions of that protocol.

use crate::calls::{Wait, finished_answer};
use crate::conversation::tasks_conversation;
use crate::errors;
use crate::scope::Scope;
use crate::server::FrontDoor;
use crate::status::{self, mcp_status};
use rmcp::ErrorData as McpError;
use rmcp::model::{CallToolRequestParams, JsonObject};
use serde_json::{Value, json};
use workers::TaskRecord;

/// The newest protocol version with these tasks; later ones have the tasks extension instead.
pub const LEGACY_VERSION: &str = "2025-11-25";
/// `tasks/list` page size.
const LIST_PAGE: u32 = 100;
const RELATED_TASK_META: &str = "io.modelcontextprotocol/related-task";

/// Whether a negotiated protocol version has these tasks (and `initialize`): dates compare as
/// strings.
pub fn is_legacy(version: &str) -> bool {
    version <= LEGACY_VERSION
}

/// Whether an `initialize` request's client declares the 2026-07-28 tasks extension (rmcp and
/// fastmcp-tasks clients do, even on a 2025-11-25 session): its task requests are then SEP-2663's.
pub fn declares_tasks_extension(initialize: &Value) -> bool {
    initialize
        .pointer("/params/capabilities/extensions")
        .and_then(Value::as_object)
        .is_some_and(|e| e.contains_key(rmcp::model::TASKS_EXTENSION_ID))
}

/// A request this module answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Legacy {
    ToolsList,
    CallAsTask(Box<CallToolRequestParams>),
    Get(String),
    Result(String),
    List(Option<String>),
    Cancel(String),
}

/// The request as one of ours, if it is: a 2025-11-25 session's `tools/list`, a `tools/call`
/// with a `task` parameter, or a task method. `Err` when its params are malformed.
pub fn classify(method: &str, params: Option<&Value>) -> Option<Result<Legacy, McpError>> {
    let params = params.cloned().unwrap_or_else(|| json!({}));
    let task_id = |params: &Value| -> Result<String, McpError> {
        params
            .get("taskId")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| McpError::invalid_params("params.taskId: a string is required", None))
    };
    Some(match method {
        "tools/list" => Ok(Legacy::ToolsList),
        "tools/call" if params.get("task").is_some_and(Value::is_object) => {
            serde_json::from_value::<CallToolRequestParams>(params)
                .map(|p| Legacy::CallAsTask(Box::new(p)))
                .map_err(|e| McpError::invalid_params(format!("tools/call params: {e}"), None))
        }
        "tasks/get" => task_id(&params).map(Legacy::Get),
        "tasks/result" => task_id(&params).map(Legacy::Result),
        "tasks/cancel" => task_id(&params).map(Legacy::Cancel),
        "tasks/list" => Ok(Legacy::List(
            params
                .get("cursor")
                .and_then(Value::as_str)
                .map(str::to_string),
        )),
        _ => return None,
    })
}

/// The server's `initialize` result as 2025-11-25 clients look for task support in it.
pub fn patch_initialize_result(result: &mut Value) {
    let legacy = result
        .get("protocolVersion")
        .and_then(Value::as_str)
        .is_some_and(is_legacy);
    if let Some(capabilities) = result
        .get_mut("capabilities")
        .and_then(Value::as_object_mut)
        && legacy
    {
        capabilities.insert(
            "tasks".into(),
            json!({"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}),
        );
    }
}

/// A JSON-RPC response for `id`.
pub fn response(id: Value, outcome: Result<Value, McpError>) -> Value {
    match outcome {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(error) => json!({"jsonrpc": "2.0", "id": id, "error": error}),
    }
}

impl FrontDoor {
    /// Answers a 2025-11-25 request in `scope`.
    pub async fn legacy(&self, scope: &Scope, request: Legacy) -> Result<Value, McpError> {
        match request {
            Legacy::ToolsList => Ok(self.legacy_tools()),
            Legacy::CallAsTask(params) => self.call_as_task(scope, &params).await,
            Legacy::Get(task_id) => {
                let record = self.lookup(&scope.caller, &task_id).await?;
                Ok(self.task_json(&record))
            }
            Legacy::Result(task_id) => self.task_result(scope, &task_id).await,
            Legacy::List(cursor) => self.list_tasks(scope, cursor.as_deref()).await,
            Legacy::Cancel(task_id) => self.cancel_legacy(scope, &task_id).await,
        }
    }

    /// `tools/list` with each tool's `execution.taskSupport`: the catalog's may run as tasks; the
    /// results tools answer at once and may not.
    fn legacy_tools(&self) -> Value {
        let catalog = self.dispatcher().catalog();
        let tools: Vec<Value> = self
            .tools()
            .iter()
            .map(|tool| {
                let mut value = serde_json::to_value(tool).unwrap_or_default();
                let support = if catalog.get(&tool.name).is_ok() {
                    "optional"
                } else {
                    "forbidden"
                };
                value["execution"] = json!({"taskSupport": support});
                value
            })
            .collect();
        json!({"tools": tools})
    }

    /// `tools/call` with `task`: the task, already completed when it finished within the inline
    /// bound (a fast tool costs no poll).
    async fn call_as_task(
        &self,
        scope: &Scope,
        params: &CallToolRequestParams,
    ) -> Result<Value, McpError> {
        if crate::agent_tools::parse(&params.name, None).is_some() {
            return Err(McpError::invalid_params(
                format!("{} answers at once and cannot run as a task", params.name),
                None,
            ));
        }
        let conversation = tasks_conversation(scope.handle());
        let task_id = workers::dispatcher::new_task_id();
        let ack = self
            .submit(&scope.caller, params, conversation, task_id)
            .await?
            .map_err(errors::pipeline)?;
        let bound = self.settings().inline_within;
        if !self.hub().latencies.worth_waiting(&params.name, bound) {
            let task = status::acknowledged(&ack, self.timing());
            return Ok(json!({"task": task_json(&task)}));
        }
        let wait = Wait {
            limit: Some(bound),
            context: None,
        };
        let record = match self.wait(&scope.caller, &ack.task_id, wait).await? {
            Some(record) => record,
            None => self.lookup(&scope.caller, &ack.task_id).await?,
        };
        Ok(json!({"task": self.task_json(&record)}))
    }

    /// `tasks/result`: waits for the task to end (up to `--max-wait`, where set), then answers as
    /// the `tools/call` would have.
    async fn task_result(&self, scope: &Scope, task_id: &str) -> Result<Value, McpError> {
        self.lookup(&scope.caller, task_id).await?;
        let _waiting = self
            .waiting_call(&scope.caller, self.settings().max_wait)
            .await
            .map_err(|refusal| McpError::invalid_request(refusal, None))?;
        let wait = Wait {
            limit: self.settings().max_wait,
            context: None,
        };
        let Some(record) = self.wait(&scope.caller, task_id, wait).await? else {
            let waited = self.settings().max_wait.unwrap_or_default().as_secs();
            return Err(errors::still_working(task_id, waited));
        };
        self.note_read(scope, &record).await;
        let mut result = serde_json::to_value(finished_answer(&record)?)
            .map_err(|e| McpError::internal_error(e.to_string(), None))?;
        if let Some(object) = result.as_object_mut() {
            object.remove("resultType");
            object.insert(
                "_meta".into(),
                json!({RELATED_TASK_META: {"taskId": task_id}}),
            );
        }
        Ok(result)
    }

    async fn list_tasks(&self, scope: &Scope, cursor: Option<&str>) -> Result<Value, McpError> {
        let page = self
            .dispatcher()
            .list(
                &scope.caller,
                &tasks_conversation(scope.handle()),
                LIST_PAGE,
                cursor,
            )
            .await
            .map_err(errors::pipeline)?;
        let tasks: Vec<Value> = page.tasks.iter().map(|r| self.task_json(r)).collect();
        let mut result = json!({"tasks": tasks});
        if let Some(next) = page.next_cursor {
            result["nextCursor"] = json!(next);
        }
        Ok(result)
    }

    async fn cancel_legacy(&self, scope: &Scope, task_id: &str) -> Result<Value, McpError> {
        let outcome = self
            .dispatcher()
            .cancel(&scope.caller, task_id)
            .await
            .map_err(|e| errors::lookup(task_id, e))?;
        if !outcome.cancelled {
            let status = mcp_status(outcome.record.status, outcome.record.error.as_ref());
            return Err(McpError::invalid_params(
                format!(
                    "Cannot cancel task {task_id}: it is already in terminal status {:?}",
                    crate::handover::status_name(status)
                ),
                None,
            ));
        }
        Ok(self.task_json(&outcome.record))
    }

    fn task_json(&self, record: &TaskRecord) -> Value {
        task_json(&status::task(record, self.timing()))
    }
}

/// A task as 2025-11-25 writes it: `ttl` and `pollInterval` in milliseconds.
fn task_json(task: &rmcp::model::Task) -> Value {
    let mut value = serde_json::to_value(task).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        rename(object, "ttlMs", "ttl");
        rename(object, "pollIntervalMs", "pollInterval");
        object.remove("resultType");
        object.entry("ttl").or_insert(Value::Null);
    }
    value
}

fn rename(object: &mut JsonObject, from: &str, to: &str) {
    if let Some(value) = object.remove(from) {
        object.insert(to.to_string(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_up_to_2025_11_25_are_legacy() {
        assert!(is_legacy("2025-11-25"));
        assert!(is_legacy("2025-06-18"));
        assert!(!is_legacy("2026-07-28"));
    }

    #[test]
    fn only_task_calls_and_task_methods_are_ours() {
        assert!(classify("tools/call", Some(&json!({"name": "x"}))).is_none());
        assert!(classify("ping", None).is_none());
        let call = classify(
            "tools/call",
            Some(&json!({"name": "research", "arguments": {"topic": "t"}, "task": {"ttl": 1000}})),
        )
        .unwrap()
        .unwrap();
        assert!(matches!(call, Legacy::CallAsTask(p) if p.name == "research"));
        assert_eq!(
            classify("tasks/get", Some(&json!({"taskId": "A"})))
                .unwrap()
                .unwrap(),
            Legacy::Get("A".into())
        );
        let bad = classify("tasks/result", Some(&json!({})))
            .unwrap()
            .unwrap_err();
        assert_eq!(bad.code, rmcp::model::ErrorCode::INVALID_PARAMS);
    }

    #[test]
    fn initialize_gains_the_tasks_capability_for_legacy_versions_only() {
        let mut legacy = json!({"protocolVersion": "2025-11-25", "capabilities": {"tools": {}}});
        patch_initialize_result(&mut legacy);
        assert_eq!(
            legacy["capabilities"]["tasks"]["requests"]["tools"]["call"],
            json!({})
        );
        let mut new = json!({"protocolVersion": "2026-07-28", "capabilities": {"tools": {}}});
        patch_initialize_result(&mut new);
        assert!(new["capabilities"].get("tasks").is_none());
    }
}
