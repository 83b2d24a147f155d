//! The second pass: what a scenario file means, checked (limits, unknown tools, cycles), and
//! compiled into a [`Scenario`] with samplers and a plan.

use super::*;
use crate::model::dist::{Dist, Problem};
use crate::model::plan::{MAX_CALLS, Plan, PlanCall, PlanError};
use crate::model::scenario::CostSpec;
use crate::model::time::{Nanos, from_duration};
use std::collections::HashMap;
use std::path::Path;

/// Checks meaning and compiles samplers and the plan. Problems carry key paths only.
pub(super) fn compile(
    spec: ScenarioFile,
    text: &str,
    file: &str,
) -> Result<Scenario, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut bad = |path: &str, message: String| {
        problems.push(Problem {
            path: path.to_string(),
            message,
        })
    };
    if spec.sessions == 0 || spec.sessions > MAX_SESSIONS {
        bad(
            "sessions",
            format!(
                "must be between 1 and {MAX_SESSIONS}, got {}",
                spec.sessions
            ),
        );
    }
    if spec.tools.is_empty() {
        bad(
            "tools",
            "define at least one tool, e.g. [tools.search] latency = \"1s\"".into(),
        );
    }
    if spec.tools.len() > MAX_TOOLS {
        bad(
            "tools",
            format!("{} tools; the limit is {MAX_TOOLS}", spec.tools.len()),
        );
    }
    for name in spec.tools.keys() {
        if let Err(why) = check_name(name) {
            bad(&format!("tools.{name}"), format!("tool name {why}"));
        }
    }
    spec.model.turn.check("model.turn", &mut problems);
    for (name, tool) in &spec.tools {
        tool.latency
            .check(&format!("tools.{name}.latency"), &mut problems);
        check_tool(name, tool, &mut problems);
    }
    check_model(&spec.model, &mut problems);
    check_workload(&spec.workload, &mut problems);
    check_user(&spec.user, &mut problems);
    if let Some(cost) = &spec.cost {
        check_cost(cost, &mut problems);
    }
    let overheads = [
        ("overheads.sync_invocation", &spec.overheads.sync_invocation),
        ("overheads.async_dispatch", &spec.overheads.async_dispatch),
        ("overheads.async_delivery", &spec.overheads.async_delivery),
    ];
    for (path, dist) in overheads {
        if let Some(d) = dist {
            d.check(path, &mut problems);
        }
    }
    let tool_index: HashMap<&str, usize> = spec
        .tools
        .keys()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let plan = compile_plan(&spec.plan, &tool_index, &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    let plan = plan.expect("a plan without problems compiles");

    let latency = |dist: Dist, path: &str| {
        Latency::new(dist).map_err(|message| {
            vec![Problem {
                path: path.to_string(),
                message,
            }]
        })
    };
    let optional =
        |d: &Option<Dist>, path: &str| latency(d.clone().unwrap_or_else(Dist::zero), path);
    let mut tools = Vec::with_capacity(spec.tools.len());
    for (name, t) in &spec.tools {
        let cold_start = match &t.cold_start {
            Some(d) => Some(latency(d.clone(), &format!("tools.{name}.cold_start"))?),
            None => None,
        };
        tools.push(Tool {
            name: name.clone(),
            description: t.description.clone().unwrap_or_default(),
            latency: latency(t.latency.clone(), &format!("tools.{name}.latency"))?,
            concurrency: t.concurrency,
            failure_rate: t.failure_rate,
            timeout: t.timeout.map(from_duration),
            retries: t.retries,
            backoff: from_duration(t.backoff),
            cold_start,
            keep_warm: from_duration(t.keep_warm.unwrap_or(DEFAULT_KEEP_WARM)),
            memory_mb: t.memory_mb,
        });
    }
    let arrival = match spec.workload.arrival {
        ArrivalKind::AllAtOnce => Arrival::AllAtOnce,
        ArrivalKind::Poisson => Arrival::Poisson {
            rate_per_s: spec.workload.rate_per_s.unwrap_or(1.0),
        },
        ArrivalKind::Closed => Arrival::Closed {
            users: spec.workload.users.unwrap_or(1),
            think: latency(
                spec.workload.think.clone().unwrap_or_else(Dist::zero),
                "workload.think",
            )?,
        },
    };
    let followups = match (spec.user.followups, &spec.user.gap) {
        (0, _) => None,
        (count, Some(gap)) => Some(FollowUps {
            count,
            gap: latency(gap.clone(), "user.gap")?,
        }),
        (_, None) => unreachable!("checked: followups need a gap"),
    };
    Ok(Scenario {
        file: file.to_string(),
        name: spec.name.clone().unwrap_or_else(|| {
            Path::new(file)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "scenario".into())
        }),
        description: spec.description.clone().unwrap_or_default(),
        seed: spec.seed,
        sessions: spec.sessions,
        model: TurnModel {
            base: latency(spec.model.turn.clone(), "model.turn")?,
            per_result: from_duration(spec.model.per_result),
            per_call: from_duration(spec.model.per_call),
            per_context_item: from_duration(spec.model.per_context_item),
            concurrency: spec.model.concurrency,
            min_start_gap: spec
                .model
                .requests_per_s
                .map(|r| (1e9 / r).round() as Nanos),
            streamed_dispatch: spec.model.streamed_dispatch,
        },
        tools,
        plan,
        overheads: Overheads {
            sync_invocation: optional(
                &spec.overheads.sync_invocation,
                "overheads.sync_invocation",
            )?,
            async_dispatch: optional(&spec.overheads.async_dispatch, "overheads.async_dispatch")?,
            async_delivery: optional(&spec.overheads.async_delivery, "overheads.async_delivery")?,
        },
        batch_window: spec.async_loop.batch_window.map(from_duration).unwrap_or(0),
        arrival,
        followups,
        cost: spec.cost.clone(),
        source: text.to_string(),
    })
}

fn push(problems: &mut Vec<Problem>, path: String, message: String) {
    problems.push(Problem { path, message });
}

fn check_tool(name: &str, t: &ToolSpec, problems: &mut Vec<Problem>) {
    let at = |key: &str| format!("tools.{name}.{key}");
    if let Some(c) = t.concurrency
        && (c == 0 || c > MAX_CONCURRENCY)
    {
        push(
            problems,
            at("concurrency"),
            format!("must be between 1 and {MAX_CONCURRENCY}, got {c}"),
        );
    }
    if !(0.0..=1.0).contains(&t.failure_rate) {
        push(
            problems,
            at("failure_rate"),
            format!("is a probability: between 0 and 1, got {}", t.failure_rate),
        );
    }
    if t.timeout.is_some_and(|d| d.is_zero()) {
        push(
            problems,
            at("timeout"),
            "must be > 0 (leave it out for no timeout)".into(),
        );
    }
    if t.retries > MAX_RETRIES {
        push(
            problems,
            at("retries"),
            format!("at most {MAX_RETRIES}, got {}", t.retries),
        );
    }
    if let Some(d) = &t.cold_start {
        d.check(&at("cold_start"), problems);
    }
    if t.keep_warm.is_some() && t.cold_start.is_none() {
        push(
            problems,
            at("keep_warm"),
            "only means something with `cold_start`".into(),
        );
    }
    if !(128..=10_240).contains(&t.memory_mb) {
        push(
            problems,
            at("memory_mb"),
            format!("Lambda allows 128 to 10240 MB, got {}", t.memory_mb),
        );
    }
}

fn check_model(m: &ModelSpec, problems: &mut Vec<Problem>) {
    if let Some(c) = m.concurrency
        && (c == 0 || c > MAX_CONCURRENCY)
    {
        push(
            problems,
            "model.concurrency".into(),
            format!("must be between 1 and {MAX_CONCURRENCY}, got {c}"),
        );
    }
    if let Some(r) = m.requests_per_s
        && !(r > 0.0 && r <= MAX_RATE_PER_S)
    {
        push(
            problems,
            "model.requests_per_s".into(),
            format!("must be > 0 and ≤ {MAX_RATE_PER_S}, got {r}"),
        );
    }
}

fn check_workload(w: &WorkloadSpec, problems: &mut Vec<Problem>) {
    let unused = |problems: &mut Vec<Problem>, key: &str, set: bool| {
        if set {
            push(
                problems,
                format!("workload.{key}"),
                format!(
                    "does not apply to arrival = \"{}\"",
                    arrival_name(w.arrival)
                ),
            );
        }
    };
    match w.arrival {
        ArrivalKind::AllAtOnce => {
            unused(problems, "rate_per_s", w.rate_per_s.is_some());
            unused(problems, "users", w.users.is_some());
            unused(problems, "think", w.think.is_some());
        }
        ArrivalKind::Poisson => {
            match w.rate_per_s {
                Some(r) if r > 0.0 && r <= MAX_RATE_PER_S => {}
                Some(r) => push(
                    problems,
                    "workload.rate_per_s".into(),
                    format!("must be > 0 and ≤ {MAX_RATE_PER_S}, got {r}"),
                ),
                None => push(
                    problems,
                    "workload".into(),
                    "arrival = \"poisson\" needs rate_per_s".into(),
                ),
            }
            unused(problems, "users", w.users.is_some());
            unused(problems, "think", w.think.is_some());
        }
        ArrivalKind::Closed => {
            match w.users {
                Some(u) if u > 0 && u <= MAX_USERS => {}
                Some(u) => push(
                    problems,
                    "workload.users".into(),
                    format!("must be between 1 and {MAX_USERS}, got {u}"),
                ),
                None => push(
                    problems,
                    "workload".into(),
                    "arrival = \"closed\" needs users (and think)".into(),
                ),
            }
            if let Some(d) = &w.think {
                d.check("workload.think", problems);
            }
            unused(problems, "rate_per_s", w.rate_per_s.is_some());
        }
    }
}

fn arrival_name(a: ArrivalKind) -> &'static str {
    match a {
        ArrivalKind::AllAtOnce => "all_at_once",
        ArrivalKind::Poisson => "poisson",
        ArrivalKind::Closed => "closed",
    }
}

fn check_user(u: &UserSpec, problems: &mut Vec<Problem>) {
    if u.followups > MAX_FOLLOWUPS {
        push(
            problems,
            "user.followups".into(),
            format!("at most {MAX_FOLLOWUPS}, got {}", u.followups),
        );
    }
    match &u.gap {
        Some(d) => d.check("user.gap", problems),
        None if u.followups > 0 => push(
            problems,
            "user".into(),
            "followups need a `gap` distribution".into(),
        ),
        None => {}
    }
}

fn check_cost(c: &CostSpec, problems: &mut Vec<Problem>) {
    for (key, v) in [
        ("input_usd_per_mtok", c.input_usd_per_mtok),
        ("output_usd_per_mtok", c.output_usd_per_mtok),
        ("lambda_usd_per_gb_s", c.lambda_usd_per_gb_s),
        ("lambda_usd_per_request", c.lambda_usd_per_request),
        ("sqs_usd_per_request", c.sqs_usd_per_request),
        ("dynamodb_usd_per_write_unit", c.dynamodb_usd_per_write_unit),
        ("dynamodb_usd_per_read_unit", c.dynamodb_usd_per_read_unit),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            push(
                problems,
                format!("cost.{key}"),
                format!("must be a price ≥ 0, got {v}"),
            );
        }
    }
    let p = &c.pipeline;
    for (key, v) in [
        ("write_units", p.write_units),
        ("read_units", p.read_units),
        ("sqs_requests", p.sqs_requests),
        ("dispatcher_gb_s", p.dispatcher_gb_s),
        ("worker_overhead_s", p.worker_overhead_s),
        ("retry_write_units", p.retry_write_units),
        ("retry_read_units", p.retry_read_units),
        ("retry_sqs_requests", p.retry_sqs_requests),
    ] {
        if !(v.is_finite() && (0.0..=MAX_PIPELINE_COUNT).contains(&v)) {
            push(
                problems,
                format!("cost.pipeline.{key}"),
                format!("must be a count from 0 to {MAX_PIPELINE_COUNT}, got {v}"),
            );
        }
    }
}

/// A call's requests, units or seconds: a task item holds at most 400 KB (400 write units a
/// write), so anything near this is a typo.
const MAX_PIPELINE_COUNT: f64 = 10_000.0;

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!(
            "\"{name}\" must have 1 to {MAX_NAME_LEN} characters"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "\"{name}\" may use only letters, digits, '_' and '-'"
        ));
    }
    Ok(())
}

fn compile_plan(
    spec: &PlanSpec,
    tools: &HashMap<&str, usize>,
    problems: &mut Vec<Problem>,
) -> Option<Plan> {
    let mut bad = |path: String, message: String| problems.push(Problem { path, message });
    let known = || {
        let mut names: Vec<&str> = tools.keys().copied().collect();
        names.sort_unstable();
        names.join(", ")
    };
    let (calls, after, rounds) = match (&spec.rounds, &spec.calls) {
        (Some(_), Some(_)) => {
            bad(
                "plan".into(),
                "give either `rounds` or `calls`, not both".into(),
            );
            return None;
        }
        (None, None) => {
            bad(
                "plan".into(),
                "the plan is empty: give `rounds = [[\"tool\", ...], ...]` or [[plan.calls]] entries"
                    .into(),
            );
            return None;
        }
        (Some(rounds), None) => {
            let mut calls = Vec::new();
            let mut after = Vec::new();
            let mut previous: Vec<usize> = Vec::new();
            let mut ok = true;
            if rounds.is_empty() {
                bad(
                    "plan.rounds".into(),
                    "the plan is empty: list at least one round".into(),
                );
                return None;
            }
            for (r, round) in rounds.iter().enumerate() {
                if round.is_empty() {
                    bad(
                        format!("plan.rounds[{r}]"),
                        "a round must call at least one tool".into(),
                    );
                    ok = false;
                }
                let mut this_round = Vec::new();
                let mut seen: HashMap<&str, usize> = HashMap::new();
                for (j, name) in round.iter().enumerate() {
                    let Some(&tool) = tools.get(name.as_str()) else {
                        bad(
                            format!("plan.rounds[{r}][{j}]"),
                            format!("unknown tool \"{name}\"; the tools are: {}", known()),
                        );
                        ok = false;
                        continue;
                    };
                    let count = seen.entry(name).or_insert(0);
                    *count += 1;
                    let id = if *count == 1 {
                        format!("r{}.{name}", r + 1)
                    } else {
                        format!("r{}.{name}#{count}", r + 1)
                    };
                    this_round.push(calls.len());
                    calls.push(PlanCall { id, tool });
                    after.push(previous.clone());
                }
                previous = this_round;
            }
            if !ok {
                return None;
            }
            (calls, after, Some(rounds.len()))
        }
        (None, Some(specs)) => {
            if specs.is_empty() {
                bad(
                    "plan.calls".into(),
                    "the plan is empty: list at least one call".into(),
                );
                return None;
            }
            let mut ok = true;
            let mut ids: HashMap<&str, usize> = HashMap::new();
            for (i, c) in specs.iter().enumerate() {
                if let Err(why) = check_name(&c.id) {
                    bad(format!("plan.calls[{i}].id"), format!("call id {why}"));
                    ok = false;
                } else if let Some(first) = ids.insert(c.id.as_str(), i) {
                    bad(
                        format!("plan.calls[{i}].id"),
                        format!("id \"{}\" is already used by plan.calls[{first}]", c.id),
                    );
                    ok = false;
                }
            }
            let mut calls = Vec::with_capacity(specs.len());
            let mut after = Vec::with_capacity(specs.len());
            for (i, c) in specs.iter().enumerate() {
                let tool = match tools.get(c.tool.as_str()) {
                    Some(&t) => t,
                    None => {
                        bad(
                            format!("plan.calls[{i}].tool"),
                            format!("unknown tool \"{}\"; the tools are: {}", c.tool, known()),
                        );
                        ok = false;
                        0
                    }
                };
                let mut deps = Vec::with_capacity(c.after.len());
                for (j, dep) in c.after.iter().enumerate() {
                    match ids.get(dep.as_str()) {
                        None => {
                            bad(
                                format!("plan.calls[{i}].after[{j}]"),
                                format!("no call has the id \"{dep}\""),
                            );
                            ok = false;
                        }
                        Some(&d) if d == i => {
                            bad(
                                format!("plan.calls[{i}].after[{j}]"),
                                format!("call \"{dep}\" cannot wait for itself"),
                            );
                            ok = false;
                        }
                        Some(&d) if deps.contains(&d) => {
                            bad(
                                format!("plan.calls[{i}].after[{j}]"),
                                format!("\"{dep}\" is listed twice"),
                            );
                            ok = false;
                        }
                        Some(&d) => deps.push(d),
                    }
                }
                calls.push(PlanCall {
                    id: c.id.clone(),
                    tool,
                });
                after.push(deps);
            }
            if !ok {
                return None;
            }
            (calls, after, None)
        }
    };
    match Plan::new(calls, &after, rounds) {
        Ok(plan) => Some(plan),
        Err(PlanError::Empty) => {
            bad("plan".into(), "the plan is empty".into());
            None
        }
        Err(PlanError::TooLarge(n)) => {
            bad(
                "plan".into(),
                format!("{n} calls; a session may make at most {MAX_CALLS}"),
            );
            None
        }
        Err(PlanError::Cycle(cycle)) => {
            let specs = spec.calls.as_deref().unwrap_or_default();
            let names: Vec<&str> = cycle.iter().map(|&c| specs[c].id.as_str()).collect();
            // Point at the `after` entry that closes the cycle.
            let (last, closing) = (cycle[cycle.len() - 2], cycle[cycle.len() - 1]);
            let _ = last;
            let j = specs[closing]
                .after
                .iter()
                .position(|d| d == &specs[cycle[cycle.len() - 2]].id)
                .unwrap_or(0);
            bad(
                format!("plan.calls[{closing}].after[{j}]"),
                format!("dependency cycle: {}", names.join(" → ")),
            );
            None
        }
    }
}
