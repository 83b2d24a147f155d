//! The Lambda glue: environment, the dispatcher's Function URL routes, the worker's SQS batches and
//! the reply settler's.
//! Pure functions over the event types, so tests drive them without a Lambda runtime.

pub mod env;
pub mod http;
pub mod settle;
pub mod sqs;
