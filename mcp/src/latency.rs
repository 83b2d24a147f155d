//! How long each tool's calls take, as this server has seen them: whether a new call is worth
//! waiting for (answered inline) or should be acknowledged at once.
//!
//! A call waits up to the inline bound for its task, so a fast tool answers with its result; but
//! waiting for a tool that never finishes that fast only delays its acknowledgement. So the server
//! keeps the last few times to result of each tool (creation to finish, what the caller waits) and
//! skips the wait for a tool whose median is longer than the bound. Before it has seen a tool run,
//! the catalog's `typical_run_ms` stands in; without that, the call waits.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;
use workers::{Catalog, TaskRecord, TaskStatus};

/// Runs remembered per tool.
const KEPT: usize = 16;
/// Runs seen before they outweigh the catalog's hint.
const ENOUGH: usize = 3;

#[derive(Default)]
pub struct Latencies {
    /// Per tool, the last runs: (task id, time to result in ms).
    runs: Mutex<HashMap<String, VecDeque<(String, u64)>>>,
    /// `typical_run_ms` from the catalog, per tool.
    hints: HashMap<String, u64>,
}

impl Latencies {
    pub fn new(catalog: &Catalog) -> Latencies {
        Latencies {
            runs: Mutex::default(),
            hints: catalog
                .tools()
                .iter()
                .filter_map(|t| Some((t.name.clone(), t.typical_run_ms?)))
                .collect(),
        }
    }

    /// Notes a finished task's time to result: runs that succeeded only (a cancel or a failure says
    /// nothing of how long the tool takes), each once however many paths see it.
    pub fn record(&self, record: &TaskRecord) {
        let (TaskStatus::Succeeded, Some(finished)) = (record.status, record.finished_at_ms) else {
            return;
        };
        let took = finished.saturating_sub(record.created_at_ms);
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        let kept = runs.entry(record.tool.clone()).or_default();
        if kept.iter().any(|(id, _)| *id == record.task_id) {
            return;
        }
        kept.push_back((record.task_id.clone(), took));
        if kept.len() > KEPT {
            kept.pop_front();
        }
    }

    /// The time to result a call of `tool` should expect: the median of the runs seen, or the
    /// catalog's hint until there are enough of them.
    pub fn expected(&self, tool: &str) -> Option<Duration> {
        let runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        let seen = runs.get(tool).filter(|kept| kept.len() >= ENOUGH);
        let ms = match seen {
            Some(kept) => {
                let mut sorted: Vec<u64> = kept.iter().map(|(_, ms)| *ms).collect();
                sorted.sort_unstable();
                Some(sorted[sorted.len() / 2])
            }
            None => self.hints.get(tool).copied(),
        };
        ms.map(Duration::from_millis)
    }

    /// Whether a call of `tool` is worth waiting up to `bound` for.
    pub fn worth_waiting(&self, tool: &str, bound: Duration) -> bool {
        self.expected(tool).is_none_or(|expected| expected <= bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use workers::record::NewTask;

    fn run(tool: &str, took_ms: u64) -> TaskRecord {
        let mut record = TaskRecord::pending(
            NewTask {
                task_id: ulid::Ulid::generate().to_string(),
                owner: "o".into(),
                reply_to: "mcp".into(),
                conversation_id: "c".into(),
                tool: tool.into(),
                arguments: json!({}),
                idempotency_key: None,
                deadline_ms: None,
            },
            1_000,
            1,
        );
        record.finished_at_ms = Some(1_000 + took_ms);
        record.status = TaskStatus::Succeeded;
        record
    }

    #[test]
    fn only_successes_count_and_each_once() {
        let latencies = Latencies::default();
        let bound = Duration::from_millis(100);
        let slow = run("t", 5_000);
        for _ in 0..ENOUGH {
            latencies.record(&slow);
        }
        assert_eq!(
            latencies.expected("t"),
            None,
            "one run seen three times is one run"
        );
        for _ in 0..ENOUGH {
            let mut cancelled = run("t", 2);
            cancelled.status = TaskStatus::Cancelled;
            latencies.record(&cancelled);
        }
        assert_eq!(latencies.expected("t"), None, "cancels are not runs");
        latencies.record(&run("t", 5_000));
        latencies.record(&run("t", 5_000));
        assert!(!latencies.worth_waiting("t", bound));
    }

    #[test]
    fn the_catalog_hint_stands_in_until_runs_are_seen() {
        let latencies = Latencies::new(Catalog::embedded());
        let bound = Duration::from_millis(100);
        assert!(!latencies.worth_waiting("research", bound), "hinted slow");
        assert!(latencies.worth_waiting("sentiment", bound), "hinted fast");
        assert!(latencies.worth_waiting("synthetic", bound), "no hint: wait");
        for _ in 0..ENOUGH {
            latencies.record(&run("research", 40));
        }
        assert!(latencies.worth_waiting("research", bound), "seen fast");
        assert_eq!(
            latencies.expected("research"),
            Some(Duration::from_millis(40))
        );
    }

    #[test]
    fn the_median_of_the_last_runs_decides() {
        let latencies = Latencies::default();
        let bound = Duration::from_millis(100);
        for took in [5, 5000, 5000, 10, 5000] {
            latencies.record(&run("t", took));
        }
        assert!(!latencies.worth_waiting("t", bound));
        for _ in 0..KEPT {
            latencies.record(&run("t", 20));
        }
        assert!(latencies.worth_waiting("t", bound));
    }
}
