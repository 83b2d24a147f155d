//! The sweeper function, run every minute by the stack: re-enqueues tasks the queues lost track of
//! and publishes results nobody published (see `workers::sweeper`), then prints its figures as a
//! CloudWatch Embedded Metric Format line (the stack alarms on the oldest open task's age and on
//! tasks it cannot fix).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use std::sync::Arc;
use workers::aws::{AwsSettings, sdk_config};
use workers::lambda::env::SweeperEnv;
use workers::sweeper::{SweepSettings, emf_line, sweep};
use workers::{Backend, Catalog};

/// The walk stops this long before the function's deadline: the remedies under way finish (each
/// AWS call bounded by `FUNCTION_OPERATION_TIMEOUT_S`) and the figures are logged.
const STOP_BEFORE_DEADLINE_MS: u64 = 3 * workers::limits::FUNCTION_OPERATION_TIMEOUT_S * 1000;

/// When to stop walking: `STOP_BEFORE_DEADLINE_MS` before the deadline, or a quarter of the time
/// left if the function has less than four times that (a short timeout, an emulator's).
fn stop_at(deadline_ms: u64, now_ms: u64) -> u64 {
    let left = deadline_ms.saturating_sub(now_ms);
    deadline_ms - STOP_BEFORE_DEADLINE_MS.min(left / 4)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let catalog = Arc::new(Catalog::embedded().clone());
    let env = SweeperEnv::from_env(|k| std::env::var(k).ok(), &catalog)?;
    let sdk = sdk_config(&AwsSettings::function()).await;
    let backend = Arc::new(Backend::aws(&sdk, &env.resources(), catalog)?);
    let settings = SweepSettings {
        older_than_ms: env.older_than_s * 1000,
        ..SweepSettings::default()
    };
    settings.check()?;
    let stack = Arc::new(env.stack_name);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (backend, stack, mut settings) = (backend.clone(), stack.clone(), settings.clone());
        // Stop walking early enough to log the figures (and to finish the remedies under way,
        // each bounded by the operation timeout) before the function's timeout.
        // (An emulator may pass something else than a deadline in epoch ms, as cargo-lambda's
        // does: a deadline already past is ignored.)
        let now = workers::clock::now_ms();
        settings.stop_at_ms = Some(event.context.deadline)
            .filter(|deadline| *deadline > now)
            .map(|deadline| stop_at(deadline, now));
        async move {
            let clock = settings.clock.clone();
            let settings_stop_at = settings.stop_at_ms;
            let report = sweep(
                backend.store.as_ref(),
                &backend.work_queues,
                &backend.replies,
                settings,
            )
            .await?;
            println!("{}", emf_line(&stack, &report, clock.now_ms()));
            for error in &report.errors {
                tracing::warn!(%error, "sweep action failed; the task is set aside and tried again next sweep");
            }
            if report.budget_exhausted {
                tracing::warn!(
                    scanned = report.scanned,
                    stop_at_ms = ?settings_stop_at,
                    now_ms = clock.now_ms(),
                    "the sweep's budget ran out before the end of every shard"
                );
            }
            Ok::<_, Error>(serde_json::json!({
                "scanned": report.scanned,
                "requeued": report.requeued,
                "republished": report.republished,
                "failed_too_large": report.failed_too_large,
                "unfixable": report.unfixable,
                "set_aside": report.set_aside,
                "budget_exhausted": report.budget_exhausted,
                "oldest_open_age_s": report.oldest_open_age_s,
                "errors": report.unfixable,
            }))
        }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_stops_before_the_deadline_with_time_to_finish() {
        let now = 1_796_000_000_000;
        // The stack's 60 s function: 15 s kept for the remedies under way and the figures.
        assert_eq!(stop_at(now + 60_000, now), now + 45_000);
        // A short timeout keeps a quarter of it.
        assert_eq!(stop_at(now + 8_000, now), now + 6_000);
        assert_eq!(stop_at(now, now), now);
    }
}
