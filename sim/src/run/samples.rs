//! Sample sessions traced in full, for timelines and Chrome traces, and the idle-time
//! breakdown measured on them.
//!
//! Aggregate metrics say how much; a few whole sessions show why. The samples are chosen by the
//! baseline policy's makespan among the first sessions (a fast, a typical and a slow one), so
//! a seed always picks the same sessions.

use crate::input::scenario::Scenario;
use crate::model::policy::Policy;
use crate::model::time::Nanos;
use crate::run::session::{SessionTrace, trace_session};
use serde::Serialize;

/// Timelines of more sessions than this stop being readable.
pub const MAX_SAMPLE_SESSIONS: usize = 8;
/// Sessions traced to choose the samples and to measure the idle breakdown.
pub const MAX_CANDIDATES: u64 = 1000;

/// The default samples: (quantile of the baseline's makespan, label).
pub const DEFAULT_PICKS: [(f64, &str); 3] = [
    (0.1, "a fast session"),
    (0.5, "a typical session"),
    (0.9, "a slow session"),
];

/// What a call is, for labels: its id in the plan and its tool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CallLabel {
    pub id: String,
    pub tool: String,
}

/// Where sessions come from: the scenario's random draws, or recorded sessions replayed.
pub trait SessionSource: Sync {
    fn sessions(&self) -> u64;
    /// Session `session` under `policy`, on the same draws as the run.
    fn trace(&self, session: u64, policy: &Policy) -> SessionTrace;
    fn call_labels(&self, session: u64) -> Vec<CallLabel>;
}

/// Sessions of a scenario, drawn from (seed, session index) like [`crate::simulate`].
pub struct ScenarioSessions<'a> {
    pub scenario: &'a Scenario,
    pub seed: u64,
    pub sessions: u64,
}

impl SessionSource for ScenarioSessions<'_> {
    fn sessions(&self) -> u64 {
        self.sessions
    }

    fn trace(&self, session: u64, policy: &Policy) -> SessionTrace {
        trace_session(self.scenario, self.seed, session, policy)
    }

    fn call_labels(&self, _session: u64) -> Vec<CallLabel> {
        (0..self.scenario.plan.len())
            .map(|i| CallLabel {
                id: self.scenario.plan.calls[i].id.clone(),
                tool: self.scenario.tool_name(i).to_string(),
            })
            .collect()
    }
}

/// One session under every policy.
#[derive(Clone, Debug)]
pub struct SampleSession {
    pub session: u64,
    /// Why it was picked: "a typical session".
    pub label: String,
    pub calls: Vec<CallLabel>,
    /// One per policy, in the order given to [`pick`].
    pub traces: Vec<SessionTrace>,
}

/// Picks sessions at the given quantiles of `policies[baseline]`'s makespan among the first
/// [`MAX_CANDIDATES`] sessions, and traces each under every policy. A session picked twice
/// (few candidates) appears once.
pub fn pick(
    source: &dyn SessionSource,
    policies: &[Policy],
    baseline: usize,
    picks: &[(f64, &str)],
) -> Vec<SampleSession> {
    let candidates = source.sessions().min(MAX_CANDIDATES);
    if candidates == 0 || policies.is_empty() {
        return Vec::new();
    }
    let mut by_makespan: Vec<(Nanos, u64)> = (0..candidates)
        .map(|s| (source.trace(s, &policies[baseline]).outcome.makespan, s))
        .collect();
    by_makespan.sort_unstable();
    let mut out: Vec<SampleSession> = Vec::new();
    for &(q, label) in picks.iter().take(MAX_SAMPLE_SESSIONS) {
        let rank = ((by_makespan.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
        let session = by_makespan[rank].1;
        if out.iter().any(|s| s.session == session) {
            continue;
        }
        out.push(SampleSession {
            session,
            label: label.to_string(),
            calls: source.call_labels(session),
            traces: policies.iter().map(|p| source.trace(session, p)).collect(),
        });
    }
    out
}

/// Where a policy's model time goes, as a mean per session.
#[derive(Clone, Debug, Serialize)]
pub struct IdleBreakdown {
    pub policy: String,
    pub sessions: u64,
    /// Mean makespan, seconds.
    pub makespan_s: f64,
    /// The model is taking turns.
    pub busy_s: f64,
    /// The model is idle while a delivered result waits to be read (held up by the loop).
    pub idle_result_waiting_s: f64,
    /// The model is idle with nothing to read: tools still running.
    pub idle_tools_running_s: f64,
}

/// Measures [`IdleBreakdown`] on the first [`MAX_CANDIDATES`] sessions of each policy.
pub fn idle_breakdown(source: &dyn SessionSource, policies: &[Policy]) -> Vec<IdleBreakdown> {
    let n = source.sessions().min(MAX_CANDIDATES);
    policies
        .iter()
        .map(|policy| {
            let (mut makespan, mut busy, mut waiting) = (0u128, 0u128, 0u128);
            for s in 0..n {
                let t = source.trace(s, policy);
                let split = split_session(&t);
                makespan += t.outcome.makespan as u128;
                busy += split.busy as u128;
                waiting += split.idle_result_waiting as u128;
            }
            let mean = |v: u128| v as f64 / n.max(1) as f64 / 1e9;
            IdleBreakdown {
                policy: policy.name(),
                sessions: n,
                makespan_s: mean(makespan),
                busy_s: mean(busy),
                idle_result_waiting_s: mean(waiting),
                idle_tools_running_s: mean(makespan - busy - waiting),
            }
        })
        .collect()
}

/// One session's model time: busy, and idle with a result waiting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionSplit {
    pub busy: Nanos,
    pub idle_result_waiting: Nanos,
}

/// Splits a session's time: turns are busy; an idle instant counts as "result waiting" when
/// some result has reached the agent but the turn that reads it has not started yet.
pub fn split_session(t: &SessionTrace) -> SessionSplit {
    let busy = t.turns.iter().map(|turn| turn.end - turn.start).sum();
    // Each call's waiting interval: available → start of the turn that read it.
    let mut waits: Vec<(Nanos, Nanos)> = t
        .calls
        .iter()
        .filter_map(|c| {
            let turn = t.turns.get(c.read_turn as usize)?;
            (turn.start > c.available).then_some((c.available, turn.start))
        })
        .collect();
    waits.sort_unstable();
    // Union of the waiting intervals, minus the turns inside it (a result that arrives during
    // a turn waits, but the model is busy then, not idle).
    let mut merged: Vec<(Nanos, Nanos)> = Vec::new();
    for (a, b) in waits {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    let mut idle_result_waiting = 0;
    for (a, b) in merged {
        let overlap_busy: Nanos = t
            .turns
            .iter()
            .map(|turn| turn.end.min(b).saturating_sub(turn.start.max(a)))
            .sum();
        idle_result_waiting += (b - a) - overlap_busy;
    }
    SessionSplit {
        busy,
        idle_result_waiting,
    }
}
