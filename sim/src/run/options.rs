//! What a run is asked to do, its limits, and why it may refuse: checked once, here, for the
//! sharded runner and the shared world alike.

use crate::input::scenario::{MAX_SESSIONS, Scenario};
use crate::model::policy::{Policy, PolicyListError, check_list};

pub const MAX_THREADS: usize = 1024;
/// Sessions per unit of parallel work, and per progress report: large enough to amortise
/// scheduling, small enough to balance two cores and to move a progress bar.
pub const CHUNK_SESSIONS: u64 = 4096;

#[derive(Clone, Debug)]
pub struct RunOptions {
    pub sessions: u64,
    pub seed: u64,
    /// Worker threads; `None` uses every core. The results do not depend on it.
    pub threads: Option<usize>,
    pub policies: Vec<Policy>,
}

impl RunOptions {
    /// The scenario's own seed and session count.
    pub fn for_scenario(scenario: &Scenario, policies: Vec<Policy>) -> RunOptions {
        RunOptions {
            sessions: scenario.sessions,
            seed: scenario.seed,
            threads: None,
            policies,
        }
    }

    /// Checks the options; returns the number of worker threads to use.
    pub fn check(&self) -> Result<usize, RunError> {
        if self.sessions == 0 || self.sessions > MAX_SESSIONS {
            return Err(RunError::Sessions(self.sessions));
        }
        check_list(&self.policies)?;
        match self.threads {
            Some(t) if t == 0 || t > MAX_THREADS => Err(RunError::Threads(t)),
            Some(t) => Ok(t),
            None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RunError {
    #[error("--sessions must be between 1 and {MAX_SESSIONS}, got {0}")]
    Sessions(u64),
    #[error("--threads must be between 1 and {MAX_THREADS}, got {0}")]
    Threads(usize),
    #[error(transparent)]
    Policies(#[from] PolicyListError),
    #[error("cannot start the worker threads: {0}")]
    ThreadPool(String),
    #[error(
        "{active} sessions would be active at once; sessions that share capacity are limited to \
         {limit} at a time (use arrival = \"poisson\" or \"closed\" for large runs)"
    )]
    TooManyActive { active: u64, limit: u64 },
}
