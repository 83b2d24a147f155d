//! The reply settler function: the router of a consumer whose clients read results from the table
//! (the deployed MCP server). Fed by that consumer's reply queue (SQS event source with
//! ReportBatchItemFailures); see `workers::lambda::settle`.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::sync::Arc;
use workers::aws::{AwsSettings, DynamoStore, sdk_config};
use workers::lambda::env::SettlerEnv;
use workers::lambda::settle::handle_reply_batch;
use workers::ports::TaskStore;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let env = SettlerEnv::from_env(|k| std::env::var(k).ok())?;
    let sdk = sdk_config(&AwsSettings::function()).await;
    let store: Arc<dyn TaskStore> = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        env.table.clone(),
    ));
    let consumer = Arc::new(env.consumer);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let (store, consumer) = (store.clone(), consumer.clone());
        async move { Ok::<_, Error>(handle_reply_batch(store.as_ref(), &consumer, event.payload).await) }
    }))
    .await
}
