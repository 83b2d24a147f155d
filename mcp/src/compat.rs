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
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
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

/// A POST body, read and checked: the request's parts (with `Mcp-Name` completed on task
/// requests), its bytes and its JSON. Or the refusal to answer with.
pub struct Post {
    pub parts: http::request::Parts,
    pub bytes: axum::body::Bytes,
    pub message: Value,
}

impl Post {
    pub async fn read(limit: usize, request: Request) -> Result<Post, Response> {
        let (mut parts, body) = request.into_parts();
        let Ok(bytes) = to_bytes(body, limit).await else {
            return Err((StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response());
        };
        let message: Value = match serde_json::from_slice(&bytes) {
            Ok(value) => value,
            Err(e) => return Err(json_rpc_error(-32700, format!("Parse error: {e}"))),
        };
        if !is_json_rpc(&message) {
            return Err(json_rpc_error(
                -32600,
                "Invalid Request: not a JSON-RPC 2.0 message (needs \"jsonrpc\": \"2.0\" and a method)"
                    .into(),
            ));
        }
        complete_mcp_name(&mut parts.headers, &message);
        Ok(Post {
            parts,
            bytes,
            message,
        })
    }

    pub fn method(&self) -> Option<&str> {
        self.message.get("method").and_then(Value::as_str)
    }

    pub fn into_request(self) -> Request {
        Request::from_parts(self.parts, Body::from(self.bytes))
    }
}

fn complete_mcp_name(headers: &mut http::HeaderMap, message: &Value) {
    let task_method = headers
        .get("mcp-method")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|method| TASK_METHODS.contains(&method));
    if task_method && !headers.contains_key("mcp-name") {
        // Only plain visible ASCII is copied verbatim (anything else would need SEP-2243's Base64
        // form); our task ids are ULIDs.
        let task_id = message.pointer("/params/taskId").and_then(Value::as_str);
        if let Some(task_id) =
            task_id.filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_graphic()))
            && let Ok(header) = HeaderValue::from_str(task_id)
        {
            headers.insert("mcp-name", header);
        }
    }
}
