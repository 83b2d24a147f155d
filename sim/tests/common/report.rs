//! A small report to check: three policies on a scenario with a slow call beside fast ones.
#![allow(dead_code)]

use sim::model::policy::Policy;
use sim::run::options::RunOptions;
use sim::run::samples::ScenarioSessions;
use sim::run::tally::RunResults;
use sim::{Scenario, simulate};

pub const SCENARIO: &str = r#"
name = "html-check"
description = "A slow search beside two fast lookups <and> an & in the text."
seed = 7
sessions = 3000

[model]
turn = { dist = "lognormal", median = "800ms", sigma = 0.3 }
per_result = "100ms"

[tools.search]
latency = { dist = "lognormal", median = "6s", sigma = 0.4 }
[tools.lookup]
latency = { dist = "exponential", mean = "300ms" }

[plan]
rounds = [["search", "lookup", "lookup"], ["lookup"]]

[overheads]
async_delivery = "50ms"
"#;

/// The scenario with a `[cost]` table appended, when `cost` is set.
pub fn scenario(cost: bool) -> Scenario {
    let mut text = SCENARIO.to_string();
    if cost {
        text.push_str(
            "[cost]\ninput_usd_per_mtok = 3.0\noutput_usd_per_mtok = 15.0\nprompt_tokens = 1000\n\
             result_tokens = 200\n",
        );
    }
    Scenario::parse(&text, "html-check.toml").unwrap_or_else(|e| panic!("{e}"))
}

pub fn run(scenario: &Scenario, threads: usize) -> RunResults {
    let opts = RunOptions {
        sessions: scenario.sessions,
        seed: scenario.seed,
        threads: Some(threads),
        policies: vec![Policy::SEQUENTIAL, Policy::SYNC, Policy::ASYNC],
    };
    simulate(scenario, &opts, &|_| {}).unwrap()
}

pub fn html(scenario: &Scenario, threads: usize) -> String {
    let results = run(scenario, threads);
    let sessions = ScenarioSessions {
        scenario,
        seed: results.seed,
        sessions: results.sessions,
    };
    sim::output::html::report_html(scenario, &results, &sessions, None).unwrap()
}
