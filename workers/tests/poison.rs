//! Issue 24 ("Trust, round 3"), items 2, 3 and 10: what one poison task could do to everyone.
//!
//! - Item 2: a result under the result limit but over the message limit once escaped (U+FFFF is 3
//!   bytes stored, 6 sent) stayed SUCCEEDED and unpublished forever, and the sweeper, reading only
//!   the oldest 100 open tasks of a shard, counted it as an error every pass and never reached a
//!   lost enqueue behind ~800 of them. Now limits are measured on the bytes sent, such a result
//!   ends FAILED `result_too_large` (delivered to its owner), and the sweeper pages past what it
//!   cannot fix and sets it aside.
//! - Item 3: a Lambda function's 450 KB error message was stored uncut, the terminal write failed
//!   (item too large), the function ran 5 times and the task ended `abandoned`. Now every
//!   tool-supplied string is cut, and a write refused for its size falls back to a minimal failure.
//! - Item 10: a function's own error saying "Task timed out" was recorded TIMED_OUT.
//!
//! Each runs on memory and on moto.

#[macro_use]
mod common;

use async_trait::async_trait;
use common::*;
use futures::StreamExt;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use workers::clock::{FakeClock, now_ms};
use workers::error::StoreError;
use workers::limits::{ASIDE_SHARD, MAX_ERROR_MESSAGE_BYTES, MAX_MESSAGE_BYTES, MAX_RESULT_BYTES};
use workers::ports::TaskStore;
use workers::protocol::{check_result, json_len, sent_json_len};
use workers::record::{ErrorKind, NewTask, Outcome};
use workers::sweeper::{
    MAX_REPORTED_ERRORS, Remedy, SweepReport, SweepSettings, find_stuck, sweep,
};
use workers::testkit::{Hooked, StoreHook};
use workers::{
    Backend, DispatcherSettings, ResultMessage, TaskRecord, TaskStatus, ToolBox, WorkerSettings,
};

/// `n` U+FFFF characters: 3 bytes each in stored JSON, 6 in a message (`\uffff`).
fn ffff(n: usize) -> String {
    "\u{ffff}".repeat(n)
}

/// The shard all the poison of a test goes into.
const SHARD: u32 = 3;
/// The sweeper's bound in these tests.
const BOUND_MS: u64 = 1_000;

/// A PENDING task of `tool` created at `created_at_ms`, with an id that falls in `shard`.
fn pending_in(shard: u32, created_at_ms: u64, tool: &str) -> TaskRecord {
    loop {
        let id = ulid::Ulid::generate().to_string();
        let task = NewTask::new(id, ALICE, "c1", tool, json!({}));
        let record = TaskRecord::pending(task, created_at_ms, 1);
        if record.open_shard() == Some(shard) {
            return record;
        }
    }
}

/// A task that a build measuring the raw JSON let finish: SUCCEEDED with a result of 132 KB as
/// stored (under the result limit) but 264 KB as sent (over the message limit), never published,
/// its worker gone.
fn unpublishable_in(shard: u32, created_at_ms: u64) -> TaskRecord {
    let record = pending_in(shard, created_at_ms, "synthetic");
    record
        .claim("dead-worker", created_at_ms + 1, 1)
        .unwrap()
        .finish(
            Outcome::Succeeded(json!({"echo": ffff(44_000)})),
            created_at_ms + 2,
        )
        .unwrap()
}

async fn create_all(backend: &Backend, records: &[TaskRecord]) {
    let store = backend.store.clone();
    futures::stream::iter(records.iter().cloned())
        .for_each_concurrent(16, |r| {
            let store = store.clone();
            async move {
                store.create(&r).await.unwrap();
            }
        })
        .await;
}

fn settings(max_tasks: u32) -> SweepSettings {
    SweepSettings {
        older_than_ms: BOUND_MS,
        max_tasks,
        ..SweepSettings::default()
    }
}

/// `settings(max_tasks)` on a clock that stands at `at_ms`: what is due does not hang on how long
/// the test's own calls took on a loaded machine.
fn settings_at(max_tasks: u32, at_ms: u64) -> SweepSettings {
    SweepSettings {
        clock: FakeClock::at(at_ms),
        ..settings(max_tasks)
    }
}

async fn sweep_by(backend: &Backend, settings: SweepSettings) -> SweepReport {
    sweep(
        backend.store.as_ref(),
        &backend.work_queues,
        &backend.replies,
        settings,
    )
    .await
    .unwrap()
}

async fn sweep_with(backend: &Backend, max_tasks: u32) -> SweepReport {
    sweep_by(backend, settings(max_tasks)).await
}

async fn sweep_at(backend: &Backend, max_tasks: u32, at_ms: u64) -> SweepReport {
    sweep_by(backend, settings_at(max_tasks, at_ms)).await
}

async fn sweep_once(backend: &Backend) -> SweepReport {
    sweep_with(backend, workers::limits::DEFAULT_SWEEP_TASKS).await
}

/// The sizes the old and new measures give: what made the poison possible.
#[test]
fn results_are_measured_on_the_bytes_sent() {
    let value = json!({"echo": ffff(44_000)});
    assert!(json_len(&value) < MAX_RESULT_BYTES, "under the old measure");
    assert_eq!(sent_json_len(&value), json_len(&value) + 3 * 44_000);
    let err = check_result(&value).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "result: is {} bytes of JSON as sent (U+FFFE and U+FFFF escaped); the limit is 204800 \
             bytes (200 KiB)",
            sent_json_len(&value)
        )
    );
    // At the limit exactly (as sent) it fits; a byte more does not.
    let at_limit = |extra: usize| {
        let base = json!({"s": ffff(1_000)});
        let pad = MAX_RESULT_BYTES - sent_json_len(&base) + extra;
        json!({"s": ffff(1_000), "p": "x".repeat(pad - 7)})
    };
    assert_eq!(sent_json_len(&at_limit(0)), MAX_RESULT_BYTES);
    assert!(check_result(&at_limit(0)).is_ok());
    assert!(check_result(&at_limit(1)).is_err());
    // A message says what it would take to send.
    let record = unpublishable_in(0, 1_000);
    let message = ResultMessage::for_record(&record);
    assert!(message.to_body().len() > MAX_MESSAGE_BYTES);
    let why = message.too_large().unwrap();
    assert!(
        why.contains("the limit of a message is 262144 bytes (256 KiB)"),
        "{why}"
    );
    let small = pending_in(0, 1_000, "synthetic")
        .claim("w", 1_001, 1)
        .unwrap()
        .finish(Outcome::Succeeded(json!({"echo": ffff(1_000)})), 1_002)
        .unwrap();
    assert_eq!(ResultMessage::for_record(&small).too_large(), None);
}

/// Item 2, the worker: a result that fits the old (raw JSON) measure but not the bytes sent ends
/// FAILED `result_too_large`, with its size and the limit, and reaches its owner; one that fits
/// as sent round-trips.
async fn a_result_too_large_as_sent_fails_and_reaches_its_owner(h: Harness) {
    let backend = &h.backend;
    let tools = ToolBox::builtin();
    let d = backend
        .dispatcher(tools.clone(), DispatcherSettings::default())
        .unwrap();
    let caller = alice();
    // 21,000 × U+FFFF echoed (63 KB stored, 126 KB sent) and 140,000 bytes of padding: about
    // 203 KB of raw JSON, under the 200 KiB the old check measured; 266 KB as sent.
    let poison = json!({"echo": ffff(21_000), "pad_bytes": 140_000});
    let big = submit_as(&d, &caller, "c1", "synthetic", poison).await;
    let fine = json!({"echo": ffff(1_000), "pad_bytes": 150_000});
    let fits = submit_as(&d, &caller, "c1", "synthetic", fine).await;
    let workers = pool(backend, &tools, "w", 2);
    let failed = wait_for(backend, &big, Duration::from_secs(30), finished).await;
    let ok = wait_for(backend, &fits, Duration::from_secs(30), finished).await;
    workers.stop().await;
    assert_eq!((failed.status, failed.attempts), (TaskStatus::Failed, 1));
    assert_eq!(failed.result, None);
    let error = failed.error.clone().unwrap();
    assert_eq!(error.kind, ErrorKind::ResultTooLarge);
    assert!(
        error.message.starts_with("result: is 26") && error.message.contains("as sent"),
        "{}",
        error.message
    );
    assert!(
        error
            .message
            .ends_with("the limit is 204800 bytes (200 KiB)")
    );
    assert_eq!(ok.status, TaskStatus::Succeeded);
    let mut router = backend.router(ALICE, DEFAULT_CONSUMER).unwrap();
    let got = route_until(&mut router, 2, Duration::from_secs(20)).await;
    let by_id: HashMap<&str, &ResultMessage> =
        got.iter().map(|m| (m.task_id.as_str(), m)).collect();
    let delivered = by_id[big.as_str()];
    assert_eq!(delivered.status, TaskStatus::Failed);
    assert_eq!(delivered.error.as_ref().unwrap(), &error);
    assert_eq!(
        by_id[fits.as_str()].result.as_ref().unwrap()["echo"]["echo"],
        json!(ffff(1_000)),
        "U+FFFF arrives as sent"
    );
}

/// Item 2, the sweeper: a task an older build left SUCCEEDED but unpublishable is failed as
/// `result_too_large` (its message names the sizes and the limit), published and handed to its
/// owner, instead of erring on every sweep.
async fn an_unpublishable_success_is_failed_by_the_sweeper_and_delivered(h: Harness) {
    let backend = &h.backend;
    let stuck = unpublishable_in(SHARD, now_ms() - 10_000);
    backend.store.create(&stuck).await.unwrap();
    let report = sweep_once(backend).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        (
            report.republished,
            report.failed_too_large,
            report.unfixable
        ),
        (1, 1, 0),
        "{report:?}"
    );
    assert_eq!(report.stuck[0].remedy, Remedy::Publish);
    let record = get(backend, &stuck.task_id).await;
    assert_eq!(
        (record.status, record.result_published),
        (TaskStatus::Failed, true)
    );
    assert_eq!(record.result, None);
    let error = record.error.unwrap();
    assert_eq!(error.kind, ErrorKind::ResultTooLarge);
    assert!(
        error.message.contains("the result is 264")
            && error.message.contains("bytes of JSON as sent"),
        "{}",
        error.message
    );
    assert!(
        error
            .message
            .ends_with("the limit of a message is 262144 bytes (256 KiB)")
    );
    let mut router = backend.router(ALICE, DEFAULT_CONSUMER).unwrap();
    let got = route_until(&mut router, 1, Duration::from_secs(20)).await;
    assert_eq!(got[0].task_id, stuck.task_id);
    assert_eq!(
        got[0].error.as_ref().unwrap().kind,
        ErrorKind::ResultTooLarge
    );
    let report = sweep_once(backend).await;
    assert_eq!(
        (report.scanned, report.unfixable),
        (0, 0),
        "nothing left open"
    );
}

/// The done-when of item 2: 1,000 unpublishable tasks at the head of one shard, and behind them a
/// task whose enqueue was lost. The first sweep past the bound re-enqueues it (and fails the 1,000
/// as `result_too_large`, published); the task then runs.
async fn a_thousand_unpublishable_tasks_do_not_starve_a_lost_enqueue(h: Harness) {
    let backend = &h.backend;
    let start = now_ms() - 600_000;
    let poison: Vec<TaskRecord> = (0..1_000)
        .map(|i| unpublishable_in(SHARD, start + i))
        .collect();
    create_all(backend, &poison).await;
    let lost = pending_in(SHARD, now_ms() - 5_000, "synthetic");
    backend.store.create(&lost).await.unwrap();
    let report = sweep_once(backend).await;
    assert!(
        report.errors.is_empty(),
        "{:?}",
        &report.errors[..3.min(report.errors.len())]
    );
    assert_eq!(
        report.requeued, 1,
        "the lost enqueue, behind 1,000 poison tasks"
    );
    assert_eq!(
        (
            report.failed_too_large,
            report.republished,
            report.unfixable
        ),
        (1_000, 1_000, 0)
    );
    assert!(!report.budget_exhausted);
    assert!(report.oldest_open_age_s >= Some(600));
    assert!(get(backend, &lost.task_id).await.enqueued_at_ms > lost.enqueued_at_ms);
    assert_eq!(
        backend.work_queues["synthetic"]
            .depth()
            .await
            .unwrap()
            .visible,
        1
    );
    let tools = ToolBox::builtin();
    let workers = pool(backend, &tools, "w", 1);
    let done = wait_for(backend, &lost.task_id, Duration::from_secs(30), finished).await;
    workers.stop().await;
    assert_eq!(done.status, TaskStatus::Succeeded);
    for record in [&poison[0], &poison[999]] {
        let record = get(backend, &record.task_id).await;
        assert_eq!(
            (record.status, record.result_published),
            (TaskStatus::Failed, true)
        );
    }
    let report = sweep_once(backend).await;
    assert_eq!((report.scanned, report.oldest_open_age_s), (0, None));
}

/// Item 2, the general case: 1,000 tasks whose remedy cannot work (their tool's work queue is
/// gone) at the head of one shard. They are set aside (and counted, for the alarm), never stand
/// in front of a lost enqueue, are tried again each sweep, and come back once they can be fixed.
async fn tasks_the_sweeper_cannot_fix_are_set_aside_and_never_starve_the_rest(h: Harness) {
    let backend = &h.backend;
    // Every sweep here reads a clock that moves only as told (100 ms a sweep), and the tasks' times
    // are set from it: what is due does not hang on how slow the machine is (the lost task the
    // first sweep re-enqueues is never due again).
    let t0 = now_ms();
    let start = t0 - 600_000;
    let unfixable: Vec<TaskRecord> = (0..1_000)
        .map(|i| pending_in(SHARD, start + i, "retired"))
        .collect();
    create_all(backend, &unfixable).await;
    let lost = pending_in(SHARD, t0 - 5_000, "synthetic");
    backend.store.create(&lost).await.unwrap();

    let first = sweep_at(backend, workers::limits::DEFAULT_SWEEP_TASKS, t0).await;
    assert_eq!(
        first.requeued, 1,
        "the lost enqueue behind 1,000 it cannot fix"
    );
    assert_eq!((first.unfixable, first.set_aside), (1_000, 1_000));
    assert_eq!(
        first.errors.len(),
        MAX_REPORTED_ERRORS,
        "the list is bounded"
    );
    assert!(
        first.errors[0].contains("no work queue for tool \"retired\""),
        "{}",
        first.errors[0]
    );
    assert!(first.oldest_open_age_s >= Some(600));
    let aside = backend
        .store
        .list_open(ASIDE_SHARD, 100, None)
        .await
        .unwrap();
    assert_eq!(aside.tasks.len(), 100);
    assert!(aside.tasks.iter().all(|t| {
        t.set_aside
            .as_ref()
            .is_some_and(|s| s.reason.contains("no work queue"))
    }));
    let own = backend.store.list_open(SHARD, 100, None).await.unwrap();
    assert_eq!(own.tasks.len(), 1, "only the lost one is left in its shard");

    // Another lost enqueue; a small budget: the aside shard takes only its turns.
    let lost_again = pending_in(SHARD, t0 - 4_000, "synthetic");
    backend.store.create(&lost_again).await.unwrap();
    let small = sweep_at(backend, 150, t0 + 100).await;
    assert_eq!(small.requeued, 1, "{small:?}");
    assert!(small.budget_exhausted);
    assert_eq!(small.scanned, 150);
    assert_eq!(small.set_aside, 0, "already aside");
    assert!(small.unfixable >= 100, "{}", small.unfixable);
    assert!(
        small.oldest_open_age_s < Some(60),
        "what is set aside is counted as unfixable, not as the oldest open task: {:?}",
        small.oldest_open_age_s
    );

    // A full sweep tries every one of them again; `tasks stuck` shows why they are aside.
    let again = sweep_at(backend, workers::limits::DEFAULT_SWEEP_TASKS, t0 + 200).await;
    assert_eq!((again.unfixable, again.set_aside), (1_000, 0));
    let stuck = find_stuck(backend.store.as_ref(), settings_at(5_000, t0 + 300))
        .await
        .unwrap();
    let listed = stuck.stuck.iter().filter(|s| s.set_aside.is_some()).count();
    assert_eq!(listed, 1_000);

    // The operator restores a queue for the tool: the next sweep re-enqueues them all, and they
    // are back in their own shard.
    let mut queues = backend.work_queues.clone();
    queues.insert("retired".into(), backend.work_queues["research"].clone());
    let fixed = sweep(
        backend.store.as_ref(),
        &queues,
        &backend.replies,
        settings_at(5_000, t0 + 400),
    )
    .await
    .unwrap();
    // (The two lost tasks were re-enqueued within the bound: not due yet.)
    assert_eq!(fixed.unfixable, 0, "{:?}", fixed.errors);
    assert_eq!(fixed.requeued, 1_000);
    let aside = backend
        .store
        .list_open(ASIDE_SHARD, 100, None)
        .await
        .unwrap();
    assert!(aside.tasks.is_empty());
    let record = get(backend, &unfixable[0].task_id).await;
    assert_eq!(
        (record.set_aside.clone(), record.open_shard()),
        (None, Some(SHARD))
    );
}

// ---- Items 3 and 10: a Lambda tool's error text ----

/// A stand-in for Lambda's Invoke API: every function answers with a function error; `huge` with
/// a 450 KB message, `upstream` with its own error saying "Task timed out", `sandbox` as Lambda
/// does when it stops a function at its timeout. Counts invocations per function.
struct FakeLambda {
    url: String,
    calls: Arc<Mutex<HashMap<String, u32>>>,
}

impl FakeLambda {
    async fn start() -> FakeLambda {
        let calls: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
        let counted = calls.clone();
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let counted = counted.clone();
            async move {
                // POST /2015-03-31/functions/<name>/invocations
                let path = request.uri().path().to_string();
                let name = path.split('/').nth(3).unwrap_or_default().to_string();
                *counted.lock().unwrap().entry(name.clone()).or_default() += 1;
                let payload = match name.as_str() {
                    "huge" => json!({"errorType": "ValueError", "errorMessage": "é".repeat(225_000)}),
                    "upstream" => json!({
                        "errorType": "UpstreamError",
                        "errorMessage": "the index said: Task timed out after 3.00 seconds"
                    }),
                    _ => json!({
                        "errorType": "Sandbox.Timedout",
                        "errorMessage": "RequestId: 4607c3a0-0c91-4ec2-8f13-a5bfb815853d Error: Task timed out after 3.00 seconds"
                    }),
                };
                axum::response::Response::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .header("x-amz-function-error", "Unhandled")
                    .header("x-amz-executed-version", "$LATEST")
                    .body(axum::body::Body::from(payload.to_string()))
                    .unwrap()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeLambda { url, calls }
    }

    fn calls(&self, function: &str) -> u32 {
        self.calls
            .lock()
            .unwrap()
            .get(function)
            .copied()
            .unwrap_or(0)
    }
}

fn lambda_catalog() -> Arc<workers::Catalog> {
    let mut text = TEST_CATALOG.to_string();
    for name in ["huge", "upstream", "sandbox"] {
        text.push_str(&format!(
            "[[tools]]\nname = \"{name}\"\ndescription = \"test\"\nkind = \"lambda\"\n\
             function = \"{name}\"\ntimeout_s = 5\nmemory_mb = 128\nbatch_size = 1\n\
             max_concurrency = 2\nmax_receive_count = 5\n"
        ));
    }
    Arc::new(workers::Catalog::parse(&text).unwrap())
}

/// A backend with the lambda tools' queues, of the harness's kind.
async fn lambda_backend(kind: Kind, test: &str) -> Option<Backend> {
    let catalog = lambda_catalog();
    match kind {
        Kind::Memory => Some(Backend::in_memory_with(
            catalog,
            Some(Duration::from_secs(2)),
        )),
        Kind::Moto => {
            let moto = workers::testkit::MotoServer::shared(test)?;
            let sdk =
                workers::aws::sdk_config(&workers::aws::AwsSettings::emulator(&moto.endpoint))
                    .await;
            let options = workers::aws::ProvisionOptions {
                work_visibility_timeout_s: Some(TEST_VISIBILITY_S),
                consumers: vec![DEFAULT_CONSUMER.into()],
                ..workers::aws::ProvisionOptions::new(format!("T{}", ulid::Ulid::generate()))
            };
            let resources = workers::aws::provision(&sdk, &catalog, &options)
                .await
                .unwrap();
            Some(Backend::aws(&sdk, &resources, catalog).unwrap())
        }
    }
}

/// Items 3 and 10. A function's 450 KB error is cut (with the marker giving its size) and the task
/// ends FAILED after one invocation, never `abandoned` (on moto the uncut error made every terminal
/// write fail: 5 invocations, then `abandoned`). A function's own error that mentions a timeout is
/// FAILED; only Lambda timing the function out is TIMED_OUT.
async fn lambda_errors_are_cut_and_recorded_as_what_they_are(kind: Kind) {
    let Some(backend) = lambda_backend(kind, "lambda_errors_are_cut").await else {
        return;
    };
    let fake = FakeLambda::start().await;
    let sdk = workers::aws::sdk_config(&workers::aws::AwsSettings::emulator(&fake.url)).await;
    let tools = workers::tools::for_catalog(&backend.catalog, Some(&sdk))
        .await
        .unwrap();
    let d = backend
        .dispatcher(tools.clone(), DispatcherSettings::default())
        .unwrap();
    let caller = alice();
    let mut ids = HashMap::new();
    for name in ["huge", "upstream", "sandbox"] {
        ids.insert(name, submit_as(&d, &caller, "c1", name, json!({})).await);
    }
    let mut options = workers::poller::PoolOptions::new("w");
    options.wait = Duration::from_millis(200);
    options.recovery_ms = Some(TEST_RECOVERY_MS);
    let names: Vec<String> = ["huge", "upstream", "sandbox"].map(String::from).to_vec();
    let workers = workers::poller::WorkerPool::start(&backend, &tools, &names, &options).unwrap();
    let mut done = HashMap::new();
    for (name, id) in &ids {
        done.insert(
            *name,
            wait_for(&backend, id, Duration::from_secs(60), finished).await,
        );
    }
    workers.stop().await;

    let huge = &done["huge"];
    let error = huge.error.as_ref().unwrap();
    assert_eq!(
        (huge.status, error.kind, huge.attempts),
        (TaskStatus::Failed, ErrorKind::ToolFailed, 1),
        "{error:?}"
    );
    assert_eq!(fake.calls("huge"), 1, "invoked once");
    assert!(
        error.message.len() <= MAX_ERROR_MESSAGE_BYTES,
        "{}",
        error.message.len()
    );
    assert!(
        error
            .message
            .starts_with("function huge failed (ValueError): éé")
    );
    assert!(error.message.ends_with("é… (cut, 450000 bytes)"));

    let upstream = &done["upstream"];
    assert_eq!(upstream.status, TaskStatus::Failed, "{upstream:?}");
    assert_eq!(
        upstream.error.as_ref().unwrap().message,
        "function upstream failed (UpstreamError): the index said: Task timed out after 3.00 seconds"
    );
    let sandbox = &done["sandbox"];
    assert_eq!(sandbox.status, TaskStatus::TimedOut, "{sandbox:?}");
    assert_eq!(sandbox.error.as_ref().unwrap().kind, ErrorKind::TimedOut);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_lambda_errors_are_cut_and_recorded_as_what_they_are() {
    lambda_errors_are_cut_and_recorded_as_what_they_are(Kind::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_lambda_errors_are_cut_and_recorded_as_what_they_are() {
    lambda_errors_are_cut_and_recorded_as_what_they_are(Kind::Moto).await;
}

// ---- Item 3: a terminal write refused for its size ----

/// The harness's store, refusing any terminal record that carries a result as too large: what a
/// store does with an item over its limit.
struct RefusesResults;

#[async_trait]
impl StoreHook for RefusesResults {
    async fn transition(
        &self,
        inner: &dyn TaskStore,
        current: &TaskRecord,
        next: &TaskRecord,
    ) -> Result<(), StoreError> {
        if next.status.is_terminal() && next.result.is_some() {
            return Err(StoreError::TooLarge {
                task_id: next.task_id.clone(),
                bytes: 500_000,
                limit: workers::limits::MAX_RECORD_BYTES,
            });
        }
        inner.transition(current, next).await
    }
}

/// A terminal write the store refuses for its size is not retried until the task is `abandoned`
/// (running the tool again each time): a minimal FAILED `result_too_large` record saying why takes
/// its place, after one run.
async fn a_terminal_write_refused_for_its_size_ends_failed_after_one_run(h: Harness) {
    let backend = Backend {
        store: Arc::new(Hooked::new(h.backend.store.clone(), RefusesResults)),
        ..h.backend.clone()
    };
    let counting = Arc::new(Counting::default());
    let tools = ToolBox::builtin().with("synthetic", counting.clone());
    let d = backend
        .dispatcher(tools.clone(), DispatcherSettings::default())
        .unwrap();
    let id = submit_as(&d, &alice(), "c1", "synthetic", json!({"pad_bytes": 1_000})).await;
    let mut options = workers::poller::PoolOptions::new("w");
    options.wait = Duration::from_millis(200);
    options.recovery_ms = Some(TEST_RECOVERY_MS);
    let workers =
        workers::poller::WorkerPool::start(&backend, &tools, &["synthetic".into()], &options)
            .unwrap();
    let record = wait_for(&backend, &id, Duration::from_secs(30), finished).await;
    workers.stop().await;
    assert_eq!((record.status, record.attempts), (TaskStatus::Failed, 1));
    let error = record.error.unwrap();
    assert_eq!(error.kind, ErrorKind::ResultTooLarge);
    assert!(
        error
            .message
            .starts_with("the task ended SUCCEEDED but its outcome could not be stored: task ")
            && error
                .message
                .ends_with("the record would be 500000 bytes; the store's limit is 400000 bytes"),
        "{}",
        error.message
    );
    assert_eq!(
        counting.total.load(Ordering::SeqCst),
        1,
        "the tool ran once"
    );
}

/// The worker measures the record too: an outcome whose record would be over the store's limit is
/// never sent to the store (here: an error message set by a tool that skipped the limits).
#[tokio::test]
async fn an_error_too_large_for_the_record_is_cut_before_the_write() {
    struct Shouts;
    #[async_trait]
    impl workers::tools::Tool for Shouts {
        fn check_arguments(&self, _: &Value) -> Result<(), workers::InputError> {
            Ok(())
        }
        async fn run(
            &self,
            _: Value,
            _: workers::tools::ToolContext,
        ) -> Result<Value, workers::tools::ToolFailure> {
            Err(workers::tools::ToolFailure::new("!".repeat(1_000_000)))
        }
    }
    let backend = Backend::in_memory(test_catalog());
    let tools = ToolBox::builtin().with("synthetic", Arc::new(Shouts));
    let d = backend
        .dispatcher(tools.clone(), DispatcherSettings::default())
        .unwrap();
    let id = submit_as(&d, &alice(), "c1", "synthetic", json!({})).await;
    let worker = workers::Worker::new(
        backend.catalog.get("synthetic").unwrap().clone(),
        &tools,
        backend.store.clone(),
        backend.replies.clone(),
        None,
        WorkerSettings::new("w"),
    )
    .unwrap();
    let delivery = workers::Delivery {
        message_id: "m1".into(),
        body: workers::WorkMessage::new(&id, "synthetic").to_body(),
        receive_count: 1,
        receipt_handle: None,
    };
    let disposition = worker.handle(&delivery, None).await;
    assert!(
        matches!(disposition, workers::Disposition::Done(_)),
        "{disposition:?}"
    );
    let record = get(&backend, &id).await;
    let error = record.error.unwrap();
    assert_eq!(
        (record.status, error.kind),
        (TaskStatus::Failed, ErrorKind::ToolFailed)
    );
    assert_eq!(error.message.len(), MAX_ERROR_MESSAGE_BYTES);
    assert!(error.message.ends_with("… (cut, 1000000 bytes)"));
    assert!(record.result_published);
}

/// The Lambda function's sweep stops walking before the function's timeout (`stop_at_ms`): past
/// it, nothing more is read or acted on, and the report says the budget ran out.
#[tokio::test]
async fn a_sweep_stops_at_its_stop_time() {
    let backend = Backend::in_memory(test_catalog());
    let lost = pending_in(SHARD, now_ms() - 5_000, "synthetic");
    backend.store.create(&lost).await.unwrap();
    let late = SweepSettings {
        stop_at_ms: Some(now_ms() - 1),
        ..settings(5_000)
    };
    let report = sweep_by(&backend, late).await;
    assert_eq!(
        (report.scanned, report.requeued, report.budget_exhausted),
        (0, 0, true)
    );
    assert_eq!(get(&backend, &lost.task_id).await, lost);
    let in_time = SweepSettings {
        stop_at_ms: Some(now_ms() + 60_000),
        ..settings(5_000)
    };
    let report = sweep_by(&backend, in_time).await;
    assert_eq!((report.requeued, report.budget_exhausted), (1, false));
}

on_every_backend!(
    a_result_too_large_as_sent_fails_and_reaches_its_owner,
    an_unpublishable_success_is_failed_by_the_sweeper_and_delivered,
    a_thousand_unpublishable_tasks_do_not_starve_a_lost_enqueue,
    tasks_the_sweeper_cannot_fix_are_set_aside_and_never_starve_the_rest,
    a_terminal_write_refused_for_its_size_ends_failed_after_one_run,
);
