//! Per-principal limits: how many of a principal's calls may wait for results at once (blocking
//! calls, `task_results` with `wait_s`, `tasks/result`). Each waiting call holds a slot, a lease in
//! the task table (`Dispatcher::take_slot`), so the limit holds across every instance of a
//! deployment, and a slot whose instance died frees itself when its lease runs out. Without it one
//! principal could hold every execution the MCP function has with long waits.

use crate::server::FrontDoor;
use std::time::Duration;
use workers::Caller;
use workers::dispatcher::Slot;
use workers::quota::refused;

/// A slot outlives the wait it is taken for by this much (then frees itself if not released).
const SLOT_MARGIN: Duration = Duration::from_secs(5);
/// The slot of a wait with no end of its own lasts this long.
const OPEN_ENDED_WAIT: Duration = Duration::from_secs(15 * 60);

/// A waiting call's slot, released when the call ends.
pub(crate) struct WaitingCall {
    door: FrontDoor,
    slot: Option<Slot>,
}

impl Drop for WaitingCall {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            let dispatcher = self.door.dispatcher().clone();
            tokio::spawn(async move {
                if let Err(e) = dispatcher.release_slot(&slot).await {
                    tracing::debug!(error = %e, "could not release a waiting call's slot; it lapses by itself");
                }
            });
        }
    }
}

impl FrontDoor {
    /// A slot for one of `caller`'s calls that is about to wait up to `wait` (`None`: no end of its
    /// own), or the refusal to answer with (said so a model can act on it).
    pub(crate) async fn waiting_call(
        &self,
        caller: &Caller,
        wait: Option<Duration>,
    ) -> Result<WaitingCall, String> {
        let Some(limit) = self.settings().max_waiting_calls else {
            return Ok(WaitingCall {
                door: self.clone(),
                slot: None,
            });
        };
        let ttl = wait.unwrap_or(OPEN_ENDED_WAIT) + SLOT_MARGIN;
        match self
            .dispatcher()
            .take_slot(caller, "waiting", limit, ttl)
            .await
        {
            Ok(Some(slot)) => Ok(WaitingCall {
                door: self.clone(),
                slot: Some(slot),
            }),
            Ok(None) => {
                refused("waiting_calls");
                Err(format!(
                    "too many calls waiting: you already have {limit} calls waiting for results, the \
                     limit per caller. Let one of them return first, or collect finished results \
                     without waiting (task_results with wait_s 0)."
                ))
            }
            // The limit cannot be checked: the call goes ahead rather than failing on bookkeeping.
            Err(e) => {
                tracing::warn!(error = %e, "could not take a waiting-call slot; not limiting this call");
                Ok(WaitingCall {
                    door: self.clone(),
                    slot: None,
                })
            }
        }
    }
}
