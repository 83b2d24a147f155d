//! `fit`: fit latency distributions to observed latencies and print a scenario snippet.

use super::{CmdError, CmdResult};
use clap::{Args, ValueEnum};
use sim::input::traces::read_latencies;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum FitFormat {
    /// The ranking and the line to paste, for the terminal.
    Table,
    /// Every fit with its parameters and KS distance.
    Json,
}

/// Fit latency distributions to observed latencies and rank them by KS distance.
#[derive(Args, Debug)]
pub struct FitArgs {
    /// Observed latencies: one per line, or a CSV file with a header.
    pub file: PathBuf,
    /// The CSV column holding the latencies (a header name, or a number from 1).
    #[arg(long)]
    pub column: Option<String>,
    /// Unit of bare numbers in the file: ns, us, ms, s, min or h.
    #[arg(long)]
    pub unit: Option<String>,
    /// What to print.
    #[arg(long, short = 'f', value_enum, default_value_t = FitFormat::Table)]
    pub format: FitFormat,
}

pub fn fit(args: FitArgs) -> CmdResult {
    let observed = read_latencies(&args.file, args.column.as_deref(), args.unit.as_deref())
        .map_err(CmdError::input)?;
    let report = sim::input::fit::fit(&observed)
        .map_err(|e| CmdError::input(anyhow::anyhow!("{}: {e}", args.file.display())))?;
    if args.format == FitFormat::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(CmdError::runtime)?
        );
        return Ok(());
    }
    let human = |s: f64| sim::model::time::human(s * 1e9);
    println!(
        "{}: {} latencies, min {}, median {}, mean {}, max {}",
        args.file.display(),
        report.samples,
        human(report.min_s),
        human(report.median_s),
        human(report.mean_s),
        human(report.max_s)
    );
    println!("\nrank  KS distance  distribution");
    for (i, c) in report.ranked.iter().enumerate() {
        let params: Vec<String> = c.params.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!(
            "{:>4}  {:>11.4}  {} ({})",
            i + 1,
            c.ks_distance,
            c.dist,
            params.join(", ")
        );
    }
    for s in &report.skipped {
        println!("   -            -  {}: not fitted, {}", s.dist, s.reason);
    }
    if let Some(best) = report.ranked.first() {
        println!(
            "\nKS distance: the largest gap between the observed and the fitted cumulative \
             distribution (0 is a perfect fit).\nPaste into the tool's table in your scenario:\n\n{}",
            best.toml
        );
        let mut file = format!("file = \"{}\"", args.file.display());
        if args.column.is_some() || args.unit.is_some() {
            let mut parts = vec![format!("path = \"{}\"", args.file.display())];
            if let Some(c) = &args.column {
                parts.push(format!("column = \"{c}\""));
            }
            if let Some(u) = &args.unit {
                parts.push(format!("unit = \"{u}\""));
            }
            file = format!("file = {{ {} }}", parts.join(", "));
        }
        println!(
            "\nor resample the observations themselves (the path is relative to the scenario file):\n\n\
             latency = {{ dist = \"empirical\", {file} }}"
        );
    }
    Ok(())
}
