//! A scenario, validated and compiled: the tools, the model's turn costs, the plan, the
//! overheads and the workload that sessions are drawn from. `crate::input::scenario` reads one
//! from a file.

use crate::model::dist::{Dist, Sampler};
use crate::model::pipeline_counts::PipelineCounts;
use crate::model::plan::Plan;
use crate::model::time::Nanos;
use serde::{Deserialize, Serialize};

/// Lambda memory when a tool does not say, for the cost of GB-seconds.
pub const DEFAULT_MEMORY_MB: u32 = 512;

/// A distribution with its compiled sampler.
#[derive(Debug, Clone)]
pub struct Latency {
    pub dist: Dist,
    pub sampler: Sampler,
}

impl Latency {
    pub fn new(dist: Dist) -> Result<Latency, String> {
        let sampler = dist.sampler()?;
        Ok(Latency { dist, sampler })
    }
}

#[derive(Debug, Clone)]
pub struct Tool {
    pub name: String,
    pub description: String,
    pub latency: Latency,
    pub concurrency: Option<u32>,
    pub failure_rate: f64,
    pub timeout: Option<Nanos>,
    pub retries: u32,
    pub backoff: Nanos,
    pub cold_start: Option<Latency>,
    pub keep_warm: Nanos,
    pub memory_mb: u32,
}

impl Tool {
    /// A tool that always succeeds at once, for tests and references.
    pub fn simple(name: &str, latency: Latency) -> Tool {
        Tool {
            name: name.into(),
            description: String::new(),
            latency,
            concurrency: None,
            failure_rate: 0.0,
            timeout: None,
            retries: 0,
            backoff: 0,
            cold_start: None,
            keep_warm: 0,
            memory_mb: DEFAULT_MEMORY_MB,
        }
    }

    /// Whether an attempt can fail or time out (so it may need more than one draw).
    pub fn can_fail(&self) -> bool {
        self.failure_rate > 0.0 || self.timeout.is_some()
    }
}

/// Turn-time costs in nanoseconds, and the limits of a shared model endpoint.
#[derive(Debug, Clone)]
pub struct TurnModel {
    pub base: Latency,
    pub per_result: Nanos,
    pub per_call: Nanos,
    pub per_context_item: Nanos,
    pub concurrency: Option<u32>,
    /// From `requests_per_s`: turn starts are at least this far apart.
    pub min_start_gap: Option<Nanos>,
    pub streamed_dispatch: bool,
}

impl TurnModel {
    pub fn simple(base: Latency) -> TurnModel {
        TurnModel {
            base,
            per_result: 0,
            per_call: 0,
            per_context_item: 0,
            concurrency: None,
            min_start_gap: None,
            streamed_dispatch: false,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Arrival {
    AllAtOnce,
    Poisson { rate_per_s: f64 },
    Closed { users: u32, think: Latency },
}

#[derive(Debug, Clone)]
pub struct FollowUps {
    pub count: u32,
    pub gap: Latency,
}

#[derive(Debug, Clone)]
pub struct Overheads {
    pub sync_invocation: Latency,
    pub async_dispatch: Latency,
    pub async_delivery: Latency,
}

/// A validated scenario, ready to simulate.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Where it was read from, as given (for messages and reports).
    pub file: String,
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub sessions: u64,
    pub model: TurnModel,
    pub tools: Vec<Tool>,
    pub plan: Plan,
    pub overheads: Overheads,
    pub batch_window: Nanos,
    pub arrival: Arrival,
    pub followups: Option<FollowUps>,
    pub cost: Option<CostSpec>,
    /// The file's text, so a report can show the scenario it came from.
    pub source: String,
}

impl Scenario {
    pub fn tool_name(&self, call: usize) -> &str {
        &self.tools[self.plan.calls[call].tool].name
    }

    /// Whether sessions share capacity (tool or model limits, warm pools): then they must be
    /// simulated together, in arrival order (one world per policy).
    pub fn is_shared(&self) -> bool {
        self.model.concurrency.is_some()
            || self.model.min_start_gap.is_some()
            || self
                .tools
                .iter()
                .any(|t| t.concurrency.is_some() || t.cold_start.is_some())
    }

    /// Whether any call can fail, time out or be retried.
    pub fn has_failures(&self) -> bool {
        self.tools.iter().any(Tool::can_fail)
    }

    /// The same scenario drawing through the reference samplers ([`Sampler::reference`]): what
    /// the fast sampling paths are checked against.
    pub fn with_reference_samplers(&self) -> Scenario {
        let mut s = self.clone();
        let mut latencies: Vec<&mut Latency> = vec![
            &mut s.model.base,
            &mut s.overheads.sync_invocation,
            &mut s.overheads.async_dispatch,
            &mut s.overheads.async_delivery,
        ];
        for tool in &mut s.tools {
            latencies.push(&mut tool.latency);
            latencies.extend(tool.cold_start.as_mut());
        }
        latencies.extend(s.followups.as_mut().map(|f| &mut f.gap));
        if let Arrival::Closed { think, .. } = &mut s.arrival {
            latencies.push(think);
        }
        for l in latencies {
            l.sampler = l.sampler.reference();
        }
        s
    }
}

/// Prices (defaults: AWS us-east-1 on-demand list prices; set your own) and token counts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostSpec {
    pub input_usd_per_mtok: f64,
    pub output_usd_per_mtok: f64,
    /// Input tokens every turn pays: system prompt, tools, the user's request.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Tokens a result (or a follow-up message) adds to the context when read.
    #[serde(default)]
    pub result_tokens: u64,
    /// Output tokens of one tool call; then part of the context.
    #[serde(default)]
    pub call_tokens: u64,
    /// Output tokens of each turn's message to the user; then part of the context.
    #[serde(default)]
    pub message_tokens: u64,
    #[serde(default = "p_lambda_gb_s")]
    pub lambda_usd_per_gb_s: f64,
    #[serde(default = "p_lambda_request")]
    pub lambda_usd_per_request: f64,
    #[serde(default = "p_sqs_request")]
    pub sqs_usd_per_request: f64,
    #[serde(default = "p_ddb_write")]
    pub dynamodb_usd_per_write_unit: f64,
    #[serde(default = "p_ddb_read")]
    pub dynamodb_usd_per_read_unit: f64,
    /// What the async pipeline sends per call (`[cost.pipeline]`; defaults: measured, docs/cost.md).
    #[serde(default)]
    pub pipeline: PipelineCounts,
}

fn p_lambda_gb_s() -> f64 {
    0.000_016_666_7
}
fn p_lambda_request() -> f64 {
    0.000_000_2
}
fn p_sqs_request() -> f64 {
    0.000_000_4
}
fn p_ddb_write() -> f64 {
    0.000_000_625
}
fn p_ddb_read() -> f64 {
    0.000_000_125
}
