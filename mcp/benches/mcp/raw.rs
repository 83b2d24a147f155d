//! A raw JSON-RPC client over one HTTP/1.1 connection, as the TypeScript SDK's clients keep one.

use super::*;

/// A 2025-11-25 client speaking raw JSON-RPC over Streamable HTTP (as the TypeScript SDK v1 and
/// the Python SDK 1.x do), for the SEP-1686 tasks rmcp's client does not have.
pub(super) struct RawClient {
    pub(super) http: reqwest::Client,
    pub(super) url: String,
    pub(super) session: String,
    pub(super) next_id: AtomicU64,
}

impl RawClient {
    pub(super) async fn connect(url: &str) -> RawClient {
        let http = reqwest::Client::new();
        let initialize = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": LEGACY_PROTOCOL,
                "capabilities": {},
                "clientInfo": {"name": "asynctools-mcp-bench-raw", "version": "0"},
            },
        });
        let response = http
            .post(url)
            .header(
                reqwest::header::ACCEPT,
                "application/json, text/event-stream",
            )
            .json(&initialize)
            .send()
            .await
            .expect("initialize");
        let session = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .expect("a session id")
            .to_string();
        let answer = response_message(&response.text().await.expect("initialize body"));
        let result = &answer["result"];
        assert_eq!(result["protocolVersion"], LEGACY_PROTOCOL, "{answer}");
        assert!(
            result["capabilities"]["tasks"]["requests"]["tools"]["call"].is_object(),
            "the 2025-11-25 tasks capability: {answer}"
        );
        let client = RawClient {
            http,
            url: url.to_string(),
            session,
            next_id: AtomicU64::new(1),
        };
        let initialized = client
            .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        assert!(
            initialized.status().is_success(),
            "{}",
            initialized.status()
        );
        client
    }

    pub(super) async fn post(&self, message: &Value) -> reqwest::Response {
        self.http
            .post(&self.url)
            .header(
                reqwest::header::ACCEPT,
                "application/json, text/event-stream",
            )
            .header("mcp-session-id", &self.session)
            .header("mcp-protocol-version", LEGACY_PROTOCOL)
            .json(message)
            .send()
            .await
            .expect("POST")
    }

    /// A request's `result` (panics on an error answer), and how long it took to arrive: read as
    /// a streaming client reads it, up to the answer (a JSON body, or the SSE event that carries
    /// it); the rest of the body is read after, so the connection is kept for the next request.
    pub(super) async fn request(&self, method: &str, params: Value) -> (Value, Duration) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let sent = Instant::now();
        let mut response = self
            .post(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        let mut body = String::new();
        let mut answer = None;
        while let Some(chunk) = response.chunk().await.expect("body") {
            body.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
            if answer.is_none() {
                answer = answer_in(&body).map(|message| (message, sent.elapsed()));
            }
        }
        let (answer, took) = answer.unwrap_or_else(|| panic!("{method}: no answer in {body:?}"));
        match answer.get("result") {
            Some(result) => (result.clone(), took),
            None => panic!("{method}: {answer}"),
        }
    }

    /// Ends the session.
    pub(super) async fn close(self) {
        let _ = self
            .http
            .delete(&self.url)
            .header("mcp-session-id", &self.session)
            .header("mcp-protocol-version", LEGACY_PROTOCOL)
            .send()
            .await;
    }
}

/// The JSON-RPC response in a whole body.
pub(super) fn response_message(body: &str) -> Value {
    answer_in(body).unwrap_or_else(|| panic!("no JSON-RPC response in {body:?}"))
}

/// The JSON-RPC response in (the start of) a body, once it is there: plain JSON, or the `data:` of
/// an SSE event.
pub(super) fn answer_in(body: &str) -> Option<Value> {
    if body.trim_start().starts_with('{') {
        return serde_json::from_str(body).ok();
    }
    body.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
        .find(|message| message.get("id").is_some())
}

// ---------------------------------------------------------------------------------------------
// Measurements.
