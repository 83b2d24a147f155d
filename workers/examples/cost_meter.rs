//! The cost meter (issue 25): what one task costs on AWS, counted from moto's own request log while
//! a build's `asynctools` CLI processes run the pipeline, from the outside, so any two builds are
//! measured the same way. `make bench` runs it on the base commit and this build side by side.
//!
//! ```sh
//! cargo run --release -p workers --example cost_meter -- --asynctools target/release/asynctools \
//!     [--base PATH [--base-label NAME]] [--label NAME] [--tasks 50] [--idle 60] \
//!     [--scenarios happy,kib1,kib64,retry,cancel] [--moto PATH] [--json] [--quiet] \
//!     [--overlay FILE]
//! ```
//!
//! Scenarios (each on a fresh stack from the build's `local up`): the happy path (N `sentiment`
//! tasks, one `asynctools worker` with its defaults, one `tasks watch --count N`), the same with a
//! 1 KiB and a 64 KiB synthetic argument and result, one retry (a worker SIGKILLed mid-run, a second
//! takes over), one cancel; then a router and a worker left idle (`--idle` seconds, 0 skips) and
//! three `tasks sweep`s. The model and what each number means: docs/cost.md.
//!
//! `--overlay FILE` writes what this build measured as the simulator's `[cost.pipeline]` (a scenario
//! overlay for `run`, `compare` and `live`), as `calibrate` writes `[overheads]`.

#[path = "cost_meter/mod.rs"]
mod meter;

use meter::{Options, Scenario};
use std::path::PathBuf;
use std::process::ExitCode;

fn usage() -> &'static str {
    "usage: cost_meter --asynctools PATH [--label NAME] [--base PATH] [--base-label NAME] \
     [--tasks N] [--idle SECONDS] [--scenarios happy,kib1,kib64,retry,cancel] [--moto PATH] \
     [--json] [--quiet] [--overlay FILE]"
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cost_meter: {e}\n{}", usage());
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<ExitCode, String> {
    let mut args = std::env::args().skip(1);
    let mut binary: Option<PathBuf> = None;
    let mut base: Option<PathBuf> = None;
    let mut label = "this build".to_string();
    let mut base_label = "base".to_string();
    let mut tasks = 50usize;
    let mut idle_s = 60u64;
    let mut scenarios = Scenario::ALL.to_vec();
    let mut moto: Option<PathBuf> = None;
    let mut json = false;
    let mut verbose = true;
    let mut overlay: Option<PathBuf> = None;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--asynctools" => binary = Some(PathBuf::from(value("--asynctools")?)),
            "--base" => base = Some(PathBuf::from(value("--base")?)),
            "--label" => label = value("--label")?,
            "--base-label" => base_label = value("--base-label")?,
            "--tasks" => {
                tasks = value("--tasks")?
                    .parse()
                    .map_err(|_| "--tasks takes a number")?;
                if tasks == 0 {
                    return Err("--tasks must be at least 1".into());
                }
            }
            "--idle" => {
                idle_s = value("--idle")?
                    .parse()
                    .map_err(|_| "--idle takes seconds")?
            }
            "--scenarios" => {
                let list = value("--scenarios")?;
                scenarios = Vec::new();
                for key in list.split(',').filter(|k| !k.is_empty()) {
                    let scenario = Scenario::ALL
                        .into_iter()
                        .find(|s| s.key() == key)
                        .ok_or(format!("unknown scenario {key}"))?;
                    scenarios.push(scenario);
                }
            }
            "--moto" => moto = Some(PathBuf::from(value("--moto")?)),
            "--json" => json = true,
            "--quiet" => verbose = false,
            "--overlay" => overlay = Some(PathBuf::from(value("--overlay")?)),
            "-h" | "--help" => {
                println!("{}", usage());
                return Ok(ExitCode::SUCCESS);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let binary = binary.ok_or("--asynctools is required")?;
    let moto_server = meter::find_moto(moto.as_deref())
        .ok_or("no moto_server: run `make venv` or pass --moto .venv/bin/moto_server")?;
    let mut builds = Vec::new();
    for (path, label) in base
        .into_iter()
        .map(|p| (p, base_label.clone()))
        .chain(std::iter::once((binary, label)))
    {
        if !path.exists() {
            return Err(format!("{} does not exist", path.display()));
        }
        let options = Options {
            asynctools: path,
            label,
            moto_server: moto_server.clone(),
            tasks,
            scenarios: scenarios.clone(),
            idle_s,
            verbose,
        };
        builds.push(meter::measure(&options)?);
    }
    if let (Some(path), Some(build)) = (&overlay, builds.last()) {
        let counts = meter::pipeline_counts(build)?;
        let header = format!(
            "# The async pipeline's requests per call, measured on moto by the cost meter\n\
             # (workers/examples/cost_meter.rs, {} tasks) for {}. docs/cost.md.\n",
            tasks, build.binary
        );
        std::fs::write(path, meter::overlay(&counts, &header))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if verbose {
            eprintln!("cost_meter: wrote {}", path.display());
        }
    }
    if json {
        let value = serde_json::json!({
            "schema": "asynctools.cost/v1",
            "builds": builds,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", meter::report::render(&builds));
    }
    Ok(ExitCode::SUCCESS)
}
