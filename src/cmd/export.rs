//! `tasks export-latencies`: a tool's recorded run times as a trace file, the one `fit` and a
//! scenario's `empirical` distribution read, so the simulator can use the worker's own latencies.

use super::backend::{BackendArgs, aws_backend, memory_only_here};
use super::{CmdError, CmdResult};
use anyhow::anyhow;
use std::path::{Path, PathBuf};
use std::time::Duration;
use workers::InputError;
use workers::ports::{MAX_RUNS_PER_EXPORT, RunTime, check_runs_args};

/// How many runs `--limit` reads unless told otherwise.
pub const DEFAULT_EXPORT_LIMIT: u32 = 10_000;

const ABOUT: &str = "Write a tool's recorded run times (its succeeded tasks) as a trace file for \
                     `fit` and a scenario's `empirical` latency";

const LONG_ABOUT: &str =
    "Write a tool's recorded run times as a trace file for `asynctools fit` and \
a scenario's `empirical` latency, so the simulator can take the tool's latency from the worker's \
own measurements.

A run time is `finished_at_ms - started_at_ms` of the task's record: from the worker's claim to \
the tool's answer, as the worker's clock saw it (no queue wait, no delivery). Only SUCCEEDED \
tasks run by a single worker are exported, from every owner and conversation. Left out, because \
they would bias the tool's latency: FAILED runs (a refused argument or a failing call usually ends \
early), TIMED_OUT runs (cut at the timeout: their real latency is unknown, only a lower bound), \
CANCELLED and unfinished tasks, and tasks another worker took over after a crash (their start is \
the first attempt's, so the difference would include the crash and the recovery wait). A scenario \
models failures and time-outs separately (`failure_rate`, `timeout`).

The file holds one latency per line (`412ms`) under a `#` comment header, oldest run first: \
`asynctools fit FILE` reads it as is, and so does `latency = { dist = \"empirical\", file = \
\"FILE\" }` in a scenario (the path is relative to the scenario file).

Needs `--backend aws` (the table of a deployed stack with `--outputs`, or of `local up`): it \
reads the task table directly (IAM: dynamodb:Scan on it), not through the dispatcher, and sees \
every owner's tasks, so it is an operator's command. Cost: a DynamoDB Scan in 1 MB pages reads, \
and bills, every item of the table whatever the tool (about one read request unit per 8 KB read), \
until `--limit` runs are found; `--since` does not make it cheaper, only the result smaller. The \
runs come in the table's order, not newest first: with a limit below the number of runs, an \
arbitrary subset of them (the table's hash order has nothing to do with time).";

#[derive(clap::Args, Debug)]
#[command(about = ABOUT, long_about = LONG_ABOUT)]
pub struct ExportLatenciesArgs {
    /// The tool whose run times to export (a name from workers/tools.toml).
    tool: String,
    /// Write the trace file here (default: standard output).
    #[arg(long, short = 'o', value_name = "FILE")]
    out: Option<PathBuf>,
    /// Stop after this many runs (1..=1000000; a trace file holds at most a million latencies).
    #[arg(long, default_value_t = DEFAULT_EXPORT_LIMIT)]
    limit: u32,
    /// Only runs that finished within this long before now, e.g. 24h or 7days (default: all).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    since: Option<Duration>,
    #[command(flatten)]
    backend: BackendArgs,
}

pub async fn export_latencies(args: ExportLatenciesArgs) -> CmdResult {
    workers::Catalog::embedded()
        .get(&args.tool)
        .map_err(CmdError::input)?;
    if !(1..=MAX_RUNS_PER_EXPORT).contains(&args.limit) {
        return Err(CmdError::input(InputError::new(
            "--limit",
            format!("{} is outside 1..={MAX_RUNS_PER_EXPORT}", args.limit),
        )));
    }
    if let Some(out) = &args.out {
        check_writable(out)?;
    }
    if !args.backend.is_aws() {
        return Err(memory_only_here("tasks export-latencies"));
    }
    let since_ms = match args.since {
        Some(since) => {
            let since_ms = u64::try_from(since.as_millis()).unwrap_or(u64::MAX);
            workers::clock::now_ms().saturating_sub(since_ms)
        }
        None => 0,
    };
    let backend = aws_backend(&args.backend).await?;
    let mut runs: Vec<RunTime> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let wanted = args.limit - runs.len() as u32;
        check_runs_args(&args.tool, wanted, cursor.as_deref()).map_err(CmdError::input)?;
        let page = backend
            .store
            .finished_runs(&args.tool, since_ms, wanted, cursor.as_deref())
            .await
            .map_err(CmdError::runtime)?;
        runs.extend(page.runs);
        cursor = page.next_cursor;
        if cursor.is_none() || runs.len() >= args.limit as usize {
            break;
        }
    }
    if runs.is_empty() {
        let window = args.since.map_or(String::new(), |s| {
            format!(" in the last {}", humantime::format_duration(s))
        });
        return Err(CmdError::input(anyhow!(
            "no finished runs of {} were found{window} (succeeded tasks run by a single worker); \
             failed, timed-out and cancelled tasks are left out",
            args.tool
        )));
    }
    runs.sort_by(|a, b| (a.finished_at_ms, &a.task_id).cmp(&(b.finished_at_ms, &b.task_id)));
    let text = trace_text(&args.tool, &runs, args.limit);
    let name = args
        .out
        .as_ref()
        .map_or("<stdout>".to_string(), |p| p.display().to_string());
    // The file must read back exactly as `fit` and scenarios will read it.
    let latencies = sim::input::traces::parse_latencies(&text, &name, None, None)
        .map_err(|e| CmdError::runtime(anyhow!("the trace does not read back: {e}")))?;
    debug_assert_eq!(latencies.len(), runs.len());
    match &args.out {
        Some(path) => std::fs::write(path, &text).map_err(|e| {
            CmdError::input(InputError::new(
                "--out",
                format!("cannot write {}: {e}", path.display()),
            ))
        })?,
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .map_err(|e| CmdError::runtime(anyhow!("writing to standard output: {e}")))?;
        }
    }
    let mut ms: Vec<u64> = runs.iter().map(RunTime::duration_ms).collect();
    ms.sort_unstable();
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    eprintln!(
        "{} run times of {} (min {} ms, median {} ms, p90 {} ms, max {} ms){}{}",
        runs.len(),
        args.tool,
        ms[0],
        at(0.5),
        at(0.9),
        ms[ms.len() - 1],
        if runs.len() as u32 >= args.limit {
            format!("; stopped at --limit {}", args.limit)
        } else {
            String::new()
        },
        match &args.out {
            Some(path) => format!("\nwrote {0}; next: asynctools fit {0}", path.display()),
            None => String::new(),
        }
    );
    Ok(())
}

/// The trace file: a comment header, then one `<n>ms` per line.
fn trace_text(tool: &str, runs: &[RunTime], limit: u32) -> String {
    let mut text = format!(
        "# asynctools tasks export-latencies {tool} --limit {limit}: {} run times \
         (finished_at_ms - started_at_ms) of succeeded tasks run by a single worker, oldest first.\n\
         # Read by `asynctools fit FILE` and `latency = {{ dist = \"empirical\", file = \"FILE\" }}`.\n",
        runs.len()
    );
    for run in runs {
        text.push_str(&run.duration_ms().to_string());
        text.push_str("ms\n");
    }
    text
}

/// Refuses an `--out` whose directory does not exist before the table is read.
fn check_writable(out: &Path) -> CmdResult {
    if out.is_dir() {
        return Err(CmdError::input(InputError::new(
            "--out",
            format!("{} is a directory; name a file", out.display()),
        )));
    }
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(CmdError::input(InputError::new(
            "--out",
            format!(
                "{}: the directory {} does not exist",
                out.display(),
                dir.display()
            ),
        )));
    }
    Ok(())
}
