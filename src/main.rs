//! `asynctools`: the command line. Each command is a thin layer over the `sim` and `workers` crates.
//! Without the `pipeline` feature (`make run`) it is the simulator's commands alone.

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Asynchronous agentic tools: simulate sync vs async agent loops, and run the task pipeline.
#[derive(Parser, Debug)]
#[command(name = "asynctools", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Simulate one agent-loop policy on a scenario and report its latency metrics.
    Run(cmd::sim::RunArgs),
    /// Simulate several policies on the same random draws and compare them session by session.
    Compare(cmd::sim::CompareArgs),
    /// Check a scenario file and print what it describes, without simulating it.
    Validate(cmd::sim::ValidateArgs),
    /// Vary one or two scenario parameters; report each metric's speedup and the crossover
    /// where async stops paying off.
    Sweep(cmd::sweep::SweepArgs),
    /// Fit latency distributions to observed latencies, rank them, print a TOML snippet.
    Fit(cmd::fit::FitArgs),
    /// Run a scenario's sessions through the real task pipeline; simulated vs measured.
    #[cfg(feature = "pipeline")]
    Live(cmd::live::LiveArgs),
    /// Run live and write the pipeline's measured overheads as a scenario overlay.
    #[cfg(feature = "pipeline")]
    Calibrate(cmd::live::CalibrateArgs),
    /// Serve the tools over the Model Context Protocol (tasks extension), or demo it.
    #[command(subcommand)]
    #[cfg(feature = "pipeline")]
    Mcp(cmd::mcp::McpCommand),
    /// Your own tools: `tools new NAME` writes a new Rust tool's boilerplate.
    #[command(subcommand)]
    #[cfg(feature = "pipeline")]
    Tools(cmd::tools::ToolsCommand),
    #[command(flatten)]
    #[cfg(feature = "pipeline")]
    Pipeline(cmd::pipeline::PipelineCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Run(args) => cmd::sim::run(args),
        Command::Compare(args) => cmd::sim::compare(args),
        Command::Validate(args) => cmd::sim::validate(args),
        Command::Sweep(args) => cmd::sweep::sweep(args),
        Command::Fit(args) => cmd::fit::fit(args),
        #[cfg(feature = "pipeline")]
        Command::Live(args) => cmd::live::live(args),
        #[cfg(feature = "pipeline")]
        Command::Calibrate(args) => cmd::live::calibrate(args),
        #[cfg(feature = "pipeline")]
        Command::Mcp(c) => cmd::mcp::run(c),
        #[cfg(feature = "pipeline")]
        Command::Tools(c) => cmd::tools::run(c),
        #[cfg(feature = "pipeline")]
        Command::Pipeline(c) => cmd::pipeline::run(c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {:#}", err.error());
            ExitCode::from(err.exit_code())
        }
    }
}
