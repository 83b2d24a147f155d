//! Reports: the results of a run as JSON (the stable schema), a terminal table, Markdown or CSV.

use crate::input::scenario::Scenario;
use crate::model::policy::Policy;
use crate::run::metrics::{Estimate, Metric, Stream, Unit};
use crate::run::tally::RunResults;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

mod text;

/// Identifies the JSON layout; bump it when a field changes meaning or goes away.
pub const SCHEMA: &str = "asynctools.results/v1";

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub scenario: ScenarioInfo,
    pub run: RunInfo,
    pub policies: Vec<PolicyReport>,
    pub comparisons: Vec<Comparison>,
}

/// Shared capacity: how busy the model and each tool were under one policy.
#[derive(Debug, Clone, Serialize)]
pub struct Resources {
    pub policy: String,
    pub resources: Vec<crate::run::tally::Resource>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioInfo {
    pub name: String,
    pub description: String,
    pub file: String,
    pub calls: usize,
    pub depth: usize,
    pub rounds: Option<usize>,
    pub tools: Vec<ToolInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ToolInfo {
    pub name: String,
    pub latency: String,
    /// Mean latency in seconds, where finite.
    pub mean_s: Option<f64>,
    pub calls: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub sessions: u64,
    pub seed: u64,
    pub policies: Vec<String>,
    /// Sessions shared capacity and ran in one world, in arrival order.
    pub shared_capacity: bool,
    pub arrival: String,
    pub streamed_dispatch: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyReport {
    pub name: String,
    /// Shared capacity only: utilisation of the model and each tool.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<crate::run::tally::Resource>,
    pub kind: crate::model::policy::PolicyKind,
    pub batch_window_s: f64,
    pub metrics: Ordered<Summary>,
}

/// A metric's distribution, in the metric's unit.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Summary {
    pub unit: Unit,
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub min: f64,
    pub max: f64,
}

/// Baseline versus candidate, paired session by session.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub baseline: String,
    pub candidate: String,
    pub sessions: u64,
    pub metrics: Ordered<PairSummary>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct PairSummary {
    pub unit: Unit,
    /// Mean of baseline/candidate per session: > 1 means the candidate is lower (better, except
    /// for `turns`, where lower means fewer LLM requests).
    pub ratio: Estimate,
    /// Mean of baseline − candidate per session, in `unit`.
    pub difference: Estimate,
    /// Sessions where the candidate's value is strictly lower.
    pub candidate_lower: f64,
    pub ties: f64,
    /// Sessions left out of the ratio because the candidate's value was 0 and the baseline's not.
    pub undefined_ratios: u64,
}

/// A JSON object whose keys keep the metric order.
#[derive(Debug, Clone)]
pub struct Ordered<T>(pub Vec<(Metric, T)>);

impl<T: Serialize> Serialize for Ordered<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k.name(), v)?;
        }
        map.end()
    }
}

impl<T> Ordered<T> {
    pub fn get(&self, metric: Metric) -> Option<&T> {
        self.0.iter().find(|(m, _)| *m == metric).map(|(_, v)| v)
    }
}

fn summarize(metric: Metric, s: &Stream) -> Summary {
    let k = metric.scale();
    Summary {
        unit: metric.unit(),
        count: s.count(),
        mean: s.mean() * k,
        p50: s.quantile(0.5) as f64 * k,
        p90: s.quantile(0.9) as f64 * k,
        p99: s.quantile(0.99) as f64 * k,
        p999: s.quantile(0.999) as f64 * k,
        min: s.min() as f64 * k,
        max: s.max() as f64 * k,
    }
}

impl Report {
    pub fn new(scenario: &Scenario, results: &RunResults) -> Report {
        let tools = scenario
            .tools
            .iter()
            .enumerate()
            .map(|(i, t)| ToolInfo {
                name: t.name.clone(),
                latency: t.latency.dist.describe(),
                mean_s: t.latency.dist.mean_ns().map(|m| m / 1e9),
                calls: scenario.plan.calls.iter().filter(|c| c.tool == i).count(),
            })
            .collect();
        let policies = results
            .policies
            .iter()
            .zip(&results.metrics)
            .enumerate()
            .map(|(i, (p, m))| PolicyReport {
                name: p.name(),
                resources: results.resources.get(i).cloned().unwrap_or_default(),
                kind: p.kind,
                batch_window_s: p.batch_window as f64 / 1e9,
                metrics: Ordered(
                    m.active()
                        .iter()
                        .map(|&metric| (metric, summarize(metric, m.get(metric))))
                        .collect(),
                ),
            })
            .collect();
        let comparisons = results
            .pair_indices
            .iter()
            .zip(&results.pairs)
            .map(|(&(a, b), pair)| Comparison {
                baseline: results.policies[a].name(),
                candidate: results.policies[b].name(),
                sessions: results.sessions,
                metrics: Ordered(
                    pair.metrics()
                        .map(|metric| {
                            let s = pair.get(metric);
                            let micro = matches!(metric.unit(), Unit::Seconds | Unit::Usd);
                            let k = metric.scale();
                            let d = s.difference(micro);
                            (
                                metric,
                                PairSummary {
                                    unit: metric.unit(),
                                    ratio: s.ratio(),
                                    difference: Estimate {
                                        mean: d.mean * k,
                                        ci95_low: d.ci95_low * k,
                                        ci95_high: d.ci95_high * k,
                                    },
                                    candidate_lower: s.candidate_better_fraction(),
                                    ties: s.tie_fraction(),
                                    undefined_ratios: s.undefined(),
                                },
                            )
                        })
                        .collect(),
                ),
            })
            .collect();
        Report {
            schema: SCHEMA,
            scenario: ScenarioInfo {
                name: scenario.name.clone(),
                description: scenario.description.clone(),
                file: scenario.file.clone(),
                calls: scenario.plan.len(),
                depth: scenario.plan.depth(),
                rounds: scenario.plan.rounds,
                tools,
            },
            run: RunInfo {
                sessions: results.sessions,
                seed: results.seed,
                policies: results.policies.iter().map(|p| p.name()).collect(),
                shared_capacity: scenario.is_shared(),
                arrival: match &scenario.arrival {
                    crate::input::scenario::Arrival::AllAtOnce => "all_at_once".into(),
                    crate::input::scenario::Arrival::Poisson { rate_per_s } => {
                        format!("poisson({rate_per_s}/s)")
                    }
                    crate::input::scenario::Arrival::Closed { users, .. } => {
                        format!("closed({users} users)")
                    }
                },
                streamed_dispatch: scenario.model.streamed_dispatch,
            },
            policies,
            comparisons,
        }
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a report always serializes");
        s.push('\n');
        s
    }

    /// The comparison the headline is about: sync → async if both ran, else the last pair.
    pub fn headline(&self) -> Option<&Comparison> {
        self.comparisons
            .iter()
            .find(|c| {
                Policy::from_name(&c.baseline)
                    .zip(Policy::from_name(&c.candidate))
                    .is_some_and(|(baseline, candidate)| Policy::is_headline(&baseline, &candidate))
            })
            .or_else(|| self.comparisons.last())
    }
}
