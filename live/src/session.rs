//! One (session, policy) on the wall clock: the simulator's own [`Session`] state machine, its
//! turns as timers, its calls submitted through the real dispatcher and its results handed over
//! by the run's router.

use crate::options::{LiveError, SYNTHETIC};
use crate::records::{CallRecord, SessionRecord};
use crate::routing::{Arrived, conversation};
use serde_json::json;
use sim::Scenario;
use sim::model::agent::{Env, Event, QueueEnv, Session, SessionInputs};
use sim::model::draws::{Attempt, Attempts, CallOutcome, SessionDraws};
use sim::model::engine::EventQueue;
use sim::model::policy::Policy;
use sim::model::time::Nanos;
use sim::run::session::setups;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use workers::{Caller, Dispatcher, TaskRequest};

/// What every session task shares.
pub(crate) struct Shared {
    pub(crate) scenario: Arc<Scenario>,
    pub(crate) policies: Vec<Policy>,
    pub(crate) dispatcher: Arc<Dispatcher>,
    pub(crate) caller: Caller,
    pub(crate) consumer: String,
    pub(crate) t0: Instant,
    pub(crate) scale: f64,
    pub(crate) run_id: String,
    pub(crate) stagger: Nanos,
}

impl Shared {
    /// The wall-clock instant of scenario time `t`.
    pub(crate) fn wall(&self, t: Nanos) -> tokio::time::Instant {
        tokio::time::Instant::from_std(
            self.t0 + Duration::from_nanos((t as f64 * self.scale) as u64),
        )
    }

    /// The scenario time of a wall-clock instant.
    pub(crate) fn scenario_time(&self, at: Instant) -> Nanos {
        (at.saturating_duration_since(self.t0).as_nanos() as f64 / self.scale) as Nanos
    }
}

/// The session's surroundings on a wall clock: its own event queue (fired by tokio timers) and
/// the attempts it asks to run, submitted after each step.
pub(crate) struct WallEnv {
    queue: EventQueue<Event>,
    submits: Vec<(u32, Nanos, Nanos)>,
}

impl QueueEnv for WallEnv {
    fn queue(&mut self) -> &mut EventQueue<Event> {
        &mut self.queue
    }
}

impl Env for WallEnv {
    fn schedule(&mut self, at: Nanos, event: Event) {
        self.queue.push(at, event);
    }

    fn shared_tools(&self) -> bool {
        true
    }

    fn run_attempt(&mut self, now: Nanos, _tool: usize, call: u32, run: Nanos, _cold: Nanos) {
        // Cold starts are the shared world's tool pools; a live run has the pipeline's own.
        self.submits.push((call, run, now));
    }
}

/// One (session, policy): the simulator's state machine on the wall clock.
pub(crate) async fn run_session(
    shared: Arc<Shared>,
    session_index: u64,
    p: usize,
    draws: Arc<SessionDraws>,
    mut arrivals: mpsc::UnboundedReceiver<Arrived>,
) -> Result<(SessionRecord, Vec<CallRecord>), LiveError> {
    let scenario = shared.scenario.clone();
    let policies = [shared.policies[p].clone()];
    let setups = setups(&scenario, &policies);
    let setup = &setups[0];
    // Shared-tools mode reads attempt chains; without failures the chain is the one latency draw.
    let attempts = if draws.attempts.is_empty() {
        let chains: Vec<Vec<Attempt>> = draws
            .latency
            .iter()
            .map(|&run| {
                vec![Attempt {
                    run,
                    outcome: CallOutcome::Succeeded,
                    cold: 0,
                }]
            })
            .collect();
        Attempts::from_chains(&chains)
    } else {
        draws.attempts.clone()
    };
    let mut turns = draws.turns.clone();
    let mut inputs = SessionInputs {
        latency: &draws.latency,
        attempts: &attempts,
        pre: &[],
        post: &[],
        followups: &draws.followups,
        turn_base: turns.source(&scenario.model.base.sampler),
    };
    let mut env = WallEnv {
        queue: EventQueue::default(),
        submits: Vec::new(),
    };
    let mut session = Session::default();
    let n_calls = scenario.plan.len();
    let mut attempt_no = vec![0u32; n_calls];
    let mut issued: HashMap<(u32, u32), (Nanos, Nanos)> = HashMap::new();
    let mut records = Vec::new();
    let mut submitting = tokio::task::JoinSet::new();

    let start = session_index.saturating_mul(shared.stagger);
    let mut last: Nanos = start;
    session.begin(setup, &mut inputs, &mut env, start);
    loop {
        for (call, run, now) in env.submits.drain(..) {
            let attempt = attempt_no[call as usize];
            attempt_no[call as usize] += 1;
            issued.insert((call, attempt), (now, run));
            let wall_ms = (run as f64 * shared.scale / 1e6).ceil() as u64;
            let request = TaskRequest {
                reply_to: Some(shared.consumer.clone()),
                ..TaskRequest::new(
                    conversation(&shared.run_id, session_index, p, call, attempt),
                    SYNTHETIC,
                    json!({ "sleep_ms": wall_ms }),
                )
            };
            let (dispatcher, caller) = (shared.dispatcher.clone(), shared.caller.clone());
            // Submitted concurrently: the agent host does not wait for acks in turn.
            submitting.spawn(async move { dispatcher.submit(&caller, request).await.map(|_| ()) });
        }
        if session.is_done() {
            break;
        }
        let next = env.queue.peek_time();
        let deadline = shared.wall(next.unwrap_or(0));
        tokio::select! {
            biased;
            Some(submitted) = submitting.join_next(), if !submitting.is_empty() => {
                submitted
                    .map_err(|source| LiveError::Task { what: "submit", source })?
                    .map_err(|source| LiveError::Pipeline { step: "submit", source })?;
            }
            arrived = arrivals.recv() => {
                let Some(a) = arrived else {
                    return Err(LiveError::RouterStopped);
                };
                let now = shared.scenario_time(a.at).max(last);
                // Timers that are due fire first, in order, as they would have.
                while let Some(t) = env.queue.peek_time() {
                    if t > now || session.is_done() {
                        break;
                    }
                    session.run_instant(setup, &mut inputs, &mut env, t);
                    last = last.max(t);
                }
                let (issued_at, run) = issued
                    .get(&(a.call, a.attempt))
                    .copied()
                    .ok_or(LiveError::NeverIssued { call: a.call, attempt: a.attempt })?;
                records.push(CallRecord {
                    session: session_index,
                    policy: p,
                    call: a.call,
                    attempt: a.attempt,
                    run,
                    issued: issued_at,
                    tool_start: None,
                    tool_end: None,
                    arrival: now,
                    task_id: a.task_id,
                    status: a.status,
                });
                // The session reads a late attempt's result only once its earlier ones are done.
                session.handle(setup, &mut inputs, &mut env, now, Event::AttemptDone(a.call));
                session.run_instant(setup, &mut inputs, &mut env, now);
                last = last.max(now);
            }
            _ = tokio::time::sleep_until(deadline), if next.is_some() => {
                let t = next.expect("guarded");
                session.run_instant(setup, &mut inputs, &mut env, t);
                last = last.max(t);
            }
        }
    }
    // Submits still in flight are for nothing the session needs (it is done); let them finish
    // so their tasks end cleanly.
    while let Some(submitted) = submitting.join_next().await {
        submitted
            .map_err(|source| LiveError::Task {
                what: "submit",
                source,
            })?
            .map_err(|source| LiveError::Pipeline {
                step: "submit",
                source,
            })?;
    }
    let outcome = session.outcome();
    Ok((
        SessionRecord {
            session: session_index,
            policy: p,
            outcome,
            // From the arrival for now; `run_live` measures from each tool's real end.
            result_delays: session.calls.iter().map(|c| c.result_delay()).collect(),
            read_ends: session.calls.iter().map(|c| c.read_end).collect(),
            start,
        },
        records,
    ))
}
