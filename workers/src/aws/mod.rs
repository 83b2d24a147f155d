//! The AWS adapters (DynamoDB task store, SQS queues), SDK configuration, the stack's resource names,
//! and `local up`, which creates the stack's tables and queues on an emulator.

mod config;
mod dynamo;
mod function_url;
mod provision;
mod resources;
mod sqs;

pub use aws_config::SdkConfig;
pub use config::{AwsSettings, sdk_config};
pub use dynamo::{CONVERSATION_INDEX, DynamoStore, OPEN_INDEX, UNDELIVERED_INDEX};
pub use function_url::FunctionUrlClient;
pub use provision::table_name;
pub use provision::{ProvisionOptions, provision};
pub use resources::{
    DEFAULT_OUTPUTS_FILE, DEFAULT_STACK_NAME, ResourceOverrides, ResourceSources, Resources,
    parse_reply_queues, parse_work_queues,
};
pub use sqs::SqsQueue;
