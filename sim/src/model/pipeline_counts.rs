//! What the async pipeline sends to AWS for one call: the counts the cost meter measured on moto
//! (`workers/examples/cost_meter`, docs/cost.md), in the one place both the simulator's cost model
//! and the meter's test (`tests/cost.rs`) read. A scenario may override any of them in
//! `[cost.pipeline]`; `cost_meter --overlay FILE` writes that table from a measurement.

use serde::{Deserialize, Serialize};

/// Counts per async call and per attempt after the first. Units, not requests, for DynamoDB: a
/// request costs one write unit per KB of the larger of the item before and after it, plus one per
/// index entry written; the defaults are a small (~100-byte) argument and result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineCounts {
    /// DynamoDB write units of one call with one attempt, indexes included: create, claim, finish
    /// with the result (announced), delivered; index entries (conversation, open, undelivered).
    pub write_units: f64,
    /// DynamoDB read units of one call: the router's strongly consistent read before handing over.
    pub read_units: f64,
    /// SQS requests billed for one call: work and result messages sent, received and deleted (a
    /// batch call counted once, shared by its messages). Receives that bring nothing are not a
    /// call's: they are the idle cost of a router and a worker, per hour.
    pub sqs_requests: f64,
    /// The dispatcher function's GB-seconds for one call (its invocation is one Lambda request).
    pub dispatcher_gb_s: f64,
    /// Seconds a worker invocation spends on its own requests (claim, finish, send), beside the
    /// tool's run: billed at the tool's memory, per attempt.
    pub worker_overhead_s: f64,
    /// What each attempt after the first adds: a claim, the work message received again.
    pub retry_write_units: f64,
    pub retry_read_units: f64,
    pub retry_sqs_requests: f64,
}

impl PipelineCounts {
    /// Measured on moto with `cost_meter --tasks 50` (50 `sentiment` tasks, one `asynctools worker`,
    /// one `tasks watch`), excluding background; the retry figures from its `retry` scenario.
    /// Times are moto's on loopback (AWS answers faster), so the Lambda figures lean high.
    pub const MEASURED: PipelineCounts = PipelineCounts {
        write_units: 9.0,
        read_units: 1.0,
        sqs_requests: 3.5,
        dispatcher_gb_s: 0.0075,
        worker_overhead_s: 0.065,
        retry_write_units: 3.0,
        retry_read_units: 1.0,
        retry_sqs_requests: 4.5,
    };
}

impl Default for PipelineCounts {
    fn default() -> Self {
        PipelineCounts::MEASURED
    }
}
