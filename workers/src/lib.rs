//! The asynctools task pipeline's core: a tool call is acknowledged at once with a task id, a worker
//! runs the tool from a queue, the task's state lives in a store, and the result is published on a
//! results queue the moment it is ready. This crate knows no AWS: the ports (`ports`) are
//! implemented here in memory (`memory`) and on DynamoDB/SQS in `workers-aws`; the `workers` crate
//! (workers/hosts) assembles them into backends, the local worker and the Lambda handlers, and
//! re-exports this crate. See `workers/README.md` for the protocol, the state machine, the ports and
//! the exactly-once argument.

pub mod api;
pub mod caller;
pub mod catalog;
pub mod claim;
pub mod clock;
pub mod delivery;
pub mod dispatcher;
pub mod error;
pub mod fault;
pub mod limits;
pub mod memory;
pub mod ports;
pub mod protocol;
pub mod quota;
pub mod record;
pub mod replies;
pub mod results;
pub mod state;
pub mod sweeper;
pub mod tools;
pub mod worker;

pub use catalog::{Catalog, ToolSpec};
pub use clock::{Clock, FakeClock, SharedClock, SystemClock};
pub use delivery::{ResultRouter, ResultSink};
pub use dispatcher::{Caller, CancelOutcome, Dispatcher, DispatcherSettings, OwnerScope};
pub use error::{InputError, PipelineError, QueueError, StoreError};
pub use protocol::{ResultMessage, SubmitAck, TaskRequest, WorkMessage};
pub use record::TaskRecord;
pub use state::TaskStatus;
pub use tools::ToolBox;
pub use worker::{Delivery, Disposition, Worker, WorkerSettings};
