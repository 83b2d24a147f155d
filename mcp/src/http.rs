//! What stands in front of rmcp's Streamable HTTP service, in this order:
//!
//! 1. Origin validation (the transport spec's MUST against DNS rebinding): a request whose
//!    `Origin` is present and neither a loopback origin nor one allowed by an option gets 403.
//! 2. The request guard (`compat.rs`): body size, JSON, JSON-RPC.
//! 3. Sessions to conversations: a session is its opener's (any request of it by another principal
//!    gets 404, as for a session that does not exist); a request of a live MCP session carries its
//!    conversation to the handler (as an extension rmcp passes on); a GET stream open on the
//!    session is counted, so the result pump knows a push would reach the client; a DELETE ends
//!    the conversation.
//! 4. The 2025-11-25 task requests (`legacy.rs`), answered here as JSON, and the `initialize`
//!    result completed with the 2025-11-25 `capabilities.tasks`.

use crate::compat::Post;
use crate::conversation::{Conversation, StreamGuard};
use crate::legacy::{self, is_legacy};
use crate::server::FrontDoor;
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode, header};
use rmcp::transport::streamable_http_server::session::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SESSION_HEADER: &str = "mcp-session-id";
const PROTOCOL_HEADER: &str = "mcp-protocol-version";
/// How long the `initialize` answer may take to arrive in full before it is passed on unchanged.
const INITIALIZE_READ: Duration = Duration::from_secs(10);

pub(crate) struct Front {
    pub door: FrontDoor,
    pub max_request_body_bytes: usize,
    /// Origins allowed besides loopback ones, exactly as browsers send them
    /// (`https://app.example.com`).
    pub allowed_origins: Vec<String>,
    /// The session manager of a stateful server (`None`: stateless).
    pub sessions: Option<Arc<LocalSessionManager>>,
}

pub(crate) async fn front(front: Arc<Front>, request: Request, next: Next) -> Response {
    if let Some(origin) = request.headers().get(header::ORIGIN)
        && !origin_allowed(origin.to_str().unwrap_or(""), &front.allowed_origins)
    {
        return (
            StatusCode::FORBIDDEN,
            "Forbidden: this MCP server accepts browser requests only from loopback origins \
             (see --allow-origin)",
        )
            .into_response();
    }
    let conversation = front.conversation(request.headers()).await;
    // A session is its opener's: any request of it by another principal (a stream, a close, a
    // message), or by a caller with no principal at all (a missing or bad principal header), is
    // answered as for a session that does not exist. A session nobody owns (opened without a
    // principal) holds nothing of anyone's: its requests go on, to be refused with a clear error.
    if let Some(c) = &conversation {
        let refused = match front.door.caller_of(request.headers()) {
            Ok(caller) => c.bind(&caller.principal).is_err(),
            Err(_) => c.owner().is_some(),
        };
        if refused {
            return (StatusCode::NOT_FOUND, "Not Found: no such session").into_response();
        }
    }
    match *request.method() {
        Method::POST => front.post(request, conversation, next).await,
        Method::GET => {
            let mut request = request;
            if let Some(c) = &conversation {
                request.extensions_mut().insert(c.clone());
            }
            let response = next.run(request).await;
            match conversation {
                Some(c) if response.status() == StatusCode::OK => counted_stream(response, c),
                _ => response,
            }
        }
        Method::DELETE => {
            let session = session_id(request.headers()).map(str::to_string);
            let response = next.run(request).await;
            if response.status().is_success()
                && let Some(session) = session
            {
                front.door.hub().conversations.end_session(&session);
            }
            response
        }
        _ => next.run(request).await,
    }
}

impl Front {
    /// The conversation of the request's MCP session, if it has a live one.
    async fn conversation(&self, headers: &http::HeaderMap) -> Option<Arc<Conversation>> {
        let manager = self.sessions.as_ref()?;
        let id = session_id(headers)?;
        if !manager.has_session(&id.into()).await.unwrap_or(false) {
            // rmcp answers for an unknown session (404); no conversation is made for it.
            return None;
        }
        let conversations = &self.door.hub().conversations;
        let (conversation, new) = conversations.for_session(id, Instant::now());
        if new {
            conversations.forget_idle_sessions(Instant::now());
        }
        Some(conversation)
    }

    async fn post(
        &self,
        request: Request,
        conversation: Option<Arc<Conversation>>,
        next: Next,
    ) -> Response {
        let mut post = match Post::read(self.max_request_body_bytes, request).await {
            Ok(post) => post,
            Err(refusal) => return refusal,
        };
        if let Some(c) = &conversation {
            post.parts.extensions.insert(c.clone());
        }
        let method = post.method().unwrap_or_default().to_string();
        let legacy_session = post
            .parts
            .headers
            .get(PROTOCOL_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_legacy);
        // A stateful server answers only for sessions it has; anything else is rmcp's to refuse.
        // A session whose client declared the 2026-07-28 extension speaks that one's tasks.
        let sep_1686 = match (&self.sessions, &conversation) {
            (None, _) => true,
            (Some(_), Some(c)) => !c.has_tasks_extension(),
            (Some(_), None) => false,
        };
        if legacy_session
            && sep_1686
            && let Some(id) = post.message.get("id").cloned()
            && let Some(request) = legacy::classify(&method, post.message.get("params"))
        {
            let outcome = match request {
                Ok(request) => match self.door.scope(Some(&post.parts), None) {
                    Ok(scope) => self.door.legacy(&scope, request).await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            return json_response(&legacy::response(id, outcome));
        }
        if method != "initialize" {
            return next.run(post.into_request()).await;
        }
        let extension = legacy::declares_tasks_extension(&post.message);
        let opener = self.door.caller_of(&post.parts.headers).ok();
        let response = next.run(post.into_request()).await;
        if let Some(session) = session_id(response.headers()) {
            let (conversation, _) = self
                .door
                .hub()
                .conversations
                .for_session(session, Instant::now());
            conversation.declare_tasks_extension(extension);
            // The session is its opener's from its first message on.
            if let Some(opener) = opener {
                let _ = conversation.bind(&opener.principal);
            }
        }
        if extension {
            return response;
        }
        completed_initialize(response).await
    }
}

fn session_id(headers: &http::HeaderMap) -> Option<&str> {
    headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok())
}

/// Loopback origins (any scheme and port), or one of `allowed` exactly.
pub fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
        return true;
    }
    let Some((_, rest)) = origin.split_once("://") else {
        return false;
    };
    let host = match rest.strip_prefix('[') {
        Some(v6) => v6.split(']').next().map(|h| format!("[{h}]")),
        None => rest.split(':').next().map(str::to_string),
    };
    matches!(
        host.as_deref().map(str::to_ascii_lowercase).as_deref(),
        Some("localhost" | "127.0.0.1" | "[::1]")
    ) && !rest.contains('/')
}

fn json_response(value: &Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// A GET stream whose end (its body dropped) is noted in the conversation.
fn counted_stream(response: Response, conversation: Arc<Conversation>) -> Response {
    conversation.stream_opened();
    let guard = StreamGuard(conversation);
    let (parts, body) = response.into_parts();
    let stream = futures::StreamExt::map(body.into_data_stream(), move |chunk| {
        let _keep = &guard;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

/// The `initialize` answer (JSON or one SSE event) with the 2025-11-25 tasks capability added when
/// that protocol was negotiated.
async fn completed_initialize(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let read = tokio::time::timeout(INITIALIZE_READ, axum::body::to_bytes(body, 1 << 20)).await;
    let Ok(Ok(bytes)) = read else {
        tracing::warn!("the initialize answer did not arrive in time; passed on unchanged");
        return Response::from_parts(parts, Body::empty());
    };
    let text = String::from_utf8_lossy(&bytes);
    let patched: String = if text.trim_start().starts_with('{') {
        patch_message(&text).unwrap_or_else(|| text.to_string())
    } else {
        text.split_inclusive('\n')
            .map(|line| match line.strip_prefix("data:") {
                Some(data) => match patch_message(data.trim()) {
                    Some(json) => format!("data: {json}\n"),
                    None => line.to_string(),
                },
                None => line.to_string(),
            })
            .collect()
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(patched))
}

fn patch_message(json: &str) -> Option<String> {
    let mut message: Value = serde_json::from_str(json).ok()?;
    legacy::patch_initialize_result(message.get_mut("result")?);
    Some(message.to_string())
}

#[cfg(test)]
mod tests {
    use super::origin_allowed;

    #[test]
    fn loopback_origins_and_allowed_ones_pass() {
        let none: Vec<String> = vec![];
        for ok in [
            "http://localhost:3000",
            "http://127.0.0.1",
            "https://LOCALHOST",
            "http://[::1]:8765",
        ] {
            assert!(origin_allowed(ok, &none), "{ok}");
        }
        for bad in [
            "https://evil.example",
            "http://localhost.evil.example",
            "http://127.0.0.1.nip.io",
            "null",
            "",
            "http://[::2]",
        ] {
            assert!(!origin_allowed(bad, &none), "{bad}");
        }
        let allowed = vec!["https://app.example.com".to_string()];
        assert!(origin_allowed("https://app.example.com", &allowed));
        assert!(!origin_allowed("https://app.example.com.evil", &allowed));
    }
}
