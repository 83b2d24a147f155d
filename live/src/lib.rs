//! # live: replay a scenario through the real task pipeline and hold the simulator to it
//!
//! `asynctools live SCENARIO` runs real agent loops, one tokio task per (session, policy), that
//! drive the simulator's own session state machine ([`sim::model::agent::Session`]) on a wall clock:
//! model turns are sleeps of their drawn durations, and every tool call goes through the real
//! dispatcher, work queue, worker handler (as the `synthetic` tool sleeping the drawn latency),
//! task store and results queue of the `workers` crate. All durations are multiplied by a time
//! scale; metrics are measured on the wall clock and reported in scenario time. The same seed and
//! session indices give the same draws as `asynctools compare`, so each session is compared with
//! its own simulation.
//!
//! - [`options`]: what a run is asked ([`LiveOptions`]), its limits, and its errors;
//! - [`runner`]: the live run ([`runner::run_live`]): draws, the pipeline's parts, the sessions;
//! - [`session`]: one (session, policy) on the wall clock;
//! - [`routing`]: conversation ids, the run's result router, the warm-up call;
//! - [`timed_tool`]: the synthetic tool, timed to the microsecond;
//! - [`sizing`]: stagger and receive loops from the run's own simulation;
//! - [`records`]: what a run measured ([`LiveRun`]);
//! - [`values`]: simulated and measured values per metric, exact quantiles;
//! - [`compare`]: simulated vs measured per metric and policy ([`compare::LiveReport`], JSON
//!   schema `asynctools.live/v1`, below);
//! - [`calibrate`]: the pipeline's dispatch and delivery overheads as a scenario overlay.
//!
//! ## JSON (`asynctools live --format json`), schema `asynctools.live/v1`
//!
//! ```text
//! { schema, scenario, file, backend: "memory"|"aws", sessions, seed, time_scale, wall_s,
//!   overlays: [file...],                       // applied to the simulated side
//!   tasks: { submitted, succeeded, executed_once, duplicate_results },
//!   overheads: { dispatch, delivery, sync_invocation },   // measured per call; Stats or null
//!   policies: [ { policy, metrics: [ { metric, unit: "s"|"count",
//!                 simulated: Stats, measured: Stats, rel_error_p50, rel_error_mean } ] } ],
//!   differences: [ { metric, baseline, policy, simulated, measured, material, same_sign } ] }
//! Stats = { count, p50, mean, p90 }            // exact, over sessions (result_delay: calls)
//! ```
//! Times are scenario seconds; `rel_error_* = (measured − simulated) / simulated` (null when
//! the simulated value is 0); `differences` are medians over sessions of the paired difference
//! (async − sync) of each metric, for each sync/async pair of policies; `same_sign` is true when
//! the signs agree or both are under `material` (2% of the sync p50: no material difference).

pub mod calibrate;
pub mod compare;
pub mod options;
pub mod records;
pub mod routing;
pub mod runner;
pub mod session;
pub mod sizing;
pub mod timed_tool;
pub mod values;

pub use calibrate::{Calibration, Fit};
pub use compare::LiveReport;
pub use options::{BackendKind, LiveError, LiveOptions};
pub use records::LiveRun;
pub use runner::run_live;
