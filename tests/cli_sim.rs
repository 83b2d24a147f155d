//! The simulator commands, run as a user runs them.

use std::path::Path;

mod common;

use common::{asynctools, stderr, stdout};

#[test]
fn compare_prints_a_table_with_every_policy_and_a_verdict() {
    let o = asynctools(&["compare", "scenarios/research-assistant.toml", "-n", "2000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for part in [
        "sequential",
        "sync",
        "async",
        "makespan",
        "first_update",
        "sync → async",
        "sooner",
    ] {
        assert!(out.contains(part), "missing {part:?} in\n{out}");
    }
}

#[test]
fn json_is_identical_for_one_and_two_threads() {
    let run = |threads: &str| {
        let o = asynctools(&[
            "compare",
            "scenarios/bench-5x4.toml",
            "-n",
            "9000",
            "--format",
            "json",
            "--threads",
            threads,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        o.stdout
    };
    let one = run("1");
    assert_eq!(one, run("2"));
    let json: serde_json::Value = serde_json::from_slice(&one).unwrap();
    assert_eq!(json["schema"], "asynctools.results/v1");
    assert_eq!(json["run"]["sessions"], 9000);
    assert_eq!(json["policies"].as_array().unwrap().len(), 3);
    assert_eq!(json["comparisons"].as_array().unwrap().len(), 3);
}

#[test]
fn out_dir_gets_a_report_and_results() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let o = asynctools(&[
        "compare",
        "scenarios/trip-planner-dag.toml",
        "-n",
        "1000",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("# trip-planner-dag") && md.contains("```toml"),
        "{md}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["scenario"]["calls"], 7);
}

#[test]
fn run_formats() {
    let o = asynctools(&[
        "run",
        "scenarios/bench-5x4.toml",
        "-n",
        "500",
        "--policy",
        "async",
        "-f",
        "csv",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = stdout(&o);
    assert!(csv.starts_with("table,baseline,policy,metric,statistic,value,unit\n"));
    assert!(csv.contains("summary,,async,makespan,p50,"));
    let o = asynctools(&[
        "run",
        "scenarios/bench-5x4.toml",
        "-n",
        "500",
        "-f",
        "markdown",
    ]);
    assert!(stdout(&o).contains("| makespan | p50 |"));
}

#[test]
fn bad_input_exits_2_with_file_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/research-assistant.toml"),
    )
    .unwrap()
    .replace("sigma = 0.35", "sigma = 0");
    std::fs::write(&bad, text).unwrap();
    let o = asynctools(&["validate", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("bad.toml:")
            && err.contains("tools.research.latency.sigma")
            && err.contains("must be > 0"),
        "{err}"
    );

    let o = asynctools(&["run", "scenarios/bench-5x4.toml", "--sessions", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--sessions must be between 1"),
        "{}",
        stderr(&o)
    );

    let o = asynctools(&[
        "compare",
        "scenarios/bench-5x4.toml",
        "--policies",
        "sync,sync",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("listed twice"));

    let o = asynctools(&["run", "missing.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("missing.toml: cannot read the scenario"));
}

#[test]
fn help_explains_each_command() {
    let o = asynctools(&["--help"]);
    let out = stdout(&o);
    for cmd in ["run", "compare", "validate"] {
        assert!(out.contains(cmd), "{out}");
    }
    let o = asynctools(&["compare", "--help"]);
    assert!(stdout(&o).contains("--policies") && stdout(&o).contains("--batch-window"));
}

#[test]
fn validate_describes_the_scenario() {
    let o = asynctools(&["validate", "scenarios/research-assistant.toml"]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(
        out.contains("valid") && out.contains("tool research: lognormal(median 15s"),
        "{out}"
    );
}

#[test]
fn stats_report_sessions_and_policy_sessions_per_second() {
    // "simulated N sessions × P policies in S s: R sessions/s (R·P policy-sessions/s), ..."
    let rates = |args: &[&str]| -> (f64, Option<f64>) {
        let o = asynctools(args);
        assert!(o.status.success(), "{}", stderr(&o));
        let err = stderr(&o);
        let line = err.lines().find(|l| l.starts_with("simulated ")).unwrap();
        let number_before = |unit: &str| {
            let head = &line[..line.find(unit)?];
            head.rsplit([' ', '(']).next()?.parse::<f64>().ok()
        };
        let sessions = number_before(" sessions/s").expect(line);
        (sessions, number_before(" policy-sessions/s"))
    };
    let (sessions, policy_sessions) = rates(&[
        "compare",
        "scenarios/shared-capacity.toml",
        "-n",
        "3000",
        "--stats",
    ]);
    let policy_sessions = policy_sessions.expect("three policies: policy-sessions/s");
    assert!(
        (policy_sessions - 3.0 * sessions).abs() <= 3.0,
        "{sessions} sessions/s, {policy_sessions} policy-sessions/s"
    );
    let one = &["run", "scenarios/shared-capacity.toml", "--policy", "async"];
    let (_, none) = rates(&[one.as_slice(), &["-n", "3000", "--stats"]].concat());
    assert_eq!(none, None, "one policy: sessions/s alone");
}
