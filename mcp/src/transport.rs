//! The HTTP transport: Streamable HTTP at `/mcp` (rmcp's tower service under axum, behind
//! `http.rs`'s front). Stdio is `stdio.rs`.

use crate::http::Front;
use crate::server::FrontDoor;
use axum::serve::ListenerExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The MCP endpoint's path.
pub const MCP_PATH: &str = "/mcp";
/// A request body larger than this is refused with 413 before it is parsed: arguments are at most
/// 64 KiB of JSON, and the envelope adds little.
pub const MAX_REQUEST_BODY_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub listen: SocketAddr,
    pub max_request_body_bytes: usize,
    /// `Host` header values accepted (DNS-rebinding protection); loopback names by default.
    pub allowed_hosts: Vec<String>,
    /// Serve as the Lambda function does ([`stateless_router`]): no sessions, JSON replies.
    pub stateless: bool,
    /// Browser origins allowed besides loopback ones (exactly as sent, `https://app.example`).
    pub allowed_origins: Vec<String>,
}

impl HttpOptions {
    pub fn loopback(port: u16) -> HttpOptions {
        HttpOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            max_request_body_bytes: MAX_REQUEST_BODY_BYTES,
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            stateless: false,
            allowed_origins: Vec::new(),
        }
    }
}

/// A server listening on its address until `shutdown`.
pub struct RunningServer {
    pub local_addr: SocketAddr,
    /// `http://<addr>/mcp`
    pub url: String,
    cancel: CancellationToken,
    join: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Stops accepting, ends open sessions and waits for the listener to close.
    pub async fn shutdown(self) -> std::io::Result<()> {
        self.cancel.cancel();
        match self.join.await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }

    /// Waits until the server stops by itself (it does not, short of an I/O error).
    pub async fn wait(self) -> std::io::Result<()> {
        match self.join.await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

pub async fn serve_http(door: FrontDoor, options: HttpOptions) -> std::io::Result<RunningServer> {
    let cancel = CancellationToken::new();
    let router = if options.stateless {
        let config = stateless_config(options.max_request_body_bytes)
            .with_allowed_hosts(options.allowed_hosts.clone())
            .with_cancellation_token(cancel.child_token());
        stateless_app(door, config, &options)
    } else {
        let config = StreamableHttpServerConfig::default()
            .with_allowed_hosts(options.allowed_hosts.clone())
            .with_max_request_body_bytes(options.max_request_body_bytes)
            .with_cancellation_token(cancel.child_token());
        let sessions = Arc::new(LocalSessionManager::default());
        let factory = door.clone();
        let service =
            StreamableHttpService::new(move || Ok(factory.clone()), sessions.clone(), config);
        fronted(
            axum::Router::new().nest_service(MCP_PATH, service),
            Front {
                door,
                max_request_body_bytes: options.max_request_body_bytes,
                allowed_origins: options.allowed_origins.clone(),
                sessions: Some(sessions),
            },
        )
    };
    let listener = tokio::net::TcpListener::bind(options.listen).await?;
    let local_addr = listener.local_addr()?;
    let stopped = cancel.clone();
    let join = tokio::spawn(async move {
        // Without TCP_NODELAY, an answer on a kept-alive connection waits for the client's delayed
        // ACK (Nagle): about 40 ms per call for the TypeScript SDKs.
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
        });
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { stopped.cancelled().await })
            .await
    });
    Ok(RunningServer {
        local_addr,
        url: format!("http://{local_addr}{MCP_PATH}"),
        cancel,
        join,
    })
}

/// `router` (the MCP service at [`MCP_PATH`]) behind `http.rs`'s front: origin check, request
/// guard, sessions' conversations, the 2025-11-25 tasks.
fn fronted(router: axum::Router, front: Front) -> axum::Router {
    let front = Arc::new(front);
    router.layer(axum::middleware::from_fn(move |request, next| {
        crate::http::front(front.clone(), request, next)
    }))
}

/// A stateless server for a runtime that keeps nothing between requests (a Lambda function):
/// no sessions (legacy clients' `initialize` is answered per request, so only clients of protocol
/// 2026-07-28, which send their capabilities with every request, get SEP-2663 tasks), plain JSON
/// replies where nothing is streamed, and any `Host` (the Function URL's name is not known to the
/// function, and SigV4 authentication, not the host name, is what keeps other sites' pages out).
pub fn stateless_router(door: FrontDoor, max_request_body_bytes: usize) -> axum::Router {
    let config = stateless_config(max_request_body_bytes).disable_allowed_hosts();
    let mut options = HttpOptions::loopback(0);
    options.max_request_body_bytes = max_request_body_bytes;
    stateless_app(door, config, &options)
}

fn stateless_config(max_request_body_bytes: usize) -> StreamableHttpServerConfig {
    StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_max_request_body_bytes(max_request_body_bytes)
}

fn stateless_app(
    door: FrontDoor,
    config: StreamableHttpServerConfig,
    options: &HttpOptions,
) -> axum::Router {
    let factory = door.clone();
    let service = StreamableHttpService::new(
        move || Ok(factory.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    fronted(
        axum::Router::new().nest_service(MCP_PATH, service),
        Front {
            door,
            max_request_body_bytes: options.max_request_body_bytes,
            allowed_origins: options.allowed_origins.clone(),
            sessions: None,
        },
    )
}
