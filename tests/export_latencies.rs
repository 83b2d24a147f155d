//! `asynctools tasks export-latencies`: bad input is refused before any backend is touched, and on
//! moto the worker's own recorded run times of known-latency tasks come out as a trace file that
//! `asynctools fit` reads, with the known median.

mod common;

use common::{asynctools, stderr};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use workers::testkit::MotoServer;

#[test]
fn bad_arguments_and_the_memory_backend_are_refused_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing_dir = dir.path().join("nowhere/runs.txt");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["synthetic"],
            "`tasks export-latencies` needs a backend shared between processes",
        ),
        (
            vec!["synthetic", "--limit", "0"],
            "--limit: 0 is outside 1..=1000000",
        ),
        (
            vec!["synthetic", "--limit", "1000001"],
            "--limit: 1000001 is outside 1..=1000000",
        ),
        (vec!["synthetic", "--limit", "many"], "--limit <LIMIT>"),
        (
            vec!["synthetic", "--since", "yesterday"],
            "--since <DURATION>",
        ),
        (
            vec!["nope", "--backend", "aws"],
            "\"nope\" is not in the tool catalog (known:",
        ),
        (
            vec![
                "synthetic",
                "--backend",
                "aws",
                "--out",
                missing_dir.to_str().unwrap(),
            ],
            "--out: ",
        ),
        (
            vec![
                "synthetic",
                "--backend",
                "aws",
                "--out",
                dir.path().to_str().unwrap(),
            ],
            "is a directory; name a file",
        ),
    ];
    for (args, says) in cases {
        let mut all = vec!["tasks", "export-latencies"];
        all.extend(&args);
        let out = asynctools(&all);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: expected {says:?} in {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// Kills the processes it started, whatever the test's outcome.
struct Started(Vec<Child>);

impl Drop for Started {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

struct Stack {
    root: PathBuf,
    env: Vec<(&'static str, String)>,
}

impl Stack {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_asynctools"));
        command
            .args(args)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())));
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("asynctools runs")
    }

    fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "asynctools {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

/// The latencies of a trace file, in ms, skipping its comments.
fn trace_ms(text: &str) -> Vec<u64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            l.strip_suffix("ms")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("not a latency line: {l:?}"))
        })
        .collect()
}

#[test]
fn exported_run_times_of_known_sleeps_fit_to_their_median() {
    let Some(moto) = MotoServer::start_or_skip("export_latencies") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let outputs = root.join("outputs.json");
    let stack = Stack {
        root: root.clone(),
        env: vec![
            ("ASYNCTOOLS_BACKEND", "aws".into()),
            ("ASYNCTOOLS_OUTPUTS", outputs.display().to_string()),
            ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("RUST_LOG", "warn".into()),
        ],
    };
    stack.ok(&[
        "local",
        "up",
        "--endpoint",
        &moto.endpoint,
        "--outputs",
        outputs.to_str().unwrap(),
    ]);
    // Long enough that the claim's table write, inside each recorded run time, is a small part.
    const SLEEP_MS: u64 = 1_000;
    const SUCCEEDED: usize = 6;
    // Two owners, two conversations: the export reads them all. Failures are left out, and so is
    // another tool's task (no worker serves sentiment here: it stays PENDING). Everything is
    // submitted before the worker starts, so the runs do not share moto with the submits.
    let mut tasks: Vec<(String, String, &str)> = Vec::new();
    for i in 0..SUCCEEDED + 2 {
        let arguments = if i < SUCCEEDED {
            format!(r#"{{"sleep_ms": {SLEEP_MS}}}"#)
        } else {
            r#"{"sleep_ms": 10, "fail": "on purpose"}"#.to_string()
        };
        let principal = if i % 2 == 0 { "alice" } else { "bob" };
        let conversation = format!("conv-{}", i % 2);
        let out = stack.ok(&[
            "tasks",
            "submit",
            "synthetic",
            "--args",
            &arguments,
            "--principal",
            principal,
            "--conversation",
            &conversation,
        ]);
        let ack: Value = serde_json::from_slice(&out.stdout).unwrap();
        let task_id = ack["task_id"].as_str().unwrap().to_string();
        tasks.push((task_id, arguments, principal));
    }
    stack.ok(&[
        "tasks",
        "submit",
        "sentiment",
        "--args",
        r#"{"text": "fine"}"#,
    ]);
    let log = std::fs::File::create(root.join("worker.log")).unwrap();
    let mut started = Started(vec![
        stack
            .command(&[
                "worker",
                "--tool",
                "synthetic",
                "--concurrency",
                "8",
                "--wait",
                "1s",
                "--sweep-every",
                "0s",
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("the worker starts"),
    ]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    for (task_id, arguments, principal) in &tasks {
        let status = loop {
            let out = stack.ok(&["tasks", "status", task_id, "--principal", principal]);
            let record: Value = serde_json::from_slice(&out.stdout).unwrap();
            let status = record["status"].as_str().unwrap().to_string();
            if !matches!(status.as_str(), "PENDING" | "RUNNING") {
                break status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "task {task_id} is still {status}; worker log:\n{}",
                std::fs::read_to_string(root.join("worker.log")).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(500));
        };
        let expected = if arguments.contains("fail") {
            "FAILED"
        } else {
            "SUCCEEDED"
        };
        assert_eq!(status, expected, "{arguments}");
    }

    let trace = root.join("traces/synthetic.txt");
    std::fs::create_dir_all(trace.parent().unwrap()).unwrap();
    let out = stack.ok(&[
        "tasks",
        "export-latencies",
        "synthetic",
        "--out",
        trace.to_str().unwrap(),
        "--since",
        "1h",
    ]);
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(
        note.contains(&format!("{SUCCEEDED} run times of synthetic")),
        "{note}"
    );
    assert!(note.contains("next: asynctools fit"), "{note}");
    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(
        text.starts_with("# asynctools tasks export-latencies synthetic"),
        "{text}"
    );
    let runs = trace_ms(&text);
    assert_eq!(runs.len(), SUCCEEDED, "only the successes:\n{text}");
    for ms in &runs {
        assert!(
            (SLEEP_MS..SLEEP_MS * 2).contains(ms),
            "a run of a {SLEEP_MS} ms sleep took {ms} ms:\n{text}"
        );
    }

    // `fit` reads the file as it is, and finds the known latency.
    let fit = stack.ok(&["fit", trace.to_str().unwrap(), "--format", "json"]);
    let report: Value = serde_json::from_slice(&fit.stdout).unwrap();
    assert_eq!(report["samples"], SUCCEEDED);
    let median_s = report["median_s"].as_f64().unwrap();
    let known_s = SLEEP_MS as f64 / 1000.0;
    assert!(
        (median_s - known_s).abs() <= 0.2 * known_s,
        "median {median_s} s vs the known {known_s} s:\n{text}"
    );
    // And so does a scenario's empirical distribution.
    let scenario = root.join("scenario.toml");
    std::fs::write(
        &scenario,
        r#"name = "exported"
[model]
turn = "100ms"
[tools.synthetic]
latency = { dist = "empirical", file = "traces/synthetic.txt" }
[plan]
rounds = [["synthetic"]]
"#,
    )
    .unwrap();
    stack.ok(&["validate", scenario.to_str().unwrap()]);

    // Standard output, and --limit.
    let out = stack.ok(&["tasks", "export-latencies", "synthetic", "--limit", "2"]);
    assert_eq!(trace_ms(&String::from_utf8_lossy(&out.stdout)).len(), 2);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("stopped at --limit 2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A tool without finished runs.
    let none = stack.run(&["tasks", "export-latencies", "sentiment"]);
    assert_eq!(none.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("no finished runs of sentiment were found"),
        "{}",
        String::from_utf8_lossy(&none.stderr)
    );
    // --since excludes what finished before it.
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    let recent = stack.run(&["tasks", "export-latencies", "synthetic", "--since", "1s"]);
    assert_eq!(
        recent.status.code(),
        Some(2),
        "nothing finished in the last second"
    );

    started.0.iter_mut().for_each(|c| {
        let _ = c.kill();
    });
    drop(started);
    assert!(Path::new(&trace).exists());
}
