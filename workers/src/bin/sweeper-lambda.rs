//! The sweeper function, run every minute by the stack: re-enqueues tasks the queues lost track of
//! and publishes results nobody published (see `workers::sweeper`), then prints its figures as a
//! CloudWatch Embedded Metric Format line (the stack alarms on the oldest open task's age).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use std::sync::Arc;
use workers::aws::{AwsSettings, sdk_config};
use workers::lambda::env::SweeperEnv;
use workers::sweeper::{SweepSettings, emf_line, sweep};
use workers::{Backend, Catalog};

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
    lambda_runtime::run(service_fn(move |_event: LambdaEvent<Value>| {
        let (backend, stack, settings) = (backend.clone(), stack.clone(), settings.clone());
        async move {
            let clock = settings.clock.clone();
            let report = sweep(
                backend.store.as_ref(),
                &backend.work_queues,
                &backend.replies,
                settings,
            )
            .await?;
            println!("{}", emf_line(&stack, &report, clock.now_ms()));
            for error in &report.errors {
                tracing::warn!(%error, "sweep action failed; the next sweep tries again");
            }
            Ok::<_, Error>(serde_json::json!({
                "scanned": report.scanned,
                "requeued": report.requeued,
                "republished": report.republished,
                "oldest_open_age_s": report.oldest_open_age_s,
                "errors": report.errors.len(),
            }))
        }
    }))
    .await
}
