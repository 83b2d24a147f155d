//! One session's agent loop under a policy, as a discrete-event simulation.
//!
//! The model takes one turn at a time. A turn *starts* by reading results, which may make
//! further calls ready; it *ends* by issuing the calls it decided on and showing output. The
//! policies differ only in when the idle model starts its next turn and how many calls it issues
//! (see [`Policy`]). Every event at one instant is applied before the model decides, so a turn
//! that starts at time t reads every result that arrived at or before t; results that arrive
//! while a turn runs wait for the next one.

use crate::draws::TurnBase;
use crate::engine::EventQueue;
use crate::plan::Plan;
use crate::policy::{Policy, PolicyKind};
use crate::scenario::TurnModel;
use crate::time::Nanos;

const UNSET: Nanos = Nanos::MAX;

#[derive(Clone, Copy, Debug)]
enum Event {
    TurnEnd,
    /// One result reaches the agent (async: each arrival may start a turn).
    Arrive(u32),
    /// Every call in flight has arrived (blocking policies wake only then: one event instead of
    /// one per call, the same outcome at a fraction of the queue work).
    AllArrived,
    HoldExpired,
}

/// What happened to one call in the last simulated session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallTimes {
    /// End of the turn that issued it.
    pub issued: Nanos,
    /// The tool starts after the invocation or dispatch overhead.
    pub started: Nanos,
    /// The tool's result exists ("the moment the call finished").
    pub finished: Nanos,
    /// The result reaches the agent (after the delivery delay, async only).
    pub available: Nanos,
    /// End of the turn that read it.
    pub read_end: Nanos,
    /// Index of the turn that read it.
    pub read_turn: u32,
}

impl CallTimes {
    const NEW: CallTimes = CallTimes {
        issued: UNSET,
        started: UNSET,
        finished: UNSET,
        available: UNSET,
        read_end: UNSET,
        read_turn: u32::MAX,
    };

    /// How long the result waited, after the tool finished, until a turn that read it ended.
    pub fn result_delay(&self) -> Nanos {
        self.read_end - self.finished
    }
}

/// One model turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TurnRecord {
    pub start: Nanos,
    pub end: Nanos,
    pub reads: u32,
    pub issues: u32,
}

/// Per-session values of the contract's metrics (result delays are in [`Workspace::calls`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub makespan: Nanos,
    pub first_update: Nanos,
    pub max_silence: Nanos,
    pub model_busy: Nanos,
    pub turns: u32,
    pub result_delay_sum: u128,
}

impl Outcome {
    pub fn model_idle(&self) -> Nanos {
        self.makespan - self.model_busy
    }

    /// Idle time over makespan, in parts per million (0 for an instant session).
    pub fn idle_ppm(&self) -> u64 {
        if self.makespan == 0 {
            0
        } else {
            ((self.model_idle() as u128 * 1_000_000 + self.makespan as u128 / 2)
                / self.makespan as u128) as u64
        }
    }

    /// Mean result delay of the session's calls, in nanoseconds (rounded down).
    pub fn mean_result_delay(&self, calls: usize) -> Nanos {
        (self.result_delay_sum / calls.max(1) as u128) as Nanos
    }
}

/// A session's inputs: the draws, shared by every policy.
pub struct SessionInputs<'a, T: TurnBase> {
    pub latency: &'a [Nanos],
    /// Before the tool runs (sync invocation or async dispatch); empty means all zero.
    pub pre: &'a [Nanos],
    /// After the tool ends (async delivery); empty means all zero.
    pub post: &'a [Nanos],
    pub turn_base: T,
}

/// Buffers reused from one session to the next; after a run, the detail of the last session.
#[derive(Default)]
pub struct Workspace {
    queue: EventQueue<Event>,
    pub calls: Vec<CallTimes>,
    pub turns: Vec<TurnRecord>,
    remaining_deps: Vec<u32>,
    ready: Vec<u32>,
    waiting: Vec<u32>,
    reading: Vec<u32>,
    issuing: Vec<u32>,
    /// Blocking policies: the calls in flight, delivered together by [`Event::AllArrived`].
    blocked_on: Vec<u32>,
}

struct Loop<'a, T: TurnBase> {
    plan: &'a Plan,
    policy: &'a Policy,
    model: &'a TurnModel,
    inputs: SessionInputs<'a, T>,
    ws: &'a mut Workspace,
    busy: bool,
    in_flight: u32,
    issued_total: u32,
    read_total: u32,
    hold_until: Option<Nanos>,
    outcome: Outcome,
    last_output: Nanos,
    done: bool,
}

/// Simulates one session and returns its metrics; `ws` keeps the per-call and per-turn detail.
pub fn simulate_session<T: TurnBase>(
    plan: &Plan,
    policy: &Policy,
    model: &TurnModel,
    inputs: SessionInputs<'_, T>,
    ws: &mut Workspace,
) -> Outcome {
    assert_eq!(inputs.latency.len(), plan.len(), "one latency per call");
    ws.queue.reset();
    ws.calls.clear();
    ws.calls.resize(plan.len(), CallTimes::NEW);
    ws.turns.clear();
    ws.remaining_deps.clear();
    ws.remaining_deps.extend(plan.indegrees());
    ws.ready.clear();
    ws.ready
        .extend((0..plan.len() as u32).filter(|&c| ws.remaining_deps[c as usize] == 0));
    ws.waiting.clear();
    ws.reading.clear();
    ws.issuing.clear();
    ws.blocked_on.clear();
    let agent = Loop {
        plan,
        policy,
        model,
        inputs,
        ws,
        busy: false,
        in_flight: 0,
        issued_total: 0,
        read_total: 0,
        hold_until: None,
        outcome: Outcome::default(),
        last_output: 0,
        done: false,
    };
    agent.run()
}

impl<T: TurnBase> Loop<'_, T> {
    fn run(mut self) -> Outcome {
        self.start_turn(0);
        while let Some((now, event)) = self.ws.queue.pop() {
            match event {
                Event::TurnEnd => self.end_turn(now),
                Event::Arrive(call) => {
                    self.ws.waiting.push(call);
                    self.in_flight -= 1;
                }
                Event::AllArrived => {
                    self.in_flight -= self.ws.blocked_on.len() as u32;
                    self.ws.waiting.append(&mut self.ws.blocked_on);
                }
                Event::HoldExpired => {}
            }
            if self.done {
                break;
            }
            if self.ws.queue.peek_time() != Some(now) {
                self.decide(now);
            }
        }
        assert!(self.done, "the session ended with unread results");
        assert!(self.outcome.model_busy <= self.outcome.makespan);
        self.outcome
    }

    /// The idle model decides, after every event at `now`, whether to start a turn.
    fn decide(&mut self, now: Nanos) {
        if self.busy || self.ws.waiting.is_empty() {
            return;
        }
        let start = match self.policy.kind {
            PolicyKind::Sequential | PolicyKind::Sync => self.in_flight == 0,
            PolicyKind::Async => {
                let window = self.policy.batch_window;
                if window == 0 || self.in_flight == 0 {
                    true
                } else {
                    let until = match self.hold_until {
                        Some(until) => until,
                        None => {
                            self.ws.queue.push(now + window, Event::HoldExpired);
                            *self.hold_until.insert(now + window)
                        }
                    };
                    now >= until
                }
            }
        };
        if start {
            self.start_turn(now);
        }
    }

    fn start_turn(&mut self, now: Nanos) {
        let ws = &mut *self.ws;
        let plan = self.plan;
        let turn = ws.turns.len() as u32;
        debug_assert!(ws.reading.is_empty() && ws.issuing.is_empty());
        // Read every waiting result, in arrival order; its dependents may become ready.
        for &call in &ws.waiting {
            ws.calls[call as usize].read_turn = turn;
            for &d in plan.dependents(call as usize) {
                ws.remaining_deps[d as usize] -= 1;
                if ws.remaining_deps[d as usize] == 0 {
                    ws.ready.push(d);
                }
            }
        }
        std::mem::swap(&mut ws.reading, &mut ws.waiting);
        // Issue ready calls in plan order: all of them, or the first for `sequential`.
        match self.policy.kind {
            PolicyKind::Sequential => {
                if let Some((i, _)) = ws.ready.iter().enumerate().min_by_key(|&(_, &c)| c) {
                    ws.issuing.push(ws.ready.swap_remove(i));
                }
            }
            PolicyKind::Sync | PolicyKind::Async => {
                ws.ready.sort_unstable();
                std::mem::swap(&mut ws.issuing, &mut ws.ready);
            }
        }
        let reads = ws.reading.len() as u32;
        let issues = ws.issuing.len() as u32;
        let context_items = (self.issued_total + self.read_total) as u64;
        let m = self.model;
        let duration = self
            .inputs
            .turn_base
            .base(turn as usize)
            .saturating_add(m.per_result.saturating_mul(reads as u64))
            .saturating_add(m.per_call.saturating_mul(issues as u64))
            .saturating_add(m.per_context_item.saturating_mul(context_items));
        self.read_total += reads;
        self.issued_total += issues;
        ws.turns.push(TurnRecord {
            start: now,
            end: now + duration,
            reads,
            issues,
        });
        ws.queue.push(now + duration, Event::TurnEnd);
        self.busy = true;
        self.hold_until = None;
    }

    fn end_turn(&mut self, now: Nanos) {
        let ws = &mut *self.ws;
        let turn = *ws.turns.last().expect("a turn is running");
        debug_assert_eq!(turn.end, now);
        self.busy = false;
        let o = &mut self.outcome;
        o.turns += 1;
        o.model_busy += turn.end - turn.start;
        o.max_silence = o.max_silence.max(now - self.last_output);
        self.last_output = now;
        if turn.reads > 0 && self.read_total == turn.reads {
            o.first_update = now;
        }
        for &call in &ws.reading {
            let c = &mut ws.calls[call as usize];
            c.read_end = now;
            o.result_delay_sum += c.result_delay() as u128;
        }
        ws.reading.clear();
        let at = |v: &[Nanos], i: usize| v.get(i).copied().unwrap_or(0);
        let blocking = self.policy.is_blocking();
        let mut last_arrival = now;
        for &call in &ws.issuing {
            let i = call as usize;
            let c = &mut ws.calls[i];
            c.issued = now;
            c.started = now + at(self.inputs.pre, i);
            c.finished = c.started + self.inputs.latency[i];
            c.available = c.finished + at(self.inputs.post, i);
            if blocking {
                last_arrival = last_arrival.max(c.available);
            } else {
                ws.queue.push(c.available, Event::Arrive(call));
            }
        }
        self.in_flight += ws.issuing.len() as u32;
        if blocking && !ws.issuing.is_empty() {
            debug_assert!(
                ws.blocked_on.is_empty(),
                "a blocking loop has one wait at a time"
            );
            ws.blocked_on.append(&mut ws.issuing);
            ws.queue.push(last_arrival, Event::AllArrived);
        }
        ws.issuing.clear();
        if self.read_total as usize == self.plan.len() {
            debug_assert_eq!(self.in_flight, 0);
            o.makespan = now;
            self.done = true;
        }
    }
}
