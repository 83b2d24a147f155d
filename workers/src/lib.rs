//! The asynctools task pipeline: a tool call is acknowledged at once with a task id, a worker runs the
//! tool from a queue, the task's state lives in a store, and the result is published on a results
//! queue the moment it is ready. See `workers/README.md` for the protocol, the state machine, the
//! ports and the exactly-once argument.

pub mod api;
pub mod aws;
pub mod backend;
pub mod catalog;
pub mod claim;
pub mod client;
pub mod clock;
pub mod delivery;
pub mod demo;
pub mod dispatcher;
pub mod error;
pub mod fault;
pub mod lambda;
pub mod limits;
pub mod local;
pub mod memory;
pub mod poller;
pub mod ports;
pub mod protocol;
pub mod quota;
pub mod record;
pub mod replies;
pub mod results;
pub mod state;
pub mod sweeper;
/// Test support (a moto per test process, a provisioned backend): tests, benches, examples only.
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod tools;
pub mod worker;

pub use backend::{AwsConnection, AwsTarget, Backend, BackendKind, MemorySettings};
pub use catalog::{Catalog, ToolSpec};
pub use client::{ClientError, TaskClient};
pub use clock::{Clock, FakeClock, SharedClock, SystemClock};
pub use delivery::{ResultRouter, ResultSink};
pub use dispatcher::{Caller, CancelOutcome, Dispatcher, DispatcherSettings, OwnerScope};
pub use error::{InputError, PipelineError, QueueError, StoreError};
pub use protocol::{ResultMessage, SubmitAck, TaskRequest, WorkMessage};
pub use record::TaskRecord;
pub use state::TaskStatus;
pub use tools::ToolBox;
pub use worker::{Delivery, Disposition, Worker, WorkerSettings};
