//! `kind = "lambda"`: an existing Lambda function as a tool. The worker invokes it synchronously
//! (RequestResponse) with the arguments as its event and the task id in the client context, within
//! the run's budget, and takes its JSON answer as the result.
//!
//! At most one invocation per run: the SDK's own retries are off, because an invocation whose
//! answer was lost may still have run. Only a throttle (`TooManyRequestsException`: the function
//! did not start) is retried, with backoff, while the budget lasts. A function error is the tool's
//! failure (FAILED, with the function's `errorType` and `errorMessage`, each cut to a limit); only
//! Lambda timing the function out (`errorType` `Sandbox.Timedout`) is TIMED_OUT, whatever a
//! message says.

use super::{SchemaCheck, Tool, ToolContext, ToolFailure};
use crate::catalog::ToolSpec;
use crate::error::InputError;
use crate::limits::{
    MAX_ERROR_MESSAGE_BYTES, MAX_ERROR_TYPE_BYTES, MAX_RESULT_BYTES, MAX_TOOL_ANSWER_BYTES,
    bytes_label, cut_text,
};
use async_trait::async_trait;
use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::invoke::InvokeError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use base64::Engine as _;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The first wait after a throttle; doubled each time, at most [`MAX_THROTTLE_WAIT`].
const FIRST_THROTTLE_WAIT: Duration = Duration::from_millis(100);
const MAX_THROTTLE_WAIT: Duration = Duration::from_secs(5);
/// Lambda's limit on the base64 client context.
const MAX_CLIENT_CONTEXT_BYTES: usize = 3583;

pub struct LambdaTool {
    client: aws_sdk_lambda::Client,
    function: String,
    check: SchemaCheck,
}

impl LambdaTool {
    pub fn new(spec: &ToolSpec, sdk: &aws_config::SdkConfig) -> Result<LambdaTool, InputError> {
        let function = spec.function.clone().ok_or_else(|| {
            InputError::new(
                format!("tools.{}.function", spec.name),
                "is required for kind = \"lambda\"",
            )
        })?;
        // The run's budget bounds the call (the worker's timeout); the SDK must not cut it shorter
        // (the function's SdkConfig allows 5 s per operation) nor retry it.
        let timeout = Duration::from_secs(u64::from(spec.timeout_s) + 10);
        let mut config = aws_sdk_lambda::config::Builder::from(sdk);
        // AWS's own variable for Lambda's endpoint, honoured over a shared emulator endpoint
        // (moto runs the table and queues; the function may be elsewhere, e.g. `cargo lambda watch`).
        if let Some(url) = std::env::var("AWS_ENDPOINT_URL_LAMBDA")
            .ok()
            .filter(|u| !u.trim().is_empty())
        {
            config = config.endpoint_url(url);
        }
        let config = config
            .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_sdk_lambda::config::timeout::TimeoutConfig::builder()
                    .operation_timeout(timeout)
                    .operation_attempt_timeout(timeout)
                    .build(),
            )
            .build();
        Ok(LambdaTool {
            client: aws_sdk_lambda::Client::from_conf(config),
            function,
            check: SchemaCheck::new(spec)?,
        })
    }

    async fn invoke(&self, event: &[u8], context: &ToolContext) -> Result<Value, ToolFailure> {
        let client_context = base64::engine::general_purpose::STANDARD.encode(
            json!({"custom": {"task_id": context.task_id, "conversation_id": context.conversation_id}})
                .to_string(),
        );
        let client_context =
            (client_context.len() <= MAX_CLIENT_CONTEXT_BYTES).then_some(client_context);
        let started = Instant::now();
        let mut wait = FIRST_THROTTLE_WAIT;
        loop {
            let sent = self
                .client
                .invoke()
                .function_name(&self.function)
                .invocation_type(InvocationType::RequestResponse)
                .set_client_context(client_context.clone())
                .payload(Blob::new(event.to_vec()))
                .send()
                .await;
            match sent {
                Ok(output) => return self.answer(output.function_error(), output.payload()),
                Err(SdkError::ServiceError(e))
                    if matches!(e.err(), InvokeError::TooManyRequestsException(_))
                        && started.elapsed() + wait < context.budget =>
                {
                    tracing::info!(function = %self.function, ?wait, "throttled; trying again");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(MAX_THROTTLE_WAIT);
                }
                Err(e) => {
                    let message = match &e {
                        SdkError::ServiceError(service) => {
                            let raw = service.raw();
                            let body = raw.body().bytes().unwrap_or_default();
                            let body = String::from_utf8_lossy(&body[..body.len().min(300)]);
                            format!("{} (HTTP {}: {body})", service.err(), raw.status().as_u16())
                        }
                        other => format!("{}", aws_sdk_lambda::error::DisplayErrorContext(other)),
                    };
                    return Err(ToolFailure::new(format!(
                        "invoking function {}: {message}",
                        self.function
                    )));
                }
            }
        }
    }

    fn answer(
        &self,
        function_error: Option<&str>,
        payload: Option<&Blob>,
    ) -> Result<Value, ToolFailure> {
        let bytes = payload.map(|p| p.as_ref()).unwrap_or_default();
        if let Some(kind) = function_error {
            // Lambda's error payload: {"errorMessage": ..., "errorType": ...}. Both are the
            // function's text, cut before they go anywhere near a record.
            let error: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
            let message = error["errorMessage"].as_str().unwrap_or("no message");
            let error_type = error["errorType"].as_str();
            let timed_out = lambda_timed_out(error_type, message);
            let error_type = cut_text(error_type.unwrap_or(kind), MAX_ERROR_TYPE_BYTES);
            let head = format!("function {} failed ({error_type}): ", self.function);
            // The whole text within the limit, so its marker gives the message's own size.
            let message = cut_text(message, MAX_ERROR_MESSAGE_BYTES.saturating_sub(head.len()));
            let text = format!("{head}{message}");
            return Err(if timed_out {
                ToolFailure::timed_out(text)
            } else {
                ToolFailure::new(text)
            });
        }
        // Lambda caps an answer at 6 MB; past a size no result can have, it is not parsed. Below,
        // the worker measures the result on the bytes it would send.
        if bytes.len() > MAX_TOOL_ANSWER_BYTES {
            return Err(ToolFailure::result_too_large(format!(
                "function {} answered {} bytes; a result may be at most {} as sent",
                self.function,
                bytes.len(),
                bytes_label(MAX_RESULT_BYTES)
            )));
        }
        serde_json::from_slice(bytes).map_err(|e| {
            ToolFailure::new(format!(
                "function {} answered something that is not JSON ({e})",
                self.function
            ))
        })
    }
}

/// Whether Lambda itself stopped the function at its timeout, rather than the function failing
/// with words about a timeout (a function's own error may well say "Task timed out": an upstream
/// call of its own timed out, and that is its failure). Lambda says so with the error type
/// `Sandbox.Timedout`; runtimes before that type existed sent no `errorType` and a message of
/// exactly `<RFC 3339 time> <request id> Task timed out after <seconds> seconds`, which a
/// function's own error (always typed by its runtime) never is.
fn lambda_timed_out(error_type: Option<&str>, message: &str) -> bool {
    match error_type {
        Some(error_type) => error_type == "Sandbox.Timedout",
        None => is_platform_timeout_line(message),
    }
}

/// `2021-12-20T20:22:43.783Z 4607c3a0-0c91-4ec2-8f13-a5bfb815853d Task timed out after 10.01 seconds`
fn is_platform_timeout_line(message: &str) -> bool {
    let mut parts = message.splitn(3, ' ');
    let (Some(time), Some(request_id), Some(rest)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let is_uuid = request_id.len() == 36
        && request_id.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    let seconds = rest
        .strip_prefix("Task timed out after ")
        .and_then(|r| r.strip_suffix(" seconds"));
    humantime::parse_rfc3339(time).is_ok()
        && is_uuid
        && seconds.is_some_and(|s| s.parse::<f64>().is_ok_and(|s| s.is_finite() && s >= 0.0))
}

#[async_trait]
impl Tool for LambdaTool {
    fn check_arguments(&self, arguments: &Value) -> Result<(), InputError> {
        self.check.check(arguments)
    }

    async fn run(&self, arguments: Value, context: ToolContext) -> Result<Value, ToolFailure> {
        let event = serde_json::to_vec(&arguments).map_err(|e| ToolFailure::new(e.to_string()))?;
        let cancelled = context.cancelled.clone();
        tokio::select! {
            answer = self.invoke(&event, &context) => answer,
            // The invocation goes on in Lambda; its answer would be discarded anyway.
            () = cancelled.cancelled() => Err(ToolFailure::new("cancelled while the function ran")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool() -> LambdaTool {
        let catalog = crate::catalog::Catalog::parse(
            "version = 1\n[[tools]]\nname = \"wc\"\ndescription = \"d\"\nkind = \"lambda\"\n\
             function = \"wc\"\ntimeout_s = 5\nmemory_mb = 128\nbatch_size = 1\n\
             max_concurrency = 2\nmax_receive_count = 5\n",
        )
        .unwrap();
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        LambdaTool::new(&catalog.tools()[0], &sdk).unwrap()
    }

    #[test]
    fn answers_map_to_results_failures_and_timeouts() {
        let t = tool();
        let blob = |v: &str| Blob::new(v.as_bytes().to_vec());
        assert_eq!(
            t.answer(None, Some(&blob(r#"{"n": 1}"#))).unwrap(),
            json!({"n": 1})
        );
        let failed = t
            .answer(
                Some("Unhandled"),
                Some(&blob(
                    r#"{"errorMessage": "index offline", "errorType": "IndexError"}"#,
                )),
            )
            .unwrap_err();
        assert_eq!(
            failed.message,
            "function wc failed (IndexError): index offline"
        );
        assert!(!failed.timed_out);
        let timed_out = t
            .answer(
                Some("Unhandled"),
                Some(&blob(
                    r#"{"errorMessage": "2026-12-01T10:00:00Z abc Task timed out after 3.00 seconds", "errorType": "Sandbox.Timedout"}"#,
                )),
            )
            .unwrap_err();
        assert!(timed_out.timed_out, "{timed_out:?}");
        let not_json = t.answer(None, Some(&blob("hello"))).unwrap_err();
        assert!(not_json.message.contains("not JSON"), "{not_json:?}");
        // Over the result limit, but a size the worker measures (as sent) itself.
        let big = format!("\"{}\"", "x".repeat(MAX_RESULT_BYTES));
        assert!(t.answer(None, Some(&blob(&big))).is_ok());
        let huge = format!("\"{}\"", "x".repeat(MAX_TOOL_ANSWER_BYTES));
        let too_big = t.answer(None, Some(&blob(&huge))).unwrap_err();
        assert!(too_big.result_too_large, "{too_big:?}");
        assert!(
            too_big.message.contains("a result may be at most"),
            "{too_big:?}"
        );
        // A function error without a payload still says which function failed.
        let bare = t.answer(Some("Unhandled"), None).unwrap_err();
        assert_eq!(bare.message, "function wc failed (Unhandled): no message");
    }

    /// Issue 24, item 10: a function's own error that mentions a timeout is its failure; only
    /// Lambda stopping the function (`Sandbox.Timedout`, or the untyped platform line of older
    /// runtimes) is TIMED_OUT.
    #[test]
    fn only_lambda_timing_the_function_out_is_a_timeout() {
        let t = tool();
        let failure = |payload: Value| {
            let blob = Blob::new(payload.to_string().into_bytes());
            t.answer(Some("Unhandled"), Some(&blob)).unwrap_err()
        };
        let own = failure(json!({
            "errorType": "UpstreamError",
            "errorMessage": "the index said: Task timed out after 3.00 seconds"
        }));
        assert!(!own.timed_out, "{own:?}");
        assert_eq!(
            own.message,
            "function wc failed (UpstreamError): the index said: Task timed out after 3.00 seconds"
        );
        let untyped_words = failure(json!({"errorMessage": "Task timed out, retry later"}));
        assert!(!untyped_words.timed_out, "{untyped_words:?}");
        let sandbox = failure(json!({
            "errorType": "Sandbox.Timedout",
            "errorMessage": "RequestId: 4607c3a0-0c91-4ec2-8f13-a5bfb815853d Error: Task timed out after 3.00 seconds"
        }));
        assert!(sandbox.timed_out, "{sandbox:?}");
        let platform = failure(json!({
            "errorMessage": "2021-12-20T20:22:43.783Z 4607c3a0-0c91-4ec2-8f13-a5bfb815853d Task timed out after 10.01 seconds"
        }));
        assert!(platform.timed_out, "{platform:?}");
        // The same line typed by the function's runtime is the function's own error.
        let typed = failure(json!({
            "errorType": "Error",
            "errorMessage": "2021-12-20T20:22:43.783Z 4607c3a0-0c91-4ec2-8f13-a5bfb815853d Task timed out after 10.01 seconds"
        }));
        assert!(!typed.timed_out, "{typed:?}");
    }

    /// Issue 24, item 3: the function's text is cut before it is written anywhere.
    #[test]
    fn a_huge_error_message_and_type_are_cut() {
        let t = tool();
        let message = "é".repeat(225_000); // 450 KB
        let error_type = "T".repeat(10_000);
        let blob = Blob::new(
            json!({"errorType": error_type, "errorMessage": message})
                .to_string()
                .into_bytes(),
        );
        let failed = t.answer(Some("Unhandled"), Some(&blob)).unwrap_err();
        assert!(
            failed.message.len() <= MAX_ERROR_MESSAGE_BYTES,
            "{}",
            failed.message.len()
        );
        assert!(failed.message.starts_with("function wc failed (TTTT"));
        assert!(failed.message.ends_with("éé… (cut, 450000 bytes)"));
        assert!(failed.message.contains("… (cut, 10000 bytes)): éé"));
    }
}
