//! Per-principal quotas: how many open tasks (submitted, result not yet published) one principal
//! may hold, so one caller cannot fill the queues and saturate a tool for everyone; and the metric
//! every refusal counts on (the MCP server's waiting-call quota counts on it too).
//!
//! Each open task of a limited principal holds a place, a task id in the store
//! (`TaskStore::take_open_place`): taken before the task is created, given back when its result is
//! published (`results`). A place can outlive its task only when the process between the two
//! dies (a worker killed after its terminal write, a dispatcher killed after the take); so when a
//! principal's places are all taken, the tasks holding them are checked (at most once per
//! `OPEN_PLACES_CHECK_INTERVAL_MS`) and the places of ended or missing ones are taken back. The
//! limit is exact under any concurrency, across every instance of a deployment.

use crate::error::{PipelineError, StoreError};
use crate::limits::{OPEN_PLACE_GRACE_MS, OPEN_PLACES_CHECK_INTERVAL_MS};
use crate::ports::TaskStore;
use crate::record::TaskRecord;
use std::collections::HashMap;
use std::sync::Mutex;

/// Principals whose places one process remembers checking; past it, old entries are forgotten
/// (and a principal whose entry cannot be kept is not checked: it is refused, never let through).
const MAX_REMEMBERED_CHECKS: usize = 10_000;
/// Tasks holding places read at once while checking.
const CHECK_CONCURRENCY: usize = 16;

/// When each principal's places were last checked, by this process.
#[derive(Debug, Default)]
pub struct PlaceChecks {
    last_ms: Mutex<HashMap<String, u64>>,
}

impl PlaceChecks {
    /// True (and remembered) when `owner`'s places may be checked at `now_ms`.
    fn may_check(&self, owner: &str, now_ms: u64) -> bool {
        let mut last = self
            .last_ms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if last
            .get(owner)
            .is_some_and(|at| now_ms < at + OPEN_PLACES_CHECK_INTERVAL_MS)
        {
            return false;
        }
        if last.len() >= MAX_REMEMBERED_CHECKS && !last.contains_key(owner) {
            last.retain(|_, at| now_ms < *at + OPEN_PLACES_CHECK_INTERVAL_MS);
            if last.len() >= MAX_REMEMBERED_CHECKS {
                return false;
            }
        }
        last.insert(owner.to_string(), now_ms);
        true
    }
}

/// Takes a place for `task_id` among `owner`'s open tasks, at most `limit`: true when it holds one.
/// When all are taken, checks the tasks holding them (if not checked lately) and tries once more.
pub async fn take_place(
    store: &dyn TaskStore,
    checks: &PlaceChecks,
    owner: &str,
    task_id: &str,
    limit: u32,
    expires_at: u64,
    now_ms: u64,
) -> Result<bool, StoreError> {
    if store
        .take_open_place(owner, task_id, limit, expires_at)
        .await?
    {
        return Ok(true);
    }
    if !checks.may_check(owner, now_ms) || take_back_stale(store, owner, now_ms).await? == 0 {
        return Ok(false);
    }
    store
        .take_open_place(owner, task_id, limit, expires_at)
        .await
}

/// Takes back the places of `owner`'s tasks that ended (terminal) or are gone (missing past the
/// grace a create in flight needs); how many.
async fn take_back_stale(
    store: &dyn TaskStore,
    owner: &str,
    now_ms: u64,
) -> Result<usize, StoreError> {
    use futures::stream::{self, StreamExt, TryStreamExt};
    let places = store.open_places(owner).await?;
    let stale: Vec<String> = stream::iter(places)
        .map(|task_id| async move {
            let record = store.get(&task_id).await?;
            Ok::<_, StoreError>(
                is_stale(&task_id, record.as_ref(), owner, now_ms).then_some(task_id),
            )
        })
        .buffer_unordered(CHECK_CONCURRENCY)
        .try_filter_map(|stale| async move { Ok(stale) })
        .try_collect()
        .await?;
    if !stale.is_empty() {
        tracing::info!(
            owner,
            places = stale.len(),
            "took back open-task places whose tasks ended without giving them back"
        );
        store.release_open_places(owner, &stale).await?;
    }
    Ok(stale.len())
}

/// Whether the place of `task_id` no longer stands for an open task of `owner`.
fn is_stale(task_id: &str, record: Option<&TaskRecord>, owner: &str, now_ms: u64) -> bool {
    match record {
        Some(record) => record.status.is_terminal() || record.owner != owner,
        // Not written yet, or expired: a ULID carries its creation time.
        None => ulid::Ulid::from_string(task_id)
            .map(|id| id.timestamp_ms() + OPEN_PLACE_GRACE_MS <= now_ms)
            .unwrap_or(true),
    }
}

/// Gives back the place `record` holds, once its result is out.
pub async fn give_back_place(store: &dyn TaskStore, record: &TaskRecord) {
    if !record.holds_open_place {
        return;
    }
    debug_assert!(
        record.status.is_terminal(),
        "only an ended task gives its place back"
    );
    release_place(store, &record.owner, &record.task_id).await;
}

/// Gives back the place of `task_id` among `owner`'s open tasks: a task that ended, or one that
/// was never created. Best effort: a place not given back is taken back when its owner next
/// reaches the limit.
pub async fn release_place(store: &dyn TaskStore, owner: &str, task_id: &str) {
    let ids = [task_id.to_string()];
    if let Err(e) = store.release_open_places(owner, &ids).await {
        tracing::warn!(task_id, error = %e, "open-task place not given back; taken back when its owner next reaches the limit");
    }
}

/// The refusal of a submit past `limit` open tasks, counted (`refused`).
pub fn open_tasks_refusal(limit: u32) -> PipelineError {
    refused("open_tasks");
    PipelineError::QuotaExceeded {
        quota: "open_tasks",
        message: format!(
            "too many open tasks: you already have {limit} tasks whose results are not out yet, \
             the limit per caller. Wait for some to finish (or cancel ones you no longer need), \
             then submit again."
        ),
    }
}

/// Counts a refusal by a per-principal limit named `quota`: a log line, and on Lambda a CloudWatch
/// metric (`QuotaRefusals`, dimension `Quota`) in the Embedded Metric Format.
pub fn refused(quota: &str) {
    tracing::warn!(quota, "a per-principal limit refused a call");
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        println!("{}", emf_line(quota, crate::clock::now_ms()));
    }
}

fn emf_line(quota: &str, now_ms: u64) -> String {
    serde_json::json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": "AsyncTools",
                "Dimensions": [["Quota"]],
                "Metrics": [{"Name": "QuotaRefusals", "Unit": "Count"}]
            }]
        },
        "Quota": quota,
        "QuotaRefusals": 1,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metric_line_names_the_quota() {
        let line: serde_json::Value = serde_json::from_str(&emf_line("open_tasks", 7)).unwrap();
        assert_eq!(line["Quota"], "open_tasks");
        assert_eq!(line["QuotaRefusals"], 1);
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0],
            "Quota"
        );
    }

    #[test]
    fn a_principal_is_checked_at_most_once_per_interval() {
        let checks = PlaceChecks::default();
        assert!(checks.may_check("alice", 1_000));
        assert!(!checks.may_check("alice", 1_000 + OPEN_PLACES_CHECK_INTERVAL_MS - 1));
        assert!(
            checks.may_check("bob", 1_001),
            "each principal has its own interval"
        );
        assert!(checks.may_check("alice", 1_000 + OPEN_PLACES_CHECK_INTERVAL_MS));
    }

    #[test]
    fn a_missing_task_is_stale_only_after_the_grace() {
        let id = ulid::Ulid::from_parts(50_000, 1).to_string();
        assert!(!is_stale(
            &id,
            None,
            "alice",
            50_000 + OPEN_PLACE_GRACE_MS - 1
        ));
        assert!(is_stale(&id, None, "alice", 50_000 + OPEN_PLACE_GRACE_MS));
        assert!(is_stale("not-a-ulid", None, "alice", 0));
    }
}
