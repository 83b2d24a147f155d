//! Session trace replay: recorded sessions run under every policy with their recorded latencies.

use sim::Scenario;
use sim::model::policy::Policy;
use sim::run::metrics::Metric;
use sim::run::replay::{Replay, ReplaySessions};
use sim::run::samples::SessionSource;

/// Turns cost a constant 1 s; no overheads.
fn scenario() -> Scenario {
    Scenario::parse(
        "[model]\nturn = \"1s\"\n[tools.unused]\nlatency = \"1s\"\n[plan]\nrounds = [[\"unused\"]]\n",
        "replay.toml",
    )
    .unwrap()
}

/// A recorded synchronous session: `search` (4 s) and `crm` (0.5 s) issued together at 1 s,
/// then `summarize` (2 s) issued at 6 s, after a 1 s turn that read both.
const RECORDED: &str = r#"{"session": "ticket-1", "calls": [{"id": "search", "tool": "search", "start": "1s", "duration": "4s"}, {"tool": "crm", "start": "1s", "duration": "500ms"}, {"tool": "summarize", "start": "6s", "duration": "2s"}]}
{"session": "ticket-2", "calls": [{"tool": "search", "start": "1s", "duration": "3s"}, {"tool": "crm", "start": "5s", "duration": "1s", "after": []}]}
"#;

#[test]
fn recorded_sessions_replay_as_is_under_every_policy() {
    let replay = Replay::parse(RECORDED, "sessions.jsonl").unwrap();
    assert_eq!(replay.sessions.len(), 2);
    let scenario = scenario();
    let policies = [Policy::SEQUENTIAL, Policy::SYNC, Policy::ASYNC];
    let results = replay.simulate(&scenario, 1, &policies).unwrap();
    assert_eq!(results.sessions, 2);

    let source = ReplaySessions {
        scenario: &scenario,
        replay: &replay,
        seed: 1,
    };
    // Session 1 under sync reproduces the recording: turns at [0,1], [5,6], [8,9].
    let sync = source.trace(0, &Policy::SYNC);
    assert_eq!(sync.outcome.makespan, 9_000_000_000);
    assert_eq!(
        sync.calls[2].issued, 6_000_000_000,
        "summarize waits for both results"
    );
    // Async reads crm at 1.5 s in its own turn; summarize still needs search (inferred), so
    // it is issued when search's result is read: turn [5, 6], summarize [6, 8], final [8, 9].
    let asynchronous = source.trace(0, &Policy::ASYNC);
    assert_eq!(asynchronous.outcome.first_update, 2_500_000_000);
    assert_eq!(asynchronous.outcome.makespan, 9_000_000_000);
    assert_eq!(asynchronous.outcome.turns, 4);
    // Sequential runs one call per turn: 1 + 4 + 1 + 0.5 + 1 + 2 + 1 = 10.5 s.
    let sequential = source.trace(0, &Policy::SEQUENTIAL);
    assert_eq!(sequential.outcome.makespan, 10_500_000_000);

    // Session 2 declares that crm needs nothing: both are issued by the first turn.
    let s2 = source.trace(1, &Policy::SYNC);
    assert_eq!(s2.calls[1].issued, 1_000_000_000);
    assert_eq!(s2.outcome.makespan, 5_000_000_000);

    // The aggregate is over both sessions.
    let mean = results.metrics[1].get(Metric::Makespan).mean() / 1e9;
    assert!((mean - 7.0).abs() < 1e-9, "{mean}");
    assert_eq!(source.call_labels(0)[1].id, "c2");
}

#[test]
fn a_malformed_replay_file_names_its_line() {
    let text = format!(
        "{RECORDED}{{\"calls\": [{{\"tool\": \"a\", \"start\": 5, \"duration\": \"1s\"}}]}}\n"
    );
    let e = Replay::parse(&text, "sessions.jsonl").unwrap_err();
    assert_eq!(e.line, 3, "{e}");
    assert!(
        e.to_string()
            .starts_with("sessions.jsonl:3: calls[0].start: "),
        "{e}"
    );
    assert!(e.message.contains("has no unit"), "{e}");
    let cycle = r#"{"calls": [{"id": "a", "tool": "t", "start": "0s", "duration": "1s", "after": ["b"]}, {"id": "b", "tool": "t", "start": "0s", "duration": "1s", "after": ["a"]}]}"#;
    let e = Replay::parse(cycle, "c.jsonl").unwrap_err();
    assert!(e.message.contains("dependency cycle"), "{e}");
    let e = Replay::parse("{\"calls\": []}", "e.jsonl").unwrap_err();
    assert!(e.message.contains("at least one call"), "{e}");
}
