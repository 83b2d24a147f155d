//! Session trace replay: recorded sessions (each call's tool, start and duration) replayed
//! as-is under every policy.
//!
//! The file is JSON Lines, one recorded session per line (blank lines are skipped):
//!
//! ```json
//! {"session": "ticket-1042", "calls": [
//!   {"id": "s", "tool": "search", "start": "0s", "duration": "2.31s"},
//!   {"tool": "crm_lookup", "start": "0s", "duration": "180ms"},
//!   {"tool": "summarize", "start": "3.1s", "duration": "900ms", "after": ["s"]}]}
//! ```
//!
//! - `start`: when the recorded agent issued the call, from the session's start; `duration`:
//!   how long the tool ran. Both are duration strings.
//! - `after` (optional): ids of the calls whose results the model needed before issuing this
//!   one. Without it the dependencies are inferred from the recording: a call waits for every
//!   call that had finished when it was issued (a call issued later could have used them), so
//!   the replay never lets a call start before the results it might have needed.
//! - `id` (optional) names a call for `after` and in timelines; `session` (optional) labels it.
//!
//! Each recorded call keeps its recorded duration under every policy (retries and failures
//! included, as recorded); model turns and infrastructure overheads come from the scenario
//! (its `[model]` and `[overheads]`), drawn per session like a simulated run, so every policy
//! sees the same draws. Sessions replay on their own: the core metrics are reported, not
//! shared capacity, follow-ups or cost.

use crate::input::scenario::{Latency, MAX_TOOLS, Scenario, Tool};
use crate::input::traces::{TraceError, read_limited};
use crate::model::agent::{SessionInputs, Setup, Workspace, simulate_session};
use crate::model::dist::Dist;
use crate::model::draws::{Attempts, SessionRng, Stream, TurnBase, stream_rng};
use crate::model::plan::{Plan, PlanCall, PlanError};
use crate::model::policy::Policy;
use crate::model::time::{Nanos, from_duration};
use crate::run::metrics::{Extras, Metric};
use crate::run::options::RunError;
use crate::run::samples::{CallLabel, SessionSource};
use crate::run::session::SessionTrace;
use crate::run::tally::{RunResults, Tally};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// Bounds on a replay file: sessions, calls per session, calls in all.
pub const MAX_REPLAY_SESSIONS: usize = 100_000;
pub const MAX_REPLAY_CALLS: usize = 1024;
pub const MAX_REPLAY_TOTAL_CALLS: usize = 2_000_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionLine {
    #[serde(default)]
    session: Option<String>,
    calls: Vec<CallLine>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallLine {
    #[serde(default)]
    id: Option<String>,
    tool: String,
    #[serde(with = "crate::model::duration")]
    start: Duration,
    #[serde(with = "crate::model::duration")]
    duration: Duration,
    #[serde(default)]
    after: Option<Vec<String>>,
}

/// One recorded session, ready to replay.
#[derive(Clone, Debug)]
pub struct RecordedSession {
    pub label: String,
    pub plan: Plan,
    pub latency: Vec<Nanos>,
    pub calls: Vec<CallLabel>,
}

/// A replay file, read and checked.
#[derive(Clone, Debug)]
pub struct Replay {
    pub file: String,
    pub sessions: Vec<RecordedSession>,
    /// Every tool the recordings name (the plans index it); their latencies are unused.
    pub tools: Vec<Tool>,
}

impl Replay {
    pub fn read(path: &Path) -> Result<Replay, TraceError> {
        let text = read_limited(path)?;
        Replay::parse(&text, &path.display().to_string())
    }

    /// Parses JSONL text; `file` names it in errors, which carry the line number.
    pub fn parse(text: &str, file: &str) -> Result<Replay, TraceError> {
        let err = |line: usize, message: String| TraceError {
            file: file.to_string(),
            line: line as u64,
            message,
        };
        let mut sessions = Vec::new();
        let mut tools: Vec<String> = Vec::new();
        let mut total_calls = 0;
        for (i, line) in text.lines().enumerate() {
            let number = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            if sessions.len() == MAX_REPLAY_SESSIONS {
                return Err(err(
                    number,
                    format!("more than {MAX_REPLAY_SESSIONS} sessions"),
                ));
            }
            let mut de = serde_json::Deserializer::from_str(line);
            let parsed: SessionLine = serde_path_to_error::deserialize(&mut de).map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let at = if path == "." {
                    String::new()
                } else {
                    format!("{path}: ")
                };
                err(number, format!("{at}{inner}"))
            })?;
            total_calls += parsed.calls.len();
            if total_calls > MAX_REPLAY_TOTAL_CALLS {
                return Err(err(
                    number,
                    format!("more than {MAX_REPLAY_TOTAL_CALLS} calls in all"),
                ));
            }
            let label = parsed
                .session
                .clone()
                .unwrap_or_else(|| format!("line {number}"));
            sessions.push(recorded_session(parsed, label, &mut tools).map_err(|m| err(number, m))?);
        }
        if sessions.is_empty() {
            return Err(err(0, "holds no sessions".into()));
        }
        let zero = Latency::new(Dist::zero()).expect("a constant 0 always samples");
        Ok(Replay {
            file: file.to_string(),
            sessions,
            tools: tools
                .iter()
                .map(|t| Tool::simple(t, zero.clone()))
                .collect(),
        })
    }

    /// Replays every recorded session once under every policy, like [`crate::simulate`].
    pub fn simulate(
        &self,
        scenario: &Scenario,
        seed: u64,
        policies: &[Policy],
    ) -> Result<RunResults, RunError> {
        crate::model::policy::check_list(policies)?;
        let mut tally = Tally::new(policies.len(), &Metric::CORE);
        let mut ws = Workspace::default();
        let extras = Extras::default();
        for s in 0..self.sessions.len() {
            for (p, policy) in policies.iter().enumerate() {
                let outcome = self.run(scenario, seed, s as u64, policy, &mut ws);
                tally.record(p, &outcome, &ws.session, &extras);
            }
            tally.pair_session();
        }
        Ok(tally.into_results(self.sessions.len() as u64, seed, policies, Vec::new()))
    }

    /// Session `session` under `policy`; `ws.session` keeps its detail.
    fn run(
        &self,
        scenario: &Scenario,
        seed: u64,
        session: u64,
        policy: &Policy,
        ws: &mut Workspace,
    ) -> crate::model::agent::Outcome {
        let recorded = &self.sessions[session as usize];
        let n = recorded.plan.len();
        let o = &scenario.overheads;
        let (pre, post) = if policy.is_blocking() {
            (
                overheads(&o.sync_invocation, seed, session, Stream::SyncInvocation, n),
                Vec::new(),
            )
        } else {
            (
                overheads(&o.async_dispatch, seed, session, Stream::Dispatch, n),
                overheads(&o.async_delivery, seed, session, Stream::Delivery, n),
            )
        };
        let setup = Setup {
            plan: &recorded.plan,
            tools: &self.tools,
            policy,
            model: &scenario.model,
            tokens: None,
        };
        let inputs = SessionInputs {
            latency: &recorded.latency,
            attempts: &Attempts::default(),
            pre: &pre,
            post: &post,
            followups: &[],
            turn_base: LazyTurns {
                rng: stream_rng(seed, session, Stream::Turn),
                values: Vec::new(),
                sampler: &scenario.model.base.sampler,
            },
        };
        simulate_session(&setup, inputs, ws)
    }
}

/// Replayed sessions as a [`SessionSource`] for timelines and traces.
pub struct ReplaySessions<'a> {
    pub scenario: &'a Scenario,
    pub replay: &'a Replay,
    pub seed: u64,
}

impl SessionSource for ReplaySessions<'_> {
    fn sessions(&self) -> u64 {
        self.replay.sessions.len() as u64
    }

    fn trace(&self, session: u64, policy: &Policy) -> SessionTrace {
        let mut ws = Workspace::default();
        let outcome = self
            .replay
            .run(self.scenario, self.seed, session, policy, &mut ws);
        SessionTrace {
            session,
            policy: policy.clone(),
            outcome,
            calls: ws.session.calls,
            turns: ws.session.turns,
        }
    }

    fn call_labels(&self, session: u64) -> Vec<CallLabel> {
        self.replay.sessions[session as usize].calls.clone()
    }
}

/// The sessions a run drew: recorded ones when replaying, else the scenario's.
pub fn session_source<'a>(
    scenario: &'a Scenario,
    replay: Option<&'a Replay>,
    seed: u64,
    sessions: u64,
) -> Box<dyn SessionSource + 'a> {
    match replay {
        Some(replay) => Box::new(ReplaySessions {
            scenario,
            replay,
            seed,
        }),
        None => Box::new(crate::run::samples::ScenarioSessions {
            scenario,
            seed,
            sessions,
        }),
    }
}

fn recorded_session(
    parsed: SessionLine,
    label: String,
    tools: &mut Vec<String>,
) -> Result<RecordedSession, String> {
    let calls = parsed.calls;
    if calls.is_empty() {
        return Err("`calls` is empty: a session makes at least one call".into());
    }
    if calls.len() > MAX_REPLAY_CALLS {
        return Err(format!(
            "{} calls; a replayed session may make at most {MAX_REPLAY_CALLS}",
            calls.len()
        ));
    }
    let mut ids: HashMap<&str, usize> = HashMap::new();
    for (i, c) in calls.iter().enumerate() {
        if let Some(id) = &c.id
            && let Some(first) = ids.insert(id.as_str(), i)
        {
            return Err(format!(
                "calls[{i}].id: \"{id}\" is already used by calls[{first}]"
            ));
        }
    }
    let inferred = infer_dependencies(&calls);
    let mut after = Vec::with_capacity(calls.len());
    for (i, c) in calls.iter().enumerate() {
        match &c.after {
            None => after.push(inferred[i].clone()),
            Some(list) => {
                let mut deps = Vec::with_capacity(list.len());
                for (j, dep) in list.iter().enumerate() {
                    match ids.get(dep.as_str()) {
                        None => {
                            return Err(format!(
                                "calls[{i}].after[{j}]: no call has the id \"{dep}\""
                            ));
                        }
                        Some(&d) if d == i => {
                            return Err(format!(
                                "calls[{i}].after[{j}]: a call cannot wait for itself"
                            ));
                        }
                        Some(&d) if !deps.contains(&d) => deps.push(d),
                        Some(_) => {}
                    }
                }
                after.push(deps);
            }
        }
    }
    let labels: Vec<CallLabel> = calls
        .iter()
        .enumerate()
        .map(|(i, c)| CallLabel {
            id: c.id.clone().unwrap_or_else(|| format!("c{}", i + 1)),
            tool: c.tool.clone(),
        })
        .collect();
    let mut plan_calls = Vec::with_capacity(calls.len());
    for (c, l) in calls.iter().zip(&labels) {
        let tool = match tools.iter().position(|t| *t == c.tool) {
            Some(t) => t,
            None if tools.len() == MAX_TOOLS => {
                return Err(format!(
                    "tool \"{}\": the file names more than {MAX_TOOLS} tools",
                    c.tool
                ));
            }
            None => {
                tools.push(c.tool.clone());
                tools.len() - 1
            }
        };
        plan_calls.push(PlanCall {
            id: l.id.clone(),
            tool,
        });
    }
    let plan = Plan::new(plan_calls, &after, None).map_err(|e| match e {
        PlanError::Cycle(cycle) => {
            let names: Vec<&str> = cycle.iter().map(|&c| labels[c].id.as_str()).collect();
            format!("dependency cycle: {}", names.join(" → "))
        }
        PlanError::Empty => "`calls` is empty".into(),
        PlanError::TooLarge(n) => format!("{n} calls is too many"),
    })?;
    Ok(RecordedSession {
        label,
        plan,
        latency: calls.iter().map(|c| from_duration(c.duration)).collect(),
        calls: labels,
    })
}

/// For each call, the calls it waits for: those that had finished when it was issued, minus
/// those already implied through another (A is implied when a later-issued finished call C
/// started after A ended, since then C waits for A).
fn infer_dependencies(calls: &[CallLine]) -> Vec<Vec<usize>> {
    let start = |i: usize| calls[i].start;
    let end = |i: usize| calls[i].start + calls[i].duration;
    let mut order: Vec<usize> = (0..calls.len()).collect();
    order.sort_by_key(|&i| (start(i), i));
    let mut after = vec![Vec::new(); calls.len()];
    for (pos, &b) in order.iter().enumerate() {
        let finished: Vec<usize> = order[..pos]
            .iter()
            .copied()
            .filter(|&a| end(a) <= start(b))
            .collect();
        let Some(&latest) = finished.last() else {
            continue;
        };
        after[b] = finished
            .into_iter()
            .filter(|&a| a == latest || end(a) > start(latest))
            .collect();
    }
    after
}

/// Turn bases drawn lazily from the scenario's model, as in a simulated run.
struct LazyTurns<'a> {
    rng: SessionRng,
    values: Vec<Nanos>,
    sampler: &'a crate::model::dist::Sampler,
}

impl TurnBase for LazyTurns<'_> {
    fn base(&mut self, turn: usize) -> Nanos {
        while self.values.len() <= turn {
            let v = self.sampler.sample(&mut self.rng);
            self.values.push(v);
        }
        self.values[turn]
    }
}

fn overheads(latency: &Latency, seed: u64, session: u64, stream: Stream, n: usize) -> Vec<Nanos> {
    if latency.sampler.is_zero() {
        return Vec::new();
    }
    let mut rng = stream_rng(seed, session, stream);
    (0..n).map(|_| latency.sampler.sample(&mut rng)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_rounds_from_a_synchronous_recording() {
        // Round 1: a (2 s) and b (1 s) at 0; round 2 at 3 s: c; round 3 at 5 s: d.
        let text = r#"{"calls": [
            {"tool": "a", "start": "0s", "duration": "2s"},
            {"tool": "b", "start": "0s", "duration": "1s"},
            {"tool": "c", "start": "3s", "duration": "1s"},
            {"tool": "d", "start": "5s", "duration": "1s"}]}"#
            .replace('\n', " ");
        let r = Replay::parse(&text, "r.jsonl").unwrap();
        let plan = &r.sessions[0].plan;
        assert_eq!(plan.deps(0), &[] as &[u32]);
        assert_eq!(plan.deps(1), &[] as &[u32]);
        assert_eq!(plan.deps(2), &[0, 1]);
        // d needs c; a and b are implied through c.
        assert_eq!(plan.deps(3), &[2]);
        assert_eq!(plan.depth(), 3);
    }

    #[test]
    fn explicit_after_overrides_inference_and_errors_name_the_line() {
        let text = "\n{\"calls\": [{\"id\": \"x\", \"tool\": \"a\", \"start\": \"0s\", \"duration\": \"2s\"}, \
                    {\"tool\": \"b\", \"start\": \"5s\", \"duration\": \"1s\", \"after\": []}]}\n";
        let r = Replay::parse(text, "r.jsonl").unwrap();
        assert_eq!(r.sessions[0].plan.deps(1), &[] as &[u32]);
        assert_eq!(r.sessions[0].label, "line 2");

        let bad = format!(
            "{}\n{{\"calls\": [{{\"tool\": \"a\", \"start\": \"0s\", \"duration\": \"soon\"}}]}}\n",
            text.trim()
        );
        let e = Replay::parse(&bad, "r.jsonl").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.starts_with("calls[0].duration: "), "{e}");

        let e = Replay::parse(
            "{\"calls\": [{\"tool\": \"a\", \"start\": \"0s\", \"duration\": \"1s\", \"after\": [\"zz\"]}]}",
            "r.jsonl",
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with("r.jsonl:1: calls[0].after[0]"),
            "{e}"
        );
        let e = Replay::parse("\n\n", "r.jsonl").unwrap_err();
        assert!(e.message.contains("no sessions"), "{e}");
    }
}
