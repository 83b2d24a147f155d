//! `live` and `calibrate`: a scenario's sessions through the real task pipeline, compared with
//! their simulation; a thin layer over the `live` crate.

use super::backend::{BackendArgs, aws_backend};
use super::{CmdError, CmdResult};
use anyhow::{Context, anyhow};
use clap::{Args, ValueEnum};
use live::{Calibration, Fit, LiveError, LiveOptions, LiveReport, run_live};
use sim::model::policy::Policy;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum LiveFormat {
    /// Simulated and measured side by side, for the terminal.
    Table,
    /// Both, per metric and policy (schema `asynctools.live/v1`, see the `live` crate docs).
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum FitArg {
    /// Resample the measured overheads.
    Empirical,
    /// A lognormal fitted to them.
    Lognormal,
}

/// Run a scenario's sessions through the real pipeline and compare them with the simulation.
#[derive(Args, Debug)]
pub struct LiveArgs {
    /// The scenario file (TOML), e.g. scenarios/research-assistant.toml.
    pub scenario: PathBuf,
    /// Sessions to run live (at most 500); sessions 0..N, the same draws as `compare`.
    #[arg(long, short = 'n', default_value_t = 20)]
    pub sessions: u64,
    /// Seed of the random streams [default: the scenario's `seed`].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Policies, comma-separated (sequential, sync, async; `+stream` as in `compare`).
    #[arg(long, short = 'p', value_delimiter = ',', default_value = "sequential,sync,async", value_parser = Policy::parse)]
    pub policies: Vec<Policy>,
    /// Wall time per unit of scenario time, in (0, 1]: 0.01 replays a 15 s call in 150 ms.
    #[arg(long, default_value_t = 0.01)]
    pub time_scale: f64,
    /// Scenario time between session starts [default: a tenth of the mean simulated makespan,
    /// so about ten sessions overlap].
    #[arg(long, value_parser = parse_duration)]
    pub stagger: Option<Duration>,
    /// Merge this TOML over the scenario before simulating (repeatable; e.g. a calibration).
    #[arg(long = "overlay", value_name = "FILE")]
    pub overlays: Vec<PathBuf>,
    /// What to print on standard output.
    #[arg(long, short = 'f', value_enum, default_value_t = LiveFormat::Table)]
    pub format: LiveFormat,
    /// Also write the measured overheads as a scenario overlay to FILE.
    #[arg(long, value_name = "FILE")]
    pub calibrate_out: Option<PathBuf>,
    /// How the overlay describes the overheads.
    #[arg(long, value_enum, default_value_t = FitArg::Empirical)]
    pub fit: FitArg,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// Run live, write the pipeline's measured overheads as a scenario overlay, and show the
/// simulation with it applied.
#[derive(Args, Debug)]
pub struct CalibrateArgs {
    #[command(flatten)]
    pub live: LiveArgs,
    /// Where to write the overlay (TOML with an `[overheads]` table).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: PathBuf,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    sim::model::duration::parse(s)
}

pub fn live(args: LiveArgs) -> CmdResult {
    run(args, None)
}

pub fn calibrate(args: CalibrateArgs) -> CmdResult {
    run(args.live, Some(args.out))
}

fn from_live(e: LiveError) -> CmdError {
    if e.is_input() {
        CmdError::input(e)
    } else {
        CmdError::runtime(e)
    }
}

fn run(args: LiveArgs, calibrate_to: Option<PathBuf>) -> CmdResult {
    let scenario =
        sim::input::scenario::Scenario::from_file(&args.scenario).map_err(CmdError::input)?;
    // The simulated side: the scenario with its overlays. Checked before anything runs.
    let simulated =
        sim::input::overlay::load(&args.scenario, &args.overlays).map_err(CmdError::input)?;
    let options = LiveOptions {
        sessions: args.sessions,
        seed: args.seed.unwrap_or(scenario.seed),
        policies: args
            .policies
            .iter()
            .map(|p| p.clone().with_batch_window(scenario.batch_window))
            .collect(),
        time_scale: args.time_scale,
        backend: args.backend.kind(),
        stagger: args.stagger.map(sim::model::time::from_duration),
    };
    options.check(&scenario).map_err(from_live)?;
    let outputs = [args.calibrate_out.clone(), calibrate_to.clone()];
    for path in outputs.iter().flatten() {
        if path.is_dir() {
            return Err(CmdError::input(anyhow!(
                "{} is a directory; give a file for the overlay",
                path.display()
            )));
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CmdError::runtime(anyhow!("starting the async runtime: {e}")))?;
    let run = runtime.block_on(async {
        let backend = if args.backend.is_aws() {
            aws_backend(&args.backend).await?
        } else {
            workers::Backend::in_memory(Arc::new(workers::Catalog::embedded().clone()))
        };
        run_live(&scenario, &backend, &options)
            .await
            .map_err(from_live)
    })?;
    let not_once = run.not_run_once();
    if !not_once.is_empty() {
        eprintln!(
            "warning: {} tasks did not run exactly once (first: {:?})",
            not_once.len(),
            not_once[0]
        );
    }
    let fit = match args.fit {
        FitArg::Empirical => Fit::Empirical,
        FitArg::Lognormal => Fit::Lognormal,
    };
    let calibration = Calibration::from_run(&run);
    let header = format!(
        "Pipeline overheads measured by a live run of {} ({} sessions, seed {}, time scale {}, \
         {} backend, {} calls).",
        scenario.file,
        options.sessions,
        options.seed,
        options.time_scale,
        if args.backend.is_aws() {
            "aws"
        } else {
            "memory"
        },
        run.calls.len()
    );
    let overlay = calibration.overlay(fit, &header);
    for path in outputs.iter().flatten() {
        std::fs::write(path, &overlay)
            .with_context(|| format!("cannot write the overlay {}", path.display()))
            .map_err(CmdError::runtime)?;
        eprintln!("wrote the calibration overlay {}", path.display());
    }
    let mut names: Vec<String> = args
        .overlays
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    // `calibrate` shows the simulation with what it just measured.
    let simulated = match &calibrate_to {
        Some(path) => {
            names.push(path.display().to_string());
            let mut texts = Vec::new();
            for p in &args.overlays {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read the overlay {}", p.display()))
                    .map_err(CmdError::input)?;
                texts.push((p.display().to_string(), text));
            }
            texts.push((path.display().to_string(), overlay));
            sim::input::overlay::apply(&scenario.source, &scenario.file, &texts)
                .map_err(CmdError::input)?
        }
        None => simulated,
    };
    if calibrate_to.is_some() {
        eprintln!(
            "the table compares this run with the simulation calibrated on it (in sample); check \
             the calibration on other sessions with `asynctools live --seed S --overlay FILE`"
        );
    }
    let report = LiveReport::new(&simulated, &run, names);
    match args.format {
        LiveFormat::Table => print!("{}", report.to_table()),
        LiveFormat::Json => print!("{}", report.to_json()),
    }
    Ok(())
}
