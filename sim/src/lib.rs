//! # sim: a discrete-event simulator of agent loops
//!
//! The simulator answers one question: for a given mix of tool latencies and model turn times,
//! how much does an asynchronous agent loop save over a synchronous one, and where does it stop
//! paying off? Its definitions (what "sync", "async", "latency" and "idle time" mean) are the
//! contract in `shared/design/agent-loop-model.md`; `ARCHITECTURE.md` maps them onto these modules:
//!
//! - [`scenario`]: the TOML scenario format, validated with errors that name file, key path and line;
//! - [`dist`]: latency distributions (constant … mixture) and their samplers;
//! - [`plan`]: the DAG of tool calls a session makes;
//! - [`engine`]: the event queue (integer nanoseconds, ties broken by insertion order);
//! - [`agent`]: one session's agent loop under a [`policy::Policy`];
//! - [`draws`]: per-session random streams, shared by every policy (common random numbers);
//! - [`metrics`]: streaming histograms and paired comparisons, merged exactly;
//! - [`runner`]: sessions sharded over threads, deterministic for a seed;
//! - [`report`]: the results as a table, Markdown, CSV or JSON.

pub mod agent;
pub mod charts;
pub mod chrome_trace;
pub mod cost;
pub mod dist;
pub mod draws;
pub mod duration;
pub mod engine;
pub mod fit;
pub mod html;
pub mod metrics;
pub mod overlay;
pub mod plan;
pub mod policy;
pub mod replay;
pub mod report;
pub mod runner;
pub mod samples;
pub mod scenario;
pub mod sweep;
pub mod time;
pub mod traces;
pub mod world;

pub use policy::Policy;
pub use runner::{RunOptions, simulate};
pub use scenario::{Scenario, ScenarioError};
