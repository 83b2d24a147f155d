//! `kind = "http"`: an HTTP endpoint as a tool. The worker POSTs the arguments as JSON to the
//! catalog's `url` and takes the JSON answer as the result.
//!
//! Every attempt carries `idempotency-key: <task id>` (the same on every attempt, and on a rerun
//! after a crashed worker) so the service can dedupe. Only answers that say the request was not
//! acted on are retried: 429, 500, 502, 503, 504, and connection errors before the request was sent
//! (refused, DNS); with a backoff of 200 ms doubling (at most 5 s), or the service's `Retry-After`
//! (in seconds) when it fits, up to the tool's `max_attempts`, all inside the run's budget. Anything
//! else is the tool's failure: other 4xx and 5xx (with the start of the body), redirects (never
//! followed), a body that is not JSON; a body over `MAX_TOOL_ANSWER_BYTES` is not read to its end
//! and ends the task `result_too_large` (below that the worker measures the result as sent). With `auth_secret`, the
//! secret's `SecretString` is the `authorization` header, read from Secrets Manager and cached for
//! a few minutes; it is never logged nor put in a message.

use super::{SchemaCheck, Tool, ToolContext, ToolFailure};
use crate::catalog::{DEFAULT_HTTP_MAX_ATTEMPTS, ToolSpec};
use crate::error::InputError;
use crate::limits::{MAX_RESULT_BYTES, MAX_TOOL_ANSWER_BYTES, bytes_label};
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

/// The first wait before a retry; doubled after each, at most [`MAX_RETRY_WAIT`].
const FIRST_RETRY_WAIT: Duration = Duration::from_millis(200);
/// Longer waits would spend a short tool's whole budget on one pause.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);
/// Statuses that say "not now" without the service having acted on the request.
const RETRY_STATUSES: [StatusCode; 5] = [
    StatusCode::TOO_MANY_REQUESTS,
    StatusCode::INTERNAL_SERVER_ERROR,
    StatusCode::BAD_GATEWAY,
    StatusCode::SERVICE_UNAVAILABLE,
    StatusCode::GATEWAY_TIMEOUT,
];
/// No retry is started with less of the budget left than this (after its wait): a remote service
/// cannot answer in less, so the attempt would only turn a clear failure into a time-out.
const MIN_ATTEMPT_TIME: Duration = Duration::from_millis(100);
/// A rotated secret is picked up within this long; meanwhile runs do not call Secrets Manager
/// (each call costs money and latency, and is throttled per account).
const SECRET_CACHE_TTL: Duration = Duration::from_secs(5 * 60);
/// A TCP connect slower than this is to a dead host: failing it (a connection error, retried)
/// leaves budget for another attempt instead of spending it all on one SYN.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle connections are kept this long for the next run; load balancers close theirs after 60 s
/// (ALB's default), and a connection closed under us costs a request.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The start of an error answer's body quoted in the failure: enough to show the service's reason,
/// short enough for a task record.
const ERROR_SNIPPET_CHARS: usize = 300;
/// Bytes read of an error answer's body (a char is at most 4 bytes); the rest is never read.
const ERROR_BODY_READ_BYTES: usize = 4 * ERROR_SNIPPET_CHARS;
/// The start of a 2xx body that is not JSON, quoted in the failure.
const NOT_JSON_SNIPPET_CHARS: usize = 100;
/// A `Location` header quoted in a redirect's failure.
const LOCATION_CHARS: usize = 200;
const USER_AGENT: &str = concat!("asynctools-worker/", env!("CARGO_PKG_VERSION"));

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

pub struct HttpTool {
    name: String,
    url: Uri,
    /// `POST <url without its query>`, for messages and logs (a query may carry a key).
    shown: String,
    max_attempts: u32,
    auth: Option<AuthSecret>,
    http: HttpsClient,
    check: SchemaCheck,
}

/// The `authorization` header's value, read from Secrets Manager and cached.
struct AuthSecret {
    secret_id: String,
    client: aws_sdk_secretsmanager::Client,
    ttl: Duration,
    /// Held across a fetch, so concurrent runs wait for one fetch instead of each making one.
    cached: tokio::sync::Mutex<Option<(Instant, HeaderValue)>>,
}

impl HttpTool {
    pub fn new(
        spec: &ToolSpec,
        sdk: Option<&aws_config::SdkConfig>,
    ) -> Result<HttpTool, InputError> {
        let field = |key: &str| format!("tools.{}.{key}", spec.name);
        let url_text = spec
            .url
            .as_deref()
            .ok_or_else(|| InputError::new(field("url"), "is required for kind = \"http\""))?;
        let url: Uri = url_text
            .parse()
            .map_err(|e| InputError::new(field("url"), format!("is not a URL ({e})")))?;
        let auth = match (&spec.auth_secret, sdk) {
            (None, _) => None,
            (Some(secret), Some(sdk)) => Some(AuthSecret {
                secret_id: secret.clone(),
                client: aws_sdk_secretsmanager::Client::new(sdk),
                ttl: SECRET_CACHE_TTL,
                cached: tokio::sync::Mutex::new(None),
            }),
            (Some(_), None) => {
                return Err(InputError::new(
                    field("auth_secret"),
                    "needs an AWS configuration to read the secret from Secrets Manager",
                ));
            }
        };
        let mut connector = HttpConnector::new();
        connector.enforce_http(false);
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| {
                InputError::new(
                    field("url"),
                    format!("no TLS root certificates to reach it: {e}"),
                )
            })?
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        // Never follows redirects: the legacy client has no such feature, and answers 3xx as is.
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        Ok(HttpTool {
            name: spec.name.clone(),
            shown: format!("POST {}", without_query(&url)),
            url,
            max_attempts: spec
                .max_attempts
                .unwrap_or(DEFAULT_HTTP_MAX_ATTEMPTS)
                .max(1),
            auth,
            http,
            check: SchemaCheck::new(spec)?,
        })
    }

    /// Replaces how long the `authorization` secret is cached (5 minutes); tests use zero.
    pub fn with_secret_cache_ttl(mut self, ttl: Duration) -> HttpTool {
        if let Some(auth) = &mut self.auth {
            auth.ttl = ttl;
        }
        self
    }

    async fn call(&self, arguments: &Value, context: &ToolContext) -> Result<Value, ToolFailure> {
        let started = Instant::now();
        let deadline = started + context.budget;
        let body = Bytes::from(
            serde_json::to_vec(arguments).map_err(|e| ToolFailure::new(e.to_string()))?,
        );
        let mut headers = self.headers(context)?;
        if let Some(auth) = &self.auth {
            let value = tokio::time::timeout_at(deadline, auth.header())
                .await
                .map_err(|_| {
                    ToolFailure::timed_out(format!(
                        "reading secret {} for {} did not finish within the run's budget of {} ms",
                        auth.secret_id,
                        self.shown,
                        context.budget.as_millis()
                    ))
                })??;
            headers.insert(header::AUTHORIZATION, value);
        }
        let mut wait = FIRST_RETRY_WAIT;
        let mut attempt = 1;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(self.out_of_time(started, context.budget));
            }
            let (why, retry_after) =
                match tokio::time::timeout(remaining, self.attempt(&headers, body.clone())).await {
                    Err(_elapsed) => return Err(self.out_of_time(started, context.budget)),
                    Ok(Attempt::Done(result)) => return result,
                    Ok(Attempt::Retry { why, retry_after }) => (why, retry_after),
                };
            if attempt >= self.max_attempts {
                tracing::warn!(tool = %self.name, url = %self.shown, attempt, reason = %why, "giving up: no attempts left");
                return Err(ToolFailure::new(format!(
                    "{} {why}; gave up after {attempt} attempts",
                    self.shown
                )));
            }
            let pause = retry_after.map_or(wait, |asked| asked.max(wait));
            let remaining = deadline.saturating_duration_since(Instant::now());
            if pause + MIN_ATTEMPT_TIME > remaining {
                tracing::warn!(tool = %self.name, url = %self.shown, attempt, reason = %why, "giving up: no budget left");
                return Err(ToolFailure::new(format!(
                    "{} {why} (attempt {attempt} of {}); gave up: the run's budget of {} ms has \
                     {} ms left, too little to wait {} ms and try again",
                    self.shown,
                    self.max_attempts,
                    context.budget.as_millis(),
                    remaining.as_millis(),
                    pause.as_millis()
                )));
            }
            tracing::info!(tool = %self.name, url = %self.shown, attempt, reason = %why, ?pause, "trying again");
            tokio::time::sleep(pause).await;
            wait = (wait * 2).min(MAX_RETRY_WAIT);
            attempt += 1;
        }
    }

    /// The headers of every attempt but `authorization`.
    fn headers(&self, context: &ToolContext) -> Result<HeaderMap, ToolFailure> {
        let value = |name: &str, v: &str| {
            HeaderValue::from_str(v).map_err(|_| {
                ToolFailure::new(format!("the {name} {v:?} cannot be sent as an HTTP header"))
            })
        };
        let mut headers = HeaderMap::new();
        let json = HeaderValue::from_static("application/json");
        headers.insert(header::CONTENT_TYPE, json.clone());
        headers.insert(header::ACCEPT, json);
        headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        let task_id = value("task id", &context.task_id)?;
        headers.insert(HeaderName::from_static("idempotency-key"), task_id.clone());
        headers.insert(HeaderName::from_static("x-asynctools-task-id"), task_id);
        headers.insert(
            HeaderName::from_static("x-asynctools-conversation-id"),
            value("conversation id", &context.conversation_id)?,
        );
        Ok(headers)
    }

    /// One request and its answer, read within the caller's timeout.
    async fn attempt(&self, headers: &HeaderMap, body: Bytes) -> Attempt {
        let mut request = http::Request::new(Full::new(body));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = self.url.clone();
        *request.headers_mut() = headers.clone();
        let response = match self.http.request(request).await {
            Ok(response) => response,
            // Connecting failed (refused, DNS, TLS): the request never left.
            Err(e) if e.is_connect() => {
                return Attempt::Retry {
                    why: format!("could not connect ({})", chain(&e)),
                    retry_after: None,
                };
            }
            Err(e) => {
                return Attempt::Done(Err(ToolFailure::new(format!(
                    "{}: the connection failed after the request was sent ({}); not retried, \
                     since the service may have acted on it",
                    self.shown,
                    chain(&e)
                ))));
            }
        };
        let status = response.status();
        if RETRY_STATUSES.contains(&status) {
            let retry_after = retry_after(response.headers());
            let why = match retry_after {
                Some(after) => format!("answered {status} (Retry-After: {} s)", after.as_secs()),
                None => format!("answered {status}"),
            };
            return Attempt::Retry { why, retry_after };
        }
        if status.is_redirection() {
            let location = response
                .headers()
                .get(header::LOCATION)
                .map(|l| snippet(l.as_bytes(), LOCATION_CHARS))
                .unwrap_or_else(|| "nowhere".into());
            return Attempt::Done(Err(ToolFailure::new(format!(
                "{} answered {status} redirecting to {location:?}; redirects are not followed \
                 (set the tool's url to the final address)",
                self.shown
            ))));
        }
        if !status.is_success() {
            let text = match read_limited(response.into_body(), ERROR_BODY_READ_BYTES).await {
                Ok(Read::Complete(bytes) | Read::TooLong(bytes)) => {
                    snippet(&bytes, ERROR_SNIPPET_CHARS)
                }
                Err(e) => format!("(the body could not be read: {e})"),
            };
            return Attempt::Done(Err(ToolFailure::new(format!(
                "{} answered {status}: {text}",
                self.shown
            ))));
        }
        // Read up to far more than a result may be: the worker measures the result on the bytes
        // it would send, whatever the answer's formatting; past this it cannot be one.
        let too_long = || {
            ToolFailure::result_too_large(format!(
                "{} answered more than {MAX_TOOL_ANSWER_BYTES} bytes; a result may be at most {} \
                 as sent",
                self.shown,
                bytes_label(MAX_RESULT_BYTES)
            ))
        };
        let declared = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_TOOL_ANSWER_BYTES as u64) {
            return Attempt::Done(Err(too_long()));
        }
        let bytes = match read_limited(response.into_body(), MAX_TOOL_ANSWER_BYTES).await {
            Ok(Read::Complete(bytes)) => bytes,
            Ok(Read::TooLong(_)) => return Attempt::Done(Err(too_long())),
            Err(e) => {
                return Attempt::Done(Err(ToolFailure::new(format!(
                    "{} answered {status} but reading its body failed: {e}",
                    self.shown
                ))));
            }
        };
        Attempt::Done(self.parse(status, &bytes))
    }

    fn parse(&self, status: StatusCode, bytes: &[u8]) -> Result<Value, ToolFailure> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ToolFailure::new(format!(
                "{} answered {status} with no JSON (an empty body)",
                self.shown
            )));
        }
        serde_json::from_slice(bytes).map_err(|e| {
            ToolFailure::new(format!(
                "{} answered {status} with a body that is not JSON ({e}): {:?}",
                self.shown,
                snippet(bytes, NOT_JSON_SNIPPET_CHARS)
            ))
        })
    }

    fn out_of_time(&self, started: Instant, budget: Duration) -> ToolFailure {
        let elapsed = started.elapsed();
        tracing::warn!(tool = %self.name, url = %self.shown, ?elapsed, "no answer within the budget");
        ToolFailure::timed_out(format!(
            "{} had not answered after {} ms (the run's budget of {} ms is spent)",
            self.shown,
            elapsed.as_millis(),
            budget.as_millis()
        ))
    }
}

enum Attempt {
    /// The run's outcome.
    Done(Result<Value, ToolFailure>),
    /// The service did not act on the request: try again if attempts and budget allow.
    Retry {
        why: String,
        retry_after: Option<Duration>,
    },
}

impl AuthSecret {
    async fn header(&self) -> Result<HeaderValue, ToolFailure> {
        let mut cached = self.cached.lock().await;
        if let Some((read_at, value)) = &*cached
            && read_at.elapsed() < self.ttl
        {
            return Ok(value.clone());
        }
        let failed = |why: String| {
            ToolFailure::new(format!(
                "reading secret {} for the Authorization header: {why}",
                self.secret_id
            ))
        };
        let output = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| {
                failed(match &e {
                    aws_sdk_secretsmanager::error::SdkError::ServiceError(service) => {
                        service.err().to_string()
                    }
                    other => {
                        format!(
                            "{}",
                            aws_sdk_secretsmanager::error::DisplayErrorContext(other)
                        )
                    }
                })
            })?;
        let text = output.secret_string().ok_or_else(|| {
            failed("it has no SecretString (a binary secret cannot be a header)".into())
        })?;
        // A trailing newline is a common accident of storing a secret from a file.
        let mut value = HeaderValue::from_str(text.trim())
            .map_err(|_| failed("its SecretString is not a valid HTTP header value".into()))?;
        // Kept out of Debug output (hyper and tracing print headers that way).
        value.set_sensitive(true);
        *cached = Some((Instant::now(), value.clone()));
        Ok(value)
    }
}

#[async_trait]
impl Tool for HttpTool {
    fn check_arguments(&self, arguments: &Value) -> Result<(), InputError> {
        self.check.check(arguments)
    }

    async fn run(&self, arguments: Value, context: ToolContext) -> Result<Value, ToolFailure> {
        let cancelled = context.cancelled.clone();
        tokio::select! {
            answer = self.call(&arguments, &context) => answer,
            // Dropping the call closes its connection; a request already sent may still act.
            () = cancelled.cancelled() => Err(ToolFailure::new(format!(
                "cancelled while waiting for {}",
                self.shown
            ))),
        }
    }
}

enum Read {
    Complete(Bytes),
    /// More than the limit: the first bytes read (at least the limit's worth); the rest is unread.
    TooLong(Bytes),
}

/// Reads a body until its end or until more than `limit` bytes came, never buffering more than one
/// frame past the limit.
async fn read_limited(mut body: hyper::body::Incoming, limit: usize) -> Result<Read, hyper::Error> {
    let mut buffer = BytesMut::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            buffer.extend_from_slice(&data);
            if buffer.len() > limit {
                return Ok(Read::TooLong(buffer.freeze()));
            }
        }
    }
    Ok(Read::Complete(buffer.freeze()))
}

/// `Retry-After: <seconds>` (the HTTP-date form is ignored: the backoff applies).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

/// The first `chars` characters of `bytes` (lossy UTF-8), marked when cut.
fn snippet(bytes: &[u8], chars: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text.chars().take(chars).collect();
    if text.chars().nth(chars).is_some() {
        out.push('…');
    }
    out
}

fn without_query(url: &Uri) -> String {
    let mut shown = format!(
        "{}://{}{}",
        url.scheme_str().unwrap_or("https"),
        url.authority().map_or("", |a| a.as_str()),
        url.path()
    );
    if url.query().is_some() {
        shown.push_str("?…");
    }
    shown
}

/// An error and its sources, as "outer: inner: innermost".
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let next = e.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = e.source();
    }
    text
}
