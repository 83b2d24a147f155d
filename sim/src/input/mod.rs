//! What users write, read and checked.
//!
//! - [`fit`]: fits distributions to observed latencies and ranks them;
//! - [`keypath`]: key paths into a TOML tree (`tools.search.latency.sigma`);
//! - [`overlay`]: TOML merged over a scenario before it is validated (calibrations);
//! - [`scenario`]: scenario files: read, checked, compiled into a [`scenario::Scenario`];
//! - [`traces`]: latency trace files (one value per line, or a CSV column).

pub mod fit;
pub mod keypath;
pub mod overlay;
pub mod scenario;
pub mod traces;
