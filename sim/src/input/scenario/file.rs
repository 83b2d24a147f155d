//! The scenario file as written: serde types with their defaults. Every table refuses keys it
//! does not know.

use super::{DEFAULT_SEED, DEFAULT_SESSIONS};
use crate::model::dist::{Dist, Problem, shorthand, shorthand_option};
use crate::model::scenario::CostSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// A scenario file as written. Every table refuses keys it does not know.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub name: Option<String>,
    pub description: Option<String>,
    /// Seeds every session's random streams; the same seed reproduces a run exactly.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// How many sessions `run` and `compare` simulate unless `--sessions` says otherwise.
    #[serde(default = "default_sessions")]
    pub sessions: u64,
    pub model: ModelSpec,
    pub tools: BTreeMap<String, ToolSpec>,
    pub plan: PlanSpec,
    #[serde(default)]
    pub overheads: OverheadSpec,
    #[serde(default, rename = "async")]
    pub async_loop: AsyncSpec,
    /// How sessions arrive; only matters when they share capacity.
    #[serde(default)]
    pub workload: WorkloadSpec,
    /// Further messages the user sends while a session runs.
    #[serde(default)]
    pub user: UserSpec,
    /// Prices and token counts: dollars per session next to latency.
    #[serde(default)]
    pub cost: Option<CostSpec>,
}

fn default_seed() -> u64 {
    DEFAULT_SEED
}
fn default_sessions() -> u64 {
    DEFAULT_SESSIONS
}

/// The model's turn time: `turn` + per_result·results read + per_call·calls written
/// + per_context_item·items already in the context.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Base time of every turn: time to first token, prefill.
    #[serde(deserialize_with = "shorthand")]
    pub turn: Dist,
    #[serde(default, with = "crate::model::duration")]
    pub per_result: Duration,
    #[serde(default, with = "crate::model::duration")]
    pub per_call: Duration,
    #[serde(default, with = "crate::model::duration")]
    pub per_context_item: Duration,
    /// Turns that may run at once across all sessions (LLM concurrency limit).
    #[serde(default)]
    pub concurrency: Option<u32>,
    /// Turns that may start per second across all sessions (LLM rate limit).
    #[serde(default)]
    pub requests_per_s: Option<f64>,
    /// Every policy dispatches each call as soon as its part of the turn is generated
    /// (per_call each, after the prefill), instead of at the end of the turn.
    #[serde(default)]
    pub streamed_dispatch: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolSpec {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(deserialize_with = "shorthand")]
    pub latency: Dist,
    /// Calls of this tool that may run at once across all sessions (Lambda reserved
    /// concurrency); more wait in FIFO order, like messages in SQS.
    #[serde(default)]
    pub concurrency: Option<u32>,
    /// Probability that one attempt fails.
    #[serde(default)]
    pub failure_rate: f64,
    /// An attempt that runs longer ends TIMED_OUT at this time.
    #[serde(default, with = "crate::model::duration::option")]
    pub timeout: Option<Duration>,
    /// Further attempts after a failure or a timeout.
    #[serde(default)]
    pub retries: u32,
    /// Wait before retry k: backoff × 2^(k−1).
    #[serde(default, with = "crate::model::duration")]
    pub backoff: Duration,
    /// Extra latency of an attempt that finds no warm instance.
    #[serde(default, deserialize_with = "shorthand_option")]
    pub cold_start: Option<Dist>,
    /// An instance idle longer than this is gone (default 10 min, with `cold_start`).
    #[serde(default, with = "crate::model::duration::option")]
    pub keep_warm: Option<Duration>,
    /// Lambda memory, for the cost of GB-seconds.
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u32,
}

fn default_memory_mb() -> u32 {
    crate::model::scenario::DEFAULT_MEMORY_MB
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArrivalKind {
    /// Every session starts at time 0.
    #[default]
    AllAtOnce,
    /// Sessions start at the events of a Poisson process (`rate_per_s`).
    Poisson,
    /// `users` users each run one session after another, thinking `think` in between.
    Closed,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    #[serde(default)]
    pub arrival: ArrivalKind,
    #[serde(default)]
    pub rate_per_s: Option<f64>,
    #[serde(default)]
    pub users: Option<u32>,
    #[serde(default, deserialize_with = "shorthand_option")]
    pub think: Option<Dist>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// Messages the user sends during a session, each `gap` after the previous one.
    #[serde(default)]
    pub followups: u32,
    #[serde(default, deserialize_with = "shorthand_option")]
    pub gap: Option<Dist>,
}

/// Either `rounds` (lists of tool names) or `calls` (a DAG with ids and `after`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSpec {
    #[serde(default)]
    pub rounds: Option<Vec<Vec<String>>>,
    #[serde(default)]
    pub calls: Option<Vec<CallSpec>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallSpec {
    pub id: String,
    pub tool: String,
    #[serde(default)]
    pub after: Vec<String>,
}

/// Infrastructure costs per call, each a distribution (default 0).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverheadSpec {
    /// Sync and sequential loops: invoking the tool and getting its answer back.
    #[serde(default, deserialize_with = "shorthand_option")]
    pub sync_invocation: Option<Dist>,
    /// Async loop: acknowledgement, enqueue and worker start before the tool runs.
    #[serde(default, deserialize_with = "shorthand_option")]
    pub async_dispatch: Option<Dist>,
    /// Async loop: from the tool's end, through the results queue, to the agent.
    #[serde(default, deserialize_with = "shorthand_option")]
    pub async_delivery: Option<Dist>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsyncSpec {
    /// After the first waiting result, hold up to this long for more before starting a turn.
    #[serde(default, with = "crate::model::duration::option")]
    pub batch_window: Option<Duration>,
}

/// Fills the samples of every empirical distribution that names a file, reading it relative to
/// `base` (the scenario's directory). Problems carry the distribution's key path. Every `Dist`
/// field of [`ScenarioFile`] is listed here: a new one must be added too.
pub(super) fn load_sample_files(spec: &mut ScenarioFile, base: &Path) -> Result<(), Vec<Problem>> {
    let mut problems = Vec::new();
    let mut load = |path: String, dist: &mut Dist| {
        crate::input::traces::load_dist(dist, &path, base, &mut problems)
    };
    load("model.turn".into(), &mut spec.model.turn);
    for (name, tool) in &mut spec.tools {
        load(format!("tools.{name}.latency"), &mut tool.latency);
        if let Some(d) = &mut tool.cold_start {
            load(format!("tools.{name}.cold_start"), d);
        }
    }
    let o = &mut spec.overheads;
    for (path, dist) in [
        ("overheads.sync_invocation", &mut o.sync_invocation),
        ("overheads.async_dispatch", &mut o.async_dispatch),
        ("overheads.async_delivery", &mut o.async_delivery),
        ("workload.think", &mut spec.workload.think),
        ("user.gap", &mut spec.user.gap),
    ] {
        if let Some(d) = dist {
            load(path.into(), d);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}
