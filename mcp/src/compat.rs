//! A guard in front of rmcp's HTTP service, for the answers the spec asks for and interoperability:
//!
//! - a body over the limit: HTTP 413 (rmcp enforces the same limit; this layer buffers first);
//! - a body that is not JSON: HTTP 400 with JSON-RPC `-32700 Parse error` (rmcp answers 415 with
//!   plain text);
//! - JSON that is not a JSON-RPC message: HTTP 400 with `-32600 Invalid Request`;
//! - `Mcp-Name` on task methods: rmcp 3.11 requires SEP-2243's `Mcp-Name` header on `tasks/get`,
//!   `tasks/update` and `tasks/cancel` (the task id, so intermediaries can route polls), while the
//!   Python MCP SDK (mcp 2.3, used by fastmcp-tasks 4.1.4) sends `Mcp-Method` without it. The
//!   header only repeats `params.taskId`, so when it is missing it is added from the body. A header
//!   that is present is never touched: a mismatch is still refused by rmcp.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};

const TASK_METHODS: &[&str] = &["tasks/get", "tasks/update", "tasks/cancel"];

fn json_rpc_error(code: i32, message: String) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}});
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Whether `value` is a JSON-RPC 2.0 request, notification or response object.
fn is_json_rpc(value: &Value) -> bool {
    let Some(object) = value.as_object() else {
        return false;
    };
    object.get("jsonrpc").and_then(Value::as_str) == Some("2.0")
        && (object.get("method").is_some_and(Value::is_string)
            || (object.contains_key("id")
                && (object.contains_key("result") || object.contains_key("error"))))
}

/// Checks a POST body and completes task requests' headers; `limit` is the body limit.
pub async fn guard(limit: usize, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, limit).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let value: Value = match serde_json::from_slice(&bytes) {
        Ok(value) => value,
        Err(e) => return json_rpc_error(-32700, format!("Parse error: {e}")),
    };
    if !is_json_rpc(&value) {
        return json_rpc_error(
            -32600,
            "Invalid Request: not a JSON-RPC 2.0 message (needs \"jsonrpc\": \"2.0\" and a method)"
                .into(),
        );
    }
    let task_method = parts
        .headers
        .get("mcp-method")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|method| TASK_METHODS.contains(&method));
    if task_method && !parts.headers.contains_key("mcp-name") {
        // Only plain visible ASCII is copied verbatim (anything else would need SEP-2243's Base64
        // form); our task ids are ULIDs.
        let task_id = value.pointer("/params/taskId").and_then(Value::as_str);
        if let Some(task_id) =
            task_id.filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_graphic()))
            && let Ok(header) = HeaderValue::from_str(task_id)
        {
            parts.headers.insert("mcp-name", header);
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
