//! One session's agent loop under a policy, as a state machine driven by events.
//!
//! The model takes one turn at a time. A turn *starts* by reading results (and the user's
//! follow-up messages), which may make further calls ready; it dispatches the calls it writes
//! (at its end, or as each is generated with streamed dispatch) and *ends* by showing output.
//! The policies differ only in when the idle model asks for its next turn and how many calls it
//! issues (see [`Policy`]). The driver applies every event of an instant before the session
//! decides, so a turn that starts at time t reads every result that arrived at or before t;
//! results that arrive while a turn runs wait for the next one.
//!
//! The session talks to its surroundings through [`Env`]: on its own ([`simulate_session`],
//! sessions independent) the model is always free and a call's whole attempt chain is known when
//! it is issued; in a shared world (`crate::run::world`) turns wait for model capacity and each
//! attempt queues for its tool.
//!
//! [`types`] holds what a session reads and reports; [`local`] runs one on its own.

mod local;
mod types;

pub use local::{Workspace, simulate_session};
pub use types::*;

use crate::model::draws::{CallOutcome, TurnBase};
use crate::model::policy::PolicyKind;
use crate::model::scenario::Tool;
use crate::model::time::Nanos;

/// One session's state; reused from one session to the next. After a session, it holds its
/// detail: every call's timeline and every turn.
#[derive(Default)]
pub struct Session {
    pub calls: Vec<CallTimes>,
    pub turns: Vec<TurnRecord>,
    /// Reply latency of each follow-up message: message → end of the turn that read it.
    pub replies: Vec<Nanos>,
    remaining_deps: Vec<u32>,
    ready: Vec<u32>,
    waiting: Vec<u32>,
    reading: Vec<u32>,
    issuing: Vec<u32>,
    blocked_on: Vec<u32>,
    messages_waiting: Vec<Nanos>,
    messages_reading: Vec<Nanos>,
    next_followup: usize,
    busy: bool,
    requested: Option<Nanos>,
    in_flight: u32,
    issued_total: u32,
    read_total: u32,
    context_tokens: u64,
    hold_until: Option<Nanos>,
    start: Nanos,
    last_output: Nanos,
    outcome: Outcome,
    done: bool,
}

impl Session {
    /// Starts a session at `start`: schedules its first follow-up and asks for turn 0.
    pub fn begin<T: TurnBase, E: Env>(
        &mut self,
        setup: &Setup,
        inputs: &mut SessionInputs<T>,
        env: &mut E,
        start: Nanos,
    ) {
        let plan = setup.plan;
        assert_eq!(inputs.latency.len(), plan.len(), "one latency per call");
        self.calls.clear();
        self.calls.resize(plan.len(), CallTimes::NEW);
        self.turns.clear();
        self.replies.clear();
        self.remaining_deps.clear();
        self.remaining_deps.extend_from_slice(plan.indegrees());
        self.ready.clear();
        self.ready.extend_from_slice(plan.roots());
        self.waiting.clear();
        self.reading.clear();
        self.issuing.clear();
        self.blocked_on.clear();
        self.messages_waiting.clear();
        self.messages_reading.clear();
        self.next_followup = 0;
        self.busy = false;
        self.requested = None;
        self.in_flight = 0;
        self.issued_total = 0;
        self.read_total = 0;
        self.context_tokens = 0;
        self.hold_until = None;
        self.start = start;
        self.last_output = start;
        self.outcome = Outcome::default();
        self.done = false;
        if let Some(&first) = inputs.followups.first() {
            env.schedule(start + first, Event::FollowUp);
        }
        self.ask_for_turn(setup, inputs, env, start);
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The session's metrics (valid once [`Session::is_done`]).
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// Applies one event at `now`. Call [`Session::decide`] once every event of `now` is in.
    #[inline]
    pub fn handle<T: TurnBase, E: Env>(
        &mut self,
        setup: &Setup,
        inputs: &mut SessionInputs<T>,
        env: &mut E,
        now: Nanos,
        event: Event,
    ) {
        match event {
            Event::TurnEnd => self.end_turn(setup, inputs, env, now),
            Event::TurnGranted => {
                let requested = self.requested.take();
                debug_assert!(requested.is_some(), "a grant without a request");
                self.start_turn(setup, inputs, env, now, requested.unwrap_or(now));
            }
            Event::Arrive(call) => {
                self.waiting.push(call);
                self.in_flight -= 1;
            }
            Event::AllArrived => {
                self.in_flight -= self.blocked_on.len() as u32;
                // (a blocking loop has read every result before it waits: a swap, not a copy)
                if self.waiting.is_empty() {
                    std::mem::swap(&mut self.waiting, &mut self.blocked_on);
                } else {
                    self.waiting.append(&mut self.blocked_on);
                }
            }
            Event::HoldExpired => {}
            Event::FollowUp => {
                self.messages_waiting.push(now);
                self.next_followup += 1;
                if let Some(&next) = inputs.followups.get(self.next_followup) {
                    env.schedule(self.start + next, Event::FollowUp);
                }
            }
            Event::AtTool(call) => {
                let c = &mut self.calls[call as usize];
                let attempt = inputs.attempts.of(call as usize)[c.attempts as usize];
                c.attempts += 1;
                let tool = setup.plan.calls[call as usize].tool;
                env.run_attempt(now, tool, call, attempt.run, attempt.cold);
            }
            Event::AttemptDone(call) => {
                let i = call as usize;
                let chain = inputs.attempts.of(i);
                let c = &mut self.calls[i];
                let done_attempt = chain[c.attempts as usize - 1];
                if (c.attempts as usize) < chain.len() {
                    let tool = &setup.tools[setup.plan.calls[i].tool];
                    env.schedule(now + backoff(tool, c.attempts), Event::AtTool(call));
                } else {
                    c.finished = now;
                    c.outcome = done_attempt.outcome;
                    c.available = now + at(inputs.post, i);
                    env.schedule(c.available, Event::Arrive(call));
                }
            }
        }
    }

    /// Applies every event queued for instant `t`, in order, then lets the idle model decide:
    /// a turn that starts at `t` reads everything that arrived at or before `t`.
    #[inline]
    pub fn run_instant<T: TurnBase, E: QueueEnv>(
        &mut self,
        setup: &Setup,
        inputs: &mut SessionInputs<T>,
        env: &mut E,
        t: Nanos,
    ) {
        while env.queue().peek_time() == Some(t) {
            let (now, event) = env.queue().pop().expect("peeked");
            self.handle(setup, inputs, env, now, event);
            if self.done {
                return;
            }
        }
        self.decide(setup, inputs, env, t);
    }

    /// Whether [`Session::decide`] could ask for a turn: the model is idle, has not asked
    /// already, and has something to read. (A driver with many sessions skips the rest.)
    #[inline]
    pub fn may_decide(&self) -> bool {
        !self.done
            && !self.busy
            && self.requested.is_none()
            && (!self.waiting.is_empty() || !self.messages_waiting.is_empty())
    }

    /// The idle model decides, after every event at `now`, whether to ask for a turn.
    pub fn decide<T: TurnBase, E: Env>(
        &mut self,
        setup: &Setup,
        inputs: &mut SessionInputs<T>,
        env: &mut E,
        now: Nanos,
    ) {
        if !self.may_decide() {
            return;
        }
        let start = match setup.policy.kind {
            // A blocked loop cannot answer anything until its calls are back.
            PolicyKind::Sequential | PolicyKind::Sync => self.in_flight == 0,
            PolicyKind::Async => {
                let window = setup.policy.batch_window;
                if window == 0 || self.in_flight == 0 || !self.messages_waiting.is_empty() {
                    true
                } else {
                    let until = match self.hold_until {
                        Some(until) => until,
                        None => {
                            env.schedule(now + window, Event::HoldExpired);
                            *self.hold_until.insert(now + window)
                        }
                    };
                    now >= until
                }
            }
        };
        if start {
            self.ask_for_turn(setup, inputs, env, now);
        }
    }

    fn ask_for_turn<T: TurnBase, E: Env>(
        &mut self,
        setup: &Setup,
        inputs: &mut SessionInputs<T>,
        env: &mut E,
        now: Nanos,
    ) {
        if env.request_model(now) {
            self.start_turn(setup, inputs, env, now, now);
        } else {
            self.requested = Some(now);
        }
    }

    fn start_turn<T: TurnBase, E: Env>(
        &mut self,
        setup: &Setup,
        inputs: &mut SessionInputs<T>,
        env: &mut E,
        now: Nanos,
        requested: Nanos,
    ) {
        let plan = setup.plan;
        let turn = self.turns.len() as u32;
        debug_assert!(self.reading.is_empty() && self.issuing.is_empty());
        // Read every waiting result, in arrival order; its dependents may become ready.
        // (Borrowed apart so the compiler keeps the counts out of memory round trips: this
        // loop runs calls × dependents times a turn.)
        let Session {
            calls,
            remaining_deps,
            ready,
            waiting,
            ..
        } = self;
        for &call in waiting.iter() {
            calls[call as usize].read_turn = turn;
            for &d in plan.dependents(call as usize) {
                let left = &mut remaining_deps[d as usize];
                *left -= 1;
                if *left == 0 {
                    ready.push(d);
                }
            }
        }
        std::mem::swap(&mut self.reading, &mut self.waiting);
        std::mem::swap(&mut self.messages_reading, &mut self.messages_waiting);
        // Issue ready calls in plan order: all of them, or the first for `sequential`.
        match setup.policy.kind {
            PolicyKind::Sequential => {
                if let Some((i, _)) = self.ready.iter().enumerate().min_by_key(|&(_, &c)| c) {
                    self.issuing.push(self.ready.swap_remove(i));
                }
            }
            PolicyKind::Sync | PolicyKind::Async => {
                self.ready.sort_unstable();
                std::mem::swap(&mut self.issuing, &mut self.ready);
            }
        }
        let reads = self.reading.len() as u32;
        let messages = self.messages_reading.len() as u32;
        let issues = self.issuing.len() as u32;
        let context_items = (self.issued_total + self.read_total) as u64;
        let m = setup.model;
        // Prefill (time to first token, reading results and messages, the context so far),
        // then one call after another is generated.
        let prefill = inputs
            .turn_base
            .base(turn as usize)
            .saturating_add(m.per_result.saturating_mul((reads + messages) as u64))
            .saturating_add(m.per_context_item.saturating_mul(context_items));
        let end = now
            .saturating_add(prefill)
            .saturating_add(m.per_call.saturating_mul(issues as u64));
        let (input_tokens, output_tokens) = match setup.tokens {
            Some(t) => {
                let input = t.prompt + self.context_tokens + t.result * (reads + messages) as u64;
                let output = t.call * issues as u64 + t.message;
                self.context_tokens += t.result * (reads + messages) as u64 + output;
                (input, output)
            }
            None => (0, 0),
        };
        self.read_total += reads;
        self.issued_total += issues;
        self.outcome.input_tokens += input_tokens;
        self.outcome.output_tokens += output_tokens;
        self.turns.push(TurnRecord {
            requested,
            start: now,
            end,
            reads,
            messages,
            issues,
            input_tokens,
            output_tokens,
        });
        env.schedule(end, Event::TurnEnd);
        self.busy = true;
        self.hold_until = None;
        self.dispatch(setup, inputs, env, now.saturating_add(prefill), end);
    }

    /// Sends the turn's calls on their way: each when it is generated (streamed) or all at the
    /// turn's end.
    fn dispatch<T: TurnBase, E: Env>(
        &mut self,
        setup: &Setup,
        inputs: &mut SessionInputs<T>,
        env: &mut E,
        generation_start: Nanos,
        end: Nanos,
    ) {
        let blocking = setup.policy.is_blocking();
        let shared = env.shared_tools();
        let streamed = setup.policy.streamed || setup.model.streamed_dispatch;
        let mut last_arrival = end;
        for (j, &call) in self.issuing.iter().enumerate() {
            let i = call as usize;
            let issued = if streamed {
                generation_start + setup.model.per_call * (j as u64 + 1)
            } else {
                end
            };
            let c = &mut self.calls[i];
            c.issued = issued;
            c.started = issued + at(inputs.pre, i);
            if shared {
                env.schedule(c.started, Event::AtTool(call));
                continue;
            }
            // On its own, a call's whole attempt chain is known now.
            if inputs.attempts.is_empty() {
                c.attempts = 1;
                c.finished = c.started + inputs.latency[i];
            } else {
                let tool = &setup.tools[setup.plan.calls[i].tool];
                let mut t = c.started;
                let chain = inputs.attempts.of(i);
                for (k, a) in chain.iter().enumerate() {
                    if k > 0 {
                        t += backoff(tool, k as u32);
                    }
                    t += a.run;
                }
                c.attempts = chain.len() as u32;
                c.outcome = chain[chain.len() - 1].outcome;
                c.finished = t;
            }
            c.available = c.finished + at(inputs.post, i);
            if blocking {
                last_arrival = last_arrival.max(c.available);
            } else {
                env.schedule(c.available, Event::Arrive(call));
            }
        }
        self.in_flight += self.issuing.len() as u32;
        if blocking && !shared && !self.issuing.is_empty() {
            debug_assert!(
                self.blocked_on.is_empty(),
                "a blocking loop has one wait at a time"
            );
            std::mem::swap(&mut self.blocked_on, &mut self.issuing);
            env.schedule(last_arrival, Event::AllArrived);
        }
        self.issuing.clear();
    }

    fn end_turn<T: TurnBase, E: Env>(
        &mut self,
        setup: &Setup,
        inputs: &mut SessionInputs<T>,
        env: &mut E,
        now: Nanos,
    ) {
        let turn = *self.turns.last().expect("a turn is running");
        debug_assert_eq!(turn.end, now);
        env.release_model(now);
        self.busy = false;
        let o = &mut self.outcome;
        o.turns += 1;
        o.model_busy += turn.end - turn.start;
        o.max_silence = o.max_silence.max(now - self.last_output);
        self.last_output = now;
        if turn.reads > 0 && self.read_total == turn.reads {
            o.first_update = now - self.start;
        }
        for &call in &self.reading {
            let c = &mut self.calls[call as usize];
            c.read_end = now;
            o.result_delay_sum += c.result_delay() as u128;
            match c.outcome {
                CallOutcome::Succeeded => {}
                CallOutcome::Failed => o.failed += 1,
                CallOutcome::TimedOut => o.timed_out += 1,
            }
            o.retries += c.attempts - 1;
        }
        self.reading.clear();
        for &sent in &self.messages_reading {
            self.replies.push(now - sent);
        }
        self.messages_reading.clear();
        if self.read_total as usize == setup.plan.len()
            && self.next_followup == inputs.followups.len()
            && self.messages_waiting.is_empty()
        {
            debug_assert_eq!(self.in_flight, 0);
            o.makespan = now - self.start;
            assert!(o.model_busy <= o.makespan, "turns never overlap");
            self.done = true;
        }
    }
}

/// Wait before retry `k` (1-based): backoff × 2^(k−1).
fn backoff(tool: &Tool, k: u32) -> Nanos {
    tool.backoff.saturating_mul(1u64 << (k - 1).min(30))
}

#[inline]
fn at(v: &[Nanos], i: usize) -> Nanos {
    v.get(i).copied().unwrap_or(0)
}
