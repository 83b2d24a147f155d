//! The dispatcher's HTTP API behind the Function URL (AWS_IAM auth is enforced by Lambda, which
//! hands over the caller's IAM ARN; the task's owner is that principal). The routes and the shapes
//! of the answers are `api`'s (the client reads the same table).
//!
//! Path segments are percent-decoded. Another owner's task answers exactly as a missing one (404).
//! Errors are `{"error": "..."}` with 400 (bad input), 403 (no IAM identity), 404, 405, 413 or 500.

use crate::api::{CancelReply, ErrorReply, Matched, PageQuery, PageReply, Route, match_route};
use crate::dispatcher::{Caller, Dispatcher};
use crate::error::PipelineError;
use crate::limits::MAX_ARGUMENTS_BYTES;
use crate::protocol::TaskRequest;
use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use aws_lambda_events::http::{HeaderMap, HeaderValue, header::CONTENT_TYPE};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::HashMap;

pub use crate::api::Reply;

/// A request body may carry the arguments (64 KiB) plus the rest of the request.
pub const MAX_REQUEST_BYTES: usize = MAX_ARGUMENTS_BYTES + 16 * 1024;

fn reply(status: u16, body: Value) -> Reply {
    Reply { status, body }
}

fn error(status: u16, message: impl std::fmt::Display) -> Reply {
    let body = ErrorReply {
        error: message.to_string(),
    };
    reply(status, to_json(&body))
}

fn from_pipeline(e: PipelineError) -> Reply {
    match &e {
        PipelineError::NotFound(_) => error(404, e),
        PipelineError::QuotaExceeded { .. } => error(429, e),
        _ if e.is_caller_error() => error(400, e),
        _ => error(500, e.incident()),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_else(|e| json!({ "error": e.to_string() }))
}

/// `status` with the body of `answer`, or the error's reply.
fn answer<T: serde::Serialize>(status: u16, answer: Result<T, PipelineError>) -> Reply {
    match answer {
        Ok(body) => reply(status, to_json(&body)),
        Err(e) => from_pipeline(e),
    }
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
    let (route, param) = match match_route(method, &segments) {
        Matched::Route(route, param) => (route, param),
        Matched::WrongMethod => {
            return error(405, format!("method {method} is not allowed on {path}"));
        }
        Matched::NoRoute => return error(404, format!("no route for {method} {path}")),
    };
    match route {
        Route::Submit => {
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
            answer(202, dispatcher.submit(caller, request).await)
        }
        Route::Get => answer(200, dispatcher.get(caller, param).await),
        Route::Delivered => answer(200, dispatcher.mark_delivered(caller, param).await),
        Route::Cancel => answer(
            200,
            dispatcher
                .cancel(caller, param)
                .await
                .map(CancelReply::from),
        ),
        Route::List | Route::Undelivered => {
            let page = match PageQuery::parse(query) {
                Ok(page) => page,
                Err(message) => return error(400, message),
            };
            let tasks = if route == Route::List {
                dispatcher
                    .list(caller, param, page.limit, page.cursor)
                    .await
            } else {
                dispatcher
                    .undelivered(caller, param, page.limit, page.cursor)
                    .await
            };
            answer(200, tasks.map(PageReply::from))
        }
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
    let caller = match function_url_caller(&request, dispatcher.owner_scope()) {
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

/// The owner of a Function URL request: the IAM principal Lambda authenticated (`None` without one),
/// to `scope`.
pub fn function_url_caller(
    request: &LambdaFunctionUrlRequest,
    scope: crate::dispatcher::OwnerScope,
) -> Result<Option<Caller>, crate::error::InputError> {
    let arn = request
        .request_context
        .authorizer
        .as_ref()
        .and_then(|a| a.iam.as_ref())
        .and_then(|iam| iam.user_arn.as_deref());
    arn.map(|arn| Caller::from_iam_arn(arn, scope)).transpose()
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
