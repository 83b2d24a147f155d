//! The local worker: long-polls a work queue and runs the same handler as the Lambda function, with
//! the SQS event source's semantics (batch size, partial batch failure, visibility timeout, DLQ).
//! Each message it takes is hidden for the tool's `recovery_s` (renewed by the worker's heartbeat
//! while it runs), so a killed worker strands its tasks for at most that long. Stopping lets every
//! receive in progress finish (no long poll is left open on the queue's side), releases what those
//! receives bring, and finishes the batches already running. Deletes of finished messages from
//! every receive loop are sent together, up to 10 a request, each at most a moment after its task
//! finished: one delete request per task was a third of a task's SQS bill (docs/cost.md).

use crate::error::InputError;
use crate::limits::*;
use crate::ports::MessageQueue;
use crate::worker::{Delivery, Worker};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

#[derive(Debug, Clone)]
pub struct PollerSettings {
    /// Messages per receive (1..=10), like the event source's batch size.
    pub batch_size: u32,
    /// Concurrent receive loops, like the event source's maximum concurrency.
    pub concurrency: usize,
    /// Long-poll wait of each receive (<= 20 s).
    pub wait: Duration,
}

impl PollerSettings {
    pub fn check(&self) -> Result<(), InputError> {
        crate::ports::check_receive(self.batch_size, self.wait)?;
        if !(1..=MAX_LOCAL_CONCURRENCY).contains(&self.concurrency) {
            return Err(InputError::new(
                "concurrency",
                format!(
                    "{} is outside 1..={MAX_LOCAL_CONCURRENCY}",
                    self.concurrency
                ),
            ));
        }
        Ok(())
    }
}

/// Counters of a running poller.
#[derive(Debug, Default)]
pub struct PollerStats {
    pub batches: AtomicU64,
    pub messages: AtomicU64,
    pub retried: AtomicU64,
    pub receive_errors: AtomicU64,
}

/// Runs `settings.concurrency` receive loops until `stop` turns true; each finishes its batch first.
pub async fn run_poller(
    worker: Arc<Worker>,
    queue: Arc<dyn MessageQueue>,
    settings: PollerSettings,
    stop: watch::Receiver<bool>,
    stats: Arc<PollerStats>,
) -> Result<(), InputError> {
    settings.check()?;
    // A quarter of the visibility timeout at most, so a message cannot reappear meanwhile; a worker
    // killed before the delete leaves a finished task's message, which a later claim drops.
    let linger = Duration::from_millis(DELETE_LINGER_MS.min(worker.lease_ms() / 4));
    let (deletes, pending) = mpsc::channel(MAX_RECEIVE_BATCH as usize * settings.concurrency);
    let deleter = tokio::spawn(send_deletes(queue.clone(), pending, linger));
    let mut loops = tokio::task::JoinSet::new();
    for _ in 0..settings.concurrency {
        let (worker, queue, settings, stop, stats, deletes) = (
            worker.clone(),
            queue.clone(),
            settings.clone(),
            stop.clone(),
            stats.clone(),
            deletes.clone(),
        );
        loops.spawn(receive_loop(worker, queue, settings, stop, stats, deletes));
    }
    drop(deletes);
    while loops.join_next().await.is_some() {}
    // Every sender is gone: the deleter sends what is left, then ends.
    if let Err(e) = deleter.await {
        tracing::warn!(error = %e, "the delete sender ended abnormally");
    }
    Ok(())
}

/// Deletes the receipt handles it is sent, in requests of up to `MAX_RECEIVE_BATCH`, each sent once
/// full or `linger` after its first handle arrived; ends when every sender is dropped.
async fn send_deletes(
    queue: Arc<dyn MessageQueue>,
    mut pending: mpsc::Receiver<String>,
    linger: Duration,
) {
    while let Some(first) = pending.recv().await {
        let mut batch = vec![first];
        let due = tokio::time::Instant::now() + linger;
        while batch.len() < MAX_RECEIVE_BATCH as usize {
            match tokio::time::timeout_at(due, pending.recv()).await {
                Ok(Some(handle)) => batch.push(handle),
                Ok(None) | Err(_) => break,
            }
        }
        debug_assert!(batch.len() <= MAX_RECEIVE_BATCH as usize);
        if let Err(e) = queue.delete_batch(&batch).await {
            tracing::warn!(queue = queue.name(), error = %e, "delete failed; the messages will be redelivered and acknowledged then");
        }
    }
}

async fn receive_loop(
    worker: Arc<Worker>,
    queue: Arc<dyn MessageQueue>,
    settings: PollerSettings,
    stop: watch::Receiver<bool>,
    stats: Arc<PollerStats>,
    deletes: mpsc::Sender<String>,
) {
    let hide_for = Duration::from_millis(worker.lease_ms());
    while !*stop.borrow() {
        // Not raced against `stop`: dropping a long poll on our side leaves it open on the queue's,
        // which may hand it a message that then stays hidden for the visibility timeout.
        let received = queue
            .receive(settings.batch_size, settings.wait, Some(hide_for))
            .await;
        if *stop.borrow() {
            if let Ok(messages) = &received {
                release(queue.as_ref(), messages).await;
            }
            break;
        }
        let messages = match received {
            Ok(messages) => messages,
            Err(e) => {
                stats.receive_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(queue = queue.name(), error = %e, "receive failed; backing off");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let deliveries: Vec<Delivery> = messages
            .iter()
            .map(|m| Delivery {
                message_id: m.message_id.clone(),
                body: m.body.clone(),
                receive_count: m.receive_count,
                receipt_handle: Some(m.receipt_handle.clone()),
            })
            .collect();
        let failed: HashSet<String> = worker
            .handle_batch(&deliveries, None)
            .await
            .into_iter()
            .collect();
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats
            .messages
            .fetch_add(messages.len() as u64, Ordering::Relaxed);
        stats
            .retried
            .fetch_add(failed.len() as u64, Ordering::Relaxed);
        // As the event source does: delete what succeeded; failures reappear after the visibility timeout.
        for message in messages {
            if !failed.contains(&message.message_id)
                && deletes.send(message.receipt_handle).await.is_err()
            {
                break;
            }
        }
    }
}

/// Makes messages taken during a stop visible again at once, for another worker.
async fn release(queue: &dyn MessageQueue, messages: &[crate::ports::ReceivedMessage]) {
    for m in messages {
        if let Err(e) = queue
            .change_visibility(&m.receipt_handle, Duration::ZERO)
            .await
        {
            tracing::warn!(queue = queue.name(), error = %e, "could not release a message while stopping");
        }
    }
}

/// Options of a pool of local workers.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub worker_id: String,
    /// Receive loops per tool; default: the tool's `max_concurrency`, at most 8 (one machine).
    pub concurrency: Option<usize>,
    pub wait: Duration,
    /// Replaces each tool's `recovery_s` (tests use short ones).
    pub recovery_ms: Option<u64>,
    /// Also sweep the table (see `sweeper`) this often; `None`: no sweeper in this pool.
    pub sweep_every: Option<Duration>,
    pub sweep: crate::sweeper::SweepSettings,
    /// The clock of the pool's workers and of its sweeper (it replaces `sweep.clock`).
    pub clock: crate::clock::SharedClock,
}

impl PoolOptions {
    pub fn new(worker_id: impl Into<String>) -> Self {
        PoolOptions {
            worker_id: worker_id.into(),
            concurrency: None,
            // Short enough that a stop (which waits for receives in progress) is prompt.
            wait: Duration::from_secs(5),
            recovery_ms: None,
            sweep_every: None,
            sweep: crate::sweeper::SweepSettings::default(),
            clock: crate::clock::system(),
        }
    }
}

/// Local workers for some tools of a backend, each with its catalog batch size.
pub struct WorkerPool {
    stop: watch::Sender<bool>,
    pollers: Vec<tokio::task::JoinHandle<Result<(), InputError>>>,
    pub stats: Arc<PollerStats>,
}

impl WorkerPool {
    /// Stops at once, as a crash would: nothing in hand is finished, released or published (its
    /// tasks come back to other workers after their leases). For tests of recovery.
    pub fn abort(self) {
        for poller in self.pollers {
            poller.abort();
        }
    }

    pub fn start(
        backend: &crate::backend::Backend,
        tools: &crate::tools::ToolBox,
        tool_names: &[String],
        options: &PoolOptions,
    ) -> Result<WorkerPool, InputError> {
        let (stop, stopped) = watch::channel(false);
        let stats = Arc::new(PollerStats::default());
        let mut pollers = Vec::new();
        for name in tool_names {
            let settings = crate::worker::WorkerSettings {
                worker_id: options.worker_id.clone(),
                recovery_ms: options.recovery_ms,
                clock: options.clock.clone(),
                // Each receive hides its messages for the lease (`receive_loop`).
                hide_on_claim: false,
            };
            let worker = Arc::new(backend.worker(name, tools, settings)?);
            let spec = worker.spec().clone();
            let poller_settings = PollerSettings {
                batch_size: spec.batch_size,
                concurrency: options
                    .concurrency
                    .unwrap_or((spec.max_concurrency as usize).min(8)),
                wait: options.wait,
            };
            poller_settings.check()?;
            let queue = backend.work_queue(name)?;
            pollers.push(tokio::spawn(run_poller(
                worker,
                queue,
                poller_settings,
                stopped.clone(),
                stats.clone(),
            )));
        }
        if let Some(every) = options.sweep_every {
            let backend = backend.clone();
            let settings = crate::sweeper::SweepSettings {
                clock: options.clock.clone(),
                ..options.sweep.clone()
            };
            let mut stopped = stopped.clone();
            pollers.push(tokio::spawn(async move {
                settings.check()?;
                while !*stopped.borrow() {
                    match crate::sweeper::sweep(
                        backend.store.as_ref(),
                        &backend.work_queues,
                        &backend.replies,
                        settings.clone(),
                    )
                    .await
                    {
                        Ok(report) if report.unfixable > 0 => {
                            tracing::warn!(
                                requeued = report.requeued,
                                republished = report.republished,
                                unfixable = report.unfixable,
                                errors = ?report.errors,
                                "sweep: tasks set aside (their remedy failed)"
                            );
                        }
                        Ok(report) if report.requeued + report.republished > 0 => {
                            tracing::info!(
                                requeued = report.requeued,
                                republished = report.republished,
                                failed_too_large = report.failed_too_large,
                                "sweep"
                            );
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "sweep failed"),
                    }
                    tokio::select! {
                        () = tokio::time::sleep(every) => {}
                        _ = stopped.changed() => {}
                    }
                }
                Ok(())
            }));
        }
        Ok(WorkerPool {
            stop,
            pollers,
            stats,
        })
    }

    /// Stops receiving, lets each loop finish its batch, and waits for them.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for poller in self.pollers {
            if let Ok(Err(e)) = poller.await {
                tracing::warn!(error = %e, "a poller stopped with an error");
            }
        }
    }
}
