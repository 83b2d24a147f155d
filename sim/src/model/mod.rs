//! The agent-loop model: what a session is and how it runs.
//!
//! - [`agent`]: one session's agent loop as a state machine driven by events ([`agent::Session`]);
//! - [`cost`]: what a session costs: model tokens and the infrastructure's requests;
//! - [`dist`]: latency distributions (constant … mixture) and their samplers;
//! - [`draws`]: per-session random streams, shared by every policy (common random numbers);
//! - [`duration`]: human durations (`250ms`, `1.5s`) in and out of scenario files;
//! - [`engine`]: the event queue: integer nanoseconds, ties broken by insertion order;
//! - [`plan`]: the DAG of tool calls a session makes;
//! - [`policy`]: the agent-loop policies (sequential, sync, async, `+stream`, batch windows);
//! - [`scenario`]: a validated scenario: tools, turn costs, the plan, overheads, the workload;
//! - [`sample_file`]: an empirical distribution's trace file, as a scenario names it;
//! - [`time`]: nanoseconds, the simulator's only clock, and their formatting.

pub mod agent;
pub mod cost;
pub mod dist;
pub mod draws;
pub mod duration;
pub mod engine;
pub mod pipeline_counts;
pub mod plan;
pub mod policy;
pub mod quad_heap;
pub mod sample_file;
pub mod scenario;
pub mod time;
