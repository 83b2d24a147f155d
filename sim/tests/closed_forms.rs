//! The simulator reproduces known results (docs/agent-loop-model.md, "Results the model must reproduce").

mod common;

use sim::model::agent::{Workspace, simulate_session};
use sim::model::draws::SessionDraws;
use sim::run::metrics::Metric;
use sim::{Policy, RunOptions, simulate};

fn harmonic(n: usize) -> f64 {
    (1..=n).map(|k| 1.0 / k as f64).sum()
}

#[test]
fn one_round_of_exponentials_matches_max_and_min_order_statistics() {
    let mean_s = 2.0;
    for n in [1usize, 4, 8] {
        let scenario = common::one_round(n, "{ dist = \"exponential\", mean = \"2s\" }");
        let opts = RunOptions {
            sessions: 100_000,
            seed: 11,
            threads: None,
            policies: vec![Policy::SYNC, Policy::ASYNC],
        };
        let results = simulate(&scenario, &opts, &|_| {}).unwrap();
        let sync_makespan = results.metrics[0].get(Metric::Makespan).mean() / 1e9;
        let async_first = results.metrics[1].get(Metric::FirstUpdate).mean() / 1e9;
        let expect_max = mean_s * harmonic(n);
        let expect_min = mean_s / n as f64;
        assert!(
            (sync_makespan / expect_max - 1.0).abs() < 0.01,
            "N={n}: sync makespan {sync_makespan} vs m·H_N {expect_max}"
        );
        assert!(
            (async_first / expect_min - 1.0).abs() < 0.01,
            "N={n}: async first update {async_first} vs m/N {expect_min}"
        );
    }
}

/// Constant turn time G, no overheads: sequential = ΣG + ΣE and sync = ΣG + Σ max E per round,
/// exactly, per session.
#[test]
fn constant_turns_give_the_textbook_sums_exactly() {
    let g: u64 = 700_000_000;
    let scenario = common::scenario(
        r#"
        [model]
        turn = "700ms"
        [tools.a]
        latency = { dist = "lognormal", median = "1s", sigma = 0.8 }
        [tools.b]
        latency = { dist = "exponential", mean = "300ms" }
        [tools.c]
        latency = { dist = "uniform", min = "0s", max = "5s" }
        [plan]
        rounds = [["a", "b", "c"], ["c"], ["b", "a"]]
        "#,
    );
    let mut draws = SessionDraws::default();
    let mut ws = Workspace::default();
    let policies = [Policy::SEQUENTIAL, Policy::SYNC];
    let setups = sim::run::session::setups(&scenario, &policies);
    let needs = sim::run::session::needs(&policies);
    let rounds: [&[usize]; 3] = [&[0, 1, 2], &[3], &[4, 5]];
    for session in 0..2_000 {
        draws.draw(&scenario, 5, session, needs);
        let lat = draws.latency.clone();
        let run = |p: usize, draws: &mut SessionDraws, ws: &mut Workspace| {
            let inputs = sim::run::session::inputs(&scenario, &policies[p], draws);
            simulate_session(&setups[p], inputs, ws)
        };
        let seq = run(0, &mut draws, &mut ws);
        let n = lat.len() as u64;
        assert_eq!(seq.makespan, (n + 1) * g + lat.iter().sum::<u64>());
        assert_eq!(seq.turns as u64, n + 1);

        let sync = run(1, &mut draws, &mut ws);
        let slowest: u64 = rounds
            .iter()
            .map(|r| r.iter().map(|&c| lat[c]).max().unwrap())
            .sum();
        assert_eq!(sync.makespan, (rounds.len() as u64 + 1) * g + slowest);
        assert_eq!(sync.model_busy, (rounds.len() as u64 + 1) * g);
    }
}

/// With no turn costs, a result never waits in the async loop: every result delay is exactly
/// the delivery overhead (0 here), while in the sync loop it is the wait for the slowest call.
#[test]
fn async_result_delay_is_zero_without_turn_costs() {
    let scenario = common::one_round(4, "{ dist = \"lognormal\", median = \"1s\", sigma = 1.0 }");
    let opts = RunOptions {
        sessions: 5_000,
        seed: 3,
        threads: Some(1),
        policies: vec![Policy::SYNC, Policy::ASYNC],
    };
    let results = simulate(&scenario, &opts, &|_| {}).unwrap();
    let async_delay = results.metrics[1].get(Metric::ResultDelay);
    assert_eq!(async_delay.max(), 0);
    assert_eq!(async_delay.count(), 4 * 5_000);
    assert!(results.metrics[0].get(Metric::ResultDelay).mean() > 1e8);
}
