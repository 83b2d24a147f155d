//! The transports: Streamable HTTP at `/mcp` (rmcp's tower service under axum) and stdio.

use crate::server::FrontDoor;
use rmcp::ServiceExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::net::SocketAddr;
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
}

impl HttpOptions {
    pub fn loopback(port: u16) -> HttpOptions {
        HttpOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            max_request_body_bytes: MAX_REQUEST_BODY_BYTES,
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
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
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(options.allowed_hosts.clone())
        .with_max_request_body_bytes(options.max_request_body_bytes)
        .with_cancellation_token(cancel.child_token());
    let service = StreamableHttpService::new(
        move || Ok(door.clone()),
        LocalSessionManager::default().into(),
        config,
    );
    let limit = options.max_request_body_bytes;
    let router =
        axum::Router::new()
            .nest_service(MCP_PATH, service)
            .layer(axum::middleware::from_fn(move |request, next| {
                crate::compat::guard(limit, request, next)
            }));
    let listener = tokio::net::TcpListener::bind(options.listen).await?;
    let local_addr = listener.local_addr()?;
    let stopped = cancel.clone();
    let join = tokio::spawn(async move {
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

/// Serves one client on standard input and output until it closes them.
pub async fn serve_stdio(door: FrontDoor) -> anyhow::Result<()> {
    let mut settings = door.settings().clone();
    // One connection for the process's life: statuses can be pushed to it.
    settings.persistent_connection = true;
    let door = door.with_settings(settings)?;
    let running = door.serve(rmcp::transport::stdio()).await?;
    running.waiting().await?;
    Ok(())
}
