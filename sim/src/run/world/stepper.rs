//! One policy's world: its sessions, its model and tools, its own event queue, run in steps.

use super::MAX_ACTIVE_SESSIONS;
use super::events::{Events, MAX_SLOTS, Tagged, WorldEvent};
use super::feed::{Chunk, Feed};
use super::pools::{ModelPool, Queued, ToolPool};
use crate::input::scenario::{Arrival, Scenario};
use crate::model::agent::{Env, Event, Session, SessionInputs, Setup};
use crate::model::draws::{Needs, SessionDraws, SessionRng, Stream, TurnSource, stream_rng};
use crate::model::time::Nanos;
use crate::run::metrics::{Metric, PolicyMetrics, SessionValues};
use crate::run::options::{CHUNK_SESSIONS, RunError};
use crate::run::session::{extras, inputs, needs};
use crate::run::tally::Resource;
use rand::RngExt;

const _: () = assert!(MAX_ACTIVE_SESSIONS <= MAX_SLOTS);

/// What every world of a run reads.
pub(super) struct Ctx<'a> {
    pub scenario: &'a Scenario,
    pub seed: u64,
    pub sessions: u64,
    /// Whether finished sessions' values are handed back, to be paired between policies.
    pub pair: bool,
    pub progress: &'a (dyn Fn(u64) + Sync),
    /// Where worlds get their sessions' draws; `None`: each world draws its own.
    pub feed: Option<&'a Feed<'a>>,
}

struct Active {
    id: u64,
    session: Session,
    draws: SessionDraws,
    cold_starts: u64,
    live: bool,
    /// The instant this slot was last queued for a decision (dedupes decisions).
    touched_at: Option<Nanos>,
}

pub(super) struct World<'a> {
    /// The policy's index: world 0 reports progress.
    index: usize,
    setup: Setup<'a>,
    /// The overheads this world's policy reads: the others' are not drawn (each stream is
    /// independent, so the draws it reads are the same).
    needs: Needs,
    queue: Events,
    /// Slots touched at the current instant, in first-touch order: they decide once every
    /// event of the instant is in.
    touched: Vec<u32>,
    slots: Vec<Active>,
    free: Vec<u32>,
    model: ModelPool,
    tools: Vec<ToolPool>,
    started: u64,
    finished: u64,
    arrival_rng: SessionRng,
    /// The feed's chunk holding the sessions being started (`None` inside: not kept).
    chunk: Option<(u64, Option<Chunk>)>,
    metrics: PolicyMetrics,
    model_busy_ns: u128,
    last_time: Nanos,
}

/// The env a session sees inside a world.
struct WorldEnv<'q> {
    queue: &'q mut Events,
    slot: u32,
    model: &'q mut ModelPool,
    tools: &'q mut [ToolPool],
    metrics: &'q mut PolicyMetrics,
    cold_starts: &'q mut u64,
}

impl Env for WorldEnv<'_> {
    #[inline]
    fn schedule(&mut self, at: Nanos, event: Event) {
        self.queue.push(at, Tagged::session(self.slot, event));
    }

    fn request_model(&mut self, now: Nanos) -> bool {
        if self.model.waiting.is_empty() && self.model.may_start(now) {
            self.model.grant(now);
            true
        } else {
            self.model.waiting.push_back(self.slot);
            self.model.pump(now, self.queue);
            false
        }
    }

    fn release_model(&mut self, now: Nanos) {
        self.model.busy -= 1;
        self.model.pump(now, self.queue);
    }

    fn shared_tools(&self) -> bool {
        true
    }

    fn run_attempt(&mut self, now: Nanos, tool: usize, call: u32, run: Nanos, cold: Nanos) {
        let pool = &mut self.tools[tool];
        let q = Queued {
            slot: self.slot,
            call,
            run,
            cold,
            since: now,
        };
        if pool.busy < pool.capacity && pool.waiting.is_empty() {
            let (duration, was_cold) = pool.start(now, &q);
            *self.cold_starts += was_cold as u64;
            self.metrics.record_tool_wait(0);
            self.queue.push(
                now + duration,
                Tagged::session(self.slot, Event::AttemptDone(call)),
            );
        } else {
            pool.waiting.push_back(q);
        }
    }
}

impl<'a> World<'a> {
    pub fn new(index: usize, setup: Setup<'a>, ctx: &Ctx, active: &[Metric]) -> World<'a> {
        let scenario = ctx.scenario;
        let mut queue = Events::default();
        let first_arrivals = match &scenario.arrival {
            Arrival::AllAtOnce => ctx.sessions,
            Arrival::Poisson { .. } => 1,
            Arrival::Closed { users, .. } => ctx.sessions.min(*users as u64),
        };
        for _ in 0..first_arrivals {
            queue.push(0, Tagged::ARRIVAL);
        }
        World {
            index,
            needs: needs(std::slice::from_ref(setup.policy)),
            setup,
            queue,
            touched: Vec::new(),
            slots: Vec::new(),
            free: Vec::new(),
            model: ModelPool::new(scenario.model.concurrency, scenario.model.min_start_gap),
            tools: scenario.tools.iter().map(ToolPool::new).collect(),
            started: 0,
            finished: 0,
            // every world draws the same arrival times
            arrival_rng: stream_rng(ctx.seed, 0, Stream::Arrival),
            chunk: None,
            metrics: PolicyMetrics::new(active),
            model_busy_ns: 0,
            last_time: 0,
        }
    }

    /// Sessions finished so far.
    pub fn finished(&self) -> u64 {
        self.finished
    }

    pub fn into_metrics(self) -> PolicyMetrics {
        self.metrics
    }

    /// Runs events until `target` sessions have finished (with the last one, until no event
    /// is left), appending each finished session's id and values to `out` when pairing.
    ///
    /// Every event of an instant is applied before the sessions it touched decide. Stopping
    /// between two events of one instant is safe: the touched sessions and the instant's
    /// remaining events stay here, and the next call carries on exactly where this one left.
    pub fn advance(
        &mut self,
        ctx: &Ctx,
        target: u64,
        out: &mut Vec<(u64, SessionValues)>,
    ) -> Result<(), RunError> {
        let drain = target >= ctx.sessions;
        while drain || self.finished < target {
            let Some((now, ev)) = self.queue.pop() else {
                break;
            };
            self.last_time = now;
            match ev.unpack() {
                WorldEvent::Arrival => self.arrive(ctx, now)?,
                WorldEvent::ModelTick => {
                    self.model.tick_pending = false;
                    self.model.pump(now, &mut self.queue);
                }
                WorldEvent::Session(slot, event) => self.handle(ctx, slot, event, now, out),
            }
            if self.queue.peek_time() == Some(now) {
                continue;
            }
            // Every event of this instant is in: the touched sessions decide, in first-touch
            // order.
            let mut touched = std::mem::take(&mut self.touched);
            for &slot in &touched {
                let active = &mut self.slots[slot as usize];
                active.touched_at = None;
                if !active.live || !active.session.may_decide() {
                    continue;
                }
                self.with_session(ctx.scenario, slot, |session, setup, inp, env| {
                    session.decide(setup, inp, env, now)
                });
            }
            touched.clear();
            self.touched = touched;
        }
        Ok(())
    }

    #[inline]
    fn arrive(&mut self, ctx: &Ctx, now: Nanos) -> Result<(), RunError> {
        if self.started >= ctx.sessions {
            return Ok(());
        }
        let slot = self.start_session(ctx, now)?;
        self.touch(slot, now);
        if let Arrival::Poisson { rate_per_s } = ctx.scenario.arrival
            && self.started < ctx.sessions
        {
            let u: f64 = self.arrival_rng.random();
            let gap = (-(1.0 - u).ln() / rate_per_s * 1e9).round() as Nanos;
            self.queue.push(now + gap, Tagged::ARRIVAL);
        }
        Ok(())
    }

    #[inline]
    fn handle(
        &mut self,
        ctx: &Ctx,
        slot: u32,
        event: Event,
        now: Nanos,
        out: &mut Vec<(u64, SessionValues)>,
    ) {
        if let Event::AttemptDone(call) = event {
            self.free_tool(now, call);
        }
        debug_assert!(self.slots[slot as usize].live);
        self.with_session(ctx.scenario, slot, |session, setup, inp, env| {
            session.handle(setup, inp, env, now, event)
        });
        if self.slots[slot as usize].session.is_done() {
            self.finish_session(ctx, slot, now, out);
            if self.index == 0 && self.finished.is_multiple_of(CHUNK_SESSIONS) {
                (ctx.progress)(CHUNK_SESSIONS);
            }
        } else {
            self.touch(slot, now);
        }
    }

    /// Runs `f` on one session with the surroundings it sees in this world.
    #[inline]
    fn with_session<R>(
        &mut self,
        scenario: &Scenario,
        slot: u32,
        f: impl FnOnce(&mut Session, &Setup, &mut SessionInputs<TurnSource>, &mut WorldEnv) -> R,
    ) -> R {
        let World {
            setup,
            queue,
            slots,
            model,
            tools,
            metrics,
            ..
        } = self;
        let active = &mut slots[slot as usize];
        let mut env = WorldEnv {
            queue,
            slot,
            model,
            tools,
            metrics,
            cold_starts: &mut active.cold_starts,
        };
        let mut inp = inputs(scenario, setup.policy, &mut active.draws);
        f(&mut active.session, setup, &mut inp, &mut env)
    }

    #[inline]
    fn touch(&mut self, slot: u32, now: Nanos) {
        let active = &mut self.slots[slot as usize];
        if active.touched_at != Some(now) {
            active.touched_at = Some(now);
            self.touched.push(slot);
        }
    }

    fn start_session(&mut self, ctx: &Ctx, now: Nanos) -> Result<u32, RunError> {
        let id = self.started;
        self.started += 1;
        if let Some(feed) = ctx.feed {
            self.hold_chunk(feed, id / CHUNK_SESSIONS);
        }
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                if self.slots.len() as u64 >= MAX_ACTIVE_SESSIONS {
                    return Err(RunError::TooManyActive {
                        active: self.slots.len() as u64 + 1,
                        limit: MAX_ACTIVE_SESSIONS,
                    });
                }
                self.slots.push(Active {
                    id: 0,
                    session: Session::default(),
                    draws: SessionDraws::default(),
                    cold_starts: 0,
                    live: false,
                    touched_at: None,
                });
                self.slots.len() as u32 - 1
            }
        };
        let active = &mut self.slots[slot as usize];
        active.id = id;
        active.live = true;
        active.cold_starts = 0;
        active.touched_at = None;
        match self.chunk.as_ref().and_then(|(_, drawn)| drawn.as_ref()) {
            Some(drawn) => active
                .draws
                .copy_from(&drawn[(id % CHUNK_SESSIONS) as usize]),
            None => active.draws.draw(ctx.scenario, ctx.seed, id, self.needs),
        }
        self.with_session(ctx.scenario, slot, |session, setup, inp, env| {
            session.begin(setup, inp, env, now)
        });
        Ok(slot)
    }

    /// Holds the feed's chunk `chunk`, handing back the one held before.
    fn hold_chunk(&mut self, feed: &Feed, chunk: u64) {
        if self.chunk.as_ref().is_some_and(|(c, _)| *c == chunk) {
            return;
        }
        if let Some((_, Some(done))) = self.chunk.take() {
            feed.give_back(done);
        }
        self.chunk = Some((chunk, feed.take(self.index, chunk)));
    }

    /// Frees the tool instance an attempt used and starts the next queued attempt, if any.
    #[inline]
    fn free_tool(&mut self, now: Nanos, call: u32) {
        let tool = self.setup.plan.calls[call as usize].tool;
        let pool = &mut self.tools[tool];
        pool.release(now);
        if let Some(next) = pool.waiting.pop_front() {
            let (duration, cold) = pool.start(now, &next);
            self.slots[next.slot as usize].cold_starts += cold as u64;
            self.metrics.record_tool_wait(now - next.since);
            self.queue.push(
                now + duration,
                Tagged::session(next.slot, Event::AttemptDone(next.call)),
            );
        }
    }

    fn finish_session(
        &mut self,
        ctx: &Ctx,
        slot: u32,
        now: Nanos,
        out: &mut Vec<(u64, SessionValues)>,
    ) {
        let scenario = ctx.scenario;
        let active = &mut self.slots[slot as usize];
        let outcome = active.session.outcome();
        let extras = extras(
            scenario,
            self.setup.policy,
            &active.draws,
            &active.session,
            active.cold_starts,
        );
        self.metrics.record(&outcome, &active.session, &extras);
        self.model_busy_ns += outcome.model_busy as u128;
        self.finished += 1;
        active.live = false;
        self.free.push(slot);
        if let Arrival::Closed { .. } = scenario.arrival {
            self.queue.push(now + active.draws.think, Tagged::ARRIVAL);
        }
        if ctx.pair {
            let values = SessionValues::new(&outcome, &active.session, &extras);
            out.push((active.id, values));
        }
    }

    /// How busy the model and each tool were, over the run's simulated time.
    pub fn resources(&self, scenario: &Scenario) -> Vec<Resource> {
        let horizon = self.last_time.max(1) as f64;
        let util = |busy: u128, cap: Option<u32>| cap.map(|c| busy as f64 / (c as f64 * horizon));
        let mut out = vec![Resource {
            name: "model".into(),
            capacity: scenario.model.concurrency,
            utilisation: util(self.model_busy_ns, scenario.model.concurrency),
            mean_busy: self.model_busy_ns as f64 / horizon,
            uses: self.model.turns,
            cold_starts: 0,
        }];
        for (tool, pool) in scenario.tools.iter().zip(&self.tools) {
            out.push(Resource {
                name: tool.name.clone(),
                capacity: tool.concurrency,
                utilisation: util(pool.busy_ns, tool.concurrency),
                mean_busy: pool.busy_ns as f64 / horizon,
                uses: pool.attempts,
                cold_starts: pool.cold_starts,
            });
        }
        out
    }
}
