//! `local up`: creates the stack's table and queues on an emulator with the CDK stack's settings
//! (keys, GSI, TTL, redrive, visibility), from the same catalog. Safe to run again.

use super::resources::Resources;
use crate::catalog::Catalog;
use anyhow::{Context, Result};
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_sqs::types::QueueAttributeName;
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct ProvisionOptions {
    pub stack_name: String,
    /// Tests shorten the visibility timeout (normally 6 x the tool's timeout).
    pub work_visibility_timeout_s: Option<u32>,
    /// One reply queue (+ DLQ) each; the CDK stack's `consumers` context.
    pub consumers: Vec<String>,
}

impl ProvisionOptions {
    pub fn new(stack_name: impl Into<String>) -> Self {
        ProvisionOptions {
            stack_name: stack_name.into(),
            work_visibility_timeout_s: None,
            consumers: vec![crate::limits::DEFAULT_CONSUMER.to_string()],
        }
    }
}
/// DLQs keep messages for SQS's maximum, 14 days.
const DLQ_RETENTION_S: u32 = 14 * 24 * 3600;

pub fn table_name(stack: &str) -> String {
    format!("{stack}-Tasks")
}

pub async fn provision(
    sdk: &SdkConfig,
    catalog: &Catalog,
    options: &ProvisionOptions,
) -> Result<Resources> {
    let stack = &options.stack_name;
    let table = table_name(stack);
    create_table(&aws_sdk_dynamodb::Client::new(sdk), &table).await?;
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut resources = Resources {
        table,
        ..Resources::default()
    };
    if options.consumers.len() > crate::limits::MAX_CONSUMERS {
        anyhow::bail!(
            "{} consumers; the limit is {}",
            options.consumers.len(),
            crate::limits::MAX_CONSUMERS
        );
    }
    for consumer in &options.consumers {
        crate::protocol::check_consumer_name(consumer)?;
        let base = format!("{stack}-Reply-{}", crate::catalog::pascal_case(consumer));
        let (dlq_url, dlq_arn) =
            create_queue(&sqs, &format!("{base}-DLQ"), dlq_attributes()).await?;
        let (url, _) = create_queue(
            &sqs,
            &base,
            work_attributes(
                crate::replies::REPLY_VISIBILITY_TIMEOUT_S,
                &dlq_arn,
                crate::replies::REPLY_MAX_RECEIVE_COUNT,
            ),
        )
        .await?;
        resources.reply_queue_urls.insert(consumer.clone(), url);
        resources
            .reply_dead_letter_queue_urls
            .insert(consumer.clone(), dlq_url);
    }
    for tool in catalog.tools() {
        let base = format!("{stack}-Work-{}", tool.pascal_name());
        let (dlq_url, dlq_arn) =
            create_queue(&sqs, &format!("{base}-DLQ"), dlq_attributes()).await?;
        let visibility = options
            .work_visibility_timeout_s
            .unwrap_or(tool.visibility_timeout_s());
        let (url, _) = create_queue(
            &sqs,
            &base,
            work_attributes(visibility, &dlq_arn, tool.max_receive_count),
        )
        .await?;
        resources.work_queue_urls.insert(tool.name.clone(), url);
        resources
            .dead_letter_queue_urls
            .insert(tool.name.clone(), dlq_url);
    }
    Ok(resources)
}

fn dlq_attributes() -> HashMap<QueueAttributeName, String> {
    HashMap::from([(
        QueueAttributeName::MessageRetentionPeriod,
        DLQ_RETENTION_S.to_string(),
    )])
}

fn work_attributes(
    visibility_s: u32,
    dlq_arn: &str,
    max_receive_count: u32,
) -> HashMap<QueueAttributeName, String> {
    let redrive =
        serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count });
    HashMap::from([
        (
            QueueAttributeName::VisibilityTimeout,
            visibility_s.to_string(),
        ),
        (QueueAttributeName::RedrivePolicy, redrive.to_string()),
    ])
}

/// Returns the queue's URL and ARN.
async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: HashMap<QueueAttributeName, String>,
) -> Result<(String, String)> {
    let created = sqs
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes))
        .send()
        .await
        .map_err(aws_sdk_sqs::Error::from)
        .with_context(|| format!("creating queue {name}"))?;
    let url = created.queue_url.context("CreateQueue returned no URL")?;
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(aws_sdk_sqs::Error::from)
        .with_context(|| format!("reading the ARN of queue {name}"))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .context("GetQueueAttributes returned no QueueArn")?;
    Ok((url, arn))
}

async fn create_table(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Result<()> {
    let key = |name: &str, key_type: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build()
    };
    let attribute = |name: &str, kind: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build()
    };
    use super::dynamo::*;
    let mut create = dynamodb
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("task_id", KeyType::Hash)?)
        .attribute_definitions(attribute("task_id", ScalarAttributeType::S)?)
        .attribute_definitions(attribute(CREATED_KEY, ScalarAttributeType::N)?);
    for (index, partition_key) in [
        (CONVERSATION_INDEX, CONVERSATION_KEY),
        (OPEN_INDEX, OPEN_KEY),
        (UNDELIVERED_INDEX, UNDELIVERED_KEY),
    ] {
        create = create
            .attribute_definitions(attribute(partition_key, ScalarAttributeType::S)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index)
                    .key_schema(key(partition_key, KeyType::Hash)?)
                    .key_schema(key(CREATED_KEY, KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::KeysOnly)
                            .build(),
                    )
                    .build()?,
            );
    }
    let created = create.send().await;
    match created {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) => {}
        Err(e) => {
            return Err(aws_sdk_dynamodb::Error::from(e))
                .with_context(|| format!("creating table {table}"));
        }
    }
    let ttl = dynamodb
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(aws_sdk_dynamodb::Error::from)
        .with_context(|| format!("reading the TTL of table {table}"))?;
    let enabled = ttl
        .time_to_live_description
        .and_then(|d| d.time_to_live_status)
        .is_some_and(|s| s == TimeToLiveStatus::Enabled);
    if !enabled {
        dynamodb
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("expires_at")
                    .enabled(true)
                    .build()?,
            )
            .send()
            .await
            .map_err(aws_sdk_dynamodb::Error::from)
            .with_context(|| format!("enabling TTL on table {table}"))?;
    }
    Ok(())
}
