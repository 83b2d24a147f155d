//! A session on its own: its own event queue, the model always free, each call's attempt chain
//! known when it is issued. The independent runner's hot path.

use super::{Env, Event, Outcome, QueueEnv, Session, SessionInputs, Setup};
use crate::model::draws::TurnBase;
use crate::model::engine::EventQueue;
use crate::model::time::Nanos;

/// A session on its own: its own event queue, the model always free.
struct LocalEnv<'q> {
    queue: &'q mut EventQueue<Event>,
}

impl Env for LocalEnv<'_> {
    #[inline]
    fn schedule(&mut self, at: Nanos, event: Event) {
        self.queue.push(at, event);
    }
}

impl QueueEnv for LocalEnv<'_> {
    #[inline]
    fn queue(&mut self) -> &mut EventQueue<Event> {
        self.queue
    }
}

/// Buffers for simulating sessions one at a time.
#[derive(Default)]
pub struct Workspace {
    queue: EventQueue<Event>,
    pub session: Session,
}

/// Simulates one session on its own (no shared capacity) and returns its metrics; `ws.session`
/// keeps the per-call and per-turn detail.
pub fn simulate_session<T: TurnBase>(
    setup: &Setup,
    mut inputs: SessionInputs<'_, T>,
    ws: &mut Workspace,
) -> Outcome {
    ws.queue.reset();
    let mut env = LocalEnv {
        queue: &mut ws.queue,
    };
    let session = &mut ws.session;
    session.begin(setup, &mut inputs, &mut env, 0);
    while let Some(t) = env.queue.peek_time() {
        session.run_instant(setup, &mut inputs, &mut env, t);
        if session.is_done() {
            break;
        }
    }
    assert!(session.is_done(), "the session ended with unread results");
    session.outcome()
}
