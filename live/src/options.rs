//! What a live run is asked to do, its limits, and why it may refuse or fail.

use sim::Scenario;
use sim::model::policy::{Policy, PolicyListError, check_list};
use sim::model::time::Nanos;
use std::time::Duration;
use workers::{InputError, PipelineError};

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

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("--time-scale must be greater than 0 and at most 1, got {0}")]
    TimeScale(f64),
    #[error("--sessions must be between 1 and {MAX_SESSIONS} for a live run, got {0}")]
    Sessions(u64),
    #[error(transparent)]
    Policies(#[from] PolicyListError),
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
    NoSynthetic(#[source] InputError),
    /// The backend refused to build a part of the pipeline (dispatcher, worker, router, caller).
    #[error("the pipeline failed: {0}")]
    Setup(#[from] InputError),
    /// A submit or a receive failed.
    #[error("the pipeline failed: {step}: {source}")]
    Pipeline {
        step: &'static str,
        #[source]
        source: PipelineError,
    },
    #[error("the pipeline failed: a {what} task failed: {source}")]
    Task {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
    #[error(
        "the pipeline failed: the warm-up call's result did not arrive within {0:?}: is a worker \
         able to reach the queues?"
    )]
    WarmUp(Duration),
    #[error("the pipeline failed: the results router stopped")]
    RouterStopped,
    #[error(
        "the pipeline failed: a result for call {call} attempt {attempt} that was never issued"
    )]
    NeverIssued { call: u32, attempt: u32 },
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
            LiveError::NoSynthetic(_)
                | LiveError::Setup(_)
                | LiveError::Pipeline { .. }
                | LiveError::Task { .. }
                | LiveError::WarmUp(_)
                | LiveError::RouterStopped
                | LiveError::NeverIssued { .. }
                | LiveError::Timeout(_)
        )
    }
}

/// Which kind of backend the queues are: decides how many receive loops to run.
pub use workers::BackendKind;

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
pub(crate) const AUTO_OVERLAP: u64 = 10;

impl LiveOptions {
    pub fn check(&self, scenario: &Scenario) -> Result<(), LiveError> {
        if !(self.time_scale > 0.0 && self.time_scale <= 1.0) {
            return Err(LiveError::TimeScale(self.time_scale));
        }
        if self.sessions == 0 || self.sessions > MAX_SESSIONS {
            return Err(LiveError::Sessions(self.sessions));
        }
        check_list(&self.policies)?;
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
