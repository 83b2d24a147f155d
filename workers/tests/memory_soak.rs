//! The memory backend forgets (issue 24, item 4): calls through the dispatcher and a local worker
//! pool, results handed over as the MCP server does, the clock moved past the tasks' TTL between
//! rounds. The store holds one round of records, never the ones before, and the process's resident
//! memory stops growing once warm. Memory only: moto never expires items.
//!
//! `ASYNCTOOLS_SOAK_CALLS` (default 4,000) calls in rounds of 500, each with an 8 KiB echo, so its
//! arguments and its result are 16 KiB of every record. 100,000 calls take a few minutes in a
//! debug build: `ASYNCTOOLS_SOAK_CALLS=100000 cargo test -p workers-core --test memory_soak -- --nocapture`.

use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use workers::clock::FakeClock;
use workers::delivery::{Claim, claim_delivery};
use workers::limits::DEFAULT_CONSUMER;
use workers::memory::{MemoryStore, MemoryStoreSettings};
use workers::poller::{PoolOptions, WorkerPool};
use workers::ports::TaskStore;
use workers::{
    Backend, Caller, Catalog, DispatcherSettings, PipelineError, ResultMessage, StoreError,
    TaskRequest, ToolBox,
};

/// 2033-05-18, in ms: far from the machine's clock.
const T0: u64 = 2_000_000_000_000;
const DAY_MS: u64 = 86_400_000;
const ROUND: usize = 500;
const ECHO_BYTES: usize = 8 * 1024;
/// Resident memory may grow this much from the end of the warm-up to the end of the soak (the
/// allocator keeps freed memory, and a round's peak varies with how far results queue up). The
/// code before expiry grew ~17 MiB per round of 500.
const RSS_GROWTH_BOUND: u64 = 48 * 1024 * 1024;

/// Resident set size of this process (`/proc/self/statm`, pages of 4 KiB on the machines we run).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm (Linux)");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn calls() -> usize {
    std::env::var("ASYNCTOOLS_SOAK_CALLS")
        .ok()
        .map(|v| v.parse().expect("ASYNCTOOLS_SOAK_CALLS is a number"))
        .unwrap_or(4_000)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soak_past_the_ttl_holds_one_round_of_records_and_flat_memory() {
    let rounds = calls().div_ceil(ROUND).max(4);
    let clock = FakeClock::at(T0);
    let store = Arc::new(
        MemoryStore::with_settings(MemoryStoreSettings {
            clock: clock.clone(),
            ..MemoryStoreSettings::default()
        })
        .unwrap(),
    );
    let mut backend = Backend::in_memory(Arc::new(Catalog::embedded().clone()));
    backend.store = store.clone();
    let settings = DispatcherSettings {
        task_ttl_days: 1,
        clock: clock.clone(),
        ..DispatcherSettings::default()
    };
    let dispatcher = backend.dispatcher(ToolBox::builtin(), settings).unwrap();
    let mut options = PoolOptions::new("soak");
    options.clock = clock.clone();
    options.wait = Duration::from_millis(100);
    let pool = WorkerPool::start(
        &backend,
        &ToolBox::builtin(),
        &["synthetic".to_string()],
        &options,
    )
    .unwrap();
    let replies = backend.replies.queue(DEFAULT_CONSUMER).unwrap();
    let caller = Caller::new("soak").unwrap();
    let echo = "x".repeat(ECHO_BYTES);
    let warm_up = 2;
    let (mut first_bytes, mut warm_rss, start_rss) = (0, 0, rss_bytes());
    let started = Instant::now();
    for round in 0..rounds {
        let mut ids = Vec::with_capacity(ROUND);
        for i in 0..ROUND {
            let request = TaskRequest::new(
                format!("c-{round}-{}", i % 10),
                "synthetic",
                json!({ "echo": echo }),
            );
            ids.push(dispatcher.submit(&caller, request).await.unwrap().task_id);
        }
        // Hand every result over as the MCP server does: claim it in the table, then delete it.
        let mut handed = 0;
        while handed < ROUND {
            let messages = replies
                .receive(10, Duration::from_secs(10), None)
                .await
                .unwrap();
            assert!(
                !messages.is_empty(),
                "round {round}: no result for 10 s after {handed}"
            );
            for message in &messages {
                let result = ResultMessage::parse(&message.body).unwrap();
                let record = store.get(&result.task_id).await.unwrap().unwrap();
                let claim = claim_delivery(store.as_ref(), record, clock.as_ref())
                    .await
                    .unwrap();
                assert!(matches!(claim, Claim::Won(_)), "handed over once");
            }
            let handles: Vec<String> = messages.into_iter().map(|m| m.receipt_handle).collect();
            replies.delete_batch(&handles).await.unwrap();
            handed += handles.len();
        }
        // The workers are done with the round (published, messages deleted) before time moves.
        let processed = ((round + 1) * ROUND) as u64;
        while pool
            .stats
            .messages
            .load(std::sync::atomic::Ordering::Relaxed)
            < processed
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        let usage = store.usage();
        let rss = rss_bytes();
        println!(
            "round {round:>3} ({:>6} calls, {:>5.1} s): held {} records, {} index entries, {:.1} MiB \
             of records; RSS {:.1} MiB",
            (round + 1) * ROUND,
            started.elapsed().as_secs_f64(),
            usage.tasks,
            usage.index_entries,
            mib(usage.bytes),
            mib(rss),
        );
        // This round's records and nothing older: the earlier rounds expired and were dropped.
        assert_eq!(
            usage.tasks, ROUND,
            "round {round}: records held (the earlier rounds are past their TTL)"
        );
        // Delivered and published: each is in its conversation's index and the expiry index only.
        assert_eq!(usage.index_entries, 2 * ROUND, "round {round}");
        assert_eq!(usage.idempotency_keys, 0);
        if round == 0 {
            first_bytes = usage.bytes;
            assert!(first_bytes > (ROUND * 2 * ECHO_BYTES) as u64);
        }
        assert!(
            usage.bytes <= first_bytes + first_bytes / 50,
            "round {round}: {} bytes held, the first round held {first_bytes}",
            usage.bytes
        );
        if round + 1 == warm_up {
            warm_rss = rss;
        }
        if round + 1 >= warm_up {
            assert!(
                rss <= warm_rss + RSS_GROWTH_BOUND,
                "round {round}: RSS {:.1} MiB, {:.1} MiB after warm-up: grew more than {:.0} MiB",
                mib(rss),
                mib(warm_rss),
                mib(RSS_GROWTH_BOUND)
            );
        }
        // A task is there until its TTL, then gone for its owner too.
        dispatcher.get(&caller, &ids[0]).await.unwrap();
        clock.advance(DAY_MS);
        let err = dispatcher.get(&caller, &ids[0]).await.unwrap_err();
        assert!(matches!(err, PipelineError::NotFound(_)), "{err}");
    }
    pool.stop().await;
    let end_rss = rss_bytes();
    println!(
        "{} calls in {:.1} s; RSS {:.1} MiB at the start, {:.1} MiB after warm-up, {:.1} MiB at \
         the end",
        rounds * ROUND,
        started.elapsed().as_secs_f64(),
        mib(start_rss),
        mib(warm_rss),
        mib(end_rss)
    );
    // The last round expired too: nothing is held once it is dropped.
    store.expire_now();
    assert_eq!(store.usage(), Default::default());
}

/// A store at its limit refuses a submit with an error naming the limit, through the dispatcher.
#[tokio::test]
async fn a_full_memory_backend_refuses_a_submit_naming_its_limit() {
    let clock = FakeClock::at(T0);
    let store = Arc::new(
        MemoryStore::with_settings(MemoryStoreSettings {
            clock: clock.clone(),
            max_tasks: 2,
            ..MemoryStoreSettings::default()
        })
        .unwrap(),
    );
    let mut backend = Backend::in_memory(Arc::new(Catalog::embedded().clone()));
    backend.store = store.clone();
    let settings = DispatcherSettings {
        task_ttl_days: 1,
        clock: clock.clone(),
        ..DispatcherSettings::default()
    };
    let dispatcher = backend.dispatcher(ToolBox::builtin(), settings).unwrap();
    let caller = Caller::new("alice").unwrap();
    let submit = || dispatcher.submit(&caller, TaskRequest::new("c", "synthetic", json!({})));
    submit().await.unwrap();
    submit().await.unwrap();
    let err = submit().await.unwrap_err();
    assert!(
        matches!(err, PipelineError::Store(StoreError::Full(_))),
        "{err:?}"
    );
    assert!(!err.is_caller_error());
    assert!(
        err.to_string()
            .starts_with("the memory backend holds 2 tasks, its limit: new task refused"),
        "{err}"
    );
    // Nothing was enqueued for the refused task.
    let depth = backend.work_queues["synthetic"].depth().await.unwrap();
    assert_eq!(depth.visible, 2);
    clock.advance(DAY_MS);
    submit().await.unwrap();
    assert_eq!(store.len(), 1);
}
