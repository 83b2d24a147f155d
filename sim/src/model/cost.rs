//! Dollars per session: model tokens, and the AWS requests and compute behind each call.
//!
//! Model: input tokens × price + output tokens × price (token counts come from the turns).
//! Every attempt of a call runs in a Lambda: one request plus memory × run time in GB-seconds.
//! The async pipeline adds what the cost meter measured (`PipelineCounts`, docs/cost.md): per call
//! a dispatcher invocation and its GB-seconds, DynamoDB write and read units, SQS requests; per
//! attempt the worker's own requests' time at the tool's memory; per attempt after the first a
//! claim and a redelivery. Cold-start (init) time is not billed here. Prices are the scenario's
//! `[cost]` (defaults: us-east-1 on-demand list prices).

use crate::model::agent::Session;
use crate::model::draws::SessionDraws;
use crate::model::policy::Policy;
use crate::model::scenario::{CostSpec, Scenario};
use crate::model::time::round_to_u64;

/// (model, infrastructure) cost of the session just simulated, in pico-dollars (10^-12 $: a Lambda request is 200,000).
pub fn session_cost(
    scenario: &Scenario,
    cost: &CostSpec,
    policy: &Policy,
    draws: &SessionDraws,
    session: &Session,
) -> (u64, u64) {
    let (input, output) = session.turns.iter().fold((0u64, 0u64), |(i, o), t| {
        (i + t.input_tokens, o + t.output_tokens)
    });
    let model_usd = input as f64 * cost.input_usd_per_mtok / 1e6
        + output as f64 * cost.output_usd_per_mtok / 1e6;
    let mut infra_usd = 0.0;
    for (i, call) in scenario.plan.calls.iter().enumerate() {
        let tool = &scenario.tools[call.tool];
        let (attempts, run_ns): (u64, u64) = if draws.attempts.is_empty() {
            (1, draws.latency[i])
        } else {
            let chain = draws.attempts.of(i);
            (chain.len() as u64, chain.iter().map(|a| a.run).sum())
        };
        let gb_s = tool.memory_mb as f64 / 1024.0 * run_ns as f64 / 1e9;
        infra_usd +=
            gb_s * cost.lambda_usd_per_gb_s + attempts as f64 * cost.lambda_usd_per_request;
        if !policy.is_blocking() {
            infra_usd += pipeline_usd(cost, attempts, tool.memory_mb);
        }
    }
    (to_pico(model_usd), to_pico(infra_usd))
}

/// What the async pipeline adds to one call of `attempts` attempts, on a tool of `memory_mb`: the
/// figure the cost meter's dollars per task are checked against (`tests/cost.rs`).
pub fn pipeline_usd(cost: &CostSpec, attempts: u64, memory_mb: u32) -> f64 {
    let p = &cost.pipeline;
    let retries = attempts.saturating_sub(1) as f64;
    let worker_gb_s = f64::from(memory_mb) / 1024.0 * p.worker_overhead_s * attempts as f64;
    cost.lambda_usd_per_request
        + (p.dispatcher_gb_s + worker_gb_s) * cost.lambda_usd_per_gb_s
        + (p.write_units + retries * p.retry_write_units) * cost.dynamodb_usd_per_write_unit
        + (p.read_units + retries * p.retry_read_units) * cost.dynamodb_usd_per_read_unit
        + (p.sqs_requests + retries * p.retry_sqs_requests) * cost.sqs_usd_per_request
}

fn to_pico(usd: f64) -> u64 {
    round_to_u64(usd * 1e12)
}
