//! The router: one per consumer process and owner; receives the reply queue, hands each result
//! over once (a lease in the table lets replicas take turns), marks it, deletes the message.

use super::{DeliveryLedger, MAX_REMEMBERED, RECONCILE_EVERY, RECONCILE_PAGE, ResultSink};
use crate::error::{PipelineError, QueueError};
use crate::limits::*;
use crate::ports::MessageQueue;
use crate::protocol::ResultMessage;
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

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
    /// Settled messages whose delete waits to share a request (`with_delete_linger`), and since when.
    pending_deletes: Vec<String>,
    pending_since: Option<tokio::time::Instant>,
    delete_linger: Duration,
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
            pending_deletes: Vec::new(),
            pending_since: None,
            delete_linger: Duration::ZERO,
            stats: RouterStats::default(),
        }
    }

    /// Lets the deletes of settled messages wait up to `linger` (at most 10 s) to share one request
    /// (a delete request per result was a sixth of a task's SQS bill: docs/cost.md). A message
    /// not yet deleted that comes back is a duplicate, dropped. Default: deleted after each poll.
    pub fn with_delete_linger(mut self, linger: Duration) -> Self {
        self.delete_linger = linger.min(Duration::from_secs(10));
        self
    }

    /// Sends the pending deletes when `force`d, when a request's worth is waiting, or when the
    /// oldest has waited its linger.
    async fn flush_deletes(&mut self, force: bool) {
        let due = self
            .pending_since
            .is_some_and(|since| since.elapsed() >= self.delete_linger);
        if self.pending_deletes.is_empty()
            || !(force || due || self.pending_deletes.len() >= MAX_RECEIVE_BATCH as usize)
        {
            return;
        }
        for chunk in self.pending_deletes.chunks(MAX_RECEIVE_BATCH as usize) {
            // A failed delete means one more delivery of a message already settled: dropped then.
            if let Err(e) = self.queue.delete_batch(chunk).await {
                tracing::warn!(error = %e, "could not delete settled result messages");
            }
        }
        self.pending_deletes.clear();
        self.pending_since = None;
    }

    /// The same router under another lease holder name: a replica restarted under the name it had
    /// takes its lease back at once instead of waiting for it to lapse.
    pub fn with_holder(mut self, holder: &str) -> Self {
        self.holder = holder.to_string();
        self
    }

    /// Gives the lease up (a clean stop), so a standby replica takes over at once.
    pub async fn release(&mut self) {
        self.flush_deletes(true).await;
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
            self.flush_deletes(true).await;
            // Another replica hands this owner's results over: stand by, without receiving.
            tokio::time::sleep(wait.min(STANDBY_WAIT)).await;
            return Ok(0);
        }
        // Back before the lease is due for renewal: it must not lapse inside a long poll; nor
        // past when the pending deletes are due.
        let mut wait = wait.min(ROUTER_LEASE_RENEW);
        if let Some(since) = self.pending_since {
            wait = wait.min(self.delete_linger.saturating_sub(since.elapsed()));
        }
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
                    // Only this owner's results reach here (filtered as they were read), and only
                    // once per router: a second hand-over is what the table and `remembered` stop.
                    assert_eq!(result.owner, self.owner, "a result handed to another owner");
                    debug_assert!(!self.remembered.contains(&task_id));
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
        if !settled.is_empty() && self.pending_since.is_none() {
            self.pending_since = Some(tokio::time::Instant::now());
        }
        self.pending_deletes.extend(settled);
        self.flush_deletes(false).await;
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
