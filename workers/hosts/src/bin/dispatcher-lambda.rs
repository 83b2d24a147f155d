//! The dispatcher function behind a Function URL (AWS_IAM auth): submit, get, list, cancel, and the
//! delivery ledger of consumers' routers. Every task belongs to the IAM principal that submitted it.

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::sync::Arc;
use workers::aws::{AwsSettings, sdk_config};
use workers::lambda::env::DispatcherEnv;
use workers::lambda::http::handle_function_url;
use workers::{Backend, Catalog, DispatcherSettings};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // JSON or text as the function's logging config says (AWS_LAMBDA_LOG_FORMAT / _LEVEL).
    lambda_runtime::tracing::init_default_subscriber();
    let catalog = Arc::new(Catalog::embedded().clone());
    let env = DispatcherEnv::from_env(|k| std::env::var(k).ok(), &catalog)?;
    let sdk = sdk_config(&AwsSettings::function()).await;
    let backend = Backend::aws(&sdk, &env.resources(), catalog)?;
    let settings = DispatcherSettings {
        task_ttl_days: env.task_ttl_days,
        owner_scope: env.owner_scope,
        max_open_tasks: env.max_open_tasks,
        ..DispatcherSettings::default()
    };
    let tools = workers::tools::for_catalog(&backend.catalog, Some(&sdk)).await?;
    let dispatcher = Arc::new(backend.dispatcher(tools, settings)?);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<LambdaFunctionUrlRequest>| {
            let dispatcher = dispatcher.clone();
            async move { Ok::<_, Error>(handle_function_url(&dispatcher, event.payload).await) }
        },
    ))
    .await
}
