//! The fast sampling paths draw the same distributions as their references (rand_distr and the
//! platform's `exp`): at 10^7 sessions, every metric's p50, p90 and mean under the fast samplers
//! lies within sampling error of the reference's. The tolerances are derived, not tuned:
//!
//! - α: the whole test fails by chance with probability below 10⁻⁶; with k comparisons each gets
//!   α/k (Bonferroni), so z = Φ⁻¹(1 − α/2k).
//! - A mean: the two runs are treated as independent samples (conservative: they share random
//!   streams), so |Δ| ≤ z·√(s₁²/n₁ + s₂²/n₂).
//! - A quantile, distribution-free: the sample p-quantile of n draws has rank error of standard
//!   deviation √(p(1−p)/n); between two runs, √2 times that. So the fast run's p-quantile must
//!   lie between the reference's quantiles at p ∓ z·√(2p(1−p)/n). Both sides are read from the
//!   same 3-significant-digit histograms, so bucketing cannot break the bracket.

use sim::run::metrics::{Metric, Stream};
use sim::run::tally::RunResults;
use sim::{Policy, RunOptions, Scenario, simulate};
use statrs::distribution::{ContinuousCDF, Normal};

const SESSIONS: u64 = 10_000_000;
const ALPHA: f64 = 1e-6;
const QUANTILES: [f64; 2] = [0.5, 0.9];

fn bench_5x4() -> Scenario {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/bench-5x4.toml");
    Scenario::from_file(path.as_ref()).expect("bench-5x4 reads")
}

fn run(scenario: &Scenario, policies: &[Policy]) -> RunResults {
    let opts = RunOptions {
        sessions: SESSIONS,
        seed: scenario.seed,
        threads: None,
        policies: policies.to_vec(),
    };
    simulate(scenario, &opts, &|_| {}).expect("the scenario runs")
}

/// Checks one metric's stream; returns what is out of tolerance.
fn compare(what: &str, fast: &Stream, reference: &Stream, z: f64) -> Vec<String> {
    let mut problems = Vec::new();
    let (n1, n2) = (fast.count() as f64, reference.count() as f64);
    assert!(n1 > 0.0 && n2 > 0.0, "{what}: nothing recorded");
    let se = (fast.std_dev().powi(2) / n1 + reference.std_dev().powi(2) / n2).sqrt();
    let diff = (fast.mean() - reference.mean()).abs();
    if diff > z * se {
        problems.push(format!(
            "{what}: mean {} vs reference {} (|Δ| {diff:.1} > {z:.2}·{se:.1})",
            fast.mean(),
            reference.mean()
        ));
    }
    for p in QUANTILES {
        let eps = z * (2.0 * p * (1.0 - p) / n2.min(n1)).sqrt();
        let (low, high) = (reference.quantile(p - eps), reference.quantile(p + eps));
        let got = fast.quantile(p);
        if got < low || got > high {
            problems.push(format!(
                "{what}: p{} {got} outside the reference's [{low}, {high}] (p ∓ {eps:.2e})",
                p * 100.0
            ));
        }
    }
    problems
}

#[test]
fn fast_samplers_match_their_references_at_ten_million_sessions() {
    let scenario = bench_5x4();
    let reference_scenario = scenario.with_reference_samplers();
    let policies = [Policy::SYNC, Policy::ASYNC];
    let fast = run(&scenario, &policies);
    let reference = run(&reference_scenario, &policies);
    let metrics = &fast.metrics[0].active().to_vec();
    let comparisons = policies.len() * metrics.len() * (1 + QUANTILES.len());
    let z = Normal::standard().inverse_cdf(1.0 - ALPHA / (2.0 * comparisons as f64));
    let mut problems = Vec::new();
    for (p, policy) in policies.iter().enumerate() {
        for &m in metrics {
            problems.extend(compare(
                &format!("{} {}", policy.name(), m.name()),
                fast.metrics[p].get(m),
                reference.metrics[p].get(m),
                z,
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(metrics.contains(&Metric::ResultDelay) && comparisons >= 32);
}

#[test]
fn the_reference_scenario_really_uses_the_reference_sampler() {
    // Guard against a vacuous comparison: the reference path must be a different code path that
    // draws the same values (to the nanosecond, almost always).
    let scenario = bench_5x4();
    let reference = scenario.with_reference_samplers();
    let (fast, slow) = (
        &scenario.tools[0].latency.sampler,
        &reference.tools[0].latency.sampler,
    );
    assert!(format!("{fast:?}").starts_with("LogNormal {"));
    assert!(format!("{slow:?}").starts_with("LogNormalReference("));
    use rand::SeedableRng;
    let mut a = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
    let mut b = a.clone();
    let same = (0..100_000)
        .filter(|_| fast.sample(&mut a) == slow.sample(&mut b))
        .count();
    assert!(
        same >= 99_990,
        "only {same} of 100000 draws agree to the nanosecond"
    );
}
