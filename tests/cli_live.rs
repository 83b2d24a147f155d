//! `asynctools live`, `calibrate` and `--overlay`, run as a user would.

use serde_json::Value;
use std::process::{Command, Output};
use workers::testkit::MotoServer;

const SCENARIO: &str = "scenarios/research-assistant.toml";

fn asynctools(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_asynctools"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .env_remove("ASYNCTOOLS_BACKEND")
        .env_remove("ASYNCTOOLS_OUTPUTS")
        .env_remove("AWS_ENDPOINT_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("running asynctools")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn input_error(o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains(needle), "{}", text(&o.stderr));
}

#[test]
fn live_prints_simulated_and_measured_side_by_side() {
    let out = asynctools(
        &[
            "live",
            SCENARIO,
            "--backend",
            "memory",
            "-n",
            "4",
            "--time-scale",
            "0.01",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    for needle in [
        "sim p50",
        "live p50",
        "makespan",
        "first_update",
        "async dispatch",
    ] {
        assert!(table.contains(needle), "{needle} missing:\n{table}");
    }
}

#[test]
fn calibrate_writes_an_overlay_that_every_command_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let overlay = dir.path().join("cal.toml");
    let overlay = overlay.to_str().unwrap();
    let out = asynctools(
        &[
            "calibrate",
            SCENARIO,
            "-n",
            "4",
            "--time-scale",
            "0.01",
            "-o",
            overlay,
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let written = std::fs::read_to_string(overlay).unwrap();
    assert!(
        written.contains("[overheads]") && written.contains("async_dispatch"),
        "{written}"
    );
    let compare = asynctools(
        &["compare", SCENARIO, "-n", "200", "--overlay", overlay],
        &[],
    );
    assert!(compare.status.success(), "{}", text(&compare.stderr));
    let live = asynctools(
        &[
            "live",
            SCENARIO,
            "-n",
            "3",
            "--overlay",
            overlay,
            "--format",
            "json",
        ],
        &[],
    );
    assert!(live.status.success(), "{}", text(&live.stderr));
    let report: Value = serde_json::from_str(&text(&live.stdout)).unwrap();
    assert_eq!(report["schema"], "asynctools.live/v1");
    assert_eq!(report["overlays"][0], overlay);
    let row = &report["policies"][0]["metrics"][0];
    assert_eq!(row["metric"], "makespan");
    assert!(row["simulated"]["p50"].as_f64().unwrap() > 0.0);
    assert!(row["measured"]["p50"].as_f64().unwrap() > 0.0);
    assert!(row["rel_error_p50"].is_number());
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[overheads]\nasync_dispatchx = \"1ms\"\n").unwrap();
    let bad = bad.to_str().unwrap();
    for command in ["run", "compare", "live"] {
        input_error(
            &asynctools(&[command, SCENARIO, "--overlay", bad], &[]),
            &format!("overlay {bad}: key `overheads.async_dispatchx`"),
        );
    }
    for scale in ["0", "-0.5", "1.5", "NaN"] {
        input_error(
            &asynctools(&["live", SCENARIO, &format!("--time-scale={scale}")], &[]),
            "--time-scale must be greater than 0 and at most 1",
        );
    }
    input_error(
        &asynctools(&["live", SCENARIO, "-n", "501"], &[]),
        "--sessions must be between 1 and 500",
    );
    input_error(
        &asynctools(
            &["live", SCENARIO, "--stagger", "100h", "--time-scale", "1"],
            &[],
        ),
        "spreads the session starts",
    );
    input_error(
        &asynctools(&["live", SCENARIO, "-p", "sync,sync"], &[]),
        "policy sync is listed twice",
    );
    input_error(
        &asynctools(&["live", "scenarios/shared-capacity.toml", "-n", "2"], &[]),
        "live replay runs independent sessions only",
    );
}

/// The same command against moto, through `local up`'s outputs file and AWS_ENDPOINT_URL.
#[test]
fn live_runs_unchanged_against_moto() {
    let Some(moto) = MotoServer::start_or_skip("live_runs_unchanged_against_moto") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let outputs = dir.path().join("out.json");
    let outputs = outputs.to_str().unwrap();
    let up = asynctools(
        &[
            "local",
            "up",
            "--endpoint",
            &moto.endpoint,
            "--outputs",
            outputs,
        ],
        &[],
    );
    assert!(up.status.success(), "{}", text(&up.stderr));
    let out = asynctools(
        &[
            "live",
            SCENARIO,
            "--backend",
            "aws",
            "--outputs",
            outputs,
            "-n",
            "3",
            "--time-scale",
            "0.05",
            "--format",
            "json",
        ],
        &[("AWS_ENDPOINT_URL", moto.endpoint.as_str())],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    let tasks = &report["tasks"];
    assert_eq!(tasks["submitted"], 3 * 3 * 3, "{tasks}");
    assert_eq!(tasks["succeeded"], tasks["submitted"], "{tasks}");
    assert_eq!(tasks["executed_once"], tasks["submitted"], "{tasks}");
    assert_eq!(report["backend"], "aws");
}
