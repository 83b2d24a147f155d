//! Runs a scenario's sessions through the real pipeline: one tokio task per (session, policy)
//! drives the simulator's own [`Session`] state machine on a wall clock.
//!
//! How the two clocks meet: the session works in scenario nanoseconds, exactly as in the
//! simulator. Wall time is scenario time × `time_scale` from a common origin `t0`. Events the
//! session schedules (turn ends, follow-ups, the moment a call is issued) fire on tokio timers and
//! are handled at their scheduled scenario time, so a model turn lasts exactly its drawn duration
//! (nothing real happens in a turn; it is a sleep). Everything the pipeline does is real: each
//! call attempt is submitted through the real [`Dispatcher`] when it is issued, queued, claimed
//! and run by the real worker handler (the local poller) as the `synthetic` tool sleeping the
//! drawn latency × `time_scale`, published on the results queue, and handed to the session when
//! a router reading that queue receives it, at the scenario time the wall clock says then. The
//! simulator's dispatch and delivery overheads are therefore *not* drawn here (`pre`/`post` are
//! empty): the pipeline supplies them, and they are what [`crate::calibrate`] measures.
//!
//! The session runs in "shared tools" mode ([`Env::shared_tools`]): that is the mode in which it
//! asks its surroundings to run each attempt and waits for [`Event::AttemptDone`], rather than
//! computing the finish time itself. The policy rules (when a turn starts, what it reads and
//! issues) are the simulator's code, unchanged.

use async_trait::async_trait;
use serde_json::{Value, json};
use sim::agent::{Env, Event, Outcome, Session, SessionInputs};
use sim::draws::{Attempt, Attempts, CallOutcome, SessionDraws};
use sim::engine::EventQueue;
use sim::policy::Policy;
use sim::scenario::Scenario;
use sim::time::Nanos;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use workers::delivery::{ResultSink, VecSink};
use workers::poller::{PollerSettings, PollerStats, run_poller};
use workers::tools::{Tool, ToolContext, ToolFailure};
use workers::{
    Backend, Caller, Dispatcher, DispatcherSettings, ResultMessage, ResultRouter, TaskRequest,
    ToolBox,
};

/// The catalog tool every live call runs as.
pub const SYNTHETIC: &str = "synthetic";
/// Live runs are measurements, not simulations: tens of sessions say what is needed, and every
/// session holds tasks, timers and queue messages at once.
pub const MAX_SESSIONS: u64 = 500;
/// Tool calls one run may put through the pipeline (attempts included, sessions × policies).
pub const MAX_TASKS: u64 = 200_000;
/// The longest a run's session starts may spread over, in wall time: a live run is a
/// measurement a person waits for.
pub const MAX_SPREAD: Duration = Duration::from_secs(3600);
/// The synthetic tool's own limit on one sleep (workers/src/tools/synthetic.rs).
const MAX_SLEEP_MS: u64 = 900_000;
/// Receive loops of the local worker: enough that no call waits for a free loop (the simulator's
/// independent sessions have no tool capacity limit), within the poller's own limit.
const MEMORY_LOOPS: usize = workers::limits::MAX_LOCAL_CONCURRENCY;
/// Against SQS every idle loop is an open long poll; an emulator (moto) slows down for all
/// requests with each one, so fewer loops with the catalog's batch size serve better there.
const AWS_LOOPS: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("--time-scale must be greater than 0 and at most 1, got {0}")]
    TimeScale(f64),
    #[error("--sessions must be between 1 and {MAX_SESSIONS} for a live run, got {0}")]
    Sessions(u64),
    #[error("give between 1 and {max} policies, got {0}", max = sim::runner::MAX_POLICIES)]
    Policies(usize),
    #[error("policy {0} is listed twice")]
    DuplicatePolicy(String),
    #[error(
        "{0}: its sessions share capacity (tool or model concurrency, or an arrival process); \
         live replay runs independent sessions only"
    )]
    Shared(String),
    #[error(
        "{tasks} tool calls ({sessions} sessions × {policies} policies × up to {per_session} \
         attempts) exceed the live limit of {MAX_TASKS}; use fewer --sessions"
    )]
    TooManyTasks {
        tasks: u64,
        sessions: u64,
        policies: usize,
        per_session: u64,
    },
    #[error(
        "session {session}, call {call} ({tool}) draws {latency_s:.1} s; at time scale {scale} the \
         synthetic tool would sleep {wall_s:.1} s, over its limit of {limit_s} s: lower --time-scale"
    )]
    TooLong {
        session: u64,
        call: usize,
        tool: String,
        latency_s: f64,
        scale: f64,
        wall_s: f64,
        limit_s: u64,
    },
    #[error(
        "--stagger {stagger_s} s × {sessions} sessions at time scale {scale} spreads the session \
         starts over {wall_s:.0} s of wall time; the limit is {} s",
        MAX_SPREAD.as_secs()
    )]
    Stagger {
        stagger_s: f64,
        sessions: u64,
        scale: f64,
        wall_s: f64,
    },
    #[error("the backend's catalog has no `{SYNTHETIC}` tool with a work queue: {0}")]
    NoSynthetic(String),
    #[error("the pipeline failed: {0}")]
    Pipeline(String),
    #[error(
        "the live run did not finish within {0:?} (a result was lost, or the machine is too \
         loaded for this time scale)"
    )]
    Timeout(Duration),
}

impl LiveError {
    /// Whether the caller's input is at fault (exit 2) rather than the run (exit 1).
    pub fn is_input(&self) -> bool {
        !matches!(
            self,
            LiveError::Pipeline(_) | LiveError::Timeout(_) | LiveError::NoSynthetic(_)
        )
    }
}

/// Which kind of backend the queues are: decides how many receive loops to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    Memory,
    Aws,
}

#[derive(Debug, Clone)]
pub struct LiveOptions {
    pub sessions: u64,
    pub seed: u64,
    pub policies: Vec<Policy>,
    /// Wall time per unit of scenario time, in (0, 1].
    pub time_scale: f64,
    pub backend: BackendKind,
    /// Scenario time between one session's start and the next's; `None`: about a tenth of a
    /// session's mean makespan, so some ten sessions overlap. Starting every session at once
    /// would measure the pipeline under a burst the simulator's independent sessions never see.
    pub stagger: Option<Nanos>,
}

/// Sessions that overlap at once under the automatic stagger.
const AUTO_OVERLAP: u64 = 10;

impl LiveOptions {
    pub fn check(&self, scenario: &Scenario) -> Result<(), LiveError> {
        if !(self.time_scale > 0.0 && self.time_scale <= 1.0) {
            return Err(LiveError::TimeScale(self.time_scale));
        }
        if self.sessions == 0 || self.sessions > MAX_SESSIONS {
            return Err(LiveError::Sessions(self.sessions));
        }
        if self.policies.is_empty() || self.policies.len() > sim::runner::MAX_POLICIES {
            return Err(LiveError::Policies(self.policies.len()));
        }
        for (i, p) in self.policies.iter().enumerate() {
            if self.policies[..i].contains(p) {
                return Err(LiveError::DuplicatePolicy(p.name()));
            }
        }
        if scenario.is_shared() {
            return Err(LiveError::Shared(scenario.file.clone()));
        }
        if let Some(stagger) = self.stagger {
            let wall_s = stagger as f64 * self.sessions as f64 * self.time_scale / 1e9;
            if wall_s > MAX_SPREAD.as_secs_f64() {
                return Err(LiveError::Stagger {
                    stagger_s: stagger as f64 / 1e9,
                    sessions: self.sessions,
                    scale: self.time_scale,
                    wall_s,
                });
            }
        }
        let per_session: u64 = scenario
            .plan
            .calls
            .iter()
            .map(|c| 1 + u64::from(scenario.tools[c.tool].retries))
            .sum();
        let tasks = self.sessions * self.policies.len() as u64 * per_session;
        if tasks > MAX_TASKS {
            return Err(LiveError::TooManyTasks {
                tasks,
                sessions: self.sessions,
                policies: self.policies.len(),
                per_session,
            });
        }
        Ok(())
    }
}

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

/// When the tool ran, per task id, and how often.
#[derive(Default)]
struct ToolLog {
    runs: HashMap<String, (Instant, Option<Instant>, u32)>,
}

/// The built-in synthetic tool, timed: the worker handler runs this in its place, so the start
/// and end of each run are known to the microsecond (the task record keeps milliseconds only).
struct TimedSynthetic {
    inner: Arc<dyn Tool>,
    log: Arc<Mutex<ToolLog>>,
}

#[async_trait]
impl Tool for TimedSynthetic {
    fn check_arguments(&self, arguments: &Value) -> Result<(), workers::InputError> {
        self.inner.check_arguments(arguments)
    }

    async fn run(&self, arguments: Value, context: ToolContext) -> Result<Value, ToolFailure> {
        let task = context.task_id.clone();
        {
            let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
            let entry = log
                .runs
                .entry(task.clone())
                .or_insert((Instant::now(), None, 0));
            entry.0 = Instant::now();
            entry.2 += 1;
        }
        let result = self.inner.run(arguments, context).await;
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = log.runs.get_mut(&task) {
            entry.1 = Some(Instant::now());
        }
        result
    }
}

/// A result as the router hands it to its session.
struct Arrived {
    call: u32,
    attempt: u32,
    at: Instant,
    task_id: String,
    status: String,
}

type Routes = HashMap<(u64, usize), mpsc::UnboundedSender<Arrived>>;

/// What every session task shares.
struct Shared {
    scenario: Arc<Scenario>,
    policies: Vec<Policy>,
    dispatcher: Arc<Dispatcher>,
    caller: Caller,
    consumer: String,
    t0: Instant,
    scale: f64,
    run_id: String,
    stagger: Nanos,
}

impl Shared {
    fn wall(&self, t: Nanos) -> tokio::time::Instant {
        tokio::time::Instant::from_std(
            self.t0 + Duration::from_nanos((t as f64 * self.scale) as u64),
        )
    }

    fn scenario_time(&self, at: Instant) -> Nanos {
        (at.saturating_duration_since(self.t0).as_nanos() as f64 / self.scale) as Nanos
    }

    /// The conversation id carries the routing key, so a result is routed without waiting for
    /// its acknowledgement (it can land before the submit returns).
    fn conversation(&self, session: u64, policy: usize, call: u32, attempt: u32) -> String {
        format!("{}.{session}.{policy}.{call}.{attempt}", self.run_id)
    }
}

fn parse_conversation(prefix: &str, id: &str) -> Option<(u64, usize, u32, u32)> {
    let rest = id.strip_prefix(prefix)?.strip_prefix('.')?;
    let mut parts = rest.split('.');
    let session = parts.next()?.parse().ok()?;
    let policy = parts.next()?.parse().ok()?;
    let call = parts.next()?.parse().ok()?;
    let attempt = parts.next()?.parse().ok()?;
    parts
        .next()
        .is_none()
        .then_some((session, policy, call, attempt))
}

/// The session's surroundings on a wall clock: its own event queue (fired by tokio timers) and
/// the attempts it asks to run, submitted after each step.
struct WallEnv {
    queue: EventQueue<Event>,
    submits: Vec<(u32, Nanos, Nanos)>,
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

/// Runs `options.sessions` sessions of `scenario` under every policy through `backend`, whose
/// `synthetic` work queue this run serves with its own local worker (tests wrap the queues to
/// inject delays).
pub async fn run_live(
    scenario: &Scenario,
    backend: &Backend,
    options: &LiveOptions,
) -> Result<LiveRun, LiveError> {
    options.check(scenario)?;
    let scale = options.time_scale;
    let scenario = Arc::new(scenario.clone());
    let needs = sim::runner::needs(&options.policies);
    // Draw every session first (the same draws `compare` uses) and check that each sleep fits the
    // synthetic tool.
    let mut all_draws = Vec::with_capacity(options.sessions as usize);
    let mut longest: Nanos = 0;
    for session in 0..options.sessions {
        let mut draws = SessionDraws::default();
        draws.draw(&scenario, options.seed, session, needs);
        let runs: Vec<(usize, Nanos)> = if draws.attempts.is_empty() {
            draws.latency.iter().copied().enumerate().collect()
        } else {
            (0..draws.latency.len())
                .flat_map(|i| draws.attempts.of(i).iter().map(move |a| (i, a.run)))
                .collect()
        };
        for (call, run) in runs {
            let wall_ms = (run as f64 * scale / 1e6).ceil() as u64;
            let limit_s = (MAX_SLEEP_MS / 1000).min(u64::from(
                backend
                    .catalog
                    .get(SYNTHETIC)
                    .map_err(|e| LiveError::NoSynthetic(e.to_string()))?
                    .timeout_s,
            ));
            if wall_ms >= limit_s * 1000 {
                return Err(LiveError::TooLong {
                    session,
                    call,
                    tool: scenario.tool_name(call).to_string(),
                    latency_s: run as f64 / 1e9,
                    scale,
                    wall_s: wall_ms as f64 / 1e3,
                    limit_s,
                });
            }
            longest = longest.max(run);
        }
        all_draws.push(draws);
    }

    let log = Arc::new(Mutex::new(ToolLog::default()));
    let builtin = ToolBox::builtin();
    let inner = builtin
        .get(SYNTHETIC)
        .map_err(|e| LiveError::NoSynthetic(e.to_string()))?
        .clone();
    let tools = builtin.with(
        SYNTHETIC,
        Arc::new(TimedSynthetic {
            inner,
            log: log.clone(),
        }),
    );
    let dispatcher = Arc::new(
        backend
            .dispatcher(tools.clone(), DispatcherSettings::default())
            .map_err(|e| LiveError::Pipeline(e.to_string()))?,
    );
    let work_queue = backend
        .work_queue(SYNTHETIC)
        .map_err(|e| LiveError::NoSynthetic(e.to_string()))?;
    let worker = Arc::new(
        backend
            .worker(
                SYNTHETIC,
                &tools,
                workers::WorkerSettings::new(format!("live:{}", std::process::id())),
            )
            .map_err(|e| LiveError::Pipeline(e.to_string()))?,
    );
    // Every idle receive loop wakes on every send (long polling), so loops beyond what is ever
    // busy at once only cost CPU, and on two cores that CPU shows up as dispatch delay.
    let stagger = options
        .stagger
        .unwrap_or_else(|| mean_makespan(&scenario, options) / AUTO_OVERLAP);
    let max_in_flight = peak_in_flight(&scenario, options, stagger) * 5 / 4 + 8;
    let (loops, batch_size, wait) = match options.backend {
        // One message per receive, so a long call never holds a short one in the same batch.
        BackendKind::Memory => (
            max_in_flight.clamp(1, MEMORY_LOOPS),
            1,
            Duration::from_secs(1),
        ),
        // The catalog's batch size; results are published per message as each run ends.
        BackendKind::Aws => (
            max_in_flight.clamp(1, AWS_LOOPS),
            worker.spec().batch_size,
            Duration::from_secs(1),
        ),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let poller = tokio::spawn(run_poller(
        worker,
        work_queue,
        PollerSettings {
            batch_size,
            concurrency: loops,
            wait,
        },
        stop_rx.clone(),
        Arc::new(PollerStats::default()),
    ));

    let run_id = format!("live-{}-{}", workers::clock::now_ms(), std::process::id());
    let mut routes: Routes = HashMap::new();
    let mut receivers = Vec::new();
    for session in 0..options.sessions {
        for p in 0..options.policies.len() {
            let (tx, rx) = mpsc::unbounded_channel();
            routes.insert((session, p), tx);
            receivers.push(rx);
        }
    }
    let duplicates = Arc::new(std::sync::atomic::AtomicU64::new(0));
    // Each run is its own owner: its router hands over only this run's results.
    let caller =
        Caller::new(format!("live:{run_id}")).map_err(|e| LiveError::Pipeline(e.to_string()))?;
    let consumer = match options.backend {
        BackendKind::Memory => "live",
        BackendKind::Aws => workers::limits::DEFAULT_CONSUMER,
    };
    let mut router = backend
        .router(&caller.principal, consumer)
        .map_err(|e| LiveError::Pipeline(e.to_string()))?;
    if let Err(e) = warm_up(&dispatcher, &caller, consumer, &mut router, &run_id).await {
        let _ = stop_tx.send(true);
        let _ = poller.await;
        return Err(e);
    }
    let router = tokio::spawn(route_results(
        router,
        run_id.clone(),
        routes,
        stop_rx,
        duplicates.clone(),
    ));

    let t0 = Instant::now();
    let shared = Arc::new(Shared {
        scenario: scenario.clone(),
        policies: options.policies.clone(),
        dispatcher,
        caller: caller.clone(),
        consumer: consumer.to_string(),
        t0,
        scale,
        run_id,
        stagger,
    });
    let mut tasks = tokio::task::JoinSet::new();
    let mut receivers = receivers.into_iter();
    for (session, draws) in all_draws.into_iter().enumerate() {
        let draws = Arc::new(draws);
        for p in 0..options.policies.len() {
            let rx = receivers
                .next()
                .expect("one receiver per session and policy");
            tasks.spawn(run_session(
                shared.clone(),
                session as u64,
                p,
                draws.clone(),
                rx,
            ));
        }
    }
    // Generous: the slowest session cannot take longer than all its turns and calls end to end,
    // plus a pipeline that is seconds slow per call.
    let budget = Duration::from_secs_f64(
        ((options.sessions * stagger) as f64 * scale / 1e9)
            + (longest as f64 * scale / 1e9) * 4.0 * scenario.plan.len() as f64
            + 60.0,
    );
    let collected = tokio::time::timeout(budget, async {
        let mut sessions = Vec::new();
        let mut calls = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (record, mut records) = joined
                .map_err(|e| LiveError::Pipeline(format!("a session task failed: {e}")))??;
            sessions.push(record);
            calls.append(&mut records);
        }
        Ok::<_, LiveError>((sessions, calls))
    })
    .await;
    let wall = t0.elapsed();
    let _ = stop_tx.send(true);
    tasks.abort_all();
    let _ = router.await;
    let _ = poller.await;
    if options.backend == BackendKind::Aws {
        // Stopping drops the receive loops' long polls on our side only: SQS keeps each open
        // until its wait ends and hands any message that lands meanwhile to the closed
        // connection, where it stays invisible for the visibility timeout. Waiting the polls out
        // keeps the next run on these queues (a calibration's check run) from losing its first
        // messages that way.
        tokio::time::sleep(wait + Duration::from_millis(250)).await;
    }
    let (mut sessions, mut calls) = collected.map_err(|_| LiveError::Timeout(budget))??;
    sessions.sort_by_key(|s| (s.session, s.policy));
    calls.sort_by_key(|c| (c.session, c.policy, c.call, c.attempt));
    let log = log.lock().unwrap_or_else(|p| p.into_inner());
    let mut executions = HashMap::new();
    for c in &mut calls {
        if let Some(&(start, end, runs)) = log.runs.get(&c.task_id) {
            c.tool_start = Some(shared.scenario_time(start));
            c.tool_end = end.map(|e| shared.scenario_time(e));
            executions.insert(c.task_id.clone(), runs);
        }
    }
    // Result delays are measured from the moment the result existed: the tool's start plus the
    // latency it was asked for. Its recorded end is later by the sleep's rounding up to whole
    // milliseconds and the timer's lateness, an artefact of replaying, not of the tool modelled;
    // calibration counts that excess as delivery, consistently.
    let ends: HashMap<(u64, usize, u32), Nanos> = calls
        .iter()
        .filter_map(|c| {
            c.tool_start
                .map(|s| ((c.session, c.policy, c.call), s + c.run))
        })
        .collect();
    for s in &mut sessions {
        for (call, delay) in s.result_delays.iter_mut().enumerate() {
            // The last attempt's end is when the result existed.
            if let Some(&end) = ends.get(&(s.session, s.policy, call as u32)) {
                *delay = s.read_ends[call].saturating_sub(end);
            }
        }
    }
    Ok(LiveRun {
        options: options.clone(),
        stagger,
        sessions,
        calls,
        executions,
        duplicate_results: duplicates.load(std::sync::atomic::Ordering::Relaxed),
        wall,
    })
}

/// The simulated mean makespan over the run's sessions and policies.
fn mean_makespan(scenario: &Scenario, options: &LiveOptions) -> Nanos {
    let values = crate::compare::simulate_values(
        scenario,
        options.seed,
        options.sessions,
        &options.policies,
    );
    let all: Vec<f64> = values.iter().flat_map(|v| v.by_metric[0].clone()).collect();
    (crate::compare::Stats::of(&all).mean * 1e9) as Nanos
}

/// The most calls in flight at once over the whole run, from the simulation of the same
/// sessions without overheads (all sessions start together, as they do here).
fn peak_in_flight(scenario: &Scenario, options: &LiveOptions, stagger: Nanos) -> usize {
    let mut s = scenario.clone();
    let zero = sim::scenario::Latency::new(sim::dist::Dist::zero()).expect("zero is valid");
    s.overheads = sim::scenario::Overheads {
        sync_invocation: zero.clone(),
        async_dispatch: zero.clone(),
        async_delivery: zero,
    };
    let setups = sim::runner::setups(&s, &options.policies);
    let needs = sim::runner::needs(&options.policies);
    let mut draws = SessionDraws::default();
    let mut ws = sim::agent::Workspace::default();
    // +1 at a call's start, −1 at its end; ends sort before starts at the same instant.
    let mut edges: Vec<(Nanos, i32)> = Vec::new();
    for session in 0..options.sessions {
        draws.draw(&s, options.seed, session, needs);
        for setup in &setups {
            sim::agent::simulate_session(
                setup,
                sim::runner::inputs(&s, setup.policy, &mut draws),
                &mut ws,
            );
            let start = session.saturating_mul(stagger);
            for c in &ws.session.calls {
                edges.push((start + c.started, 1));
                edges.push((start + c.finished, -1));
            }
        }
    }
    edges.sort_unstable();
    let (mut now, mut peak) = (0i64, 0i64);
    for (_, d) in edges {
        now += i64::from(d);
        peak = peak.max(now);
    }
    peak as usize
}

/// How long the warm-up call may take: a cold emulator or a cold Lambda answers within seconds.
const WARM_UP_LIMIT: Duration = Duration::from_secs(60);

/// One call through the whole pipeline before the clock starts: the first request to each part
/// pays one-off costs (connections, an emulator loading its services, cold starts) that no
/// session of a steady pipeline sees, and the simulator does not model.
async fn warm_up(
    dispatcher: &Dispatcher,
    caller: &Caller,
    consumer: &str,
    router: &mut ResultRouter,
    run_id: &str,
) -> Result<(), LiveError> {
    let conversation = format!("{run_id}.warm-up");
    let ack = dispatcher
        .submit(
            caller,
            TaskRequest {
                reply_to: Some(consumer.to_string()),
                ..TaskRequest::new(&conversation, SYNTHETIC, json!({ "sleep_ms": 0 }))
            },
        )
        .await
        .map_err(|e| LiveError::Pipeline(format!("warm-up submit: {e}")))?;
    let started = Instant::now();
    let mut sink = VecSink::default();
    while started.elapsed() < WARM_UP_LIMIT {
        router
            .poll(&mut sink, Duration::from_secs(1))
            .await
            .map_err(|e| LiveError::Pipeline(format!("warm-up receive: {e}")))?;
        if sink.0.iter().any(|r| r.task_id == ack.task_id) {
            return Ok(());
        }
    }
    Err(LiveError::Pipeline(format!(
        "the warm-up call's result did not arrive within {WARM_UP_LIMIT:?}: is a worker able to \
         reach the queues?"
    )))
}

/// Hands each of this run's results to its session, stamped with the moment the router received it.
struct SessionSink {
    prefix: String,
    routes: Routes,
}

#[async_trait]
impl ResultSink for SessionSink {
    async fn hand_over(&mut self, result: ResultMessage) -> anyhow::Result<()> {
        let at = Instant::now();
        if let Some((session, policy, call, attempt)) =
            parse_conversation(&self.prefix, &result.conversation_id)
            && let Some(tx) = self.routes.get(&(session, policy))
        {
            let _ = tx.send(Arrived {
                call,
                attempt,
                at,
                task_id: result.task_id,
                status: result.status.to_string(),
            });
        }
        Ok(())
    }
}

/// The run's router: each result once to its session (the router drops repeats, counted here).
async fn route_results(
    mut router: ResultRouter,
    prefix: String,
    routes: Routes,
    mut stop: watch::Receiver<bool>,
    duplicates: Arc<std::sync::atomic::AtomicU64>,
) {
    let mut sink = SessionSink { prefix, routes };
    while !*stop.borrow_and_update() {
        let polled = tokio::select! {
            r = router.poll(&mut sink, Duration::from_secs(1)) => r,
            _ = stop.changed() => break,
        };
        if let Err(e) = polled {
            tracing::warn!(error = %e, "receiving results failed; retrying");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        duplicates.store(
            router.stats.duplicates_dropped,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

/// One (session, policy): the simulator's state machine on the wall clock.
async fn run_session(
    shared: Arc<Shared>,
    session_index: u64,
    p: usize,
    draws: Arc<SessionDraws>,
    mut arrivals: mpsc::UnboundedReceiver<Arrived>,
) -> Result<(SessionRecord, Vec<CallRecord>), LiveError> {
    let scenario = shared.scenario.clone();
    let policies = [shared.policies[p].clone()];
    let setups = sim::runner::setups(&scenario, &policies);
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
    // Applies every event at `t`, then lets the idle model decide (the simulator's order).
    macro_rules! instant {
        ($t:expr) => {{
            let t: Nanos = $t;
            while env.queue.peek_time() == Some(t) {
                let (now, event) = env.queue.pop().expect("peeked");
                session.handle(setup, &mut inputs, &mut env, now, event);
                if session.is_done() {
                    break;
                }
            }
            if !session.is_done() {
                session.decide(setup, &mut inputs, &mut env, t);
            }
            last = last.max(t);
        }};
    }
    loop {
        for (call, run, now) in env.submits.drain(..) {
            let attempt = attempt_no[call as usize];
            attempt_no[call as usize] += 1;
            issued.insert((call, attempt), (now, run));
            let wall_ms = (run as f64 * shared.scale / 1e6).ceil() as u64;
            let request = TaskRequest {
                reply_to: Some(shared.consumer.clone()),
                ..TaskRequest::new(
                    shared.conversation(session_index, p, call, attempt),
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
                    .map_err(|e| LiveError::Pipeline(format!("a submit task failed: {e}")))?
                    .map_err(|e| LiveError::Pipeline(format!("submit: {e}")))?;
            }
            arrived = arrivals.recv() => {
                let Some(a) = arrived else {
                    return Err(LiveError::Pipeline("the results router stopped".into()));
                };
                let now = shared.scenario_time(a.at).max(last);
                // Timers that are due fire first, in order, as they would have.
                while let Some(t) = env.queue.peek_time() {
                    if t > now || session.is_done() {
                        break;
                    }
                    instant!(t);
                }
                let (issued_at, run) = issued
                    .get(&(a.call, a.attempt))
                    .copied()
                    .ok_or_else(|| LiveError::Pipeline(format!(
                        "a result for call {} attempt {} that was never issued", a.call, a.attempt
                    )))?;
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
                instant!(now);
            }
            _ = tokio::time::sleep_until(deadline), if next.is_some() => {
                instant!(next.expect("guarded"));
            }
        }
    }
    // Submits still in flight are for nothing the session needs (it is done); let them finish
    // so their tasks end cleanly.
    while let Some(submitted) = submitting.join_next().await {
        submitted
            .map_err(|e| LiveError::Pipeline(format!("a submit task failed: {e}")))?
            .map_err(|e| LiveError::Pipeline(format!("submit: {e}")))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_ids_round_trip() {
        assert_eq!(
            parse_conversation("live-1-2", "live-1-2.3.1.4.0"),
            Some((3, 1, 4, 0))
        );
        assert_eq!(parse_conversation("live-1-2", "live-1-23.1.4.0.0"), None);
        assert_eq!(parse_conversation("live-1-2", "live-1-2.3.1.4"), None);
    }
}
