//! asynctools' MCP front door: the task pipeline's tools over the Model Context Protocol. Every call
//! is a task, durable in the table and queued before any answer. A client that asks for tasks
//! (the `io.modelcontextprotocol/tasks` extension, SEP-2663, or the 2025-11-25 tasks) gets one;
//! every other client gets an acknowledgement at once and the result in a later message
//! (`task_results`, appended to a later tool result, or pushed to the session); a fast call is
//! answered with its result. See `docs/mcp.md`.

pub mod agent_tools;
pub mod calls;
pub mod compat;
pub mod conversation;
pub mod delivery;
pub mod demo;
pub mod errors;
pub mod handover;
pub mod http;
pub mod identity;
pub mod lambda;
pub mod latency;
pub mod legacy;
pub mod quota;
pub mod results;
pub mod runtime;
pub mod schemas;
pub mod scope;
pub mod server;
pub mod status;
pub mod stdio;
pub mod transport;

pub use identity::Principals;
pub use runtime::{Runtime, RuntimeOptions};
pub use server::{CallMode, FrontDoor, Settings};
pub use stdio::serve_stdio;
pub use transport::{HttpOptions, RunningServer, serve_http};
