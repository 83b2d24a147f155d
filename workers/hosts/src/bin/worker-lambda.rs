//! The worker function: one deployment per tool, fed by its work queue (SQS event source with
//! ReportBatchItemFailures).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::sync::Arc;
use workers::aws::{AwsSettings, Resources, sdk_config};
use workers::lambda::env::WorkerEnv;
use workers::lambda::sqs::handle_sqs_event;
use workers::{Backend, Catalog, WorkerSettings};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // JSON or text as the function's logging config says (AWS_LAMBDA_LOG_FORMAT / _LEVEL).
    lambda_runtime::tracing::init_default_subscriber();
    let env = WorkerEnv::from_env(|k| std::env::var(k).ok(), Catalog::embedded())?;
    // The stage's function, URL or secret for a `lambda` or `http` tool, over the catalog's.
    let catalog = Arc::new(Catalog::embedded().with_target(&env.tool, &env.target)?);
    let sdk = sdk_config(&AwsSettings::function()).await;
    let mut resources = Resources {
        table: env.table.clone(),
        reply_queue_urls: env.reply_queue_urls.clone(),
        ..Resources::default()
    };
    // This function only serves its own tool; the others' queues are never touched.
    for tool in catalog.names() {
        resources
            .work_queue_urls
            .insert(tool.to_string(), env.work_queue_url.clone());
    }
    let backend = Backend::aws(&sdk, &resources, catalog)?;
    let worker_id = format!(
        "lambda:{}:{}",
        std::env::var("AWS_LAMBDA_LOG_STREAM_NAME").unwrap_or_default(),
        ulid::Ulid::generate()
    );
    let tools = workers::tools::for_catalog(&backend.catalog, Some(&sdk)).await?;
    let worker = Arc::new(backend.worker(
        &env.tool,
        &tools,
        WorkerSettings {
            // The event source hides each message for the queue's visibility timeout.
            hide_on_claim: true,
            ..WorkerSettings::new(worker_id)
        },
    )?);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| {
            let worker = worker.clone();
            async move {
                Ok::<_, Error>(
                    handle_sqs_event(&worker, event.payload, Some(event.context.deadline)).await,
                )
            }
        },
    ))
    .await
}
