//! Runs many sessions: shards them over threads and merges their metrics exactly.

use crate::agent::{SessionInputs, Setup, TokenCounts, Workspace, simulate_session};
use crate::draws::{Needs, SessionDraws};
use crate::metrics::{Extras, Metric, PairMetrics, PolicyMetrics, SessionValues};
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
    #[error(
        "{active} sessions would be active at once; sessions that share capacity are limited to \
         {limit} at a time (use arrival = \"poisson\" or \"closed\" for large runs)"
    )]
    TooManyActive { active: u64, limit: u64 },
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
    /// Shared worlds: how busy each tool and the model were, per policy.
    pub resources: Vec<Vec<crate::world::Resource>>,
}

struct Shard {
    metrics: Vec<PolicyMetrics>,
    pairs: Vec<PairMetrics>,
    draws: SessionDraws,
    ws: Workspace,
    values: Vec<SessionValues>,
}

/// What every policy's sessions share: the plan, tools and model, per policy.
pub fn setups<'a>(scenario: &'a Scenario, policies: &'a [Policy]) -> Vec<Setup<'a>> {
    let tokens = scenario.cost.as_ref().map(|c| TokenCounts {
        prompt: c.prompt_tokens,
        result: c.result_tokens,
        call: c.call_tokens,
        message: c.message_tokens,
    });
    policies
        .iter()
        .map(|policy| Setup {
            plan: &scenario.plan,
            tools: &scenario.tools,
            policy,
            model: &scenario.model,
            tokens,
        })
        .collect()
}

pub fn needs(policies: &[Policy]) -> Needs {
    Needs {
        blocking: policies.iter().any(Policy::is_blocking),
        non_blocking: policies.iter().any(|p| !p.is_blocking()),
    }
}

/// Per-session extras the agent does not compute: cost (and, in shared worlds, cold starts).
pub fn extras(
    scenario: &Scenario,
    policy: &Policy,
    draws: &SessionDraws,
    session: &crate::agent::Session,
    cold_starts: u64,
) -> Extras {
    let (model_cost_pusd, infra_cost_pusd) = match &scenario.cost {
        Some(cost) => crate::cost::session_cost(scenario, cost, policy, draws, session),
        None => (0, 0),
    };
    Extras {
        cold_starts,
        model_cost_pusd,
        infra_cost_pusd,
    }
}

/// Simulates `opts.sessions` sessions of `scenario` under every policy. `progress` is told how
/// many sessions each finished chunk held; it is called from worker threads. Scenarios whose
/// sessions share capacity run in one world, in arrival order, on the calling thread.
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
    let n_policies = opts.policies.len();
    let pair_indices: Vec<(usize, usize)> = (0..n_policies)
        .flat_map(|i| (i + 1..n_policies).map(move |j| (i, j)))
        .collect();
    let active = Metric::active(scenario);
    if scenario.is_shared() {
        let world =
            crate::world::simulate_shared(scenario, opts, &active, &pair_indices, progress)?;
        return Ok(RunResults {
            sessions: opts.sessions,
            seed: opts.seed,
            policies: opts.policies.clone(),
            metrics: world.metrics,
            pair_indices,
            pairs: world.pairs,
            resources: world.resources,
        });
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| RunError::ThreadPool(e.to_string()))?;
    let setups = setups(scenario, &opts.policies);
    let needs = needs(&opts.policies);
    let chunks = opts.sessions.div_ceil(CHUNK_SESSIONS);
    let empty = || {
        (
            vec![PolicyMetrics::new(&active); n_policies],
            vec![PairMetrics::new(&active); pair_indices.len()],
        )
    };
    let new_shard = || {
        let (metrics, pairs) = empty();
        Shard {
            metrics,
            pairs,
            draws: SessionDraws::default(),
            ws: Workspace::default(),
            values: vec![SessionValues::default(); n_policies],
        }
    };
    let merged = pool.install(|| {
        (0..chunks)
            .into_par_iter()
            .fold(new_shard, |mut shard, chunk| {
                let first = chunk * CHUNK_SESSIONS;
                let last = (first + CHUNK_SESSIONS).min(opts.sessions);
                for session in first..last {
                    run_session(
                        scenario,
                        &setups,
                        opts.seed,
                        needs,
                        &pair_indices,
                        session,
                        &mut shard,
                    );
                }
                progress(last - first);
                shard
            })
            .map(|shard| (shard.metrics, shard.pairs))
            .reduce(empty, |(mut m, mut p), (m2, p2)| {
                m.iter_mut().zip(&m2).for_each(|(a, b)| a.merge(b));
                p.iter_mut().zip(&p2).for_each(|(a, b)| a.merge(b));
                (m, p)
            })
    });
    Ok(RunResults {
        sessions: opts.sessions,
        seed: opts.seed,
        policies: opts.policies.clone(),
        metrics: merged.0,
        pair_indices,
        pairs: merged.1,
        resources: Vec::new(),
    })
}

/// The inputs of one session under one policy.
pub fn inputs<'a>(
    scenario: &'a Scenario,
    policy: &Policy,
    draws: &'a mut SessionDraws,
) -> SessionInputs<'a, crate::draws::TurnSource<'a>> {
    let (pre, post): (&[u64], &[u64]) = if policy.is_blocking() {
        (&draws.sync_invocation, &[])
    } else {
        (&draws.dispatch, &draws.delivery)
    };
    SessionInputs {
        latency: &draws.latency,
        attempts: &draws.attempts,
        pre,
        post,
        followups: &draws.followups,
        turn_base: draws.turns.source(&scenario.model.base.sampler),
    }
}

#[inline]
fn run_session(
    scenario: &Scenario,
    setups: &[Setup],
    seed: u64,
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
    draws.draw(scenario, seed, session, needs);
    for (p, setup) in setups.iter().enumerate() {
        let outcome = simulate_session(setup, inputs(scenario, setup.policy, draws), ws);
        let extras = extras(scenario, setup.policy, draws, &ws.session, 0);
        metrics[p].record(&outcome, &ws.session, &extras);
        if !pair_indices.is_empty() {
            values[p] = SessionValues::new(&outcome, &ws.session, &extras);
        }
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
    let policies = [policy.clone()];
    let setups = setups(scenario, &policies);
    let mut draws = SessionDraws::default();
    draws.draw(scenario, seed, session, needs(&policies));
    let mut ws = Workspace::default();
    let outcome = simulate_session(&setups[0], inputs(scenario, policy, &mut draws), &mut ws);
    SessionTrace {
        session,
        policy: policy.clone(),
        outcome,
        calls: ws.session.calls,
        turns: ws.session.turns,
    }
}
