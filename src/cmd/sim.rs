//! `run`, `compare`, `validate`: the simulator commands.

use super::{CmdError, CmdResult};
use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sim::input::scenario::Scenario;
use sim::model::policy::Policy;
use sim::output::report::Report;
use sim::run::options::RunOptions;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Format {
    /// A readable table for the terminal.
    Table,
    /// The full results (schema `asynctools.results/v1`).
    Json,
    /// The report as Markdown.
    Markdown,
    /// One value per row: table, baseline, policy, metric, statistic, value, unit.
    Csv,
}

/// Options shared by `run` and `compare`.
#[derive(Args, Debug)]
pub struct SimArgs {
    /// The scenario file (TOML), e.g. scenarios/research-assistant.toml.
    pub scenario: PathBuf,
    /// Sessions to simulate [default: the scenario's `sessions`].
    #[arg(long, short = 'n')]
    pub sessions: Option<u64>,
    /// Seed of the random streams [default: the scenario's `seed`]. Same seed, same results.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Worker threads [default: all cores]. The results do not depend on it.
    #[arg(long, short = 'j')]
    pub threads: Option<usize>,
    /// Async only: after the first waiting result, hold up to this long for more
    /// [default: the scenario's `async.batch_window`, else 0].
    #[arg(long, value_parser = parse_duration)]
    pub batch_window: Option<Duration>,
    /// What to print on standard output.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also write report.md, report.html and results.json into this directory (created if
    /// missing).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Also write a few sample sessions as a Chrome trace (JSON) for Perfetto or
    /// chrome://tracing: one track per session and policy.
    #[arg(long, value_name = "FILE")]
    pub trace_out: Option<PathBuf>,
    /// Replay recorded sessions (JSON Lines: each call's tool, start and duration) under every
    /// policy, instead of drawing sessions; the scenario gives model turns and overheads.
    #[arg(long, value_name = "FILE", conflicts_with = "sessions")]
    pub replay: Option<PathBuf>,
    /// Print elapsed time, sessions per second and peak memory on standard error.
    #[arg(long)]
    pub stats: bool,
    /// Merge this TOML over the scenario before validating it (repeatable, applied in order),
    /// e.g. the `[overheads]` a calibration wrote (`asynctools calibrate`).
    #[arg(long = "overlay", value_name = "FILE")]
    pub overlays: Vec<PathBuf>,
}

/// Simulate one policy.
#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub sim: SimArgs,
    /// The agent-loop policy: sequential, sync or async; `+stream` dispatches each call as it
    /// is generated (e.g. `async+stream`).
    #[arg(long, short = 'p', default_value = "sync", value_parser = Policy::parse)]
    pub policy: Policy,
}

/// Simulate several policies on the same draws and compare them.
#[derive(Args, Debug)]
pub struct CompareArgs {
    #[command(flatten)]
    pub sim: SimArgs,
    /// Policies, comma-separated; each later one is compared with each earlier one. Each is
    /// sequential, sync or async, optionally with `+stream` (dispatch calls as generated).
    #[arg(long, short = 'p', value_delimiter = ',', default_value = "sequential,sync,async", value_parser = Policy::parse)]
    pub policies: Vec<Policy>,
}

/// Check a scenario file.
#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    sim::model::duration::parse(s)
}

pub fn run(args: RunArgs) -> CmdResult {
    simulate(args.sim, vec![args.policy])
}

pub fn compare(args: CompareArgs) -> CmdResult {
    simulate(args.sim, args.policies)
}

pub fn validate(args: ValidateArgs) -> CmdResult {
    let scenario = load(&args.scenario)?;
    print!("{}", scenario.describe());
    Ok(())
}

fn load(path: &Path) -> Result<Scenario, CmdError> {
    Scenario::from_file(path).map_err(CmdError::input)
}

fn simulate(args: SimArgs, policies: Vec<Policy>) -> CmdResult {
    let scenario =
        sim::input::overlay::load(&args.scenario, &args.overlays).map_err(CmdError::input)?;
    let window = args
        .batch_window
        .map(sim::model::time::from_duration)
        .unwrap_or(scenario.batch_window);
    let policies: Vec<Policy> = policies
        .into_iter()
        .map(|p| p.with_batch_window(window))
        .collect();
    let mut opts = RunOptions::for_scenario(&scenario, policies);
    opts.sessions = args.sessions.unwrap_or(opts.sessions);
    opts.seed = args.seed.unwrap_or(opts.seed);
    opts.threads = args.threads;

    let started = Instant::now();
    let bar = ProgressBar::with_draw_target(Some(opts.sessions), ProgressDrawTarget::hidden());
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} sessions, {per_sec}, eta {eta}")
            .expect("a valid progress template"),
    );
    let shown = AtomicBool::new(false);
    let show_progress = std::io::stderr().is_terminal();
    let progress = |n: u64| {
        bar.inc(n);
        // Only runs that last longer than a second get a bar.
        if show_progress
            && !shown.load(Ordering::Relaxed)
            && started.elapsed() > Duration::from_secs(1)
        {
            shown.store(true, Ordering::Relaxed);
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    };
    let replay = args
        .replay
        .as_deref()
        .map(sim::run::replay::Replay::read)
        .transpose()
        .map_err(CmdError::input)?;
    let results = match &replay {
        Some(r) => r.simulate(&scenario, opts.seed, &opts.policies),
        None => sim::simulate(&scenario, &opts, &progress),
    }
    .map_err(CmdError::input)?;
    bar.finish_and_clear();
    let elapsed = started.elapsed();

    let report = Report::new(&scenario, &results);
    let sessions =
        sim::run::replay::session_source(&scenario, replay.as_ref(), opts.seed, opts.sessions);
    if let Some(dir) = &args.out {
        let note = replay.as_ref().map(|r| format!("replayed from {}", r.file));
        let html = sim::output::html::report_html(&scenario, &results, sessions.as_ref(), note)
            .map_err(CmdError::runtime)?;
        sim::output::files::write_report(dir, &report, &scenario, html)
            .map_err(CmdError::runtime)?;
    }
    if let Some(file) = &args.trace_out {
        let baseline = sim::output::html::headline_indices(&report, &results).map_or(0, |(b, _)| b);
        let samples = sim::run::samples::pick(
            sessions.as_ref(),
            &results.policies,
            baseline,
            &sim::run::samples::DEFAULT_PICKS,
        );
        let names: Vec<String> = results.policies.iter().map(|p| p.name()).collect();
        let trace = sim::output::chrome_trace::chrome_trace(&samples, &names);
        std::fs::write(file, sim::output::chrome_trace::to_string(&trace))
            .with_context(|| format!("cannot write {}", file.display()))
            .map_err(CmdError::runtime)?;
    }
    let text = match args.format {
        Format::Table => report.to_table(),
        Format::Json => report.to_json(),
        Format::Markdown => report.to_markdown(Some(&scenario.source)),
        Format::Csv => report.to_csv(),
    };
    print!("{text}");
    if args.stats || (args.format == Format::Table && std::io::stderr().is_terminal()) {
        let rate = opts.sessions as f64 / elapsed.as_secs_f64();
        let mut line = format!(
            "simulated {} sessions × {} {} in {:.3} s: {:.0} sessions/s",
            opts.sessions,
            opts.policies.len(),
            if opts.policies.len() == 1 {
                "policy"
            } else {
                "policies"
            },
            elapsed.as_secs_f64(),
            rate
        );
        if opts.policies.len() > 1 {
            // the simulator's own rate: each session runs once per policy
            line.push_str(&format!(
                " ({:.0} policy-sessions/s)",
                rate * opts.policies.len() as f64
            ));
        }
        if let Some(kib) = peak_rss_kib() {
            line.push_str(&format!(", peak memory {:.1} MiB", kib as f64 / 1024.0));
        }
        eprintln!("{line}");
    }
    Ok(())
}

/// Peak resident memory of this process (Linux), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
