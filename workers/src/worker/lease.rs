//! A running task's lease: the heartbeat that renews it (and the message's visibility) while the
//! tool runs, and what a delivery of a task under a live lease does.

use super::*;

impl Worker {
    /// A delivery of a task running under a live lease.
    pub(super) async fn leased(&self, current: &TaskRecord, delivery: &Delivery) -> Disposition {
        if current.claim_message_id.as_deref() == Some(&delivery.message_id) {
            // The holder's own message, back while it still runs (its visibility lapsed, as when
            // the task was claimed a while after the message was received): deleting it would
            // leave nothing to bring the task back if the holder died. Hidden until just past
            // the lease: if the holder is dead, the task comes back then (within `recovery_s`
            // plus LEASE_MARGIN of the crash); if alive, its heartbeat has hidden the message
            // anew meanwhile.
            let now = self.clock.now_ms();
            let until_expiry = current
                .lease_expires_at_ms
                .unwrap_or(now)
                .saturating_sub(now);
            self.hide(delivery, Duration::from_millis(until_expiry) + LEASE_MARGIN)
                .await;
            Disposition::Retry(format!(
                "task {} is running under a live lease held by {:?} with this message",
                current.task_id,
                current.lease_owner.as_deref().unwrap_or_default()
            ))
        } else {
            // Another message naming a running task: a duplicate. Deleting it cannot touch the
            // holder's copy, and keeping it would only burn receives toward the DLQ.
            Disposition::Done(format!(
                "duplicate message: task {} is running under a live lease",
                current.task_id
            ))
        }
    }

    /// Waits a heartbeat interval, then renews the lease and hides the message for another
    /// `recovery` period. A cancelled or taken-over task cancels the tool's token instead.
    pub(super) async fn heartbeat(
        &self,
        latest: &Mutex<TaskRecord>,
        delivery: &Delivery,
        cancelled: &CancellationToken,
    ) {
        tokio::time::sleep(self.heartbeat_every()).await;
        if cancelled.is_cancelled() {
            return;
        }
        let current = latest.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let renewed = update_with_retry(self.store.as_ref(), current, |r| {
            r.renew(&self.worker_id, self.clock.now_ms(), self.lease_ms)
                .ok()
        })
        .await
        .map(Updated::record);
        match renewed {
            Ok(Some(record))
                if record.lease_owner.as_deref() == Some(self.worker_id.as_str())
                    && record.status == crate::state::TaskStatus::Running =>
            {
                *latest.lock().unwrap_or_else(|p| p.into_inner()) = record;
            }
            Ok(record) => {
                tracing::info!(
                    status = ?record.as_ref().map(|r| r.status),
                    "task cancelled or taken over while running; telling the tool"
                );
                cancelled.cancel();
            }
            Err(e) => tracing::warn!(error = %e, "could not renew the lease"),
        }
        // After the lease (what a takeover checks); a late visibility renewal costs at most one
        // extra delivery of the holder's own message, which is then retried, not run.
        if let (Some(queue), Some(handle)) = (&self.work_queue, &delivery.receipt_handle)
            && let Err(e) = queue
                .change_visibility(handle, Duration::from_millis(self.lease_ms))
                .await
        {
            tracing::warn!(error = %e, "could not extend the message's visibility");
        }
    }

    /// Hides a delivery's message for `how_long` (best effort: at worst it comes back sooner).
    pub(super) async fn hide(&self, delivery: &Delivery, how_long: Duration) {
        if let (Some(queue), Some(handle)) = (&self.work_queue, &delivery.receipt_handle) {
            let how_long = how_long.min(Duration::from_secs(MAX_VISIBILITY_TIMEOUT_S));
            if let Err(e) = queue.change_visibility(handle, how_long).await {
                tracing::warn!(error = %e, "could not hide a retried message");
            }
        }
    }
}
