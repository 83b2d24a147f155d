//! Sweeps find the crossover where async stops being faster, where the algebra says it is.
//!
//! The scenario: one round of two calls, `fast` (1 s) and `slow` (L s), constant; every turn
//! costs a base G (time to first token, swept) plus 0.1 s per result read; no overheads.
//!
//! sync:  turn 0 [0, G] issues both; both results are read by turn 1, which starts at G + L and
//!        lasts G + 0.2: makespan = 2G + L + 0.2.
//! async: turn 0 [0, G]; `fast` arrives at G + 1 and turn 1 reads it, ending at 2G + 1.1.
//!        - If turn 1 ends before `slow` arrives (2G + 1.1 ≤ G + L, i.e. G ≤ L − 1.1), turn 2
//!          starts at G + L: makespan = 2G + L + 0.1, 0.1 s sooner than sync.
//!        - Otherwise `slow` waits for turn 1 to end, and turn 2 ends at 3G + 1.2: async is
//!          faster iff 3G + 1.2 < 2G + L + 0.2, i.e. G < L − 1.
//!
//! So async stops being faster at G* = L − 1 (2 s for L = 3 s): each delivered result costs a
//! turn with its time to first token, and once that exceeds the gap between the fast and the
//! slow result, reading the fast one early delays the final answer (AsyncLM §6.4).

use sim::Policy;
use sim::Scenario;
use sim::output::sweep::{Axis, SweepOptions, sweep};

fn scenario() -> Scenario {
    Scenario::parse(
        r#"
        name = "ttft-crossover"
        [model]
        turn = { dist = "constant", value = "1s" }
        per_result = "100ms"
        [tools.fast]
        latency = "1s"
        [tools.slow]
        latency = "3s"
        [plan]
        rounds = [["fast", "slow"]]
        "#,
        "crossover.toml",
    )
    .unwrap()
}

fn options(axes: Vec<Axis>) -> SweepOptions {
    SweepOptions {
        axes,
        sessions: 50,
        seed: 1,
        threads: Some(1),
        baseline: Policy::SYNC,
        candidate: Policy::ASYNC,
    }
}

#[test]
fn the_makespan_crossover_lies_within_one_step_of_the_analytic_one() {
    // Steps of 0.5 s that straddle G* = 2 s rather than land on it.
    let axis = Axis::parse("model.turn.value=250ms..4750ms", 10).unwrap();
    let step = 0.5;
    let report = sweep(&scenario(), &options(vec![axis])).unwrap();
    let makespan: Vec<_> = report
        .crossovers
        .iter()
        .filter(|c| c.metric == "makespan")
        .collect();
    assert_eq!(makespan.len(), 1, "{:#?}", report.crossovers);
    let c = makespan[0];
    assert!(c.candidate_stops_being_lower);
    assert!(
        (c.value - 2.0).abs() <= step,
        "crossover at {} s, analytic 2 s",
        c.value
    );
    assert_eq!(c.between, [1.75, 2.25]);
    // The speedup at each step matches the closed form.
    for p in &report.points {
        let g = p.at[0];
        let sync = 2.0 * g + 3.2;
        let asynchronous = if g <= 1.9 {
            2.0 * g + 3.1
        } else {
            3.0 * g + 1.2
        };
        let ratio = p
            .metrics
            .get(sim::run::metrics::Metric::Makespan)
            .unwrap()
            .ratio
            .mean;
        assert!((ratio - sync / asynchronous).abs() < 1e-5, "G={g}: {ratio}");
    }
    // The first result always comes sooner with async: no crossover there.
    assert!(report.crossovers.iter().all(|c| c.metric != "first_update"));
    let text = report.to_table();
    assert!(
        text.contains("makespan: async stops being faster than sync at model.turn.value ≈ 1.91 s"),
        "{text}"
    );
}

#[test]
fn a_two_parameter_sweep_traces_the_crossover_frontier() {
    // G* = L − 1 for every slow latency L.
    let g = Axis::parse("model.turn.value=250ms..4750ms", 10).unwrap();
    let l = Axis::parse("tools.slow.latency=3s..5s", 5).unwrap();
    let report = sweep(&scenario(), &options(vec![g, l])).unwrap();
    assert_eq!(report.points.len(), 50);
    let frontier: Vec<_> = report
        .crossovers
        .iter()
        .filter(|c| c.metric == "makespan")
        .collect();
    assert_eq!(frontier.len(), 5, "{frontier:#?}");
    for c in frontier {
        let l = c.at_other.unwrap();
        assert!(
            (c.value - (l - 1.0)).abs() <= 0.5,
            "L={l}: crossover {}",
            c.value
        );
    }
    let html = sim::output::html::sweep_html(&report).unwrap();
    assert_eq!(
        html.matches("<svg").count(),
        6,
        "one heatmap per paired metric"
    );
}

#[test]
fn bad_values_are_refused_with_the_key_that_made_them_bad() {
    let axis = Axis::parse("tools.fast.latency.sigma=0.5..1", 3).unwrap();
    let e = sweep(&scenario(), &options(vec![axis])).unwrap_err();
    assert!(
        e.contains("tools.fast.latency.sigma: tools.fast.latency is a string"),
        "{e}"
    );
    let axis = Axis::parse("model.per_result=-1..1", 3).unwrap();
    let e = sweep(&scenario(), &options(vec![axis])).unwrap_err();
    assert!(e.contains("model.per_result is a duration"), "{e}");
    let axis = Axis::parse("model.trun.value=1s..2s", 3).unwrap();
    let e = sweep(&scenario(), &options(vec![axis])).unwrap_err();
    assert!(
        e.contains("model.trun.value=1.00 s") && e.contains("trun"),
        "{e}"
    );
    let axis = Axis::parse("tools.slow.latency=0s..2s", 3).unwrap();
    assert!(sweep(&scenario(), &options(vec![axis.clone(), axis])).is_err());
}
