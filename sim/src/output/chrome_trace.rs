//! Sample sessions in the Chrome Trace Event Format (JSON), for Perfetto (ui.perfetto.dev) or
//! `chrome://tracing`.
//!
//! Each sample session is a process (`pid`) and each policy a thread (`tid`) in it, so the
//! policies of one session sit side by side: one track per session and policy. On that track,
//! model turns and idle gaps are complete events (`X`, which never overlap), outputs and result
//! deliveries are instant events (`i`). Tool calls overlap one another, so they are async
//! events (`b`/`e`) on the same pid/tid, which viewers draw as rows under the track.
//! Timestamps are microseconds since the user's request.

use crate::run::samples::SampleSession;
use serde_json::{Value, json};

fn us(ns: u64) -> f64 {
    ns as f64 / 1e3
}

/// The trace as a JSON document (`{"traceEvents": [...], "displayTimeUnit": "ms"}`).
pub fn chrome_trace(samples: &[SampleSession], policy_names: &[String]) -> Value {
    let mut events = Vec::new();
    for (s, sample) in samples.iter().enumerate() {
        let pid = s as u64 + 1;
        let meta = |name: &str, tid: u64, args: Value| json!({"name": name, "ph": "M", "ts": 0, "pid": pid, "tid": tid, "args": args});
        events.push(meta(
            "process_name",
            0,
            json!({"name": format!("session {}: {}", sample.session, sample.label)}),
        ));
        events.push(meta("process_sort_index", 0, json!({"sort_index": pid})));
        for (p, trace) in sample.traces.iter().enumerate() {
            let tid = p as u64 + 1;
            let policy = policy_names.get(p).map_or("?", String::as_str);
            events.push(meta("thread_name", tid, json!({"name": policy})));
            events.push(meta("thread_sort_index", tid, json!({"sort_index": tid})));
            let mut last_end = 0;
            for (k, turn) in trace.turns.iter().enumerate() {
                if turn.start > last_end {
                    events.push(json!({
                        "name": "model idle", "cat": "idle", "ph": "X",
                        "ts": us(last_end), "dur": us(turn.start - last_end),
                        "pid": pid, "tid": tid,
                    }));
                }
                last_end = turn.end;
                events.push(json!({
                    "name": format!("turn {k}"), "cat": "model", "ph": "X",
                    "ts": us(turn.start), "dur": us(turn.end - turn.start),
                    "pid": pid, "tid": tid,
                    "args": {"results_read": turn.reads, "calls_issued": turn.issues},
                }));
                events.push(json!({
                    "name": "output shown", "cat": "output", "ph": "i", "s": "t",
                    "ts": us(turn.end), "pid": pid, "tid": tid,
                }));
            }
            for (c, call) in trace.calls.iter().enumerate() {
                let label = sample.calls.get(c);
                let name = label.map_or_else(|| format!("call {c}"), |l| l.id.clone());
                let tool = label.map_or("", |l| l.tool.as_str());
                let id = format!("{pid}.{tid}.{c}");
                let read_start = trace
                    .turns
                    .get(call.read_turn as usize)
                    .map_or(call.available, |t| t.start);
                events.push(json!({
                    "name": name, "cat": "tool", "ph": "b", "id": id,
                    "ts": us(call.issued), "pid": pid, "tid": tid,
                    "args": {
                        "tool": tool,
                        "started_us": us(call.started),
                        "finished_us": us(call.finished),
                        "available_us": us(call.available),
                        "read_by_turn": call.read_turn,
                        "waited_unread_us": us(read_start.saturating_sub(call.available)),
                    },
                }));
                events.push(json!({
                    "name": name, "cat": "tool", "ph": "e", "id": id,
                    "ts": us(call.finished), "pid": pid, "tid": tid,
                }));
                events.push(json!({
                    "name": format!("result delivered: {name}"), "cat": "delivery",
                    "ph": "i", "s": "t", "ts": us(call.available), "pid": pid, "tid": tid,
                }));
            }
        }
    }
    json!({"traceEvents": events, "displayTimeUnit": "ms"})
}

/// The trace as text, one event per line (diffable, still one JSON document).
pub fn to_string(trace: &Value) -> String {
    let events = trace["traceEvents"].as_array().cloned().unwrap_or_default();
    let mut out = String::from("{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n");
    for (i, e) in events.iter().enumerate() {
        out.push_str(&e.to_string());
        out.push_str(if i + 1 < events.len() { ",\n" } else { "\n" });
    }
    out.push_str("]}\n");
    out
}
