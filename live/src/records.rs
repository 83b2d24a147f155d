//! What a live run measured: every attempt of every call, every session's outcome.

use crate::options::LiveOptions;
use sim::model::agent::Outcome;
use sim::model::time::Nanos;
use std::collections::HashMap;
use std::time::Duration;

/// One attempt of one call as the pipeline ran it. Times are scenario nanoseconds from the
/// session's start (the run's common origin).
#[derive(Debug, Clone, serde::Serialize)]
pub struct CallRecord {
    pub session: u64,
    pub policy: usize,
    pub call: u32,
    pub attempt: u32,
    /// What the synthetic tool was asked to run for (the drawn attempt latency).
    pub run: Nanos,
    /// When the session issued it (the turn's end, or mid-turn when streamed).
    pub issued: Nanos,
    /// When the worker started and ended the tool (absent if the tool ran elsewhere).
    pub tool_start: Option<Nanos>,
    pub tool_end: Option<Nanos>,
    /// When the result reached the agent (the router received it).
    pub arrival: Nanos,
    pub task_id: String,
    pub status: String,
}

/// One session under one policy, measured.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub session: u64,
    pub policy: usize,
    pub outcome: Outcome,
    /// Per call: end of the turn that read it − the moment the result existed (tool start +
    /// drawn latency; the result's arrival when the tool's start is unknown).
    pub result_delays: Vec<Nanos>,
    /// Per call: end of the turn that read it.
    pub read_ends: Vec<Nanos>,
    /// When the session started (scenario time from the run's origin).
    pub start: Nanos,
}

/// Everything a live run measured.
#[derive(Debug, Clone)]
pub struct LiveRun {
    pub options: LiveOptions,
    /// The stagger used (scenario time between session starts).
    pub stagger: Nanos,
    pub sessions: Vec<SessionRecord>,
    pub calls: Vec<CallRecord>,
    /// How many times the tool ran, per task id (exactly-once check).
    pub executions: HashMap<String, u32>,
    /// Results delivered more than once (at-least-once publishing), ignored after the first.
    pub duplicate_results: u64,
    pub wall: Duration,
}

impl LiveRun {
    /// Tasks whose tool ran a number of times other than once.
    pub fn not_run_once(&self) -> Vec<(String, u32)> {
        let mut bad: Vec<(String, u32)> = self
            .calls
            .iter()
            .map(|c| {
                let n = self.executions.get(&c.task_id).copied().unwrap_or(0);
                (c.task_id.clone(), n)
            })
            .filter(|(_, n)| *n != 1)
            .collect();
        bad.sort();
        bad
    }
}
