//! `sweep`: vary one or two scenario parameters and report where async stops paying off.

use super::{CmdError, CmdResult};
use anyhow::Context;
use clap::{Args, ValueEnum};
use sim::input::scenario::Scenario;
use sim::model::policy::Policy;
use sim::output::sweep::{Axis, DEFAULT_SESSIONS, DEFAULT_STEPS, SweepOptions};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum SweepFormat {
    /// Speedups per step and the crossovers, for the terminal.
    Table,
    /// Every step with confidence intervals (schema `asynctools.sweep/v1`).
    Json,
    /// The table with confidence intervals, as Markdown.
    Markdown,
}

/// Vary scenario parameters and report the speedup of each metric at every step.
#[derive(Args, Debug)]
pub struct SweepArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// KEY=A..B: a scenario key path and the range to sweep, durations or numbers, e.g.
    /// model.turn.median=100ms..2s or tools.search.latency.sigma=0.2..1.2. Give it twice for a
    /// two-parameter sweep (a heatmap).
    #[arg(long = "set", value_name = "KEY=A..B", required = true)]
    pub set: Vec<String>,
    /// Values per parameter, evenly spaced from A to B (2 to 50).
    #[arg(long, default_value_t = DEFAULT_STEPS)]
    pub steps: usize,
    /// Sessions per step [default: the scenario's `sessions`, at most 10000].
    #[arg(long, short = 'n')]
    pub sessions: Option<u64>,
    /// Seed [default: the scenario's]; every step uses the same draws.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Worker threads [default: all cores]. The results do not depend on it.
    #[arg(long, short = 'j')]
    pub threads: Option<usize>,
    /// The baseline and the candidate, comma-separated.
    #[arg(long, short = 'p', value_delimiter = ',', default_value = "sync,async", value_parser = Policy::parse)]
    pub policies: Vec<Policy>,
    /// What to print on standard output.
    #[arg(long, short = 'f', value_enum, default_value_t = SweepFormat::Table)]
    pub format: SweepFormat,
    /// Also write sweep.html and sweep.json into this directory (created if missing).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
}

pub fn sweep(args: SweepArgs) -> CmdResult {
    let scenario = Scenario::from_file(&args.scenario).map_err(CmdError::input)?;
    let axes = args
        .set
        .iter()
        .map(|s| Axis::parse(s, args.steps))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CmdError::input(anyhow::anyhow!(e)))?;
    let [baseline, candidate] = <[Policy; 2]>::try_from(args.policies.clone()).map_err(|p| {
        CmdError::input(anyhow::anyhow!(
            "--policies takes exactly two policies (baseline,candidate), got {}",
            p.len()
        ))
    })?;
    let opts = SweepOptions {
        axes,
        sessions: args
            .sessions
            .unwrap_or_else(|| scenario.sessions.min(DEFAULT_SESSIONS)),
        seed: args.seed.unwrap_or(scenario.seed),
        threads: args.threads,
        baseline,
        candidate,
    };
    let report = sim::output::sweep::sweep(&scenario, &opts)
        .map_err(|e| CmdError::input(anyhow::anyhow!("{}: {e}", scenario.file)))?;
    if let Some(dir) = &args.out {
        let write = |name: &str, text: String| -> anyhow::Result<()> {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let path = dir.join(name);
            std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
        };
        let html = sim::output::html::sweep_html(&report).map_err(CmdError::runtime)?;
        write("sweep.html", html).map_err(CmdError::runtime)?;
        write("sweep.json", report.to_json()).map_err(CmdError::runtime)?;
    }
    print!(
        "{}",
        match args.format {
            SweepFormat::Table => report.to_table(),
            SweepFormat::Json => report.to_json(),
            SweepFormat::Markdown => report.to_markdown(),
        }
    );
    Ok(())
}
