//! The stdio transport: one client (the host that spawned the server) on standard input and output,
//! one conversation for the process's life.
//!
//! rmcp serves the connection through an in-process pipe; the lines in between pass through here,
//! so that the 2025-11-25 task requests are answered as `http.rs` answers them over HTTP
//! (`legacy.rs`), and the `initialize` result gains that protocol's `capabilities.tasks`. Every
//! other message passes unchanged.

use crate::conversation::{Conversation, new_handle};
use crate::legacy::{self, is_legacy};
use crate::server::FrontDoor;
use futures::{SinkExt, StreamExt};
use rmcp::ServiceExt;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{FramedRead, FramedWrite, LinesCodec, LinesCodecError};

/// The longest line accepted from the client, as the HTTP transport's body limit.
const MAX_LINE_BYTES: usize = crate::transport::MAX_REQUEST_BODY_BYTES;
/// Room for messages in flight between this relay and rmcp.
const PIPE_BYTES: usize = 1 << 20;

/// What the relay has learnt of the session.
#[derive(Default)]
struct Session {
    /// The negotiated protocol is 2025-11-25 or older, and the client did not declare the
    /// 2026-07-28 tasks extension: its task requests are SEP-1686's.
    legacy: bool,
    /// The id of the `initialize` request, whose answer gets `capabilities.tasks`.
    initialize_id: Option<Value>,
}

type Out<W> = Arc<tokio::sync::Mutex<FramedWrite<W, LinesCodec>>>;

/// Serves one client on standard input and output until it closes them.
pub async fn serve_stdio(door: FrontDoor) -> anyhow::Result<()> {
    serve_lines(door, tokio::io::stdin(), tokio::io::stdout()).await
}

/// Serves one client on `input` and `output` (JSON-RPC messages, one per line).
pub async fn serve_lines<R, W>(door: FrontDoor, input: R, output: W) -> anyhow::Result<()>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let mut settings = door.settings().clone();
    // One connection for the process's life: statuses and results can be pushed to it.
    settings.persistent_connection = true;
    let door = door
        .with_settings(settings)?
        .with_conversation(Conversation::connected(new_handle()));
    let (ours, theirs) = tokio::io::duplex(PIPE_BYTES);
    let (from_rmcp, to_rmcp) = tokio::io::split(ours);
    let out: Out<W> = Arc::new(tokio::sync::Mutex::new(FramedWrite::new(
        output,
        LinesCodec::new(),
    )));
    let session = Arc::new(Mutex::new(Session::default()));
    let inbound = tokio::spawn(relay_in(
        door.clone(),
        input,
        to_rmcp,
        out.clone(),
        session.clone(),
    ));
    let outbound = tokio::spawn(relay_out(from_rmcp, out, session));
    let running = door.serve(tokio::io::split(theirs)).await?;
    running.waiting().await?;
    inbound.abort();
    let _ = outbound.await;
    Ok(())
}

/// Client to server: 2025-11-25 task requests are answered here; the rest goes to rmcp. At the
/// end of the input rmcp's side is closed, which ends the service.
async fn relay_in<R, W>(
    door: FrontDoor,
    input: R,
    to_rmcp: tokio::io::WriteHalf<tokio::io::DuplexStream>,
    out: Out<W>,
    session: Arc<Mutex<Session>>,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let mut lines = FramedRead::new(input, LinesCodec::new_with_max_length(MAX_LINE_BYTES));
    let mut to_rmcp = FramedWrite::new(to_rmcp, LinesCodec::new());
    while let Some(line) = lines.next().await {
        let line = match line {
            Ok(line) => line,
            Err(LinesCodecError::MaxLineLengthExceeded) => {
                let refusal = json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600,
                    "message": format!("Invalid Request: a message longer than {MAX_LINE_BYTES} bytes")}});
                let _ = out.lock().await.send(refusal.to_string()).await;
                continue;
            }
            Err(LinesCodecError::Io(_)) => break,
        };
        if let Some((id, request)) = ours(&line, &session) {
            let (door, out) = (door.clone(), out.clone());
            // Concurrently: `tasks/result` waits for its task.
            tokio::spawn(async move {
                let outcome = match request {
                    Ok(request) => match door.scope(None, None) {
                        Ok(scope) => door.legacy(&scope, request).await,
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                };
                let answer = legacy::response(id, outcome).to_string();
                let _ = out.lock().await.send(answer).await;
            });
            continue;
        }
        if to_rmcp.send(line).await.is_err() {
            break;
        }
    }
    let _ = SinkExt::<String>::close(&mut to_rmcp).await;
}

/// The request on `line`, if this relay answers it; notes what `initialize` negotiates.
fn ours(
    line: &str,
    session: &Mutex<Session>,
) -> Option<(Value, Result<legacy::Legacy, rmcp::ErrorData>)> {
    let message: Value = serde_json::from_str(line).ok()?;
    let method = message.get("method")?.as_str()?;
    let id = message.get("id")?.clone();
    let mut session = session.lock().unwrap_or_else(|p| p.into_inner());
    if method == "initialize" {
        session.legacy = message
            .pointer("/params/protocolVersion")
            .and_then(Value::as_str)
            .is_some_and(is_legacy)
            && !legacy::declares_tasks_extension(&message);
        session.initialize_id = session.legacy.then_some(id);
        return None;
    }
    if !session.legacy {
        return None;
    }
    legacy::classify(method, message.get("params")).map(|request| (id, request))
}

/// Server to client: rmcp's messages, the `initialize` answer completed.
async fn relay_out<W>(
    from_rmcp: tokio::io::ReadHalf<tokio::io::DuplexStream>,
    out: Out<W>,
    session: Arc<Mutex<Session>>,
) where
    W: AsyncWrite + Unpin + Send + 'static,
{
    let mut lines = FramedRead::new(from_rmcp, LinesCodec::new());
    while let Some(Ok(line)) = lines.next().await {
        let line = completed_initialize(line, &session);
        if out.lock().await.send(line).await.is_err() {
            break;
        }
    }
}

fn completed_initialize(line: String, session: &Mutex<Session>) -> String {
    let mut session = session.lock().unwrap_or_else(|p| p.into_inner());
    let Some(id) = session.initialize_id.clone() else {
        return line;
    };
    let Ok(mut message) = serde_json::from_str::<Value>(&line) else {
        return line;
    };
    if message.get("id") != Some(&id) {
        return line;
    }
    session.initialize_id = None;
    match message.get_mut("result") {
        Some(result) => {
            legacy::patch_initialize_result(result);
            message.to_string()
        }
        None => line,
    }
}
