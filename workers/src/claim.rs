//! What one delivery of a work message may write on its task's current revision: a claim with a
//! lease, or a terminal state when the task cannot run — or why it may write nothing. Pure: the
//! worker reads and writes the store around it (`ports::update_with_retry`).

use crate::catalog::ToolSpec;
use crate::error::{PipelineError, StoreError};
use crate::record::{ErrorKind, Outcome, TaskError, TaskRecord};

/// A worker about to act on a task, with the delivery it acts for.
#[derive(Debug, Clone, Copy)]
pub struct Claimant<'a> {
    /// Written into the lease.
    pub worker_id: &'a str,
    /// The tool the worker serves.
    pub spec: &'a ToolSpec,
    /// The delivery's message: the claim notes it, so its redelivery is known as the holder's.
    pub message_id: &'a str,
    pub lease_ms: u64,
    pub now_ms: u64,
}

/// Why a delivery writes nothing on this revision.
#[derive(Debug)]
pub enum Found {
    /// Nothing decided yet.
    Nothing,
    /// The task is another tool's; the reason to fail it with.
    WrongTool(String),
    /// Terminal: its result needs publishing (or is out).
    Terminal,
    /// Running under a live lease.
    Leased,
    /// The revision allows no write this delivery could make.
    Refused(PipelineError),
}

/// The claim a delivery makes on `current`, or the terminal state it writes instead: `Abandoned`
/// once workers died on it as often as the queue delivers, `TimedOut` once its deadline passed.
pub fn for_delivery(current: &TaskRecord, who: &Claimant) -> Result<TaskRecord, Found> {
    let spec = who.spec;
    if current.tool != spec.name {
        return Err(Found::WrongTool(format!(
            "task {} is a {:?} task, not {:?}",
            current.task_id, current.tool, spec.name
        )));
    }
    let now = who.now_ms;
    if current.status.is_terminal() {
        return Err(Found::Terminal);
    }
    if current.lease_is_live(now) {
        return Err(Found::Leased);
    }
    // Workers died on this task on every earlier claim, as many as the queue allows deliveries:
    // end it rather than let it crash workers forever. Counted in claims, not in this message's
    // receives: under load a live holder's message can come back (its visibility renewal late)
    // and burn receives without any worker dying; and a task left RUNNING when its message moves
    // to the DLQ is re-enqueued by the sweeper.
    let outcome = if current.attempts >= spec.max_receive_count {
        Outcome::Failed(TaskError::new(
            ErrorKind::Abandoned,
            format!(
                "abandoned after {} attempts: the worker stopped before finishing each time",
                current.attempts
            ),
        ))
    } else if current.deadline_ms.is_some_and(|d| d <= now) {
        Outcome::TimedOut("the task's deadline passed before it started".into())
    } else {
        let mut claimed = current
            .claim(who.worker_id, now, who.lease_ms)
            .map_err(|_| Found::Nothing)?;
        claimed.claim_message_id = Some(who.message_id.to_string());
        return Ok(claimed);
    };
    finished(current, who, outcome)
}

/// A task named by a message that cannot be used: FAILED (`MalformedMessage`) rather than retried
/// forever, unless it has ended or runs under a live lease.
pub fn for_malformed(
    current: &TaskRecord,
    who: &Claimant,
    reason: &str,
) -> Result<TaskRecord, Found> {
    if current.status.is_terminal() {
        return Err(Found::Terminal);
    }
    if current.lease_is_live(who.now_ms) {
        return Err(Found::Leased);
    }
    let error = TaskError::new(ErrorKind::MalformedMessage, reason);
    finished(current, who, Outcome::Failed(error))
}

/// `current` ended with `outcome`, the claimant named as its publisher for a lease.
fn finished(current: &TaskRecord, who: &Claimant, outcome: Outcome) -> Result<TaskRecord, Found> {
    let now = who.now_ms;
    match current.finish(outcome, now) {
        Ok(next) => Ok(next.with_publisher(who.worker_id, now + who.lease_ms)),
        Err(e) => Err(Found::Refused(PipelineError::Store(
            StoreError::IllegalTransition {
                task_id: e.task_id,
                from: e.from.to_string(),
                to: "a terminal state".into(),
            },
        ))),
    }
}
