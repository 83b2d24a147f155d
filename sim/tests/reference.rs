//! An independent brute-force model of the agent loops, written from the contract
//! (docs/agent-loop-model.md) without events or queues, checked against the engine on
//! random small DAGs; plus invariants every session must satisfy.

use proptest::prelude::*;
use sim::input::scenario::{Latency, Tool, TurnModel};
use sim::model::agent::{Outcome, SessionInputs, Setup, Workspace, simulate_session};
use sim::model::dist::Dist;
use sim::model::draws::Attempts;
use sim::model::plan::{Plan, PlanCall};
use sim::model::policy::{Policy, PolicyKind};

#[derive(Debug, Clone)]
struct Case {
    deps: Vec<Vec<usize>>,
    latency: Vec<u64>,
    pre: Vec<u64>,
    post: Vec<u64>,
    base: Vec<u64>,
    per_result: u64,
    per_call: u64,
    per_context_item: u64,
    window: u64,
}

#[derive(Debug, PartialEq, Eq)]
struct Expected {
    makespan: u64,
    first_update: u64,
    max_silence: u64,
    model_busy: u64,
    turns: u32,
    read_end: Vec<u64>,
}

/// Turn by turn: when may the idle model start, what does it read, what does it issue.
fn reference(case: &Case, kind: PolicyKind) -> Expected {
    let n = case.deps.len();
    let mut issued = vec![false; n];
    let mut read = vec![false; n];
    let mut available = vec![0u64; n];
    let mut read_end = vec![0u64; n];
    let (mut model_free, mut context, mut turns) = (0u64, 0u64, 0usize);
    let (mut busy, mut max_silence, mut first_update) = (0u64, 0u64, None);
    loop {
        let (start, reading): (u64, Vec<usize>) = if turns == 0 {
            (0, Vec::new())
        } else {
            let out: Vec<usize> = (0..n).filter(|&c| issued[c] && !read[c]).collect();
            let first = out.iter().map(|&c| available[c]).min().unwrap();
            let last = out.iter().map(|&c| available[c]).max().unwrap();
            let start = match kind {
                // wait for every call in flight
                PolicyKind::Sequential | PolicyKind::Sync => model_free.max(last),
                // start once idle with a result waiting, holding up to the window for more
                // unless nothing is left in flight
                PolicyKind::Async => {
                    let t0 = model_free.max(first);
                    t0.max((t0 + case.window).min(last))
                }
            };
            (
                start,
                out.into_iter().filter(|&c| available[c] <= start).collect(),
            )
        };
        for &c in &reading {
            read[c] = true;
        }
        let ready: Vec<usize> = (0..n)
            .filter(|&c| !issued[c] && case.deps[c].iter().all(|&d| read[d]))
            .collect();
        let issue: Vec<usize> = match kind {
            PolicyKind::Sequential => ready.into_iter().take(1).collect(),
            _ => ready,
        };
        let duration = case.base[turns]
            + case.per_result * reading.len() as u64
            + case.per_call * issue.len() as u64
            + case.per_context_item * context;
        context += (reading.len() + issue.len()) as u64;
        let end = start + duration;
        busy += duration;
        max_silence = max_silence.max(end - model_free); // the previous output was at model_free
        model_free = end;
        turns += 1;
        if !reading.is_empty() && first_update.is_none() {
            first_update = Some(end);
        }
        for &c in &reading {
            read_end[c] = end;
        }
        for &c in &issue {
            issued[c] = true;
            available[c] = end + case.pre[c] + case.latency[c] + case.post[c];
        }
        if read.iter().all(|&r| r) {
            return Expected {
                makespan: end,
                first_update: first_update.unwrap(),
                max_silence,
                model_busy: busy,
                turns: turns as u32,
                read_end,
            };
        }
    }
}

fn engine(case: &Case, kind: PolicyKind, ws: &mut Workspace) -> Outcome {
    let n = case.deps.len();
    let calls = (0..n)
        .map(|i| PlanCall {
            id: format!("c{i}"),
            tool: 0,
        })
        .collect();
    let plan = Plan::new(calls, &case.deps, None).expect("generated plans are acyclic");
    let model = TurnModel {
        per_result: case.per_result,
        per_call: case.per_call,
        per_context_item: case.per_context_item,
        ..TurnModel::simple(Latency::new(Dist::zero()).unwrap())
    };
    let tools = [Tool::simple("t", Latency::new(Dist::zero()).unwrap())];
    let policy = Policy {
        kind,
        batch_window: 0,
        streamed: false,
    }
    .with_batch_window(case.window);
    let setup = Setup {
        plan: &plan,
        tools: &tools,
        policy: &policy,
        model: &model,
        tokens: None,
    };
    let inputs = SessionInputs {
        latency: &case.latency,
        attempts: &Attempts::default(),
        pre: &case.pre,
        post: &case.post,
        followups: &[],
        turn_base: &case.base[..],
    };
    simulate_session(&setup, inputs, ws)
}

/// Small values on purpose: ties between arrivals and turn ends are common.
fn arb_case(max_cost: u64) -> impl Strategy<Value = Case> {
    (1usize..=7).prop_flat_map(move |n| {
        let deps = (0..n)
            .map(|i| proptest::collection::vec(any::<bool>(), i))
            .collect::<Vec<_>>();
        (
            deps,
            proptest::collection::vec(0u64..20, n),
            proptest::collection::vec(0u64..4, n),
            proptest::collection::vec(0u64..4, n),
            proptest::collection::vec(0u64..=max_cost * 3, n + 1),
            0..=max_cost,
            0..=max_cost,
            0..=max_cost,
            0u64..8,
        )
            .prop_map(|(mask, latency, pre, post, base, r, c, x, window)| Case {
                deps: mask
                    .iter()
                    .map(|m| (0..m.len()).filter(|&j| m[j]).collect())
                    .collect(),
                latency,
                pre,
                post,
                base,
                per_result: r,
                per_call: c,
                per_context_item: x,
                window,
            })
    })
}

const KINDS: [PolicyKind; 3] = [PolicyKind::Sequential, PolicyKind::Sync, PolicyKind::Async];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn engine_agrees_with_the_reference(case in arb_case(3)) {
        let mut ws = Workspace::default();
        for kind in KINDS {
            let want = reference(&case, kind);
            let got = engine(&case, kind, &mut ws);
            let read_end: Vec<u64> = ws.session.calls.iter().map(|c| c.read_end).collect();
            prop_assert_eq!(
                (got.makespan, got.first_update, got.max_silence, got.model_busy, got.turns),
                (want.makespan, want.first_update, want.max_silence, want.model_busy, want.turns),
                "{:?}", kind
            );
            prop_assert_eq!(read_end, want.read_end, "{:?}", kind);
        }
    }

    #[test]
    fn every_session_keeps_the_invariants(case in arb_case(3)) {
        let mut ws = Workspace::default();
        for kind in KINDS {
            let out = engine(&case, kind, &mut ws);
            let n = case.deps.len();
            // Every call is read exactly once, by one turn, never before its result arrived.
            prop_assert_eq!(ws.session.turns.iter().map(|t| t.reads as usize).sum::<usize>(), n);
            prop_assert_eq!(ws.session.turns.iter().map(|t| t.issues as usize).sum::<usize>(), n);
            for c in &ws.session.calls {
                let turn = ws.session.turns[c.read_turn as usize];
                prop_assert!(c.issued <= c.started && c.started <= c.finished);
                prop_assert!(c.finished <= c.available && c.available <= turn.start);
                prop_assert_eq!(c.read_end, turn.end);
            }
            // Dependencies are read before their dependents are issued.
            for (i, deps) in case.deps.iter().enumerate() {
                for &d in deps {
                    prop_assert!(ws.session.calls[d].read_end <= ws.session.calls[i].issued);
                }
            }
            // Time never goes backwards: turns do not overlap and come in order.
            for pair in ws.session.turns.windows(2) {
                prop_assert!(pair[0].start <= pair[0].end && pair[0].end <= pair[1].start);
            }
            prop_assert_eq!(out.makespan, ws.session.turns.last().unwrap().end);
            prop_assert!(out.model_busy <= out.makespan);
            prop_assert_eq!(out.turns as usize, ws.session.turns.len());
        }
    }

    #[test]
    fn without_turn_costs_async_is_never_slower(case in arb_case(0)) {
        // No overheads and no batch window: a batch window can delay a dependent call past the
        // moment sync would issue it (found by this test: latencies 14, 6 → 6, window 3).
        let n = case.deps.len();
        let case = Case { pre: vec![0; n], post: vec![0; n], window: 0, ..case };
        let mut ws = Workspace::default();
        let sync = engine(&case, PolicyKind::Sync, &mut ws);
        let asynchronous = engine(&case, PolicyKind::Async, &mut ws);
        prop_assert!(asynchronous.makespan <= sync.makespan);
        prop_assert!(asynchronous.first_update <= sync.first_update);
    }
}
