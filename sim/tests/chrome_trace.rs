//! The Chrome trace export: valid JSON, every event with the fields viewers require, one track
//! per session and policy, and timestamps that agree with the simulated session.

#[path = "common/report.rs"]
mod fixture;

use serde_json::Value;
use sim::run::samples::{DEFAULT_PICKS, ScenarioSessions, pick};

#[test]
fn every_event_has_the_required_fields_and_each_session_policy_pair_is_a_track() {
    let scenario = fixture::scenario(false);
    let results = fixture::run(&scenario, 2);
    let sessions = ScenarioSessions {
        scenario: &scenario,
        seed: results.seed,
        sessions: results.sessions,
    };
    let samples = pick(&sessions, &results.policies, 1, &DEFAULT_PICKS);
    let names: Vec<String> = results.policies.iter().map(|p| p.name()).collect();
    let text = sim::output::chrome_trace::to_string(&sim::output::chrome_trace::chrome_trace(
        &samples, &names,
    ));
    let doc: Value = serde_json::from_str(&text).expect("the trace is one JSON document");
    let events = doc["traceEvents"].as_array().expect("a traceEvents array");
    assert!(events.len() > 50, "{} events", events.len());

    let mut tracks = std::collections::BTreeSet::new();
    let mut open_async = std::collections::BTreeMap::new();
    for e in events {
        for field in ["name", "ph", "ts", "pid", "tid"] {
            assert!(e.get(field).is_some(), "no {field} in {e}");
        }
        assert!(e["name"].is_string() && e["ph"].is_string(), "{e}");
        assert!(e["pid"].is_u64() && e["tid"].is_u64(), "{e}");
        let ts = e["ts"].as_f64().expect("a numeric ts");
        assert!(ts >= 0.0, "{e}");
        match e["ph"].as_str().unwrap() {
            "X" => {
                let dur = e["dur"]
                    .as_f64()
                    .unwrap_or_else(|| panic!("X without dur: {e}"));
                assert!(dur >= 0.0, "{e}");
                tracks.insert((e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap()));
            }
            "b" => {
                assert!(e["id"].is_string() && e["cat"].is_string(), "{e}");
                open_async.insert(e["id"].as_str().unwrap().to_string(), ts);
            }
            "e" => {
                let begun = open_async
                    .remove(e["id"].as_str().unwrap())
                    .unwrap_or_else(|| panic!("end without begin: {e}"));
                assert!(ts >= begun, "{e}");
            }
            "i" => assert_eq!(e["s"], "t", "{e}"),
            "M" => assert!(e["args"].is_object(), "{e}"),
            other => panic!("unexpected phase {other}: {e}"),
        }
    }
    assert!(open_async.is_empty(), "unended calls: {open_async:?}");
    // Three sample sessions × three policies, each its own (pid, tid) track.
    assert_eq!(tracks.len(), samples.len() * names.len());
    assert_eq!(samples.len(), 3);

    // The turns on a track end where the simulated session ends.
    let first = &samples[0];
    let (pid, tid) = (1u64, 2u64); // session 1, policy 2 = sync
    let last_turn_end = events
        .iter()
        .filter(|e| e["pid"] == pid && e["tid"] == tid && e["cat"] == "model")
        .map(|e| e["ts"].as_f64().unwrap() + e["dur"].as_f64().unwrap())
        .fold(0.0, f64::max);
    let makespan_us = first.traces[1].outcome.makespan as f64 / 1e3;
    assert!(
        (last_turn_end - makespan_us).abs() < 1e-3,
        "{last_turn_end} vs {makespan_us}"
    );
}
