//! The report commands as a user runs them: report.html and the Chrome trace from `compare`,
//! `sweep`, `fit`, and replaying recorded sessions.

use std::path::Path;

mod common;

use common::{asynctools, stderr, stdout};

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn compare_writes_report_html_and_a_chrome_trace() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let trace = dir.path().join("trace.json");
    let o = asynctools(&[
        "compare",
        "scenarios/research-assistant.toml",
        "-n",
        "2000",
        "--out",
        path(&out),
        "--trace-out",
        path(&trace),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("id=\"timelines\""));
    assert!(html.contains("research-assistant: sync vs async agent loops"));
    let trace: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    assert!(trace["traceEvents"].as_array().unwrap().len() > 20);
}

#[test]
fn sweep_prints_the_crossover_and_writes_html_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("ttft.toml");
    std::fs::write(
        &scenario,
        "[model]\nturn = \"1s\"\nper_result = \"100ms\"\n[tools.fast]\nlatency = \"1s\"\n\
         [tools.slow]\nlatency = \"3s\"\n[plan]\nrounds = [[\"fast\", \"slow\"]]\n",
    )
    .unwrap();
    let out = dir.path().join("sweep");
    let o = asynctools(&[
        "sweep",
        path(&scenario),
        "--set",
        "model.turn=250ms..4750ms",
        "--steps",
        "10",
        "-n",
        "20",
        "--out",
        path(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("makespan: async stops being faster than sync at model.turn ≈ 1.91 s"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(json["schema"], "asynctools.sweep/v1");
    assert_eq!(json["points"].as_array().unwrap().len(), 10);
    assert!(
        std::fs::read_to_string(out.join("sweep.html"))
            .unwrap()
            .contains("<svg")
    );

    // A value the scenario refuses: exit 2, naming the key.
    let o = asynctools(&["sweep", path(&scenario), "--set", "model.per_result=1..2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("model.per_result is a duration"),
        "{}",
        stderr(&o)
    );
    let o = asynctools(&[
        "sweep",
        path(&scenario),
        "--set",
        "model.turn=1s..2s",
        "--steps",
        "51",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--steps must be between 2 and 50"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn fit_ranks_distributions_and_prints_a_snippet_or_names_the_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("latency.csv");
    // Deterministic exponential-ish spread: −ln(1 − u) for evenly spaced u, in ms.
    let mut text = String::from("request,latency_ms\n");
    for i in 0..2000 {
        let u = (i as f64 + 0.5) / 2000.0;
        text.push_str(&format!("r{i},{:.3}\n", -400.0 * (1.0 - u).ln()));
    }
    std::fs::write(&file, &text).unwrap();
    let o = asynctools(&["fit", path(&file), "--column", "latency_ms", "--unit", "ms"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let first = out
        .lines()
        .find(|l| l.trim_start().starts_with("1 "))
        .unwrap();
    assert!(
        first.contains("exponential") || first.contains("gamma") || first.contains("weibull"),
        "{out}"
    );
    assert!(out.contains("latency = { dist = "), "{out}");
    assert!(out.contains("column = \"latency_ms\""), "{out}");

    std::fs::write(&file, "latency_ms\n120\n95\nslow\n").unwrap();
    let o = asynctools(&["fit", path(&file), "--unit", "ms"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{}:4: ", file.display())) && err.contains("slow"),
        "{err}"
    );
}

#[test]
fn compare_replays_recorded_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = dir.path().join("sessions.jsonl");
    std::fs::write(
        &sessions,
        "{\"calls\": [{\"tool\": \"search\", \"start\": \"1s\", \"duration\": \"12s\"}, \
         {\"tool\": \"crm\", \"start\": \"1s\", \"duration\": \"300ms\"}]}\n\
         {\"calls\": [{\"tool\": \"search\", \"start\": \"1s\", \"duration\": \"9s\"}, \
         {\"tool\": \"crm\", \"start\": \"1s\", \"duration\": \"2s\"}]}\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = asynctools(&[
        "compare",
        "scenarios/research-assistant.toml",
        "--replay",
        path(&sessions),
        "--format",
        "json",
        "--out",
        path(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["run"]["sessions"], 2);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("replayed from"),
        "the page says where the sessions came from"
    );

    let o = asynctools(&[
        "compare",
        "scenarios/research-assistant.toml",
        "--replay",
        path(&sessions),
        "-n",
        "5",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
