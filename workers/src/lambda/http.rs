//! The dispatcher's HTTP API behind the Function URL (AWS_IAM auth is enforced by Lambda):
//!
//! | method | path                                   | answer                           |
//! |--------|----------------------------------------|----------------------------------|
//! | POST   | `/tasks` (body: a task request)        | 202 + acknowledgement            |
//! | GET    | `/tasks/{task_id}`                     | 200 + task record                |
//! | POST   | `/tasks/{task_id}/cancel`              | 200 + `{cancelled, task}`        |
//! | GET    | `/conversations/{id}/tasks?limit=&cursor=` | 200 + `{tasks, next_cursor}` |
//!
//! Errors are `{"error": "..."}` with 400 (bad input), 404, 405, 413 or 500.

use crate::dispatcher::Dispatcher;
use crate::error::PipelineError;
use crate::limits::{DEFAULT_LIST_PAGE, MAX_ARGUMENTS_BYTES};
use crate::protocol::TaskRequest;
use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use aws_lambda_events::http::{HeaderMap, HeaderValue, header::CONTENT_TYPE};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::HashMap;

/// A request body may carry the arguments (64 KiB) plus the rest of the request.
pub const MAX_REQUEST_BYTES: usize = MAX_ARGUMENTS_BYTES + 16 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

fn reply(status: u16, body: Value) -> Reply {
    Reply { status, body }
}

fn error(status: u16, message: impl std::fmt::Display) -> Reply {
    reply(status, json!({ "error": message.to_string() }))
}

fn from_pipeline(e: PipelineError) -> Reply {
    match &e {
        PipelineError::NotFound(_) => error(404, e),
        _ if e.is_caller_error() => error(400, e),
        _ => {
            tracing::error!(error = %e, "dispatcher request failed");
            error(500, e)
        }
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_else(|e| json!({ "error": e.to_string() }))
}

pub async fn route(
    dispatcher: &Dispatcher,
    method: &str,
    path: &str,
    query: &HashMap<String, String>,
    body: Option<&str>,
) -> Reply {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match (method, segments.as_slice()) {
        ("POST", ["tasks"]) => {
            let body = body.unwrap_or("");
            if body.len() > MAX_REQUEST_BYTES {
                return error(
                    413,
                    format!(
                        "request body is {} bytes; the limit is {MAX_REQUEST_BYTES}",
                        body.len()
                    ),
                );
            }
            let request = match TaskRequest::from_json(body) {
                Ok(r) => r,
                Err(e) => return error(400, e),
            };
            match dispatcher.submit(request).await {
                Ok(ack) => reply(202, to_json(&ack)),
                Err(e) => from_pipeline(e),
            }
        }
        ("GET", ["tasks", task_id]) => match dispatcher.get(task_id).await {
            Ok(record) => reply(200, to_json(&record)),
            Err(e) => from_pipeline(e),
        },
        ("POST", ["tasks", task_id, "cancel"]) => match dispatcher.cancel(task_id).await {
            Ok(outcome) => reply(
                200,
                json!({ "cancelled": outcome.cancelled, "task": to_json(&outcome.record) }),
            ),
            Err(e) => from_pipeline(e),
        },
        ("GET", ["conversations", conversation_id, "tasks"]) => {
            let limit = match query.get("limit").map(|l| l.parse::<u32>()) {
                None => DEFAULT_LIST_PAGE,
                Some(Ok(limit)) => limit,
                Some(Err(_)) => return error(400, "limit: must be a whole number"),
            };
            match dispatcher
                .list(
                    conversation_id,
                    limit,
                    query.get("cursor").map(String::as_str),
                )
                .await
            {
                Ok(page) => reply(
                    200,
                    json!({ "tasks": to_json(&page.tasks), "next_cursor": page.next_cursor }),
                ),
                Err(e) => from_pipeline(e),
            }
        }
        (_, ["tasks"] | ["tasks", _] | ["tasks", _, "cancel"] | ["conversations", _, "tasks"]) => {
            error(405, format!("method {method} is not allowed on {path}"))
        }
        _ => error(404, format!("no route for {method} {path}")),
    }
}

/// The Function URL event in, the Function URL response out.
pub async fn handle_function_url(
    dispatcher: &Dispatcher,
    request: LambdaFunctionUrlRequest,
) -> LambdaFunctionUrlResponse {
    let method = request
        .request_context
        .http
        .method
        .clone()
        .unwrap_or_default();
    let path = request
        .raw_path
        .clone()
        .or_else(|| request.request_context.http.path.clone())
        .unwrap_or_default();
    let body = match (&request.body, request.is_base64_encoded) {
        (Some(b), true) => match base64::engine::general_purpose::STANDARD.decode(b) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => Some(text),
                Err(_) => return into_response(error(400, "request body is not UTF-8")),
            },
            Err(_) => return into_response(error(400, "request body is not valid base64")),
        },
        (body, _) => body.clone(),
    };
    into_response(
        route(
            dispatcher,
            &method,
            &path,
            &request.query_string_parameters,
            body.as_deref(),
        )
        .await,
    )
}

fn into_response(reply: Reply) -> LambdaFunctionUrlResponse {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let mut response = LambdaFunctionUrlResponse::default();
    response.status_code = i64::from(reply.status);
    response.headers = headers;
    response.body = Some(reply.body.to_string());
    response.is_base64_encoded = false;
    response
}
