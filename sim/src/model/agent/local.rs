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

/// A blocking session on its own with no follow-up messages has at most two events pending:
/// the running turn's end, and the return of the calls that turn issued (never before the
/// turn's end). Two slots hold them instead of a queue.
#[derive(Default)]
struct BlockingEnv {
    turn_end: Option<Nanos>,
    all_arrived: Option<Nanos>,
}

impl Env for BlockingEnv {
    #[inline]
    fn schedule(&mut self, at: Nanos, event: Event) {
        let slot = match event {
            Event::TurnEnd => &mut self.turn_end,
            Event::AllArrived => &mut self.all_arrived,
            other => unreachable!("a blocking session on its own schedules no {other:?}"),
        };
        debug_assert!(slot.is_none(), "one turn and one wait at a time");
        *slot = Some(at);
    }
}

/// Simulates one session on its own (no shared capacity) and returns its metrics; `ws.session`
/// keeps the per-call and per-turn detail.
pub fn simulate_session<T: TurnBase>(
    setup: &Setup,
    inputs: SessionInputs<'_, T>,
    ws: &mut Workspace,
) -> Outcome {
    if setup.policy.is_blocking() && inputs.followups.is_empty() {
        simulate_blocking(setup, inputs, &mut ws.session)
    } else {
        simulate_queued(setup, inputs, ws)
    }
}

/// The events of [`simulate_queued`], in the same order, from two slots: a turn ends; if its
/// calls return at that instant they are applied with it, else the model decides alone (and,
/// its calls in flight, waits); then the calls return and the model decides.
fn simulate_blocking<T: TurnBase>(
    setup: &Setup,
    mut inputs: SessionInputs<'_, T>,
    session: &mut Session,
) -> Outcome {
    let mut env = BlockingEnv::default();
    session.begin(setup, &mut inputs, &mut env, 0);
    while let Some(end) = env.turn_end.take() {
        session.handle(setup, &mut inputs, &mut env, end, Event::TurnEnd);
        if session.is_done() {
            break;
        }
        let Some(back) = env.all_arrived.take() else {
            break;
        };
        if back > end {
            session.decide(setup, &mut inputs, &mut env, end);
        }
        session.handle(setup, &mut inputs, &mut env, back, Event::AllArrived);
        session.decide(setup, &mut inputs, &mut env, back);
    }
    assert!(session.is_done(), "the session ended with unread results");
    session.outcome()
}

/// Any session on its own, through its event queue.
fn simulate_queued<T: TurnBase>(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::agent::TokenCounts;
    use crate::model::dist::Dist;
    use crate::model::draws::{Attempt, Attempts, CallOutcome};
    use crate::model::plan::{Plan, PlanCall};
    use crate::model::policy::Policy;
    use crate::model::scenario::{Latency, Tool, TurnModel};
    use proptest::prelude::*;

    /// Each call's dependencies, each call's attempts (run time, how it ends), turn bases.
    type Drawn = (Vec<Vec<usize>>, Vec<Vec<(u64, u8)>>, Vec<u64>);

    /// A random DAG (call i may depend on any call before it) with random attempt chains.
    fn arb_session() -> impl Strategy<Value = Drawn> {
        (1usize..=8).prop_flat_map(|n| {
            (
                (0..n)
                    .map(|i| proptest::sample::subsequence((0..i).collect::<Vec<_>>(), 0..=i))
                    .collect::<Vec<_>>(),
                proptest::collection::vec(proptest::collection::vec((0u64..30, 0u8..3), 1..4), n),
                proptest::collection::vec(0u64..20, 2 * n + 1),
            )
        })
    }

    proptest::proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// The two-slot blocking run and the event queue leave the same session: every call's
        /// times, every turn, the outcome (ties between turn ends and returns included).
        #[test]
        fn blocking_sessions_run_the_same_without_a_queue(
            (deps, chains, bases) in arb_session(),
            pre in proptest::collection::vec(0u64..4, 8),
            sequential in any::<bool>(),
            streamed in any::<bool>(),
            costs in (0u64..3, 0u64..3, 0u64..3, 0u64..3),
        ) {
            let n = deps.len();
            let calls = (0..n).map(|i| PlanCall { id: format!("c{i}"), tool: 0 }).collect();
            let plan = Plan::new(calls, &deps, None).unwrap();
            let model = TurnModel {
                per_result: costs.0,
                per_call: costs.1,
                per_context_item: costs.2,
                streamed_dispatch: streamed,
                ..TurnModel::simple(Latency::new(Dist::zero()).unwrap())
            };
            let tool = Tool { backoff: costs.3, ..Tool::simple("t", Latency::new(Dist::zero()).unwrap()) };
            let tools = [tool];
            let policy = Policy::parse(if sequential { "sequential" } else { "sync" }).unwrap();
            let outcome = |o: u8| match o {
                0 => CallOutcome::Succeeded,
                1 => CallOutcome::Failed,
                _ => CallOutcome::TimedOut,
            };
            let attempts = Attempts::from_chains(
                &chains
                    .iter()
                    .map(|c| c.iter().map(|&(run, o)| Attempt { run, outcome: outcome(o), cold: 0 }).collect())
                    .collect::<Vec<Vec<Attempt>>>(),
            );
            let latency: Vec<u64> = chains.iter().map(|c| c[0].0).collect();
            let setup = Setup {
                plan: &plan,
                tools: &tools,
                policy: &policy,
                model: &model,
                tokens: Some(TokenCounts { prompt: 5, result: 3, call: 2, message: 1 }),
            };
            let inputs = || SessionInputs {
                latency: &latency,
                attempts: &attempts,
                pre: &pre[..n],
                post: &[],
                followups: &[],
                turn_base: &bases[..],
            };
            let mut queued = Workspace::default();
            let want = simulate_queued(&setup, inputs(), &mut queued);
            let mut direct = Workspace::default();
            let got = simulate_blocking(&setup, inputs(), &mut direct.session);
            prop_assert_eq!(got, want);
            prop_assert_eq!(&direct.session.calls, &queued.session.calls);
            prop_assert_eq!(&direct.session.turns, &queued.session.turns);
        }
    }
}
