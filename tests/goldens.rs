//! Output bytes pinned: every scenario in `scenarios/`, run as a user runs it, must print exactly
//! what it printed when the golden files in `tests/goldens/` were written. A refactoring that
//! changes a single draw, event order or rounding shows up here.
//!
//! To accept an intended change (a new metric, a different sampler), rewrite them and review the
//! diff: `ASYNCTOOLS_WRITE_GOLDENS=1 cargo test --test goldens`.

use std::path::{Path, PathBuf};

mod common;

use common::{asynctools, stderr};

const SESSIONS: &str = "3000";

fn scenarios() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"))
            .expect("scenarios/ is readable")
            .map(|e| e.expect("a directory entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
    files.sort();
    files
}

/// Runs `asynctools ARGS` and compares its standard output with `tests/goldens/NAME`.
fn check(name: &str, args: &[&str]) -> Option<String> {
    let o = asynctools(args);
    assert!(o.status.success(), "asynctools {args:?}: {}", stderr(&o));
    compare_bytes(name, args, &o.stdout)
}

fn compare_bytes(name: &str, args: &[&str], now: &[u8]) -> Option<String> {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/goldens")
        .join(name);
    if std::env::var_os("ASYNCTOOLS_WRITE_GOLDENS").is_some() {
        std::fs::write(&golden, now).expect("the golden file is writable");
        return None;
    }
    let want = std::fs::read(&golden).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (write it with ASYNCTOOLS_WRITE_GOLDENS=1)",
            golden.display()
        )
    });
    if want == now {
        return None;
    }
    let got = String::from_utf8_lossy(now);
    let want = String::from_utf8_lossy(&want);
    let (line, (w, g)) = want
        .lines()
        .zip(got.lines())
        .enumerate()
        .find(|(_, (w, g))| w != g)
        .unwrap_or((
            want.lines().count().min(got.lines().count()),
            ("<end>", "<end>"),
        ));
    Some(format!(
        "{name} (asynctools {}): first difference at line {}\n  golden: {w}\n  now:    {g}",
        args.join(" "),
        line + 1
    ))
}

fn assert_all(failures: Vec<Option<String>>) {
    let failures: Vec<String> = failures.into_iter().flatten().collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_scenario_compares_to_the_same_bytes() {
    let mut failures = Vec::new();
    for file in scenarios() {
        let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
        let path = format!("scenarios/{stem}.toml");
        failures.push(check(
            &format!("{stem}.compare.json"),
            &["compare", &path, "-n", SESSIONS, "-f", "json"],
        ));
        failures.push(check(
            &format!("{stem}.async-stream.json"),
            &[
                "run",
                &path,
                "-n",
                SESSIONS,
                "-p",
                "async+stream",
                "-f",
                "json",
            ],
        ));
    }
    assert_all(failures);
}

#[test]
fn reports_sweeps_and_replays_print_the_same_bytes() {
    assert_all(vec![
        check(
            "research-assistant.report.md",
            &[
                "compare",
                "scenarios/research-assistant.toml",
                "-n",
                SESSIONS,
                "-f",
                "markdown",
            ],
        ),
        check(
            "bench-5x4.table.txt",
            &[
                "compare",
                "scenarios/bench-5x4.toml",
                "-n",
                SESSIONS,
                "-p",
                "sync,async,async+stream",
            ],
        ),
        check(
            "research-assistant.sweep.json",
            &[
                "sweep",
                "scenarios/research-assistant.toml",
                "--set",
                "model.turn.median=200ms..2s",
                "--steps",
                "4",
                "-n",
                "1000",
                "-f",
                "json",
            ],
        ),
        check(
            "shared-capacity.sweep.md",
            &[
                "sweep",
                "scenarios/shared-capacity.toml",
                "--set",
                "model.turn.median=500ms..2s",
                "--steps",
                "3",
                "-n",
                "500",
                "-f",
                "markdown",
            ],
        ),
        check(
            "research-assistant.replay.json",
            &[
                "compare",
                "scenarios/research-assistant.toml",
                "--replay",
                "tests/goldens/replay.jsonl",
                "-f",
                "json",
            ],
        ),
    ]);
}

#[test]
fn the_html_report_has_the_same_bytes() {
    let dir = std::env::temp_dir().join(format!("asynctools-goldens-{}", std::process::id()));
    let out = dir.to_string_lossy().into_owned();
    let args = [
        "compare",
        "scenarios/trip-planner-dag.toml",
        "-n",
        SESSIONS,
        "-o",
        &out,
        "-f",
        "json",
    ];
    let o = asynctools(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let html = std::fs::read(dir.join("report.html")).expect("report.html was written");
    let json = std::fs::read(dir.join("results.json")).expect("results.json was written");
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(json, o.stdout, "results.json is what --format json prints");
    assert_all(vec![compare_bytes(
        "trip-planner-dag.report.html",
        &args,
        &html,
    )]);
}
