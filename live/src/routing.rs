//! The run's traffic with the pipeline outside the sessions: the conversation ids that route
//! each result to its session, the router that hands them over, and the warm-up call.

use crate::options::{LiveError, SYNTHETIC};
use async_trait::async_trait;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use workers::delivery::{ResultSink, VecSink};
use workers::{Caller, Dispatcher, ResultMessage, ResultRouter, TaskRequest};

/// A result as the router hands it to its session.
pub(crate) struct Arrived {
    pub(crate) call: u32,
    pub(crate) attempt: u32,
    pub(crate) at: Instant,
    pub(crate) task_id: String,
    pub(crate) status: String,
}

pub(crate) type Routes = HashMap<(u64, usize), mpsc::UnboundedSender<Arrived>>;

/// The conversation id carries the routing key, so a result is routed without waiting for its
/// acknowledgement (it can land before the submit returns).
pub(crate) fn conversation(
    run_id: &str,
    session: u64,
    policy: usize,
    call: u32,
    attempt: u32,
) -> String {
    format!("{run_id}.{session}.{policy}.{call}.{attempt}")
}

fn parse_conversation(prefix: &str, id: &str) -> Option<(u64, usize, u32, u32)> {
    let rest = id.strip_prefix(prefix)?.strip_prefix('.')?;
    let mut parts = rest.split('.');
    let session = parts.next()?.parse().ok()?;
    let policy = parts.next()?.parse().ok()?;
    let call = parts.next()?.parse().ok()?;
    let attempt = parts.next()?.parse().ok()?;
    parts
        .next()
        .is_none()
        .then_some((session, policy, call, attempt))
}

/// How long the warm-up call may take: a cold emulator or a cold Lambda answers within seconds.
const WARM_UP_LIMIT: Duration = Duration::from_secs(60);

/// One call through the whole pipeline before the clock starts: the first request to each part
/// pays one-off costs (connections, an emulator loading its services, cold starts) that no
/// session of a steady pipeline sees, and the simulator does not model.
pub(crate) async fn warm_up(
    dispatcher: &Dispatcher,
    caller: &Caller,
    consumer: &str,
    router: &mut ResultRouter,
    run_id: &str,
) -> Result<(), LiveError> {
    let conversation = format!("{run_id}.warm-up");
    let ack = dispatcher
        .submit(
            caller,
            TaskRequest {
                reply_to: Some(consumer.to_string()),
                ..TaskRequest::new(&conversation, SYNTHETIC, json!({ "sleep_ms": 0 }))
            },
        )
        .await
        .map_err(|source| LiveError::Pipeline {
            step: "warm-up submit",
            source,
        })?;
    let started = Instant::now();
    let mut sink = VecSink::default();
    while started.elapsed() < WARM_UP_LIMIT {
        router
            .poll(&mut sink, Duration::from_secs(1))
            .await
            .map_err(|source| LiveError::Pipeline {
                step: "warm-up receive",
                source,
            })?;
        if sink.0.iter().any(|r| r.task_id == ack.task_id) {
            return Ok(());
        }
    }
    Err(LiveError::WarmUp(WARM_UP_LIMIT))
}

/// Hands each of this run's results to its session, stamped with the moment the router received it.
pub(crate) struct SessionSink {
    prefix: String,
    routes: Routes,
}

#[async_trait]
impl ResultSink for SessionSink {
    async fn hand_over(&mut self, result: ResultMessage) -> anyhow::Result<()> {
        let at = Instant::now();
        if let Some((session, policy, call, attempt)) =
            parse_conversation(&self.prefix, &result.conversation_id)
            && let Some(tx) = self.routes.get(&(session, policy))
        {
            let _ = tx.send(Arrived {
                call,
                attempt,
                at,
                task_id: result.task_id,
                status: result.status.to_string(),
            });
        }
        Ok(())
    }
}

/// The run's router: each result once to its session (the router drops repeats, counted here).
pub(crate) async fn route_results(
    mut router: ResultRouter,
    prefix: String,
    routes: Routes,
    mut stop: watch::Receiver<bool>,
    duplicates: Arc<std::sync::atomic::AtomicU64>,
) {
    let mut sink = SessionSink { prefix, routes };
    while !*stop.borrow_and_update() {
        let polled = tokio::select! {
            r = router.poll(&mut sink, Duration::from_secs(1)) => r,
            _ = stop.changed() => break,
        };
        if let Err(e) = polled {
            tracing::warn!(error = %e, "receiving results failed; retrying");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        duplicates.store(
            router.stats.duplicates_dropped,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_ids_round_trip() {
        assert_eq!(
            parse_conversation("live-1-2", &conversation("live-1-2", 3, 1, 4, 0)),
            Some((3, 1, 4, 0))
        );
        assert_eq!(parse_conversation("live-1-2", "live-1-23.1.4.0.0"), None);
        assert_eq!(parse_conversation("live-1-2", "live-1-2.3.1.4"), None);
    }
}
