//! Per-session random streams and the draws every policy shares (common random numbers).
//!
//! Each session has independent streams derived from (scenario seed, session index, stream),
//! so results never depend on thread count or on the order sessions are simulated in. Within a
//! session, call `i` always gets the i-th latency draw and turn `k` the k-th turn draw, whatever
//! the policy: comparisons are paired, session by session.

use crate::model::dist::sample_each;
use crate::model::scenario::Scenario;
use crate::model::time::Nanos;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

pub type SessionRng = Xoshiro256PlusPlus;

/// The independent random streams of one session.
#[derive(Clone, Copy, Debug)]
#[repr(u64)]
pub enum Stream {
    Latency = 1,
    Turn = 2,
    SyncInvocation = 3,
    Dispatch = 4,
    Delivery = 5,
    Failure = 6,
    ColdStart = 7,
    FollowUp = 8,
    Think = 9,
    /// Not per session: the arrival process of a whole run (session index 0).
    Arrival = 10,
}

/// SplitMix64's finaliser: a bijective mix with full avalanche.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub fn stream_rng(seed: u64, session: u64, stream: Stream) -> SessionRng {
    SessionRng::seed_from_u64(mix(mix(mix(seed) ^ session) ^ stream as u64))
}

/// Where the agent loop gets the base time of its k-th turn.
pub trait TurnBase {
    fn base(&mut self, turn: usize) -> Nanos;
}

/// Precomputed bases, for tests and reference implementations.
impl TurnBase for &[Nanos] {
    fn base(&mut self, turn: usize) -> Nanos {
        self[turn]
    }
}

/// Turn bases are drawn in batches (the same sequence, so the same k-th draw; a batch pipelines
/// its `exp`s): first as many as the fewest turns a session can take (the plan's depth, plus
/// the turn that answers), then this many at a time.
const TURN_BATCH: usize = 4;

/// Turn bases drawn lazily and remembered, so every policy sees the same k-th draw however
/// many turns it takes.
#[derive(Debug, Clone)]
pub struct TurnDraws {
    rng: SessionRng,
    values: Vec<Nanos>,
    exponents: Vec<f64>,
    /// The first batch's size (0 until the first session is drawn).
    first_batch: usize,
}

impl TurnDraws {
    fn new() -> TurnDraws {
        TurnDraws {
            rng: SessionRng::seed_from_u64(0),
            values: Vec::new(),
            exponents: Vec::new(),
            first_batch: 0,
        }
    }

    pub fn source<'a>(&'a mut self, sampler: &'a crate::model::dist::Sampler) -> TurnSource<'a> {
        TurnSource {
            draws: self,
            sampler,
        }
    }
}

pub struct TurnSource<'a> {
    draws: &'a mut TurnDraws,
    sampler: &'a crate::model::dist::Sampler,
}

impl TurnBase for TurnSource<'_> {
    #[inline]
    fn base(&mut self, turn: usize) -> Nanos {
        let d = &mut *self.draws;
        while d.values.len() <= turn {
            let batch = if d.values.is_empty() {
                d.first_batch.max(1)
            } else {
                TURN_BATCH
            };
            sample_each(
                std::iter::repeat_n(self.sampler, batch),
                &mut d.rng,
                &mut d.values,
                &mut d.exponents,
            );
        }
        d.values[turn]
    }
}

/// Which overheads a run needs drawn.
#[derive(Clone, Copy, Debug, Default)]
pub struct Needs {
    pub blocking: bool,
    pub non_blocking: bool,
}

/// How one attempt of a call ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    Succeeded,
    Failed,
    TimedOut,
}

/// One attempt of a call: how long the tool runs (capped at its timeout), how it ends, and the
/// cold-start latency it pays if it finds no warm instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub run: Nanos,
    pub outcome: CallOutcome,
    pub cold: Nanos,
}

/// Every call's attempts, drawn up front: whether an attempt fails does not depend on the
/// policy, so all policies replay the same chain.
#[derive(Debug, Clone, Default)]
pub struct Attempts {
    start: Vec<u32>,
    items: Vec<Attempt>,
}

impl Attempts {
    pub fn of(&self, call: usize) -> &[Attempt] {
        &self.items[self.start[call] as usize..self.start[call + 1] as usize]
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// From explicit chains (tests and references).
    pub fn from_chains(chains: &[Vec<Attempt>]) -> Attempts {
        let mut a = Attempts::default();
        for chain in chains {
            a.start.push(a.items.len() as u32);
            a.items.extend_from_slice(chain);
        }
        a.start.push(a.items.len() as u32);
        a
    }
}

/// One session's draws, reused across sessions to avoid allocation.
#[derive(Debug, Clone)]
pub struct SessionDraws {
    pub latency: Vec<Nanos>,
    /// Filled when a tool can fail or time out, or when sessions share capacity.
    pub attempts: Attempts,
    /// Times of the user's follow-up messages, from the session's start.
    pub followups: Vec<Nanos>,
    /// Closed workloads: the user's think time after this session.
    pub think: Nanos,
    /// Empty when the overhead is constant zero (the agent reads a missing entry as 0).
    pub sync_invocation: Vec<Nanos>,
    pub dispatch: Vec<Nanos>,
    pub delivery: Vec<Nanos>,
    pub turns: TurnDraws,
    /// Scratch for [`sample_each`].
    exponents: Vec<f64>,
}

impl Default for SessionDraws {
    fn default() -> Self {
        SessionDraws {
            latency: Vec::new(),
            attempts: Attempts::default(),
            followups: Vec::new(),
            think: 0,
            sync_invocation: Vec::new(),
            dispatch: Vec::new(),
            delivery: Vec::new(),
            turns: TurnDraws::new(),
            exponents: Vec::new(),
        }
    }
}

impl SessionDraws {
    /// Draws session `session`'s latencies and the overheads `needs` asks for.
    pub fn draw(&mut self, scenario: &Scenario, seed: u64, session: u64, needs: Needs) {
        let plan = &scenario.plan;
        let mut rng = stream_rng(seed, session, Stream::Latency);
        let exponents = &mut self.exponents;
        self.latency.clear();
        sample_each(
            plan.calls
                .iter()
                .map(|c| &scenario.tools[c.tool].latency.sampler),
            &mut rng,
            &mut self.latency,
            exponents,
        );
        let o = &scenario.overheads;
        let mut per_call =
            |out: &mut Vec<Nanos>, wanted: bool, l: &crate::model::scenario::Latency, s| {
                out.clear();
                if wanted && !l.sampler.is_zero() {
                    let mut rng = stream_rng(seed, session, s);
                    let samplers = std::iter::repeat_n(&l.sampler, plan.len());
                    sample_each(samplers, &mut rng, out, exponents);
                }
            };
        per_call(
            &mut self.sync_invocation,
            needs.blocking,
            &o.sync_invocation,
            Stream::SyncInvocation,
        );
        per_call(
            &mut self.dispatch,
            needs.non_blocking,
            &o.async_dispatch,
            Stream::Dispatch,
        );
        per_call(
            &mut self.delivery,
            needs.non_blocking,
            &o.async_delivery,
            Stream::Delivery,
        );
        self.turns.rng = stream_rng(seed, session, Stream::Turn);
        self.turns.values.clear();
        if self.turns.first_batch == 0 {
            self.turns.first_batch = plan.depth() + 1;
        }

        self.attempts.start.clear();
        self.attempts.items.clear();
        if scenario.has_failures() || scenario.is_shared() {
            // the latency stream, just past every call's first draw: retries draw on from there
            self.draw_attempts(scenario, &mut rng, seed, session);
        }
        self.followups.clear();
        if let Some(f) = &scenario.followups {
            let mut rng = stream_rng(seed, session, Stream::FollowUp);
            let mut t: Nanos = 0;
            for _ in 0..f.count {
                t = t.saturating_add(f.gap.sampler.sample(&mut rng));
                self.followups.push(t);
            }
        }
        self.think = match &scenario.arrival {
            crate::model::scenario::Arrival::Closed { think, .. } => think
                .sampler
                .sample(&mut stream_rng(seed, session, Stream::Think)),
            _ => 0,
        };
    }

    /// Makes this a copy of `other`, reusing this one's buffers (no allocation once warm).
    pub fn copy_from(&mut self, other: &SessionDraws) {
        self.latency.clone_from(&other.latency);
        self.attempts.start.clone_from(&other.attempts.start);
        self.attempts.items.clone_from(&other.attempts.items);
        self.followups.clone_from(&other.followups);
        self.think = other.think;
        self.sync_invocation.clone_from(&other.sync_invocation);
        self.dispatch.clone_from(&other.dispatch);
        self.delivery.clone_from(&other.delivery);
        self.turns.rng.clone_from(&other.turns.rng);
        self.turns.values.clone_from(&other.turns.values);
        self.turns.first_batch = other.turns.first_batch;
    }

    /// Each call's attempts: the first uses the call's latency draw; each retry after a failure
    /// or a timeout draws again from the latency stream, after every call's first draw.
    fn draw_attempts(
        &mut self,
        scenario: &Scenario,
        latency_rng: &mut SessionRng,
        seed: u64,
        session: u64,
    ) {
        use rand::RngExt;
        let mut failure_rng = stream_rng(seed, session, Stream::Failure);
        let mut cold_rng = stream_rng(seed, session, Stream::ColdStart);
        for (i, c) in scenario.plan.calls.iter().enumerate() {
            let tool = &scenario.tools[c.tool];
            self.attempts.start.push(self.attempts.items.len() as u32);
            for k in 0..=tool.retries {
                let latency = if k == 0 {
                    self.latency[i]
                } else {
                    tool.latency.sampler.sample(latency_rng)
                };
                let failed =
                    tool.failure_rate > 0.0 && failure_rng.random::<f64>() < tool.failure_rate;
                let (run, outcome) = match tool.timeout {
                    Some(limit) if latency > limit => (limit, CallOutcome::TimedOut),
                    _ if failed => (latency, CallOutcome::Failed),
                    _ => (latency, CallOutcome::Succeeded),
                };
                let cold = tool
                    .cold_start
                    .as_ref()
                    .map_or(0, |d| d.sampler.sample(&mut cold_rng));
                self.attempts.items.push(Attempt { run, outcome, cold });
                if outcome == CallOutcome::Succeeded {
                    break;
                }
            }
        }
        self.attempts.start.push(self.attempts.items.len() as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn streams_differ_by_session_and_stream() {
        let a = stream_rng(1, 0, Stream::Latency).next_u64();
        assert_eq!(a, stream_rng(1, 0, Stream::Latency).next_u64());
        assert_ne!(a, stream_rng(1, 1, Stream::Latency).next_u64());
        assert_ne!(a, stream_rng(1, 0, Stream::Turn).next_u64());
        assert_ne!(a, stream_rng(2, 0, Stream::Latency).next_u64());
    }
}
