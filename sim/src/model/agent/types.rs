//! What a session reads and reports: its events, its surroundings ([`Env`]), its inputs and
//! setup, and the per-call, per-turn and per-session records it leaves.

use crate::model::draws::{Attempts, CallOutcome, TurnBase};
use crate::model::engine::EventQueue;
use crate::model::plan::Plan;
use crate::model::policy::Policy;
use crate::model::scenario::{Tool, TurnModel};
use crate::model::time::{Nanos, div_u128};

const UNSET: Nanos = Nanos::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    TurnEnd,
    /// A turn the session asked for may start now (shared model capacity).
    TurnGranted,
    /// One result reaches the agent.
    Arrive(u32),
    /// Every call in flight has arrived: blocking policies on their own wake only then (one
    /// event instead of one per call, the same outcome at a fraction of the queue work).
    AllArrived,
    HoldExpired,
    /// The user's next follow-up message.
    FollowUp,
    /// Shared tools: an attempt of the call reaches its tool's queue.
    AtTool(u32),
    /// Shared tools: the call's current attempt ended.
    AttemptDone(u32),
}

/// What a session needs from its surroundings.
pub trait Env {
    fn schedule(&mut self, at: Nanos, event: Event);
    /// Asks for the model at `now`: true if the turn may start now, else
    /// [`Event::TurnGranted`] follows when it may.
    fn request_model(&mut self, _now: Nanos) -> bool {
        true
    }
    fn release_model(&mut self, _now: Nanos) {}
    /// Whether attempts run on shared tools ([`Env::run_attempt`]) rather than at once.
    fn shared_tools(&self) -> bool {
        false
    }
    /// Shared tools: runs the attempt when the tool has room; schedules
    /// [`Event::AttemptDone`] at its end.
    fn run_attempt(&mut self, _now: Nanos, _tool: usize, _call: u32, _run: Nanos, _cold: Nanos) {}
}

/// An [`Env`] that holds the session's own event queue: a session on its own, or one replayed
/// live on a wall clock.
pub trait QueueEnv: Env {
    fn queue(&mut self) -> &mut EventQueue<Event>;
}

/// What happened to one call in the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallTimes {
    /// When the turn that wrote it dispatched it (its end, or mid-turn when streamed).
    pub issued: Nanos,
    /// The first attempt reaches the tool, after the invocation or dispatch overhead.
    pub started: Nanos,
    /// The last attempt ended: the result exists ("the moment the call finished").
    pub finished: Nanos,
    /// The result reaches the agent (after the delivery delay, async only).
    pub available: Nanos,
    /// End of the turn that read it.
    pub read_end: Nanos,
    /// Index of the turn that read it.
    pub read_turn: u32,
    pub attempts: u32,
    pub outcome: CallOutcome,
}

impl CallTimes {
    pub(super) const NEW: CallTimes = CallTimes {
        issued: UNSET,
        started: UNSET,
        finished: UNSET,
        available: UNSET,
        read_end: UNSET,
        read_turn: u32::MAX,
        attempts: 0,
        outcome: CallOutcome::Succeeded,
    };

    /// How long the result waited, after the tool finished, until a turn that read it ended.
    pub fn result_delay(&self) -> Nanos {
        self.read_end - self.finished
    }
}

/// One model turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TurnRecord {
    /// When the model asked for the turn (before any wait for model capacity).
    pub requested: Nanos,
    pub start: Nanos,
    pub end: Nanos,
    /// Results read (follow-up messages not included).
    pub reads: u32,
    pub messages: u32,
    pub issues: u32,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// Per-session values of the metrics, relative to the session's start. Result delays and reply
/// latencies are in [`Session::calls`] and [`Session::replies`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub makespan: Nanos,
    pub first_update: Nanos,
    pub max_silence: Nanos,
    pub model_busy: Nanos,
    pub turns: u32,
    pub result_delay_sum: u128,
    pub failed: u32,
    pub timed_out: u32,
    pub retries: u32,
    pub input_tokens: u64,
    pub output_tokens: u64,
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
            div_u128(
                self.model_idle() as u128 * 1_000_000 + self.makespan as u128 / 2,
                self.makespan as u128,
            ) as u64
        }
    }

    /// Mean result delay of the session's calls, in nanoseconds (rounded down).
    pub fn mean_result_delay(&self, calls: usize) -> Nanos {
        div_u128(self.result_delay_sum, calls.max(1) as u128) as Nanos
    }
}

/// A session's inputs: the draws, shared by every policy.
pub struct SessionInputs<'a, T: TurnBase> {
    /// Each call's first-attempt latency.
    pub latency: &'a [Nanos],
    /// Every attempt of every call, when calls can fail or tools are shared; empty otherwise.
    pub attempts: &'a Attempts,
    /// Before the tool runs (sync invocation or async dispatch); empty means all zero.
    pub pre: &'a [Nanos],
    /// After the tool ends (async delivery); empty means all zero.
    pub post: &'a [Nanos],
    /// Follow-up message times from the session's start.
    pub followups: &'a [Nanos],
    pub turn_base: T,
}

/// What a session reads that does not change while it runs.
pub struct Setup<'a> {
    pub plan: &'a Plan,
    pub tools: &'a [Tool],
    pub policy: &'a Policy,
    pub model: &'a TurnModel,
    /// Token counts per result, call and message, when cost is modelled.
    pub tokens: Option<TokenCounts>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct TokenCounts {
    pub prompt: u64,
    pub result: u64,
    pub call: u64,
    pub message: u64,
}
