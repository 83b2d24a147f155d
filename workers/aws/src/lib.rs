//! The pipeline's AWS adapters: the task store on DynamoDB and the queues on SQS (the ports of
//! `workers_core::ports`), the tools that reach AWS (`tools`: a Lambda function, an HTTP endpoint
//! with its secret in Secrets Manager), SDK configuration, the stack's resource names, a SigV4
//! Function URL client, and `local up`, which creates the stack's tables and queues on an emulator.
//! The `workers` crate re-exports it as `workers::aws` (and its tools as `workers::tools`).

// The core's modules under the names this crate's code has always used.
use workers_core::{api, catalog, error, limits, ports, protocol, record, replies, state};

mod config;
mod dynamo;
mod function_url;
mod provision;
mod resources;
mod sqs;
pub mod tools;

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
