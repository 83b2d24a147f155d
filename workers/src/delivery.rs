//! Result delivery: one router per consumer process reads the consumer's reply queue and hands each
//! of its owner's results to a sink (a conversation, a file, the screen) exactly once.
//!
//! The table is the source of truth. Per result: hand it over, mark the task delivered, then delete
//! the message — so a crash at any point loses nothing (the message comes back, or the task is still
//! undelivered in the table) and a repeat is recognised (the task is marked, or the sink has it).
//! On start, and every `RECONCILE_EVERY`, the router reads the owner's undelivered tasks for its
//! consumer from the table and hands over those it has not seen: a result whose message was lost,
//! went to a router that died, or was published before this router existed.

use crate::clock::{Clock, SystemClock};
use crate::error::{PipelineError, QueueError};
use crate::limits::*;
use crate::ports::{MessageQueue, TaskStore, update_with_retry};
use crate::protocol::ResultMessage;
use crate::record::TaskRecord;
use async_trait::async_trait;
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// How often a running router reconciles from the table.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(30);
/// Task ids a router remembers having handed over, beyond which the oldest are forgotten (the table's
/// `delivered` flag still stops a repeat).
pub const MAX_REMEMBERED: usize = 100_000;
/// Undelivered tasks read per reconcile page.
const RECONCILE_PAGE: u32 = 100;

/// Where a router hands results over.
#[async_trait]
pub trait ResultSink: Send {
    /// Whether this result was already handed over (a sink with durable output knows).
    fn already_has(&self, _task_id: &str) -> bool {
        false
    }

    /// Hands the result over; returns only once it is safe (e.g. written and flushed).
    async fn hand_over(&mut self, result: ResultMessage) -> anyhow::Result<()>;

    /// Called when its router takes the owner and consumer's lease (again): a sink that replicas
    /// share (one file) reloads what the others handed over meanwhile.
    fn resume(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// The table side of delivery, as a consumer sees it: its owner's undelivered tasks, and marking one.
/// Backed by the store directly (local, tests) or by the dispatcher's HTTP API (a deployed stack).
#[async_trait]
pub trait DeliveryLedger: Send + Sync {
    async fn undelivered(
        &self,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<(Vec<TaskRecord>, Option<String>), PipelineError>;

    /// The owner's task, if it exists (another owner's is `None`).
    async fn get(&self, task_id: &str) -> Result<Option<TaskRecord>, PipelineError>;

    async fn mark_delivered(&self, task_id: &str) -> Result<(), PipelineError>;

    /// Takes or renews this owner and consumer's router lease for `holder` until `until_ms`
    /// (epoch ms): true when `holder` has it.
    async fn lease(&self, holder: &str, now_ms: u64, until_ms: u64) -> Result<bool, PipelineError>;
}

/// Marks a terminal record delivered, re-reading on conflicts. Idempotent. On the system clock.
pub async fn mark_delivered(
    store: &dyn TaskStore,
    record: TaskRecord,
) -> Result<TaskRecord, PipelineError> {
    mark_delivered_with(store, record, &SystemClock).await
}

/// `mark_delivered` on `clock`.
pub async fn mark_delivered_with(
    store: &dyn TaskStore,
    record: TaskRecord,
    clock: &dyn Clock,
) -> Result<TaskRecord, PipelineError> {
    if !record.status.is_terminal() {
        return Err(crate::error::InputError::new(
            "task_id",
            format!(
                "task {} is {}; only a finished task's result can be marked delivered",
                record.task_id, record.status
            ),
        )
        .into());
    }
    let task_id = record.task_id.clone();
    update_with_retry(store, record, |r| {
        (!r.delivered).then(|| r.mark_delivered(clock.now_ms()))
    })
    .await?
    .record()
    .ok_or(PipelineError::NotFound(task_id))
}

/// What [`claim_delivery`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This call marked the task delivered: the caller hands its result over, and nobody else.
    Won(TaskRecord),
    /// Someone else had handed it over already (or it is not finished).
    Lost(TaskRecord),
}

/// The hand-over's claim: marks a terminal task delivered if nobody has, as one conditional write,
/// and says whether this call did. Of two consumers (router replicas, two requests of one
/// conversation) handing over the same result, exactly one wins. Re-reads on conflicts.
pub async fn claim_delivery(
    store: &dyn TaskStore,
    record: TaskRecord,
    clock: &dyn Clock,
) -> Result<Claim, PipelineError> {
    let task_id = record.task_id.clone();
    match update_with_retry(store, record, |r| {
        (r.status.is_terminal() && !r.delivered).then(|| r.mark_delivered(clock.now_ms()))
    })
    .await?
    {
        crate::ports::Updated::Written(record) => Ok(Claim::Won(record)),
        crate::ports::Updated::Unchanged(record) => Ok(Claim::Lost(record)),
        crate::ports::Updated::Missing => Err(PipelineError::NotFound(task_id)),
    }
}

/// The ledger on the task store itself.
pub struct StoreLedger {
    pub store: Arc<dyn TaskStore>,
    pub owner: String,
    pub consumer: String,
}

#[async_trait]
impl DeliveryLedger for StoreLedger {
    async fn undelivered(
        &self,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<(Vec<TaskRecord>, Option<String>), PipelineError> {
        let cursor = crate::ports::check_list_args(limit, cursor.as_deref())?;
        let page = self
            .store
            .list_undelivered(&self.owner, &self.consumer, limit, cursor.as_ref())
            .await?;
        Ok((page.tasks, page.next_cursor))
    }

    async fn get(&self, task_id: &str) -> Result<Option<TaskRecord>, PipelineError> {
        Ok(self
            .store
            .get(task_id)
            .await?
            .filter(|r| r.owner == self.owner))
    }

    async fn mark_delivered(&self, task_id: &str) -> Result<(), PipelineError> {
        match self.get(task_id).await? {
            Some(record) => mark_delivered(self.store.as_ref(), record)
                .await
                .map(|_| ()),
            None => Err(PipelineError::NotFound(task_id.to_string())),
        }
    }

    async fn lease(&self, holder: &str, now_ms: u64, until_ms: u64) -> Result<bool, PipelineError> {
        let name = format!("router#{}#{}", self.owner, self.consumer);
        Ok(self
            .store
            .acquire_lease(&name, holder, now_ms, until_ms)
            .await?)
    }
}

/// How long a router's lease on its owner and consumer lasts: a replica that dies gives way to
/// another within this.
pub const ROUTER_LEASE: Duration = Duration::from_secs(15);
/// How often the holder renews it (a third of the lease, so two renewals may fail in a row).
const ROUTER_LEASE_RENEW: Duration = Duration::from_secs(5);
/// Hand-overs stop when less than this is left of the lease (renewals every 5 s keep 10 s or more).
const LEASE_SAFETY: Duration = Duration::from_secs(7);
/// A replica without the lease looks again this often.
const STANDBY_WAIT: Duration = Duration::from_secs(1);
/// A router that read only other owners' results waits this long before reading again.
const FOREIGN_BACKOFF: Duration = Duration::from_secs(2);

/// Counters of one router.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouterStats {
    pub handed_over: u64,
    pub duplicates_dropped: u64,
    /// Messages of another owner on this consumer's queue: left for their owner's router (made
    /// visible again at once), neither handed over, deleted nor named in a log.
    pub foreign_left: u64,
    pub reconciled: u64,
    /// Looks that found another replica holding the owner and consumer's lease.
    pub standing_by: u64,
}

/// One consumer process's router for one owner. Replicas (several processes serving the same owner
/// and consumer: an agent server's instances) take turns through a lease in the table, so only one
/// of them hands results over at a time; the others stand by and take over within
/// [`ROUTER_LEASE`] when it stops.
pub struct ResultRouter {
    queue: Arc<dyn MessageQueue>,
    ledger: Arc<dyn DeliveryLedger>,
    owner: String,
    remembered: HashSet<String>,
    order: VecDeque<String>,
    /// This router's name in the lease.
    holder: String,
    /// Until when (this process's clock) the lease is known to be held; `None`: not held.
    held_until: Option<tokio::time::Instant>,
    renew_at: tokio::time::Instant,
    pub stats: RouterStats,
}

impl ResultRouter {
    pub fn new(queue: Arc<dyn MessageQueue>, ledger: Arc<dyn DeliveryLedger>, owner: &str) -> Self {
        ResultRouter {
            queue,
            ledger,
            owner: owner.to_string(),
            remembered: HashSet::new(),
            order: VecDeque::new(),
            holder: format!("router-{}", ulid::Ulid::generate()),
            held_until: None,
            renew_at: tokio::time::Instant::now(),
            stats: RouterStats::default(),
        }
    }

    /// The same router under another lease holder name: a replica restarted under the name it had
    /// takes its lease back at once instead of waiting for it to lapse.
    pub fn with_holder(mut self, holder: &str) -> Self {
        self.holder = holder.to_string();
        self
    }

    /// Gives the lease up (a clean stop), so a standby replica takes over at once.
    pub async fn release(&mut self) {
        if self.held_until.take().is_some() {
            let now_ms = crate::clock::now_ms();
            if let Err(e) = self.ledger.lease(&self.holder, now_ms, now_ms).await {
                tracing::debug!(error = %e, "could not release the router lease");
            }
        }
    }

    /// Whether the lease is held for at least [`LEASE_SAFETY`] more (renewing it when due): a
    /// hand-over, and the marks after it, finish well inside it.
    async fn lease_still_holds(&mut self) -> Result<bool, PipelineError> {
        if !self.has_lease().await? {
            return Ok(false);
        }
        let left = self
            .held_until
            .map(|until| until.saturating_duration_since(tokio::time::Instant::now()))
            .unwrap_or_default();
        Ok(left >= LEASE_SAFETY)
    }

    /// `has_lease`, and the sink told to resume when the lease was (re)taken just now.
    async fn lease_for(&mut self, sink: &mut dyn ResultSink) -> Result<bool, PipelineError> {
        // Held without a gap since the last look, or (re)taken now, after another replica may
        // have written meanwhile.
        let had = self
            .held_until
            .is_some_and(|until| tokio::time::Instant::now() < until);
        let has = self.has_lease().await?;
        if has && !had {
            sink.resume().map_err(|e| {
                PipelineError::Queue(QueueError::Backend {
                    queue: "result sink".into(),
                    source: e,
                })
            })?;
        }
        Ok(has)
    }

    /// Whether this replica may hand results over now: takes the lease when it is due (or free),
    /// renews it a third of the way through. A router without it stands by.
    pub async fn has_lease(&mut self) -> Result<bool, PipelineError> {
        let now = tokio::time::Instant::now();
        if now < self.renew_at && self.held_until.is_some_and(|until| now < until) {
            return Ok(true);
        }
        let now_ms = crate::clock::now_ms();
        let until_ms = now_ms + ROUTER_LEASE.as_millis() as u64;
        let held = self.ledger.lease(&self.holder, now_ms, until_ms).await?;
        self.held_until = held.then(|| now + ROUTER_LEASE);
        self.renew_at = now
            + if held {
                ROUTER_LEASE_RENEW
            } else {
                STANDBY_WAIT
            };
        if !held {
            self.stats.standing_by += 1;
        }
        Ok(held)
    }

    fn remember(&mut self, task_id: &str) {
        if self.remembered.insert(task_id.to_string()) {
            self.order.push_back(task_id.to_string());
            if self.order.len() > MAX_REMEMBERED
                && let Some(old) = self.order.pop_front()
            {
                self.remembered.remove(&old);
            }
        }
    }

    /// Hands over every undelivered result the table holds for this owner and consumer (nothing,
    /// while another replica holds the lease).
    pub async fn reconcile(&mut self, sink: &mut dyn ResultSink) -> Result<usize, PipelineError> {
        if !self.lease_for(sink).await? {
            return Ok(0);
        }
        let mut cursor = None;
        let mut handed = 0;
        loop {
            let (tasks, next) = self.ledger.undelivered(RECONCILE_PAGE, cursor).await?;
            for record in tasks {
                // The index lags the table: a listed task may have been delivered a moment ago.
                if !record.status.is_terminal() || record.delivered {
                    continue;
                }
                if self
                    .settle(ResultMessage::for_record(&record), sink)
                    .await?
                {
                    handed += 1;
                    self.stats.reconciled += 1;
                }
            }
            match next {
                Some(c) => cursor = Some(c),
                None => return Ok(handed),
            }
        }
    }

    /// Hands over `result` unless it was before; then marks it delivered. True when handed over now.
    async fn settle(
        &mut self,
        result: ResultMessage,
        sink: &mut dyn ResultSink,
    ) -> Result<bool, PipelineError> {
        let task_id = result.task_id.clone();
        let seen = self.remembered.contains(&task_id) || sink.already_has(&task_id);
        let fresh = if seen {
            false
        } else {
            match self.ledger.get(&task_id).await? {
                Some(record) if record.delivered => false,
                // Expired from the table, or not this owner's: nothing to mark, nothing to hand over.
                None => {
                    self.remember(&task_id);
                    return Ok(false);
                }
                // The lease lapsed under us (renewals failing): another replica may be routing.
                Some(_) if !self.lease_still_holds().await? => return Ok(false),
                Some(_) => {
                    sink.hand_over(result).await.map_err(|e| {
                        PipelineError::Queue(QueueError::Backend {
                            queue: "result sink".into(),
                            source: e,
                        })
                    })?;
                    true
                }
            }
        };
        match self.ledger.mark_delivered(&task_id).await {
            Ok(()) | Err(PipelineError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        self.remember(&task_id);
        if fresh {
            self.stats.handed_over += 1;
        } else {
            self.stats.duplicates_dropped += 1;
        }
        Ok(fresh)
    }

    /// One receive (waiting up to `wait`): hands over what arrived, deleting each message only after
    /// its result is handed over and marked. Returns how many were handed over. The table reads and
    /// marks of a batch run concurrently; the hand-overs run in arrival order.
    pub async fn poll(
        &mut self,
        sink: &mut dyn ResultSink,
        wait: Duration,
    ) -> Result<usize, PipelineError> {
        if !self.lease_for(sink).await? {
            // Another replica hands this owner's results over: stand by, without receiving.
            tokio::time::sleep(wait.min(STANDBY_WAIT)).await;
            return Ok(0);
        }
        // Back before the lease is due for renewal: it must not lapse inside a long poll.
        let wait = wait.min(ROUTER_LEASE_RENEW);
        let messages = self.queue.receive(MAX_RECEIVE_BATCH, wait, None).await?;
        let mut settled = Vec::new();
        let mut mine = Vec::new();
        let foreign_before = self.stats.foreign_left;
        for message in messages {
            match ResultMessage::parse(&message.body) {
                Ok(result) if result.owner == self.owner => {
                    mine.push((message.receipt_handle, result))
                }
                Ok(_) => {
                    // Not ours to read, keep or destroy: visible again at once for its owner's
                    // router (which also reconciles it from the table). Nothing of it is logged.
                    self.stats.foreign_left += 1;
                    if let Err(e) = self
                        .queue
                        .change_visibility(&message.receipt_handle, Duration::ZERO)
                        .await
                    {
                        tracing::debug!(error = %e, "could not release another owner's message");
                    }
                }
                // Left alone: it comes back after the visibility timeout and ends in the DLQ.
                Err(e) => {
                    tracing::warn!(message_id = %message.message_id, error = %e, "skipping a malformed result message");
                }
            }
        }
        let mine_count = mine.len();
        // Which of them still need handing over, per the table (read concurrently).
        // A second copy of a result in the same batch is a duplicate of the first: the lookups
        // run at once, so the table cannot tell them apart.
        let mut in_batch = HashSet::new();
        let known: Vec<bool> = mine
            .iter()
            .map(|(_, r)| {
                !in_batch.insert(r.task_id.as_str())
                    || self.remembered.contains(&r.task_id)
                    || sink.already_has(&r.task_id)
            })
            .collect();
        let lookups = mine.iter().zip(known).map(|((_, result), skip)| {
            let ledger = self.ledger.clone();
            let task_id = result.task_id.clone();
            async move {
                if skip {
                    return Ok(Some(true));
                }
                ledger.get(&task_id).await.map(|r| r.map(|r| r.delivered))
            }
        });
        let delivered = futures::future::join_all(lookups).await;
        let mut handed = 0;
        let mut to_mark = Vec::new();
        let mut failure = None;
        for ((handle, result), delivered) in mine.into_iter().zip(delivered) {
            let task_id = result.task_id.clone();
            let delivered = match delivered {
                Ok(d) => d,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            match delivered {
                // Expired from the table, or not this owner's: nothing to mark or hand over.
                None => {
                    self.remember(&task_id);
                    settled.push(handle);
                    continue;
                }
                Some(true) => self.stats.duplicates_dropped += 1,
                Some(false) => {
                    // A replica hands over only while its lease surely outlasts the hand-over and
                    // the marks after it; otherwise the rest waits for the next poll (the
                    // messages come back).
                    match self.lease_still_holds().await {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    }
                    if let Err(e) = sink.hand_over(result).await {
                        // Stop here, but still mark what was handed over before.
                        failure = Some(PipelineError::Queue(QueueError::Backend {
                            queue: "result sink".into(),
                            source: e,
                        }));
                        break;
                    }
                    self.stats.handed_over += 1;
                    handed += 1;
                }
            }
            to_mark.push((handle, task_id));
        }
        let marks = to_mark
            .iter()
            .map(|(_, task_id)| self.ledger.mark_delivered(task_id));
        for ((handle, task_id), marked) in
            to_mark.iter().zip(futures::future::join_all(marks).await)
        {
            match marked {
                Ok(()) | Err(PipelineError::NotFound(_)) => {
                    self.remember(task_id);
                    settled.push(handle.clone());
                }
                // Not deleted: the message comes back and is settled then.
                Err(e) => tracing::warn!(%task_id, error = %e, "could not mark a result delivered"),
            }
        }
        // A failed delete means one more delivery of a message already settled: dropped then.
        if let Err(e) = self.queue.delete_batch(&settled).await {
            tracing::warn!(error = %e, "could not delete settled result messages");
        }
        // Only other owners' results: give their routers the first look at them (each read
        // counts toward the queue's receive limit).
        if mine_count == 0 && self.stats.foreign_left > foreign_before {
            tokio::time::sleep(FOREIGN_BACKOFF).await;
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(handed),
        }
    }

    /// Reconciles, then polls and reconciles every `RECONCILE_EVERY` until `stop` turns true. A poll
    /// in progress finishes first (within `wait`), so no long poll is left open. Failed polls are
    /// logged and retried.
    pub async fn run(
        &mut self,
        sink: &mut dyn ResultSink,
        wait: Duration,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), PipelineError> {
        let retry = |e: PipelineError| {
            tracing::warn!(error = %e, "result poll failed; retrying");
            Ok(())
        };
        self.watch(sink, wait, WatchLimits::default(), stop, retry)
            .await
            .map(|_| ())
    }

    /// As `run`, and also stops after `limits`; each receive waits at most `wait` (less near the
    /// timeout). `on_error` sees each failed poll: `Ok` retries it after a pause, `Err` ends the
    /// watch with that error. Returns how many results were handed over.
    pub async fn watch(
        &mut self,
        sink: &mut dyn ResultSink,
        wait: Duration,
        limits: WatchLimits,
        mut stop: tokio::sync::watch::Receiver<bool>,
        mut on_error: impl FnMut(PipelineError) -> Result<(), PipelineError>,
    ) -> Result<usize, PipelineError> {
        let started = tokio::time::Instant::now();
        let mut handed = self.reconcile(sink).await?;
        let mut last_reconcile = tokio::time::Instant::now();
        loop {
            let done = *stop.borrow_and_update()
                || limits.count.is_some_and(|n| handed >= n)
                || limits.timeout.is_some_and(|t| started.elapsed() >= t);
            if done {
                self.release().await;
                return Ok(handed);
            }
            let left = limits
                .timeout
                .map_or(Duration::MAX, |t| t.saturating_sub(started.elapsed()));
            match self.poll(sink, left.min(wait)).await {
                Ok(n) => handed += n,
                Err(e) => {
                    on_error(e)?;
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                        Ok(()) = stop.changed() => {}
                    }
                }
            }
            if last_reconcile.elapsed() >= RECONCILE_EVERY {
                handed += self.reconcile(sink).await?;
                last_reconcile = tokio::time::Instant::now();
            }
        }
    }
}

/// When `ResultRouter::watch` stops, besides its stop signal: after `count` results, or `timeout`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WatchLimits {
    pub count: Option<usize>,
    pub timeout: Option<Duration>,
}

/// Results collected in memory, in order (tests, demos).
#[derive(Debug, Default)]
pub struct VecSink(pub Vec<ResultMessage>);

#[async_trait]
impl ResultSink for VecSink {
    async fn hand_over(&mut self, result: ResultMessage) -> anyhow::Result<()> {
        self.0.push(result);
        Ok(())
    }
}

/// Results sent on to an in-process consumer (a conversation's task, an MCP session).
pub struct ChannelSink(pub tokio::sync::mpsc::Sender<ResultMessage>);

#[async_trait]
impl ResultSink for ChannelSink {
    async fn hand_over(&mut self, result: ResultMessage) -> anyhow::Result<()> {
        self.0
            .send(result)
            .await
            .map_err(|_| anyhow::anyhow!("the receiving side is gone"))
    }
}

/// JSON lines appended to a file, each flushed to disk before the task is marked delivered. The file
/// is its own checkpoint: on open, the task ids already in it count as handed over (and a torn last
/// line from a crash is cut), so a restarted watcher writes each result exactly once. Replicas may
/// share the file: the one holding the lease writes, and a replica taking the lease over reloads it.
pub struct FileSink {
    file: std::fs::File,
    path: std::path::PathBuf,
    has: HashSet<String>,
}

impl FileSink {
    pub fn open(path: &std::path::Path) -> anyhow::Result<FileSink> {
        use anyhow::Context;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        let mut sink = FileSink {
            file,
            path: path.to_path_buf(),
            has: HashSet::new(),
        };
        sink.load()?;
        Ok(sink)
    }

    /// Reads the task ids the file holds, cutting a torn last line (its writer died mid-line; only
    /// the lease holder writes, so nobody is writing it now).
    fn load(&mut self) -> anyhow::Result<()> {
        use anyhow::Context;
        use std::io::{Seek, SeekFrom};
        let path = &self.path;
        let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let complete = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        if complete < text.len() {
            self.file
                .set_len(complete as u64)
                .with_context(|| format!("cutting a torn last line of {}", path.display()))?;
        }
        self.file.seek(SeekFrom::End(0))?;
        for (number, line) in String::from_utf8_lossy(&text[..complete])
            .lines()
            .enumerate()
        {
            let value: serde_json::Value = serde_json::from_str(line)
                .with_context(|| format!("{}:{}: not a result line", path.display(), number + 1))?;
            if let Some(id) = value.get("task_id").and_then(|v| v.as_str()) {
                self.has.insert(id.to_string());
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ResultSink for FileSink {
    fn already_has(&self, task_id: &str) -> bool {
        self.has.contains(task_id)
    }

    fn resume(&mut self) -> anyhow::Result<()> {
        self.load()
    }

    async fn hand_over(&mut self, result: ResultMessage) -> anyhow::Result<()> {
        use std::io::Write;
        let mut line = serde_json::to_string(&result)?;
        line.push('\n');
        self.file.write_all(line.as_bytes())?;
        self.file.sync_data()?;
        self.has.insert(result.task_id);
        Ok(())
    }
}

/// JSON lines on standard output. Exactly once within the process; after a crash between the write
/// and the mark (a few milliseconds), a restarted watcher prints that one result again. Use
/// `FileSink` where a repeat matters.
pub struct StdoutSink;

#[async_trait]
impl ResultSink for StdoutSink {
    async fn hand_over(&mut self, result: ResultMessage) -> anyhow::Result<()> {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, &result)?;
        out.write_all(b"\n")?;
        out.flush()?;
        Ok(())
    }
}
