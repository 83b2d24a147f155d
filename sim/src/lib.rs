//! # sim: a discrete-event simulator of agent loops
//!
//! The simulator answers one question: for a given mix of tool latencies and model turn times,
//! how much does an asynchronous agent loop save over a synchronous one, and where does it stop
//! paying off? What "sync", "async", "latency" and "idle time" mean is written down in
//! `docs/agent-loop-model.md`; `ARCHITECTURE.md` maps it onto the modules. Four groups, each
//! each depending only on the ones before it:
//!
//! - [`model`]: the agent-loop model — time, distributions, the plan, policies, one session's state
//!   machine, its random draws, its cost;
//! - [`input`]: what users write — scenario files (validated with errors that name file, key path
//!   and line), key paths, overlays, latency traces, distribution fits;
//! - [`run`]: running sessions — the session driver, sharded over threads or in one shared world;
//!   metrics and tallies; sample sessions; recorded sessions replayed;
//! - [`output`]: what people read — JSON, table, Markdown, CSV, HTML with charts, Chrome traces,
//!   parameter sweeps.

pub mod input;
pub mod model;
pub mod output;
pub mod run;

pub use input::scenario::{Scenario, ScenarioError};
pub use model::policy::Policy;
pub use run::options::RunOptions;
pub use run::runner::simulate;
