//! The MCP server as a Lambda function behind a Function URL (AWS_IAM auth, response streaming):
//! stateless, so any instance answers any request. Who calls is the Function URL's verdict: the
//! IAM principal (`requestContext.authorizer.iam.userArn`) becomes the trusted principal header;
//! a header of that name sent by the client is dropped first, so it can never name someone else.
//!
//! Nothing pushes here (no process outlives a request): clients with tasks poll them, clients
//! without are acknowledged at once and collect results with `task_results`, which polls the table
//! (naming the conversation from the acknowledgement; by default the caller's `mcp`). In block mode
//! (`ASYNCTOOLS_MCP_CALL_MODE=block`) a call polls the table until its result, or until
//! `ASYNCTOOLS_MCP_MAX_WAIT_S` has passed (then it answers that the task is still working). The
//! `mcp` reply queue is drained by the `reply-settler-lambda` function.

use crate::server::DEFAULT_CONSUMER;
use crate::transport::MAX_REQUEST_BODY_BYTES;
use http::HeaderValue;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use std::time::Duration;
use workers::InputError;
use workers::catalog::Catalog;
use workers::lambda::env::DispatcherEnv;

/// The header the server trusts for the caller's principal, set only by [`principal_from_iam`].
pub const PRINCIPAL_HEADER: &str = "x-asynctools-principal";
/// Lambda's maximum; the stack gives the function this, and a blocking call must answer before it.
pub const MAX_WAIT_S: std::ops::RangeInclusive<u64> = 1..=900;
/// The default wait: the function's 900 s less time to answer.
pub const DEFAULT_MAX_WAIT_S: u64 = 870;

/// The function's environment, as the CDK stack sets it.
#[derive(Debug, Clone, PartialEq)]
pub struct McpLambdaEnv {
    /// The same variables as the dispatcher function: the server runs the same dispatcher.
    pub dispatcher: DispatcherEnv,
    /// The consumer its tasks name (`ASYNCTOOLS_MCP_CONSUMER`, default `mcp`).
    pub consumer: String,
    /// `ASYNCTOOLS_MCP_MAX_WAIT_S`: how long a blocking call (and `tasks/result`) waits.
    pub max_wait: Duration,
    /// `ASYNCTOOLS_MCP_CALL_MODE`: `ack` (default) or `block`, for clients without tasks.
    pub call_mode: crate::server::CallMode,
    /// `ASYNCTOOLS_MCP_MAX_WAITING_CALLS`: one principal's calls waiting at once (default 8).
    pub max_waiting_calls: u32,
}

impl McpLambdaEnv {
    pub fn from_env(
        get: impl Fn(&str) -> Option<String>,
        catalog: &Catalog,
    ) -> Result<McpLambdaEnv, InputError> {
        let dispatcher = DispatcherEnv::from_env(&get, catalog)?;
        let consumer = get("ASYNCTOOLS_MCP_CONSUMER")
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_CONSUMER.to_string());
        if !dispatcher.reply_queue_urls.contains_key(&consumer) {
            return Err(InputError::new(
                "ASYNCTOOLS_MCP_CONSUMER",
                format!("{consumer:?} has no reply queue in ASYNCTOOLS_REPLY_QUEUES"),
            ));
        }
        let max_wait_s = match get("ASYNCTOOLS_MCP_MAX_WAIT_S").filter(|v| !v.trim().is_empty()) {
            None => DEFAULT_MAX_WAIT_S,
            Some(text) => text
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|s| MAX_WAIT_S.contains(s))
                .ok_or_else(|| {
                    InputError::new(
                        "ASYNCTOOLS_MCP_MAX_WAIT_S",
                        format!(
                            "{text:?} is not a whole number of seconds in {}..={}",
                            MAX_WAIT_S.start(),
                            MAX_WAIT_S.end()
                        ),
                    )
                })?,
        };
        let call_mode = match get("ASYNCTOOLS_MCP_CALL_MODE")
            .filter(|v| !v.trim().is_empty())
            .as_deref()
            .map(str::trim)
        {
            None | Some("ack") => crate::server::CallMode::Ack,
            Some("block") => crate::server::CallMode::Block,
            Some(other) => {
                return Err(InputError::new(
                    "ASYNCTOOLS_MCP_CALL_MODE",
                    format!("{other:?} is neither \"ack\" nor \"block\""),
                ));
            }
        };
        let max_waiting_calls =
            match get("ASYNCTOOLS_MCP_MAX_WAITING_CALLS").filter(|v| !v.trim().is_empty()) {
                None => crate::server::DEFAULT_MAX_WAITING_CALLS,
                Some(text) => text
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| {
                        InputError::new(
                            "ASYNCTOOLS_MCP_MAX_WAITING_CALLS",
                            format!("{text:?} is not a whole number in 1..=10000"),
                        )
                    })?,
            };
        Ok(McpLambdaEnv {
            dispatcher,
            consumer,
            max_wait: Duration::from_secs(max_wait_s),
            call_mode,
            max_waiting_calls,
        })
    }
}

/// Names the request's IAM principal in [`PRINCIPAL_HEADER`], replacing whatever the client sent;
/// without one (no IAM authorizer: a misconfigured URL) the header is absent and the server
/// refuses the request.
pub fn principal_from_iam(mut request: Request) -> Request {
    request.headers_mut().remove(PRINCIPAL_HEADER);
    let arn = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context
            .authorizer
            .as_ref()
            .and_then(|a| a.iam.as_ref())
            .and_then(|iam| iam.user_arn.clone()),
        _ => None,
    };
    if let Some(value) = arn.and_then(|arn| HeaderValue::from_str(&arn).ok()) {
        request.headers_mut().insert(PRINCIPAL_HEADER, value);
    }
    request
}

/// The request body limit of the function: the server's own (a Function URL allows 6 MB).
pub const MAX_BODY_BYTES: usize = MAX_REQUEST_BODY_BYTES;

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::aws_lambda_events::apigw::{
        ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerIamDescription,
        ApiGatewayV2httpRequestContext,
    };
    use std::collections::HashMap;

    fn request(user_arn: Option<&str>, spoofed: Option<&str>) -> Request {
        let mut builder = http::Request::builder().method("POST").uri("/mcp");
        if let Some(s) = spoofed {
            builder = builder.header(PRINCIPAL_HEADER, s);
        }
        let request: Request = builder.body(lambda_http::Body::Empty).unwrap();
        let mut context = ApiGatewayV2httpRequestContext::default();
        if let Some(arn) = user_arn {
            let mut iam = ApiGatewayRequestAuthorizerIamDescription::default();
            iam.user_arn = Some(arn.to_string());
            let mut authorizer = ApiGatewayRequestAuthorizer::default();
            authorizer.iam = Some(iam);
            context.authorizer = Some(authorizer);
        }
        request.with_request_context(RequestContext::ApiGatewayV2(context))
    }

    const ALICE: &str = "arn:aws:sts::123456789012:assumed-role/Agent/alice";

    #[test]
    fn the_iam_principal_replaces_any_header_the_client_sent() {
        let r = principal_from_iam(request(
            Some(ALICE),
            Some("arn:aws:iam::123456789012:role/Admin"),
        ));
        let values: Vec<_> = r.headers().get_all(PRINCIPAL_HEADER).iter().collect();
        assert_eq!(values, [ALICE]);
    }

    #[test]
    fn without_an_iam_principal_no_header_survives() {
        let r = principal_from_iam(request(None, Some("arn:aws:iam::123456789012:role/Admin")));
        assert!(r.headers().get(PRINCIPAL_HEADER).is_none());
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const BASE: [(&str, &str); 3] = [
        ("ASYNCTOOLS_TABLE", "T"),
        (
            "ASYNCTOOLS_WORK_QUEUES",
            r#"{"sentiment":"http://q/s","research":"http://q/r","synthetic":"http://q/y"}"#,
        ),
        (
            "ASYNCTOOLS_REPLY_QUEUES",
            r#"{"default":"http://q/d","mcp":"http://q/m"}"#,
        ),
    ];

    #[test]
    fn the_environment_defaults_to_consumer_mcp_and_870_s() {
        let e = McpLambdaEnv::from_env(env(&BASE), Catalog::embedded()).unwrap();
        assert_eq!(e.consumer, "mcp");
        assert_eq!(e.max_wait, Duration::from_secs(870));
        assert_eq!(e.call_mode, crate::server::CallMode::Ack);
        assert_eq!(e.max_waiting_calls, 8);
        assert_eq!(e.dispatcher.table, "T");
    }

    #[test]
    fn bad_environments_name_the_variable() {
        let with = |k: &'static str, v: &'static str| {
            let mut pairs = BASE.to_vec();
            pairs.push((k, v));
            McpLambdaEnv::from_env(env(&pairs), Catalog::embedded())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            with("ASYNCTOOLS_MCP_CONSUMER", "agents"),
            "ASYNCTOOLS_MCP_CONSUMER: \"agents\" has no reply queue in ASYNCTOOLS_REPLY_QUEUES"
        );
        for bad in ["0", "901", "soon"] {
            assert!(
                with("ASYNCTOOLS_MCP_MAX_WAIT_S", bad)
                    .starts_with(&format!("ASYNCTOOLS_MCP_MAX_WAIT_S: {bad:?} is not")),
                "{bad}"
            );
        }
        assert!(
            with("ASYNCTOOLS_MCP_MAX_WAITING_CALLS", "0")
                .starts_with("ASYNCTOOLS_MCP_MAX_WAITING_CALLS: \"0\" is not")
        );
        assert_eq!(
            with("ASYNCTOOLS_MCP_CALL_MODE", "wait"),
            "ASYNCTOOLS_MCP_CALL_MODE: \"wait\" is neither \"ack\" nor \"block\""
        );
        let e = McpLambdaEnv::from_env(env(&BASE[..1]), Catalog::embedded()).unwrap_err();
        assert_eq!(e.to_string(), "ASYNCTOOLS_WORK_QUEUES: is not set");
    }
}
