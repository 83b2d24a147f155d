//! A run's results, filled session by session: each policy's metrics, and every pair of
//! policies compared on the same session. Tallies of separate shards merge exactly.

use crate::model::agent::{Outcome, Session};
use crate::model::policy::{Policy, pairs};
use crate::run::metrics::{Extras, Metric, PairMetrics, PolicyMetrics, SessionValues};
use serde::Serialize;

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
    pub resources: Vec<Vec<Resource>>,
}

/// Metrics of `n` policies and their pairs, recorded one session at a time.
#[derive(Clone, Debug)]
pub struct Tally {
    pub metrics: Vec<PolicyMetrics>,
    pub pair_indices: Vec<(usize, usize)>,
    pub pairs: Vec<PairMetrics>,
    /// The current session's paired values, one per policy.
    values: Vec<SessionValues>,
}

impl Tally {
    pub fn new(policies: usize, active: &[Metric]) -> Tally {
        let pair_indices = pairs(policies);
        Tally {
            metrics: vec![PolicyMetrics::new(active); policies],
            pairs: vec![PairMetrics::new(active); pair_indices.len()],
            pair_indices,
            values: vec![SessionValues::default(); policies],
        }
    }

    /// Records the current session under policy `p`; call [`Tally::pair_session`] once every
    /// policy of it is in.
    #[inline]
    pub fn record(&mut self, p: usize, outcome: &Outcome, session: &Session, extras: &Extras) {
        self.metrics[p].record(outcome, session, extras);
        if !self.pair_indices.is_empty() {
            self.values[p] = SessionValues::new(outcome, session, extras);
        }
    }

    /// Compares the current session's policies pair by pair.
    #[inline]
    pub fn pair_session(&mut self) {
        let Tally {
            pair_indices,
            pairs,
            values,
            ..
        } = self;
        for (k, &(a, b)) in pair_indices.iter().enumerate() {
            pairs[k].record(&values[a], &values[b]);
        }
    }

    /// Compares one session's policies pair by pair from values gathered elsewhere (shared
    /// worlds finish a session's policies at different times).
    pub fn pair_values(&mut self, values: &[SessionValues]) {
        for (k, &(a, b)) in self.pair_indices.iter().enumerate() {
            self.pairs[k].record(&values[a], &values[b]);
        }
    }

    pub fn merge(&mut self, other: &Tally) {
        self.metrics
            .iter_mut()
            .zip(&other.metrics)
            .for_each(|(a, b)| a.merge(b));
        self.pairs
            .iter_mut()
            .zip(&other.pairs)
            .for_each(|(a, b)| a.merge(b));
    }

    pub fn into_results(
        self,
        sessions: u64,
        seed: u64,
        policies: &[Policy],
        resources: Vec<Vec<Resource>>,
    ) -> RunResults {
        RunResults {
            sessions,
            seed,
            policies: policies.to_vec(),
            metrics: self.metrics,
            pair_indices: self.pair_indices,
            pairs: self.pairs,
            resources,
        }
    }
}

/// How busy one shared resource was over a run.
#[derive(Clone, Debug, Serialize)]
pub struct Resource {
    pub name: String,
    pub capacity: Option<u32>,
    /// Busy time over capacity × duration of the run (only with a capacity).
    pub utilisation: Option<f64>,
    /// Mean number of busy instances (turns for the model).
    pub mean_busy: f64,
    /// Attempts run (turns for the model).
    pub uses: u64,
    pub cold_starts: u64,
}
