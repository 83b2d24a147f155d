//! The session driver: session *i* drawn once, then run under each policy on those same draws
//! (common random numbers). Every way of running sessions goes through it: the sharded runner,
//! sample traces, and live replay's simulated side.

use crate::input::scenario::Scenario;
use crate::model::agent::{
    CallTimes, Outcome, Session, SessionInputs, Setup, TokenCounts, TurnRecord, Workspace,
    simulate_session,
};
use crate::model::draws::{Needs, SessionDraws, TurnSource};
use crate::model::policy::Policy;
use crate::run::metrics::Extras;

/// What every session of one policy shares: the plan, tools and model.
pub fn setups<'a>(scenario: &'a Scenario, policies: &'a [Policy]) -> Vec<Setup<'a>> {
    let tokens = scenario.cost.as_ref().map(|c| TokenCounts {
        prompt: c.prompt_tokens,
        result: c.result_tokens,
        call: c.call_tokens,
        message: c.message_tokens,
    });
    policies
        .iter()
        .map(|policy| Setup {
            plan: &scenario.plan,
            tools: &scenario.tools,
            policy,
            model: &scenario.model,
            tokens,
        })
        .collect()
}

/// Which overhead streams the policies read, so a session draws only those.
pub fn needs(policies: &[Policy]) -> Needs {
    Needs {
        blocking: policies.iter().any(Policy::is_blocking),
        non_blocking: policies.iter().any(|p| !p.is_blocking()),
    }
}

/// The inputs of one session under one policy: blocking loops pay the invocation overhead,
/// async ones dispatch before the tool and delivery after it.
pub fn inputs<'a>(
    scenario: &'a Scenario,
    policy: &Policy,
    draws: &'a mut SessionDraws,
) -> SessionInputs<'a, TurnSource<'a>> {
    let (pre, post): (&[u64], &[u64]) = if policy.is_blocking() {
        (&draws.sync_invocation, &[])
    } else {
        (&draws.dispatch, &draws.delivery)
    };
    SessionInputs {
        latency: &draws.latency,
        attempts: &draws.attempts,
        pre,
        post,
        followups: &draws.followups,
        turn_base: draws.turns.source(&scenario.model.base.sampler),
    }
}

/// Per-session extras the agent does not compute: cost (and, in shared worlds, cold starts).
pub fn extras(
    scenario: &Scenario,
    policy: &Policy,
    draws: &SessionDraws,
    session: &Session,
    cold_starts: u64,
) -> Extras {
    let (model_cost_pusd, infra_cost_pusd) = match &scenario.cost {
        Some(cost) => crate::model::cost::session_cost(scenario, cost, policy, draws, session),
        None => (0, 0),
    };
    Extras {
        cold_starts,
        model_cost_pusd,
        infra_cost_pusd,
    }
}

/// Draws sessions of a scenario and runs each under every policy, reusing its buffers from one
/// session to the next (no allocation per session once warm).
pub struct SessionDriver<'a> {
    scenario: &'a Scenario,
    setups: Vec<Setup<'a>>,
    needs: Needs,
    seed: u64,
    draws: SessionDraws,
    ws: Workspace,
}

impl<'a> SessionDriver<'a> {
    pub fn new(scenario: &'a Scenario, policies: &'a [Policy], seed: u64) -> SessionDriver<'a> {
        SessionDriver {
            scenario,
            setups: setups(scenario, policies),
            needs: needs(policies),
            seed,
            draws: SessionDraws::default(),
            ws: Workspace::default(),
        }
    }

    /// Draws session `index`: every policy of it runs on these draws until the next `draw`.
    pub fn draw(&mut self, index: u64) {
        self.draws.draw(self.scenario, self.seed, index, self.needs);
    }

    /// Runs the drawn session under policy `p` on its own (no shared capacity);
    /// [`SessionDriver::session`] keeps its detail until the next run.
    pub fn run(&mut self, p: usize) -> Outcome {
        let setup = &self.setups[p];
        simulate_session(
            setup,
            inputs(self.scenario, setup.policy, &mut self.draws),
            &mut self.ws,
        )
    }

    /// Draws session `index` and runs it under every policy, in order, handing each outcome to
    /// `record` with the session's detail and extras.
    pub fn run_all(
        &mut self,
        index: u64,
        mut record: impl FnMut(usize, &Outcome, &Session, &Extras),
    ) {
        self.draw(index);
        for p in 0..self.setups.len() {
            let outcome = self.run(p);
            let extras = self.extras(p);
            record(p, &outcome, &self.ws.session, &extras);
        }
    }

    /// The detail of the last run: every call's timeline and every turn.
    pub fn session(&self) -> &Session {
        &self.ws.session
    }

    /// The draws of the current session.
    pub fn draws(&self) -> &SessionDraws {
        &self.draws
    }

    /// Cost of the last run under policy `p` (no cold starts: sessions on their own).
    pub fn extras(&self, p: usize) -> Extras {
        extras(
            self.scenario,
            self.setups[p].policy,
            &self.draws,
            &self.ws.session,
            0,
        )
    }

    /// Session `index` under policy `p`, in full detail.
    pub fn trace(&mut self, index: u64, p: usize) -> SessionTrace {
        self.draw(index);
        let outcome = self.run(p);
        SessionTrace {
            session: index,
            policy: self.setups[p].policy.clone(),
            outcome,
            calls: self.ws.session.calls.clone(),
            turns: self.ws.session.turns.clone(),
        }
    }
}

/// The full detail of one session under one policy: every call's timeline and every turn, for
/// timelines and traces. The same draws as a run's for that session index.
#[derive(Clone, Debug)]
pub struct SessionTrace {
    pub session: u64,
    pub policy: Policy,
    pub outcome: Outcome,
    pub calls: Vec<CallTimes>,
    pub turns: Vec<TurnRecord>,
}

/// Session `session` of `scenario` under `policy`, in full detail.
pub fn trace_session(
    scenario: &Scenario,
    seed: u64,
    session: u64,
    policy: &Policy,
) -> SessionTrace {
    let policies = [policy.clone()];
    SessionDriver::new(scenario, &policies, seed).trace(session, 0)
}
