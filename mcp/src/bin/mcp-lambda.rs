//! The MCP server as a Lambda function: Streamable HTTP at `/mcp` behind a Function URL (AWS_IAM,
//! RESPONSE_STREAM), stateless, every task owned by the calling IAM principal. See `mcp::lambda`.

use lambda_http::{Error, Request, Service, service_fn};
use mcp::lambda::{MAX_BODY_BYTES, McpLambdaEnv, PRINCIPAL_HEADER, principal_from_iam};
use mcp::server::Settings;
use mcp::{FrontDoor, Principals};
use std::sync::Arc;
use workers::aws::{AwsSettings, sdk_config};
use workers::{Backend, Catalog, DispatcherSettings};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let catalog = Arc::new(Catalog::embedded().clone());
    let env = McpLambdaEnv::from_env(|k| std::env::var(k).ok(), &catalog)?;
    let sdk = sdk_config(&AwsSettings::function()).await;
    let backend = Backend::aws(&sdk, &env.dispatcher.resources(), catalog)?;
    let dispatcher_settings = DispatcherSettings {
        task_ttl_days: env.dispatcher.task_ttl_days,
        owner_scope: env.dispatcher.owner_scope,
        max_open_tasks: env.dispatcher.max_open_tasks,
        ..DispatcherSettings::default()
    };
    let tools = workers::tools::for_catalog(&backend.catalog, Some(&sdk)).await?;
    let dispatcher = backend.dispatcher(tools, dispatcher_settings)?;
    let mut settings = Settings::new(env.dispatcher.task_ttl_days);
    settings.consumer = env.consumer.clone();
    settings.push_statuses = false;
    settings.max_wait = Some(env.max_wait);
    settings.call_mode = env.call_mode;
    settings.max_waiting_calls = Some(env.max_waiting_calls);
    let door = FrontDoor::new(
        Arc::new(dispatcher),
        Principals::TrustedHeader(http::HeaderName::from_static(PRINCIPAL_HEADER)),
        settings,
        Arc::new(mcp::delivery::Hub::new(&backend.catalog)),
    )?;
    let app = mcp::transport::stateless_router(door, MAX_BODY_BYTES);
    lambda_http::run_with_streaming_response(service_fn(move |request: Request| {
        let mut app = app.clone();
        async move {
            let request = principal_from_iam(request).map(axum::body::Body::new);
            app.call(request).await
        }
    }))
    .await
}
