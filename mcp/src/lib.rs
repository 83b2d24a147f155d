//! asynctools' MCP front door: the task pipeline's tools over the Model Context Protocol, with the
//! tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663). A client that declares the
//! extension gets a task at once (durable in the table and queued before the reply) and polls
//! `tasks/get`; any other client's call blocks until the result. See `docs/mcp.md`.

pub mod compat;
pub mod delivery;
pub mod demo;
pub mod errors;
pub mod identity;
pub mod lambda;
pub mod runtime;
pub mod schemas;
pub mod server;
pub mod status;
pub mod transport;

pub use identity::Principals;
pub use runtime::{Runtime, RuntimeOptions};
pub use server::{FrontDoor, Settings};
pub use transport::{HttpOptions, RunningServer, serve_http, serve_stdio};
