//! Runs a scenario's sessions through the real pipeline: one tokio task per (session, policy)
//! drives the simulator's own [`sim::model::agent::Session`] state machine on a wall clock.
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
//! The session runs in "shared tools" mode ([`sim::model::agent::Env::shared_tools`]): that is the mode in which it
//! asks its surroundings to run each attempt and waits for [`sim::model::agent::Event::AttemptDone`], rather than
//! computing the finish time itself. The policy rules (when a turn starts, what it reads and
//! issues) are the simulator's code, unchanged.
//!
//! The run's parts: [`crate::options`] (what it is asked, its limits and errors), [`crate::sizing`]
//! (stagger and loops from its own simulation), [`crate::session`] (one session on the wall
//! clock), [`crate::routing`] (conversation ids, the router, the warm-up), [`crate::timed_tool`]
//! (when each tool ran) and [`crate::records`] (what it measured).

use crate::options::{AUTO_OVERLAP, BackendKind, LiveError, LiveOptions, SYNTHETIC};
use crate::records::LiveRun;
use crate::routing::{Routes, route_results, warm_up};
use crate::session::{Shared, run_session};
use crate::sizing::{mean_makespan, peak_in_flight};
use crate::timed_tool::{TimedSynthetic, ToolLog};
use sim::Scenario;
use sim::model::time::Nanos;
use sim::run::session::SessionDriver;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use workers::poller::{PollerSettings, PollerStats, run_poller};
use workers::tools::synthetic::MAX_SLEEP_MS;
use workers::{Backend, Caller, DispatcherSettings, ToolBox};

/// Receive loops of the local worker: enough that no call waits for a free loop (the simulator's
/// independent sessions have no tool capacity limit), within the poller's own limit.
const MEMORY_LOOPS: usize = workers::limits::MAX_LOCAL_CONCURRENCY;
/// Against SQS every idle loop is an open long poll; an emulator (moto) slows down for all
/// requests with each one, so fewer loops with the catalog's batch size serve better there.
const AWS_LOOPS: usize = 16;

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
    // Draw every session first (the same draws `compare` uses) and check that each sleep fits the
    // synthetic tool.
    let mut driver = SessionDriver::new(&scenario, &options.policies, options.seed);
    let mut all_draws = Vec::with_capacity(options.sessions as usize);
    let mut longest: Nanos = 0;
    let limit_s = (MAX_SLEEP_MS / 1000).min(u64::from(
        backend
            .catalog
            .get(SYNTHETIC)
            .map_err(LiveError::NoSynthetic)?
            .timeout_s,
    ));
    for session in 0..options.sessions {
        driver.draw(session);
        let draws = driver.draws().clone();
        let runs: Vec<(usize, Nanos)> = if draws.attempts.is_empty() {
            draws.latency.iter().copied().enumerate().collect()
        } else {
            (0..draws.latency.len())
                .flat_map(|i| draws.attempts.of(i).iter().map(move |a| (i, a.run)))
                .collect()
        };
        for (call, run) in runs {
            let wall_ms = (run as f64 * scale / 1e6).ceil() as u64;
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
        .map_err(LiveError::NoSynthetic)?
        .clone();
    let tools = builtin.with(
        SYNTHETIC,
        Arc::new(TimedSynthetic {
            inner,
            log: log.clone(),
        }),
    );
    let dispatcher = Arc::new(backend.dispatcher(tools.clone(), DispatcherSettings::default())?);
    let work_queue = backend
        .work_queue(SYNTHETIC)
        .map_err(LiveError::NoSynthetic)?;
    let worker = Arc::new(backend.worker(
        SYNTHETIC,
        &tools,
        workers::WorkerSettings::new(format!("live:{}", std::process::id())),
    )?);
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
    let caller = Caller::new(format!("live:{run_id}"))?;
    let consumer = match options.backend {
        BackendKind::Memory => "live",
        BackendKind::Aws => workers::limits::DEFAULT_CONSUMER,
    };
    let mut router = backend.router(&caller.principal, consumer)?;
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
            let (record, mut records) = joined.map_err(|source| LiveError::Task {
                what: "session",
                source,
            })??;
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
