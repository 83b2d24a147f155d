//! Pipeline benchmark (`cargo bench -p workers --bench pipeline`): dispatch acknowledgement latency
//! (p50/p99) and end-to-end tasks per second through the worker, with the synthetic tool sleeping 0,
//! on the in-memory backend and, when `.venv/bin/moto_server` exists, on DynamoDB + SQS in moto.
//! Targets (in-memory): ack p99 < 1 ms, >= 20,000 tasks/s.

use hdrhistogram::Histogram;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use workers::poller::{PoolOptions, WorkerPool};
use workers::testkit::{MotoServer, find_moto_server, provision_backend};
use workers::{Backend, Catalog, DispatcherSettings, TaskRequest, ToolBox};

struct Figures {
    backend: &'static str,
    acks: u64,
    ack_p50_us: u64,
    ack_p99_us: u64,
    tasks: usize,
    tasks_per_s: f64,
}

async fn measure(
    backend: Backend,
    name: &'static str,
    acks: u64,
    tasks: usize,
    loops: usize,
) -> Figures {
    let tools = ToolBox::builtin();
    let dispatcher = backend
        .dispatcher(tools.clone(), DispatcherSettings::default())
        .unwrap();
    let request = || TaskRequest::new("bench", "synthetic", json!({"sleep_ms": 0, "echo": "x"}));

    // Acknowledgement latency: submits with no worker running (the queue only grows).
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    for _ in 0..acks {
        let started = Instant::now();
        dispatcher.submit(request()).await.unwrap();
        histogram
            .record(started.elapsed().as_micros().max(1) as u64)
            .unwrap();
    }

    // End to end: drain the ack backlog first, then time `tasks` from submit to result.
    let mut options = PoolOptions::new("bench");
    options.concurrency = Some(loops);
    options.wait = Duration::from_secs(1);
    let pool = WorkerPool::start(&backend, &tools, &["synthetic".to_string()], &options).unwrap();
    let results = backend.results.clone();
    let drain = |expected: usize| {
        let results = results.clone();
        tokio::spawn(async move {
            let mut seen = 0;
            while seen < expected {
                let got = results.receive(10, Duration::from_secs(1)).await.unwrap();
                seen += got.len();
                let handles: Vec<String> = got.into_iter().map(|m| m.receipt_handle).collect();
                results.delete_batch(&handles).await.unwrap();
            }
        })
    };
    drain(acks as usize).await.unwrap();
    let started = Instant::now();
    let consumer = drain(tasks);
    let dispatcher = Arc::new(dispatcher);
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let dispatcher = dispatcher.clone();
            let share = tasks / 4 + usize::from(p < tasks % 4);
            tokio::spawn(async move {
                for _ in 0..share {
                    dispatcher.submit(request()).await.unwrap();
                }
            })
        })
        .collect();
    for p in producers {
        p.await.unwrap();
    }
    consumer.await.unwrap();
    let elapsed = started.elapsed();
    pool.stop().await;
    Figures {
        backend: name,
        acks,
        ack_p50_us: histogram.value_at_quantile(0.5),
        ack_p99_us: histogram.value_at_quantile(0.99),
        tasks,
        tasks_per_s: tasks as f64 / elapsed.as_secs_f64(),
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let catalog = Arc::new(Catalog::embedded().clone());
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it: then it is a
    // quick smoke run of the same code, not a measurement.
    if !std::env::args().any(|a| a == "--bench") {
        let smoke = runtime.block_on(measure(
            Backend::in_memory(catalog),
            "memory (smoke)",
            200,
            500,
            2,
        ));
        assert!(smoke.tasks_per_s > 0.0);
        println!(
            "pipeline bench smoke run passed (run `cargo bench -p workers --bench pipeline` to measure)"
        );
        return;
    }
    let mut rows = Vec::new();
    rows.push(runtime.block_on(measure(
        Backend::in_memory(catalog.clone()),
        "memory",
        20_000,
        100_000,
        4,
    )));
    match find_moto_server() {
        Some(path) => {
            let moto = MotoServer::start(&path).expect("starting moto");
            let figures = runtime.block_on(async {
                let (backend, _) =
                    provision_backend(&moto.endpoint, catalog.clone(), "Bench", None)
                        .await
                        .unwrap();
                measure(backend, "moto (DynamoDB + SQS)", 300, 300, 4).await
            });
            rows.push(figures);
        }
        None => eprintln!("moto_server not found (run `make venv`): skipping the moto rows"),
    }
    println!();
    println!("| backend               | acks   | ack p50   | ack p99   | tasks   | tasks/s  |");
    println!("|-----------------------|--------|-----------|-----------|---------|----------|");
    for r in &rows {
        println!(
            "| {:<21} | {:>6} | {:>6} us | {:>6} us | {:>7} | {:>8.0} |",
            r.backend, r.acks, r.ack_p50_us, r.ack_p99_us, r.tasks, r.tasks_per_s
        );
    }
    println!("\ntargets (memory): ack p99 < 1000 us, >= 20000 tasks/s");
}
