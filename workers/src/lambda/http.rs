//! The dispatcher's HTTP API behind the Function URL (AWS_IAM auth is enforced by Lambda, which
//! hands over the caller's IAM ARN; the task's owner is that principal):
//!
//! | method | path                                          | answer                         |
//! |--------|-----------------------------------------------|--------------------------------|
//! | POST   | `/tasks` (body: a task request)               | 202 + acknowledgement          |
//! | GET    | `/tasks/{task_id}`                            | 200 + task record              |
//! | POST   | `/tasks/{task_id}/cancel`                     | 200 + `{cancelled, task}`      |
//! | POST   | `/tasks/{task_id}/delivered`                  | 200 + task record              |
//! | GET    | `/conversations/{id}/tasks?limit=&cursor=`    | 200 + `{tasks, next_cursor}`   |
//! | GET    | `/consumers/{name}/undelivered?limit=&cursor=`| 200 + `{tasks, next_cursor}`   |
//!
//! Path segments are percent-decoded. Another owner's task answers exactly as a missing one (404).
//! Errors are `{"error": "..."}` with 400 (bad input), 403 (no IAM identity), 404, 405, 413 or 500.

use crate::dispatcher::{Caller, Dispatcher};
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

fn page_reply(page: Result<crate::ports::TaskPage, PipelineError>) -> Reply {
    match page {
        Ok(page) => reply(
            200,
            json!({ "tasks": to_json(&page.tasks), "next_cursor": page.next_cursor }),
        ),
        Err(e) => from_pipeline(e),
    }
}

/// `limit` (default `DEFAULT_LIST_PAGE`) and `cursor` of a list request.
fn page_args(query: &HashMap<String, String>) -> Result<(u32, Option<&str>), Reply> {
    let limit = match query.get("limit").map(|l| l.parse::<u32>()) {
        None => DEFAULT_LIST_PAGE,
        Some(Ok(limit)) => limit,
        Some(Err(_)) => return Err(error(400, "limit: must be a whole number")),
    };
    Ok((limit, query.get("cursor").map(String::as_str)))
}

/// Routes one request. `caller` is `None` when the request carries no identity, which a Function URL
/// with AWS_IAM auth never lets through: refused rather than served as anybody.
pub async fn route(
    dispatcher: &Dispatcher,
    caller: Option<&Caller>,
    method: &str,
    path: &str,
    query: &HashMap<String, String>,
    body: Option<&str>,
) -> Reply {
    let Some(caller) = caller else {
        return error(403, "the request carries no IAM identity");
    };
    let mut segments = Vec::new();
    for raw in path.trim_matches('/').split('/').filter(|s| !s.is_empty()) {
        match percent_encoding::percent_decode_str(raw).decode_utf8() {
            Ok(segment) => segments.push(segment.into_owned()),
            Err(_) => {
                return error(
                    400,
                    format!("path segment {raw:?} is not UTF-8 once decoded"),
                );
            }
        }
    }
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
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
            match dispatcher.submit(caller, request).await {
                Ok(ack) => reply(202, to_json(&ack)),
                Err(e) => from_pipeline(e),
            }
        }
        ("GET", ["tasks", task_id]) => match dispatcher.get(caller, task_id).await {
            Ok(record) => reply(200, to_json(&record)),
            Err(e) => from_pipeline(e),
        },
        ("POST", ["tasks", task_id, "delivered"]) => {
            match dispatcher.mark_delivered(caller, task_id).await {
                Ok(record) => reply(200, to_json(&record)),
                Err(e) => from_pipeline(e),
            }
        }
        ("POST", ["tasks", task_id, "cancel"]) => match dispatcher.cancel(caller, task_id).await {
            Ok(outcome) => reply(
                200,
                json!({ "cancelled": outcome.cancelled, "task": to_json(&outcome.record) }),
            ),
            Err(e) => from_pipeline(e),
        },
        ("GET", ["conversations", conversation_id, "tasks"]) => {
            let (limit, cursor) = match page_args(query) {
                Ok(args) => args,
                Err(reply) => return reply,
            };
            page_reply(
                dispatcher
                    .list(caller, conversation_id, limit, cursor)
                    .await,
            )
        }
        ("GET", ["consumers", consumer, "undelivered"]) => {
            let (limit, cursor) = match page_args(query) {
                Ok(args) => args,
                Err(reply) => return reply,
            };
            page_reply(
                dispatcher
                    .undelivered(caller, consumer, limit, cursor)
                    .await,
            )
        }
        (
            _,
            ["tasks"]
            | ["tasks", _]
            | ["tasks", _, "cancel" | "delivered"]
            | ["conversations", _, "tasks"]
            | ["consumers", _, "undelivered"],
        ) => error(405, format!("method {method} is not allowed on {path}")),
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
    let caller = match function_url_caller(&request) {
        Ok(caller) => caller,
        Err(e) => return into_response(error(403, e)),
    };
    into_response(
        route(
            dispatcher,
            caller.as_ref(),
            &method,
            &path,
            &request.query_string_parameters,
            body.as_deref(),
        )
        .await,
    )
}

/// The owner of a Function URL request: the IAM principal Lambda authenticated (`None` without one).
pub fn function_url_caller(
    request: &LambdaFunctionUrlRequest,
) -> Result<Option<Caller>, crate::error::InputError> {
    let arn = request
        .request_context
        .authorizer
        .as_ref()
        .and_then(|a| a.iam.as_ref())
        .and_then(|iam| iam.user_arn.as_deref());
    arn.map(Caller::from_iam_arn).transpose()
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
