//! Running sessions, and what they measure.
//!
//! - [`metrics`]: streaming histograms per metric and paired comparisons, merged exactly;
//! - [`options`]: what a run is asked ([`options::RunOptions`]), its limits and errors;
//! - [`replay`]: recorded sessions (JSON Lines) replayed under every policy;
//! - [`runner`]: independent sessions sharded over threads, deterministic for a seed;
//! - [`samples`]: a few whole sessions traced for timelines, and the idle-time breakdown;
//! - [`session`]: the session driver: session *i* drawn once and run under each policy;
//! - [`tally`]: per-policy metrics and pairs filled session by session; [`tally::RunResults`];
//! - [`world`]: sessions that share capacity: one world per policy, in arrival order.

pub mod metrics;
pub mod options;
pub mod replay;
pub mod runner;
pub mod samples;
pub mod session;
pub mod tally;
pub mod world;
