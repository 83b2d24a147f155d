//! Sessions that share capacity: one world per policy, all sessions in arrival order.
//!
//! When tools have a concurrency limit or a warm pool, or the model a concurrency or rate limit,
//! sessions interact: a call waits in its tool's FIFO queue behind other sessions' calls (as
//! messages wait in SQS for a Lambda with reserved concurrency), a turn waits for the model. Such
//! runs use one event queue for every session of every policy (each policy its own world, its own
//! resources) on the calling thread: deterministic for a seed, and paired session by session as
//! sessions finish, so memory stays bounded by the sessions active at once.

use crate::input::scenario::{Arrival, Scenario};
use crate::model::agent::{Env, Event, Session, SessionInputs, Setup};
use crate::model::draws::{SessionDraws, Stream, TurnSource, stream_rng};
use crate::model::engine::EventQueue;
use crate::model::time::Nanos;
use crate::run::metrics::{Metric, PolicyMetrics, SessionValues};
use crate::run::options::{CHUNK_SESSIONS, RunError, RunOptions};
use crate::run::session::{extras, inputs, needs, setups};
use crate::run::tally::{Resource, RunResults, Tally};
use rand::RngExt;
use std::collections::{HashMap, VecDeque};

/// Sessions that may be in progress at once in one world: bounds memory (each holds its calls
/// and draws). An overloaded open workload hits it; a closed one cannot.
pub const MAX_ACTIVE_SESSIONS: u64 = 100_000;
const NO_SLOT: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
enum WorldEvent {
    Session(Event),
    Arrival,
    ModelTick,
}

#[derive(Clone, Copy, Debug)]
struct Tagged {
    world: u16,
    slot: u32,
    event: WorldEvent,
}

struct ModelPool {
    capacity: u32,
    busy: u32,
    gap: Nanos,
    next_start: Nanos,
    waiting: VecDeque<u32>,
    tick_pending: bool,
    turns: u64,
}

impl ModelPool {
    fn may_start(&self, now: Nanos) -> bool {
        self.busy < self.capacity && now >= self.next_start
    }

    fn grant(&mut self, now: Nanos) {
        self.busy += 1;
        self.turns += 1;
        self.next_start = now + self.gap;
    }

    /// Grants waiting turns while capacity and the rate allow; else arms a tick for the rate.
    fn pump(&mut self, now: Nanos, world: u16, queue: &mut EventQueue<Tagged>) {
        while let Some(&slot) = self.waiting.front() {
            if self.may_start(now) {
                self.waiting.pop_front();
                self.grant(now);
                queue.push(now, tagged(world, slot, Event::TurnGranted));
            } else {
                if self.busy < self.capacity && !self.tick_pending {
                    self.tick_pending = true;
                    queue.push(
                        self.next_start,
                        Tagged {
                            world,
                            slot: NO_SLOT,
                            event: WorldEvent::ModelTick,
                        },
                    );
                }
                break;
            }
        }
    }
}

struct Queued {
    slot: u32,
    call: u32,
    run: Nanos,
    cold: Nanos,
    since: Nanos,
}

struct ToolPool {
    capacity: u32,
    busy: u32,
    waiting: VecDeque<Queued>,
    /// Warm instances by the time they went idle, oldest first (so the newest is reused, and
    /// if the newest has expired, all have).
    idle_since: Vec<Nanos>,
    keep_warm: Nanos,
    has_cold_starts: bool,
    busy_ns: u128,
    attempts: u64,
    cold_starts: u64,
}

impl ToolPool {
    /// Starts an attempt now; returns its duration and whether it started cold.
    fn start(&mut self, now: Nanos, q: &Queued) -> (Nanos, bool) {
        let cold = self.has_cold_starts
            && match self.idle_since.pop() {
                Some(t) if now - t <= self.keep_warm => false,
                Some(_) => {
                    self.idle_since.clear();
                    true
                }
                None => true,
            };
        let duration = q.run + if cold { q.cold } else { 0 };
        self.busy += 1;
        self.busy_ns += duration as u128;
        self.attempts += 1;
        self.cold_starts += cold as u64;
        (duration, cold)
    }

    fn release(&mut self, now: Nanos) {
        self.busy -= 1;
        if self.has_cold_starts {
            self.idle_since.push(now);
        }
    }
}

fn tagged(world: u16, slot: u32, event: Event) -> Tagged {
    Tagged {
        world,
        slot,
        event: WorldEvent::Session(event),
    }
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

struct World<'a> {
    setup: Setup<'a>,
    slots: Vec<Active>,
    free: Vec<u32>,
    model: ModelPool,
    tools: Vec<ToolPool>,
    started: u64,
    finished: u64,
    arrival_rng: crate::model::draws::SessionRng,
    metrics: PolicyMetrics,
    model_busy_ns: u128,
    last_time: Nanos,
}

/// The env a session sees inside a world.
struct WorldEnv<'q> {
    queue: &'q mut EventQueue<Tagged>,
    world: u16,
    slot: u32,
    model: &'q mut ModelPool,
    tools: &'q mut [ToolPool],
    metrics: &'q mut PolicyMetrics,
    cold_starts: &'q mut u64,
}

impl Env for WorldEnv<'_> {
    fn schedule(&mut self, at: Nanos, event: Event) {
        self.queue.push(at, tagged(self.world, self.slot, event));
    }

    fn request_model(&mut self, now: Nanos) -> bool {
        if self.model.waiting.is_empty() && self.model.may_start(now) {
            self.model.grant(now);
            true
        } else {
            self.model.waiting.push_back(self.slot);
            self.model.pump(now, self.world, self.queue);
            false
        }
    }

    fn release_model(&mut self, now: Nanos) {
        self.model.busy -= 1;
        self.model.pump(now, self.world, self.queue);
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
                tagged(self.world, self.slot, Event::AttemptDone(call)),
            );
        } else {
            pool.waiting.push_back(q);
        }
    }
}

/// Simulates every session of every policy in one event queue, each policy its own world.
pub(crate) fn simulate_shared(
    scenario: &Scenario,
    opts: &RunOptions,
    active: &[Metric],
    progress: &(dyn Fn(u64) + Sync),
) -> Result<RunResults, RunError> {
    if matches!(scenario.arrival, Arrival::AllAtOnce) && opts.sessions > MAX_ACTIVE_SESSIONS {
        return Err(RunError::TooManyActive {
            active: opts.sessions,
            limit: MAX_ACTIVE_SESSIONS,
        });
    }
    let needs = needs(&opts.policies);
    let mut worlds: Vec<World> = setups(scenario, &opts.policies)
        .into_iter()
        .map(|setup| World {
            setup,
            slots: Vec::new(),
            free: Vec::new(),
            model: ModelPool {
                capacity: scenario.model.concurrency.unwrap_or(u32::MAX),
                busy: 0,
                gap: scenario.model.min_start_gap.unwrap_or(0),
                next_start: 0,
                waiting: VecDeque::new(),
                tick_pending: false,
                turns: 0,
            },
            tools: scenario
                .tools
                .iter()
                .map(|t| ToolPool {
                    capacity: t.concurrency.unwrap_or(u32::MAX),
                    busy: 0,
                    waiting: VecDeque::new(),
                    idle_since: Vec::new(),
                    keep_warm: t.keep_warm,
                    has_cold_starts: t.cold_start.is_some(),
                    busy_ns: 0,
                    attempts: 0,
                    cold_starts: 0,
                })
                .collect(),
            started: 0,
            finished: 0,
            // every world draws the same arrival times
            arrival_rng: stream_rng(opts.seed, 0, Stream::Arrival),
            metrics: PolicyMetrics::new(active),
            model_busy_ns: 0,
            last_time: 0,
        })
        .collect();
    let mut queue: EventQueue<Tagged> = EventQueue::default();
    let first_arrivals = match &scenario.arrival {
        Arrival::AllAtOnce => opts.sessions,
        Arrival::Poisson { .. } => 1,
        Arrival::Closed { users, .. } => opts.sessions.min(*users as u64),
    };
    for w in 0..worlds.len() {
        for _ in 0..first_arrivals {
            queue.push(
                0,
                Tagged {
                    world: w as u16,
                    slot: NO_SLOT,
                    event: WorldEvent::Arrival,
                },
            );
        }
    }
    let mut tally = Tally::new(opts.policies.len(), active);
    // Per session: how many policies have finished it, and their values.
    let mut pending: HashMap<u64, (usize, Vec<SessionValues>)> = HashMap::new();
    let mut touched: Vec<(u16, u32)> = Vec::new();
    while let Some((now, ev)) = queue.pop() {
        let w = ev.world as usize;
        let world = &mut worlds[w];
        world.last_time = now;
        match ev.event {
            WorldEvent::Arrival => {
                if world.started < opts.sessions {
                    let slot = start_session(
                        world, scenario, opts.seed, needs, &mut queue, ev.world, now,
                    )?;
                    touch(world, &mut touched, ev.world, slot, now);
                    if let Arrival::Poisson { rate_per_s } = scenario.arrival
                        && world.started < opts.sessions
                    {
                        let u: f64 = world.arrival_rng.random();
                        let gap = (-(1.0 - u).ln() / rate_per_s * 1e9).round() as Nanos;
                        queue.push(
                            now + gap,
                            Tagged {
                                world: ev.world,
                                slot: NO_SLOT,
                                event: WorldEvent::Arrival,
                            },
                        );
                    }
                }
            }
            WorldEvent::ModelTick => {
                world.model.tick_pending = false;
                world.model.pump(now, ev.world, &mut queue);
            }
            WorldEvent::Session(event) => {
                if let Event::AttemptDone(call) = event {
                    free_tool(world, &mut queue, ev.world, now, call);
                }
                debug_assert!(world.slots[ev.slot as usize].live);
                world.with_session(
                    scenario,
                    &mut queue,
                    ev.world,
                    ev.slot,
                    |session, setup, inp, env| session.handle(setup, inp, env, now, event),
                );
                if world.slots[ev.slot as usize].session.is_done() {
                    finish_session(
                        world,
                        scenario,
                        ev.slot,
                        w,
                        opts,
                        &mut pending,
                        &mut tally,
                        &mut queue,
                        now,
                    );
                    if w == 0 && world_finished_chunk(&worlds[0]) {
                        progress(CHUNK_SESSIONS);
                    }
                } else {
                    touch(world, &mut touched, ev.world, ev.slot, now);
                }
            }
        }
        if queue.peek_time() == Some(now) {
            continue;
        }
        // Every event of this instant is in: the touched sessions decide, in first-touch order.
        for (w, slot) in touched.drain(..) {
            let world = &mut worlds[w as usize];
            let active = &mut world.slots[slot as usize];
            active.touched_at = None;
            if !active.live || active.session.is_done() {
                continue;
            }
            world.with_session(scenario, &mut queue, w, slot, |session, setup, inp, env| {
                session.decide(setup, inp, env, now)
            });
        }
    }
    for (w, world) in worlds.iter().enumerate() {
        assert_eq!(
            world.finished, opts.sessions,
            "world {w} left sessions unfinished"
        );
    }
    debug_assert!(pending.is_empty());
    let resources = worlds.iter().map(|w| resources(scenario, w)).collect();
    tally.metrics = worlds.into_iter().map(|w| w.metrics).collect();
    Ok(tally.into_results(opts.sessions, opts.seed, &opts.policies, resources))
}

impl World<'_> {
    /// Runs `f` on one session with the surroundings it sees in this world.
    fn with_session<R>(
        &mut self,
        scenario: &Scenario,
        queue: &mut EventQueue<Tagged>,
        w: u16,
        slot: u32,
        f: impl FnOnce(&mut Session, &Setup, &mut SessionInputs<TurnSource>, &mut WorldEnv) -> R,
    ) -> R {
        let World {
            setup,
            slots,
            model,
            tools,
            metrics,
            ..
        } = self;
        let active = &mut slots[slot as usize];
        let mut env = WorldEnv {
            queue,
            world: w,
            slot,
            model,
            tools,
            metrics,
            cold_starts: &mut active.cold_starts,
        };
        let mut inp = inputs(scenario, setup.policy, &mut active.draws);
        f(&mut active.session, setup, &mut inp, &mut env)
    }
}

fn world_finished_chunk(world: &World) -> bool {
    world.finished.is_multiple_of(CHUNK_SESSIONS)
}

fn touch(world: &mut World, touched: &mut Vec<(u16, u32)>, w: u16, slot: u32, now: Nanos) {
    let active = &mut world.slots[slot as usize];
    if active.touched_at != Some(now) {
        active.touched_at = Some(now);
        touched.push((w, slot));
    }
}

fn start_session(
    world: &mut World,
    scenario: &Scenario,
    seed: u64,
    needs: crate::model::draws::Needs,
    queue: &mut EventQueue<Tagged>,
    w: u16,
    now: Nanos,
) -> Result<u32, RunError> {
    let id = world.started;
    world.started += 1;
    let slot = match world.free.pop() {
        Some(slot) => slot,
        None => {
            if world.slots.len() as u64 >= MAX_ACTIVE_SESSIONS {
                return Err(RunError::TooManyActive {
                    active: world.slots.len() as u64 + 1,
                    limit: MAX_ACTIVE_SESSIONS,
                });
            }
            world.slots.push(Active {
                id: 0,
                session: Session::default(),
                draws: SessionDraws::default(),
                cold_starts: 0,
                live: false,
                touched_at: None,
            });
            world.slots.len() as u32 - 1
        }
    };
    let active = &mut world.slots[slot as usize];
    active.id = id;
    active.live = true;
    active.cold_starts = 0;
    active.touched_at = None;
    active.draws.draw(scenario, seed, id, needs);
    world.with_session(scenario, queue, w, slot, |session, setup, inp, env| {
        session.begin(setup, inp, env, now)
    });
    Ok(slot)
}

/// Frees the tool instance an attempt used and starts the next queued attempt, if any.
fn free_tool(world: &mut World, queue: &mut EventQueue<Tagged>, w: u16, now: Nanos, call: u32) {
    let tool = world.setup.plan.calls[call as usize].tool;
    let pool = &mut world.tools[tool];
    pool.release(now);
    if let Some(next) = pool.waiting.pop_front() {
        let (duration, cold) = pool.start(now, &next);
        world.slots[next.slot as usize].cold_starts += cold as u64;
        world.metrics.record_tool_wait(now - next.since);
        queue.push(
            now + duration,
            tagged(w, next.slot, Event::AttemptDone(next.call)),
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn finish_session(
    world: &mut World,
    scenario: &Scenario,
    slot: u32,
    w: usize,
    opts: &RunOptions,
    pending: &mut HashMap<u64, (usize, Vec<SessionValues>)>,
    tally: &mut Tally,
    queue: &mut EventQueue<Tagged>,
    now: Nanos,
) {
    let active = &mut world.slots[slot as usize];
    let outcome = active.session.outcome();
    let extras = extras(
        scenario,
        world.setup.policy,
        &active.draws,
        &active.session,
        active.cold_starts,
    );
    world.metrics.record(&outcome, &active.session, &extras);
    world.model_busy_ns += outcome.model_busy as u128;
    world.finished += 1;
    active.live = false;
    let id = active.id;
    let think = active.draws.think;
    world.free.push(slot);
    if let Arrival::Closed { .. } = scenario.arrival {
        queue.push(
            now + think,
            Tagged {
                world: w as u16,
                slot: NO_SLOT,
                event: WorldEvent::Arrival,
            },
        );
    }
    if !tally.pair_indices.is_empty() {
        let n = opts.policies.len();
        let values = SessionValues::new(&outcome, &active.session, &extras);
        let (finished, entry) = pending
            .entry(id)
            .or_insert_with(|| (0, vec![SessionValues::default(); n]));
        entry[w] = values;
        *finished += 1;
        if *finished == n {
            let (_, entry) = pending.remove(&id).expect("just seen");
            tally.pair_values(&entry);
        }
    }
}

fn resources(scenario: &Scenario, world: &World) -> Vec<Resource> {
    let horizon = world.last_time.max(1) as f64;
    let util = |busy: u128, cap: Option<u32>| cap.map(|c| busy as f64 / (c as f64 * horizon));
    let mut out = vec![Resource {
        name: "model".into(),
        capacity: scenario.model.concurrency,
        utilisation: util(world.model_busy_ns, scenario.model.concurrency),
        mean_busy: world.model_busy_ns as f64 / horizon,
        uses: world.model.turns,
        cold_starts: 0,
    }];
    for (tool, pool) in scenario.tools.iter().zip(&world.tools) {
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
