//! Runs many sessions: shards them over threads and merges their metrics exactly.

use crate::agent::{SessionInputs, Workspace, simulate_session};
use crate::draws::{Needs, SessionDraws};
use crate::metrics::{PairMetrics, PolicyMetrics, SessionValues};
use crate::policy::Policy;
use crate::scenario::{MAX_SESSIONS, Scenario};
use rayon::prelude::*;

/// Sessions per unit of parallel work: large enough to amortise scheduling, small enough to
/// balance two cores and to move a progress bar.
const CHUNK_SESSIONS: u64 = 4096;
/// More policies than anyone compares at once; bounds the pairwise comparisons (n·(n−1)/2).
pub const MAX_POLICIES: usize = 8;
pub const MAX_THREADS: usize = 1024;

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
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RunError {
    #[error("--sessions must be between 1 and {MAX_SESSIONS}, got {0}")]
    Sessions(u64),
    #[error("--threads must be between 1 and {MAX_THREADS}, got {0}")]
    Threads(usize),
    #[error("give between 1 and {MAX_POLICIES} policies, got {0}")]
    Policies(usize),
    #[error("policy {0} is listed twice")]
    DuplicatePolicy(String),
    #[error("cannot start the worker threads: {0}")]
    ThreadPool(String),
}

/// Results of a run: per-policy metrics, and pairwise comparisons (`pairs[k]` compares
/// `policies[pair_indices[k].0]`, the baseline, with `policies[pair_indices[k].1]`).
#[derive(Clone, Debug)]
pub struct RunResults {
    pub sessions: u64,
    pub seed: u64,
    pub policies: Vec<Policy>,
    pub metrics: Vec<PolicyMetrics>,
    pub pair_indices: Vec<(usize, usize)>,
    pub pairs: Vec<PairMetrics>,
}

struct Shard {
    metrics: Vec<PolicyMetrics>,
    pairs: Vec<PairMetrics>,
    draws: SessionDraws,
    ws: Workspace,
    values: Vec<SessionValues>,
}

/// Simulates `opts.sessions` sessions of `scenario` under every policy. `progress` is told how
/// many sessions each finished chunk held; it is called from worker threads.
pub fn simulate(
    scenario: &Scenario,
    opts: &RunOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<RunResults, RunError> {
    if opts.sessions == 0 || opts.sessions > MAX_SESSIONS {
        return Err(RunError::Sessions(opts.sessions));
    }
    if opts.policies.is_empty() || opts.policies.len() > MAX_POLICIES {
        return Err(RunError::Policies(opts.policies.len()));
    }
    for (i, p) in opts.policies.iter().enumerate() {
        if opts.policies[..i].contains(p) {
            return Err(RunError::DuplicatePolicy(p.name()));
        }
    }
    let threads = match opts.threads {
        Some(t) if t == 0 || t > MAX_THREADS => return Err(RunError::Threads(t)),
        Some(t) => t,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| RunError::ThreadPool(e.to_string()))?;

    let n_policies = opts.policies.len();
    let pair_indices: Vec<(usize, usize)> = (0..n_policies)
        .flat_map(|i| (i + 1..n_policies).map(move |j| (i, j)))
        .collect();
    let needs = Needs {
        blocking: opts.policies.iter().any(Policy::is_blocking),
        non_blocking: opts.policies.iter().any(|p| !p.is_blocking()),
    };
    let chunks = opts.sessions.div_ceil(CHUNK_SESSIONS);
    let new_shard = || Shard {
        metrics: vec![PolicyMetrics::default(); n_policies],
        pairs: vec![PairMetrics::default(); pair_indices.len()],
        draws: SessionDraws::default(),
        ws: Workspace::default(),
        values: vec![SessionValues::default(); n_policies],
    };
    let merged = pool.install(|| {
        (0..chunks)
            .into_par_iter()
            .fold(new_shard, |mut shard, chunk| {
                let first = chunk * CHUNK_SESSIONS;
                let last = (first + CHUNK_SESSIONS).min(opts.sessions);
                for session in first..last {
                    run_session(scenario, opts, needs, &pair_indices, session, &mut shard);
                }
                progress(last - first);
                shard
            })
            .map(|shard| (shard.metrics, shard.pairs))
            .reduce(
                || {
                    (
                        vec![PolicyMetrics::default(); n_policies],
                        vec![PairMetrics::default(); pair_indices.len()],
                    )
                },
                |(mut m, mut p), (m2, p2)| {
                    m.iter_mut().zip(&m2).for_each(|(a, b)| a.merge(b));
                    p.iter_mut().zip(&p2).for_each(|(a, b)| a.merge(b));
                    (m, p)
                },
            )
    });
    Ok(RunResults {
        sessions: opts.sessions,
        seed: opts.seed,
        policies: opts.policies.clone(),
        metrics: merged.0,
        pair_indices,
        pairs: merged.1,
    })
}

#[inline]
fn run_session(
    scenario: &Scenario,
    opts: &RunOptions,
    needs: Needs,
    pair_indices: &[(usize, usize)],
    session: u64,
    shard: &mut Shard,
) {
    let Shard {
        metrics,
        pairs,
        draws,
        ws,
        values,
    } = shard;
    draws.draw(scenario, opts.seed, session, needs);
    for (p, policy) in opts.policies.iter().enumerate() {
        let (pre, post): (&[u64], &[u64]) = if policy.is_blocking() {
            (&draws.sync_invocation, &[])
        } else {
            (&draws.dispatch, &draws.delivery)
        };
        let inputs = SessionInputs {
            latency: &draws.latency,
            pre,
            post,
            turn_base: draws.turns.source(&scenario.model.base.sampler),
        };
        let outcome = simulate_session(&scenario.plan, policy, &scenario.model, inputs, ws);
        metrics[p].record(&outcome, ws);
        values[p] = SessionValues::new(&outcome, scenario.plan.len());
    }
    for (k, &(a, b)) in pair_indices.iter().enumerate() {
        pairs[k].record(&values[a], &values[b]);
    }
}

/// The full detail of one session under one policy: every call's timeline and every turn, for
/// timelines and traces. Uses the same draws as [`simulate`] for that session index.
#[derive(Clone, Debug)]
pub struct SessionTrace {
    pub session: u64,
    pub policy: Policy,
    pub outcome: crate::agent::Outcome,
    pub calls: Vec<crate::agent::CallTimes>,
    pub turns: Vec<crate::agent::TurnRecord>,
}

pub fn trace_session(
    scenario: &Scenario,
    seed: u64,
    session: u64,
    policy: &Policy,
) -> SessionTrace {
    let mut draws = SessionDraws::default();
    let needs = Needs {
        blocking: policy.is_blocking(),
        non_blocking: !policy.is_blocking(),
    };
    draws.draw(scenario, seed, session, needs);
    let (pre, post): (&[u64], &[u64]) = if policy.is_blocking() {
        (&draws.sync_invocation, &[])
    } else {
        (&draws.dispatch, &draws.delivery)
    };
    let inputs = SessionInputs {
        latency: &draws.latency,
        pre,
        post,
        turn_base: draws.turns.source(&scenario.model.base.sampler),
    };
    let mut ws = Workspace::default();
    let outcome = simulate_session(&scenario.plan, policy, &scenario.model, inputs, &mut ws);
    SessionTrace {
        session,
        policy: policy.clone(),
        outcome,
        calls: ws.calls,
        turns: ws.turns,
    }
}
