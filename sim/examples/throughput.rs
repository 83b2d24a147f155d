//! Simulator throughput without the CLI's dependencies, for profiling:
//! `cargo run --release -p sim --example throughput -- FILE SESSIONS [POLICY ...]`.
//! Prints sessions/s to stderr and the JSON report to stdout (to check determinism).

use sim::output::report::Report;
use sim::{Policy, RunOptions, Scenario, simulate};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, sessions, policies @ ..] = args.as_slice() else {
        return Err("usage: throughput FILE SESSIONS [POLICY ...]".into());
    };
    let scenario = Scenario::from_file(file.as_ref())?;
    let policies = if policies.is_empty() {
        vec![
            "sync".to_string(),
            "async".to_string(),
            "sequential".to_string(),
        ]
    } else {
        policies.to_vec()
    };
    let policies = policies
        .iter()
        .map(|p| Policy::parse(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut opts = RunOptions::for_scenario(&scenario, policies);
    opts.sessions = sessions.parse()?;
    if let Ok(t) = std::env::var("THREADS") {
        opts.threads = Some(t.parse()?);
    }
    let start = Instant::now();
    let results = simulate(&scenario, &opts, &|_| {})?;
    let s = start.elapsed().as_secs_f64();
    eprintln!("{:.0} sessions/s ({s:.3} s)", opts.sessions as f64 / s);
    println!("{}", Report::new(&scenario, &results).to_json());
    Ok(())
}
