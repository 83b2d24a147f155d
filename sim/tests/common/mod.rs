//! Helpers shared by the simulator's integration tests.
#![allow(dead_code)]

use sim::Scenario;

pub fn scenario(text: &str) -> Scenario {
    Scenario::parse(text, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// One round of `n` tools with the same latency distribution, zero turn time, no overheads.
pub fn one_round(n: usize, latency: &str) -> Scenario {
    let mut text = String::from("[model]\nturn = \"0s\"\n");
    let mut names = Vec::new();
    for i in 0..n {
        text.push_str(&format!("[tools.t{i}]\nlatency = {latency}\n"));
        names.push(format!("\"t{i}\""));
    }
    text.push_str(&format!("[plan]\nrounds = [[{}]]\n", names.join(", ")));
    scenario(&text)
}
