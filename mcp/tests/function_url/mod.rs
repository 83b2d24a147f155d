//! A loopback stand-in for a Lambda Function URL with `AWS_IAM` auth, and a loopback SigV4
//! signing proxy for clients that cannot sign (rmcp's).
//!
//! The stand-in does what Lambda does in front of the function: it refuses (HTTP 403,
//! `{"Message":"Forbidden"}`) every request that is not SigV4-signed for service `lambda` in its
//! region by a known access key, recomputing the signature from the request (canonical request,
//! string to sign, HMAC chain with the key's secret). An accepted request becomes a Function URL
//! event (payload 2.0) whose IAM authorizer names the principal of the access key that signed it,
//! and goes to the Lambda Runtime API emulator's invoke endpoint (or any URL that answers like it).
//!
//! What it checks, in order (the first failure refuses the request and is recorded in
//! [`FunctionUrl::refusals`]):
//! - one `Authorization` header, `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
//!   SignedHeaders=..., Signature=<64 hex>` (no presigned query-string auth);
//! - the scope names this region, service `lambda` and `aws4_request`; the access key is known;
//! - one `x-amz-date` (`YYYYMMDDTHHMMSSZ`), on the scope's day, within 15 minutes of now;
//! - `SignedHeaders` is sorted, lower case, without duplicates, includes `host` and `x-amz-date`
//!   and every `x-amz-*` header of the request, and names only headers the request has;
//! - `x-amz-security-token` is present exactly when the key has a session token, and equals it;
//! - `x-amz-content-sha256`, when present, is the SHA-256 of the body (the canonical request always
//!   uses the body's hash, so a changed body never verifies);
//! - the path has no `.`/`..` segments; the signature equals the recomputed one (compared in
//!   constant time).
//!
//! The path is encoded as the AWS SDKs do for services other than S3 (the request's already
//! encoded path is encoded once more); the query is decoded and re-encoded with the unreserved set
//! and sorted. Unlike Lambda, it takes no `Date` header instead of `x-amz-date`.

#![allow(dead_code)]

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const REGION: &str = "us-east-1";
pub const SERVICE: &str = "lambda";
/// Lambda's answer to a request it does not authorize.
pub const FORBIDDEN: &str = r#"{"Message":"Forbidden"}"#;
/// How far `x-amz-date` may be from the clock (AWS allows 15 minutes).
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const BODY_LIMIT: usize = 8 << 20;

/// An access key and the IAM principal it belongs to.
#[derive(Debug, Clone)]
pub struct Key {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Temporary credentials (`ASIA...`) come with one; the request must carry it.
    pub session_token: Option<String>,
    /// The `userArn` Lambda puts in the event's IAM authorizer.
    pub caller_arn: String,
}

impl Key {
    pub fn new(access_key_id: &str, secret_access_key: &str, caller_arn: &str) -> Key {
        Key {
            access_key_id: access_key_id.to_string(),
            secret_access_key: secret_access_key.to_string(),
            session_token: None,
            caller_arn: caller_arn.to_string(),
        }
    }

    pub fn with_session_token(mut self, token: &str) -> Key {
        self.session_token = Some(token.to_string());
        self
    }

    fn account(&self) -> &str {
        self.caller_arn.split(':').nth(4).unwrap_or_default()
    }

    /// `AROA...:session` for a role session, `AIDA...` for a user, as IAM's unique ids read.
    fn user_id(&self) -> String {
        let resource = self.caller_arn.rsplit(':').next().unwrap_or_default();
        let parts: Vec<&str> = resource.split('/').collect();
        match parts.as_slice() {
            ["assumed-role", role, session] => format!("AROA{}:{session}", id_of(role)),
            _ => format!("AIDA{}", id_of(resource)),
        }
    }
}

fn id_of(name: &str) -> String {
    let hash = hex::encode(Sha256::digest(name.as_bytes()));
    hash[..17].to_uppercase()
}

/// Why a request was refused (the stand-in answers 403 whatever the reason, as Lambda does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

fn refuse<T>(reason: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(reason.into()))
}

/// SigV4 verification for one region and service against a set of keys.
#[derive(Debug, Clone)]
pub struct Verifier {
    region: String,
    service: String,
    keys: HashMap<String, Key>,
    max_skew: Duration,
}

struct Authorization<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    terminator: &'a str,
    signed_headers: Vec<&'a str>,
    signed_headers_text: &'a str,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, Refusal> {
    let Some((algorithm, rest)) = value.split_once(' ') else {
        return refuse("Authorization is not `AWS4-HMAC-SHA256 Credential=..., ...`");
    };
    if algorithm != ALGORITHM {
        return refuse(format!("algorithm {algorithm:?} is not {ALGORITHM}"));
    }
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let Some((name, value)) = part.trim().split_once('=') else {
            return refuse(format!(
                "Authorization component {part:?} is not name=value"
            ));
        };
        let slot = match name {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            other => return refuse(format!("unknown Authorization component {other:?}")),
        };
        if slot.replace(value).is_some() {
            return refuse(format!("Authorization repeats {name}"));
        }
    }
    let (Some(credential), Some(signed_headers_text), Some(signature)) =
        (credential, signed, signature)
    else {
        return refuse("Authorization lacks Credential, SignedHeaders or Signature");
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = scope.as_slice() else {
        return refuse(format!(
            "Credential {credential:?} is not AKID/DATE/REGION/SERVICE/aws4_request"
        ));
    };
    if signature.len() != 64
        || !signature
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return refuse("Signature is not 64 lower-case hex digits");
    }
    let signed_headers: Vec<&str> = signed_headers_text.split(';').collect();
    if signed_headers
        .iter()
        .any(|h| h.is_empty() || *h != h.to_ascii_lowercase())
        || !signed_headers.windows(2).all(|w| w[0] < w[1])
    {
        return refuse(format!(
            "SignedHeaders {signed_headers_text:?} is not sorted, unique, lower-case names"
        ));
    }
    Ok(Authorization {
        access_key_id,
        date,
        region,
        service,
        terminator,
        signed_headers,
        signed_headers_text,
        signature,
    })
}

/// `YYYYMMDDTHHMMSSZ` as a time.
pub fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let bytes = text.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (hour, minute, second) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    // Days from 1970-01-01 to the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second;
    let seconds = u64::try_from(seconds).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(seconds))
}

/// RFC 3986 unreserved characters stay, everything else is `%XX` (upper case); `/` stays if asked.
fn uri_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(text: &str) -> Result<String, Refusal> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            let Some(byte) = hex else {
                return refuse(format!("bad percent-encoding in query {text:?}"));
            };
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).or_else(|_| refuse("query is not UTF-8"))
}

fn canonical_uri(path: &str) -> Result<String, Refusal> {
    if path.is_empty() {
        return Ok("/".into());
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return refuse(format!("path {path:?} has dot segments"));
    }
    Ok(uri_encode(path, true))
}

fn canonical_query(query: Option<&str>) -> Result<String, Refusal> {
    let mut pairs = Vec::new();
    for piece in query.unwrap_or_default().split('&') {
        if piece.is_empty() {
            continue;
        }
        let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
        pairs.push((
            uri_encode(&percent_decode(name)?, false),
            uri_encode(&percent_decode(value)?, false),
        ));
    }
    pairs.sort();
    Ok(pairs
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("&"))
}

/// A header's canonical value: every value, trimmed, inner runs of spaces made one, joined by `,`.
fn canonical_header_value(headers: &HeaderMap, name: &str) -> Result<String, Refusal> {
    let mut values = Vec::new();
    for value in headers.get_all(name) {
        let Ok(text) = value.to_str() else {
            return refuse(format!("signed header {name} is not visible ASCII"));
        };
        values.push(text.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    Ok(values.join(","))
}

fn single<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, Refusal> {
    let mut all = headers.get_all(name).iter();
    let first = all.next();
    if all.next().is_some() {
        return refuse(format!("more than one {name} header"));
    }
    first
        .map(|v| {
            v.to_str()
                .or_else(|_| refuse(format!("{name} is not ASCII")))
        })
        .transpose()
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Verifier {
    pub fn new(region: &str, keys: impl IntoIterator<Item = Key>) -> Verifier {
        Verifier::for_service(region, SERVICE, keys)
    }

    pub fn for_service(
        region: &str,
        service: &str,
        keys: impl IntoIterator<Item = Key>,
    ) -> Verifier {
        Verifier {
            region: region.to_string(),
            service: service.to_string(),
            keys: keys
                .into_iter()
                .map(|k| (k.access_key_id.clone(), k))
                .collect(),
            max_skew: MAX_SKEW,
        }
    }

    /// The key whose signature `request` carries, or why it is refused; `now` for the date check.
    pub fn verify(
        &self,
        method: &str,
        uri: &http::Uri,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<&Key, Refusal> {
        let Some(value) = single(headers, "authorization")? else {
            let presigned = uri.query().is_some_and(|q| q.contains("X-Amz-Signature="));
            return refuse(if presigned {
                "presigned (query-string) requests are not accepted"
            } else {
                "the request is not signed (no Authorization header)"
            });
        };
        let auth = parse_authorization(value)?;
        if auth.region != self.region
            || auth.service != self.service
            || auth.terminator != "aws4_request"
        {
            return refuse(format!(
                "scope {}/{}/{} is not {}/{}/aws4_request",
                auth.region, auth.service, auth.terminator, self.region, self.service
            ));
        }
        let Some(key) = self.keys.get(auth.access_key_id) else {
            return refuse(format!("unknown access key {:?}", auth.access_key_id));
        };
        let Some(amz_date) = single(headers, "x-amz-date")? else {
            return refuse("no x-amz-date header");
        };
        let Some(signed_at) = parse_amz_date(amz_date) else {
            return refuse(format!("x-amz-date {amz_date:?} is not YYYYMMDDTHHMMSSZ"));
        };
        if !amz_date.starts_with(auth.date) || auth.date.len() != 8 {
            return refuse(format!(
                "scope date {} is not the day of x-amz-date {amz_date}",
                auth.date
            ));
        }
        let skew = now
            .duration_since(signed_at)
            .unwrap_or_else(|e| e.duration());
        if skew > self.max_skew {
            return refuse(format!(
                "x-amz-date {amz_date} is {}s from now (more than {}s)",
                skew.as_secs(),
                self.max_skew.as_secs()
            ));
        }
        for required in ["host", "x-amz-date"] {
            if !auth.signed_headers.contains(&required) {
                return refuse(format!("{required} is not a signed header"));
            }
        }
        for name in headers.keys() {
            if name.as_str().starts_with("x-amz-") && !auth.signed_headers.contains(&name.as_str())
            {
                return refuse(format!("header {name} is not signed"));
            }
        }
        for name in &auth.signed_headers {
            if !headers.contains_key(*name) {
                return refuse(format!("signed header {name} is not in the request"));
            }
        }
        let token = single(headers, "x-amz-security-token")?;
        match (&key.session_token, token) {
            (Some(expected), Some(got)) if same(expected.as_bytes(), got.as_bytes()) => {}
            (Some(_), Some(_)) => return refuse("x-amz-security-token is not the key's token"),
            (Some(_), None) => return refuse("temporary credentials without x-amz-security-token"),
            (None, Some(_)) => return refuse("x-amz-security-token sent for a long-term key"),
            (None, None) => {}
        }
        let body_hash = sha256_hex(body);
        if let Some(claimed) = single(headers, "x-amz-content-sha256")?
            && claimed != body_hash
        {
            return refuse(format!(
                "x-amz-content-sha256 {claimed} is not the body's SHA-256 {body_hash}"
            ));
        }
        let mut canonical = format!(
            "{method}\n{}\n{}\n",
            canonical_uri(uri.path())?,
            canonical_query(uri.query())?
        );
        for name in &auth.signed_headers {
            canonical.push_str(&format!(
                "{name}:{}\n",
                canonical_header_value(headers, name)?
            ));
        }
        canonical.push_str(&format!("\n{}\n{body_hash}", auth.signed_headers_text));
        let scope = format!(
            "{}/{}/{}/aws4_request",
            auth.date, self.region, self.service
        );
        let string_to_sign = format!(
            "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
            sha256_hex(canonical.as_bytes())
        );
        let signing_key = v4::generate_signing_key(
            &key.secret_access_key,
            signed_at,
            &self.region,
            &self.service,
        );
        let expected = v4::calculate_signature(signing_key, string_to_sign.as_bytes());
        if !same(expected.as_bytes(), auth.signature.as_bytes()) {
            return refuse(format!(
                "the signature does not match (canonical request:\n{canonical}\n)"
            ));
        }
        Ok(key)
    }
}

/// What the stand-in saw: accepted requests (method, path, principal) and refusals.
#[derive(Debug, Default)]
pub struct Log {
    pub accepted: Vec<(String, String, String)>,
    pub refusals: Vec<Refusal>,
}

/// A running stand-in; its server stops when this drops.
pub struct FunctionUrl {
    /// `http://127.0.0.1:PORT/mcp`.
    pub url: String,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub log: Arc<Mutex<Log>>,
    server: tokio::task::JoinHandle<()>,
}

impl FunctionUrl {
    pub fn refusals(&self) -> Vec<Refusal> {
        self.log.lock().unwrap().refusals.clone()
    }

    /// The principals of the accepted requests, in order.
    pub fn principals(&self) -> Vec<String> {
        let log = self.log.lock().unwrap();
        log.accepted.iter().map(|(_, _, p)| p.clone()).collect()
    }
}

impl Drop for FunctionUrl {
    fn drop(&mut self) {
        self.server.abort();
    }
}

struct Bridge {
    invoke: String,
    verifier: Verifier,
    http: reqwest::Client,
    log: Arc<Mutex<Log>>,
}

/// The emulator's invoke endpoint for `function`.
pub fn invoke_url(emulator_port: u16, function: &str) -> String {
    format!("http://127.0.0.1:{emulator_port}/2015-03-31/functions/{function}/invocations")
}

/// Serves the stand-in on a free loopback port: verified requests go to `invoke` as Function URL
/// events; the invoke endpoint's answer is the HTTP response.
pub async fn start(invoke: String, verifier: Verifier) -> FunctionUrl {
    let log = Arc::new(Mutex::new(Log::default()));
    let bridge = Arc::new(Bridge {
        invoke,
        verifier,
        http: reqwest::Client::new(),
        log: log.clone(),
    });
    let app = axum::Router::new().fallback(forward).with_state(bridge);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    FunctionUrl {
        url: format!("{base}/mcp"),
        base,
        log,
        server,
    }
}

fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        [
            (http::header::CONTENT_TYPE, "application/json"),
            (
                http::HeaderName::from_static("x-amzn-errortype"),
                "AccessDeniedException",
            ),
        ],
        FORBIDDEN,
    )
        .into_response()
}

async fn forward(State(bridge): State<Arc<Bridge>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let key = match bridge.verifier.verify(
        parts.method.as_str(),
        &parts.uri,
        &parts.headers,
        &body,
        SystemTime::now(),
    ) {
        Ok(key) => key.clone(),
        Err(refusal) => {
            eprintln!(
                "function URL stand-in: 403 for {} {}: {}",
                parts.method, parts.uri, refusal.0
            );
            bridge.log.lock().unwrap().refusals.push(refusal);
            return forbidden();
        }
    };
    bridge.log.lock().unwrap().accepted.push((
        parts.method.to_string(),
        parts.uri.path().to_string(),
        key.caller_arn.clone(),
    ));
    let event = function_url_event(&parts, &body, &key);
    let answer = match bridge.http.post(&bridge.invoke).json(&event).send().await {
        Ok(answer) => answer,
        Err(e) => {
            return (
                StatusCode::BAD_GATEWAY,
                format!("invoking the function through the emulator: {e}"),
            )
                .into_response();
        }
    };
    let mut response = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers() {
        let skip = [
            "transfer-encoding",
            "content-length",
            "connection",
            "lambda-runtime-function-response-mode",
        ];
        if !skip.contains(&name.as_str()) {
            response = response.header(name.as_str(), value.as_bytes());
        }
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    response.body(axum::body::Body::from(bytes)).unwrap()
}

/// The event Lambda builds for a Function URL request authorized by `key`'s principal.
fn function_url_event(parts: &http::request::Parts, body: &Bytes, key: &Key) -> serde_json::Value {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &parts.headers {
        let value = value.to_str().unwrap_or_default();
        headers
            .entry(name.as_str().to_string())
            .and_modify(|v| *v = format!("{v},{value}"))
            .or_insert_with(|| value.to_string());
    }
    let url_id = "mcpurlid0123456789abcdefghijklmn";
    let user_id = key.user_id();
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.uri.path(),
        "rawQueryString": parts.uri.query().unwrap_or(""),
        "headers": headers,
        "requestContext": {
            "accountId": key.account(),
            "apiId": url_id,
            "authorizer": {"iam": {
                "accessKey": key.access_key_id,
                "accountId": key.account(),
                "callerId": user_id,
                "userArn": key.caller_arn,
                "userId": user_id,
            }},
            "domainName": format!("{url_id}.lambda-url.{REGION}.on.aws"),
            "domainPrefix": url_id,
            "http": {
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": parts.headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or(""),
            },
            "requestId": ulid::Ulid::generate().to_string().to_lowercase(),
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Dec/2026:10:00:00 +0000",
            "timeEpoch": 0,
        },
        "body": String::from_utf8_lossy(body),
        "isBase64Encoded": false,
    })
}

/// Signs `request` (its headers as they will be sent, `host` included) with `key` for `service`
/// in `region` at `time`, with the AWS SDK's signer (an implementation independent of
/// [`Verifier`]): adds `x-amz-date`, `authorization` and, for temporary keys,
/// `x-amz-security-token`.
pub fn sign(
    request: &mut http::Request<Vec<u8>>,
    key: &Key,
    region: &str,
    service: &str,
    time: SystemTime,
) {
    let identity: Identity = Credentials::new(
        &key.access_key_id,
        &key.secret_access_key,
        key.session_token.clone(),
        None,
        "function-url-test",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .expect("signing parameters")
        .into();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                v.to_str().expect("ASCII header").to_string(),
            )
        })
        .collect();
    let uri = request.uri().to_string();
    let body = request.body().clone();
    let signable = SignableRequest::new(
        request.method().as_str(),
        uri,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(&body),
    )
    .expect("a signable request");
    let (instructions, _signature) = aws_sigv4::http_request::sign(signable, &params)
        .expect("signing")
        .into_parts();
    instructions.apply_to_request_http1x(request);
}

/// A loopback signing proxy (what `aws-sigv4-proxy` does): every request to it is signed with
/// `key` and sent to `target` (`http://127.0.0.1:PORT`); the answer comes back as is.
pub struct SigningProxy {
    /// `http://127.0.0.1:PORT/mcp`.
    pub url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for SigningProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

struct Signer {
    target: String,
    key: Key,
    region: String,
    http: reqwest::Client,
}

pub async fn signing_proxy(target: &str, key: &Key, region: &str) -> SigningProxy {
    let signer = Arc::new(Signer {
        target: target.trim_end_matches('/').to_string(),
        key: key.clone(),
        region: region.to_string(),
        http: reqwest::Client::new(),
    });
    let app = axum::Router::new().fallback(relay).with_state(signer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    SigningProxy { url, server }
}

/// Hop-by-hop headers and those the relay sets itself.
const NOT_RELAYED: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

async fn relay(State(signer): State<Arc<Signer>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("{}{path_and_query}", signer.target);
    let host = url
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let mut outgoing = http::Request::builder()
        .method(parts.method.clone())
        .uri(&url)
        .header(http::header::HOST, host)
        .body(body.to_vec())
        .unwrap();
    for (name, value) in &parts.headers {
        if !NOT_RELAYED.contains(&name.as_str()) {
            outgoing.headers_mut().append(name.clone(), value.clone());
        }
    }
    sign(
        &mut outgoing,
        &signer.key,
        &signer.region,
        SERVICE,
        SystemTime::now(),
    );
    let outgoing = reqwest::Request::try_from(outgoing).expect("a reqwest request");
    let answer = match signer.http.execute(outgoing).await {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("relaying: {e}")).into_response(),
    };
    let mut response = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers() {
        if !NOT_RELAYED.contains(&name.as_str()) {
            response = response.header(name.as_str(), value.as_bytes());
        }
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    response.body(axum::body::Body::from(bytes)).unwrap()
}
