//! Dollars per session: model tokens, and the AWS requests and compute behind each call.
//!
//! Model: input tokens × price + output tokens × price (token counts come from the turns).
//! Every attempt of a call runs in a Lambda: one request plus memory × run time in GB-seconds.
//! The async pipeline adds per call a dispatcher request, a DynamoDB PENDING write and a read,
//! and the results queue's send, receive and delete; per attempt the work queue's send,
//! receive and delete and two task writes (claim, terminal state). Cold-start (init) time is not
//! billed here. Prices are the scenario's `[cost]` (defaults: us-east-1 on-demand list prices).

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
            let sqs_requests = 3 * attempts + 3;
            let writes = 1 + 2 * attempts;
            infra_usd += cost.lambda_usd_per_request
                + sqs_requests as f64 * cost.sqs_usd_per_request
                + writes as f64 * cost.dynamodb_usd_per_write_unit
                + cost.dynamodb_usd_per_read_unit;
        }
    }
    (to_pico(model_usd), to_pico(infra_usd))
}

fn to_pico(usd: f64) -> u64 {
    round_to_u64(usd * 1e12)
}
