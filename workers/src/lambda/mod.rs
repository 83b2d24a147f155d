//! The Lambda glue: environment, the dispatcher's Function URL routes, and the worker's SQS batches.
//! Pure functions over the event types, so tests drive them without a Lambda runtime.

pub mod env;
pub mod http;
pub mod sqs;
