//! The asynctools task pipeline, assembled: backends that put the core (`workers-core`) on memory or
//! on AWS (`workers-aws`), the local worker, the Lambda handlers and binaries, and the CLI's client.
//! It re-exports both crates, so `workers::dispatcher`, `workers::aws` or `workers::tools` name the
//! same things wherever the pipeline is used. See `workers/README.md` for the protocol, the state
//! machine, the ports and the exactly-once argument.

pub use workers_aws as aws;
pub use workers_aws::tools;
pub use workers_core::{
    api, caller, catalog, claim, clock, delivery, dispatcher, error, fault, limits, memory, ports,
    protocol, quota, record, replies, results, state, sweeper, worker,
};

pub mod backend;
pub mod client;
pub mod demo;
pub mod lambda;
pub mod local;
pub mod poller;
/// Test support (a moto per test process, a provisioned backend): tests, benches, examples only.
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use backend::{AwsConnection, AwsTarget, Backend, BackendKind, MemorySettings};
pub use client::{ClientError, TaskClient};
pub use workers_core::{
    Caller, CancelOutcome, Catalog, Clock, Delivery, Dispatcher, DispatcherSettings, Disposition,
    FakeClock, InputError, OwnerScope, PipelineError, QueueError, ResultMessage, ResultRouter,
    ResultSink, SharedClock, StoreError, SubmitAck, SystemClock, TaskRecord, TaskRequest,
    TaskStatus, ToolBox, ToolSpec, WorkMessage, Worker, WorkerSettings,
};
