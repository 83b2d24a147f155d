//! Scenario files: the TOML a user writes, and the validated [`Scenario`] the engine runs.
//!
//! Reading happens in two passes, each of which reports where a problem is:
//! 1. serde reads the TOML into [`ScenarioFile`] (unknown keys, wrong types, unreadable
//!    durations are refused here; serde_path_to_error names the key path, toml the line);
//! 2. [`Scenario::compile`] checks meaning (sigma ≤ 0, unknown tools, cycles, limits) and
//!    resolves each problem's key path to a line through the spanned TOML tree.

use crate::dist::{Dist, Problem, Sampler, shorthand, shorthand_option};
use crate::plan::{MAX_CALLS, Plan, PlanCall, PlanError};
use crate::time::{Nanos, from_duration};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

pub const DEFAULT_SEED: u64 = 1;
pub const DEFAULT_SESSIONS: u64 = 10_000;
/// At 10^6 sessions/s this is hours of work: a typo guard, not a capacity limit.
pub const MAX_SESSIONS: u64 = 10_000_000_000;
pub const MAX_TOOLS: usize = 256;
pub const MAX_NAME_LEN: usize = 64;
pub const MAX_CONCURRENCY: u32 = 1_000_000;
pub const MAX_RETRIES: u32 = 10;
pub const MAX_FOLLOWUPS: u32 = 100;
pub const MAX_USERS: u32 = 1_000_000;
pub const MAX_RATE_PER_S: f64 = 1e6;
const DEFAULT_KEEP_WARM: Duration = Duration::from_secs(600);
/// Scenario files are small; a larger one is almost certainly the wrong file.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// A scenario file as written. Every table refuses keys it does not know.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub name: Option<String>,
    pub description: Option<String>,
    /// Seeds every session's random streams; the same seed reproduces a run exactly.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// How many sessions `run` and `compare` simulate unless `--sessions` says otherwise.
    #[serde(default = "default_sessions")]
    pub sessions: u64,
    pub model: ModelSpec,
    pub tools: BTreeMap<String, ToolSpec>,
    pub plan: PlanSpec,
    #[serde(default)]
    pub overheads: OverheadSpec,
    #[serde(default, rename = "async")]
    pub async_loop: AsyncSpec,
    /// How sessions arrive; only matters when they share capacity.
    #[serde(default)]
    pub workload: WorkloadSpec,
    /// Further messages the user sends while a session runs.
    #[serde(default)]
    pub user: UserSpec,
    /// Prices and token counts: dollars per session next to latency.
    #[serde(default)]
    pub cost: Option<CostSpec>,
}

fn default_seed() -> u64 {
    DEFAULT_SEED
}
fn default_sessions() -> u64 {
    DEFAULT_SESSIONS
}

/// The model's turn time: `turn` + per_result·results read + per_call·calls written
/// + per_context_item·items already in the context.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Base time of every turn: time to first token, prefill.
    #[serde(deserialize_with = "shorthand")]
    pub turn: Dist,
    #[serde(default, with = "crate::duration")]
    pub per_result: Duration,
    #[serde(default, with = "crate::duration")]
    pub per_call: Duration,
    #[serde(default, with = "crate::duration")]
    pub per_context_item: Duration,
    /// Turns that may run at once across all sessions (LLM concurrency limit).
    #[serde(default)]
    pub concurrency: Option<u32>,
    /// Turns that may start per second across all sessions (LLM rate limit).
    #[serde(default)]
    pub requests_per_s: Option<f64>,
    /// Every policy dispatches each call as soon as its part of the turn is generated
    /// (per_call each, after the prefill), instead of at the end of the turn.
    #[serde(default)]
    pub streamed_dispatch: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolSpec {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(deserialize_with = "shorthand")]
    pub latency: Dist,
    /// Calls of this tool that may run at once across all sessions (Lambda reserved
    /// concurrency); more wait in FIFO order, like messages in SQS.
    #[serde(default)]
    pub concurrency: Option<u32>,
    /// Probability that one attempt fails.
    #[serde(default)]
    pub failure_rate: f64,
    /// An attempt that runs longer ends TIMED_OUT at this time.
    #[serde(default, with = "crate::duration::option")]
    pub timeout: Option<Duration>,
    /// Further attempts after a failure or a timeout.
    #[serde(default)]
    pub retries: u32,
    /// Wait before retry k: backoff × 2^(k−1).
    #[serde(default, with = "crate::duration")]
    pub backoff: Duration,
    /// Extra latency of an attempt that finds no warm instance.
    #[serde(default, deserialize_with = "shorthand_option")]
    pub cold_start: Option<Dist>,
    /// An instance idle longer than this is gone (default 10 min, with `cold_start`).
    #[serde(default, with = "crate::duration::option")]
    pub keep_warm: Option<Duration>,
    /// Lambda memory, for the cost of GB-seconds.
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u32,
}

fn default_memory_mb() -> u32 {
    512
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArrivalKind {
    /// Every session starts at time 0.
    #[default]
    AllAtOnce,
    /// Sessions start at the events of a Poisson process (`rate_per_s`).
    Poisson,
    /// `users` users each run one session after another, thinking `think` in between.
    Closed,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    #[serde(default)]
    pub arrival: ArrivalKind,
    #[serde(default)]
    pub rate_per_s: Option<f64>,
    #[serde(default)]
    pub users: Option<u32>,
    #[serde(default, deserialize_with = "shorthand_option")]
    pub think: Option<Dist>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// Messages the user sends during a session, each `gap` after the previous one.
    #[serde(default)]
    pub followups: u32,
    #[serde(default, deserialize_with = "shorthand_option")]
    pub gap: Option<Dist>,
}

/// Prices (defaults: AWS us-east-1 on-demand list prices; set your own) and token counts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostSpec {
    pub input_usd_per_mtok: f64,
    pub output_usd_per_mtok: f64,
    /// Input tokens every turn pays: system prompt, tools, the user's request.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Tokens a result (or a follow-up message) adds to the context when read.
    #[serde(default)]
    pub result_tokens: u64,
    /// Output tokens of one tool call; then part of the context.
    #[serde(default)]
    pub call_tokens: u64,
    /// Output tokens of each turn's message to the user; then part of the context.
    #[serde(default)]
    pub message_tokens: u64,
    #[serde(default = "p_lambda_gb_s")]
    pub lambda_usd_per_gb_s: f64,
    #[serde(default = "p_lambda_request")]
    pub lambda_usd_per_request: f64,
    #[serde(default = "p_sqs_request")]
    pub sqs_usd_per_request: f64,
    #[serde(default = "p_ddb_write")]
    pub dynamodb_usd_per_write_unit: f64,
    #[serde(default = "p_ddb_read")]
    pub dynamodb_usd_per_read_unit: f64,
}

fn p_lambda_gb_s() -> f64 {
    0.000_016_666_7
}
fn p_lambda_request() -> f64 {
    0.000_000_2
}
fn p_sqs_request() -> f64 {
    0.000_000_4
}
fn p_ddb_write() -> f64 {
    0.000_000_625
}
fn p_ddb_read() -> f64 {
    0.000_000_125
}

/// Either `rounds` (lists of tool names) or `calls` (a DAG with ids and `after`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSpec {
    #[serde(default)]
    pub rounds: Option<Vec<Vec<String>>>,
    #[serde(default)]
    pub calls: Option<Vec<CallSpec>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallSpec {
    pub id: String,
    pub tool: String,
    #[serde(default)]
    pub after: Vec<String>,
}

/// Infrastructure costs per call, each a distribution (default 0).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverheadSpec {
    /// Sync and sequential loops: invoking the tool and getting its answer back.
    #[serde(default, deserialize_with = "shorthand_option")]
    pub sync_invocation: Option<Dist>,
    /// Async loop: acknowledgement, enqueue and worker start before the tool runs.
    #[serde(default, deserialize_with = "shorthand_option")]
    pub async_dispatch: Option<Dist>,
    /// Async loop: from the tool's end, through the results queue, to the agent.
    #[serde(default, deserialize_with = "shorthand_option")]
    pub async_delivery: Option<Dist>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsyncSpec {
    /// After the first waiting result, hold up to this long for more before starting a turn.
    #[serde(default, with = "crate::duration::option")]
    pub batch_window: Option<Duration>,
}

/// A distribution with its compiled sampler.
#[derive(Debug, Clone)]
pub struct Latency {
    pub dist: Dist,
    pub sampler: Sampler,
}

impl Latency {
    pub fn new(dist: Dist) -> Result<Latency, String> {
        let sampler = dist.sampler()?;
        Ok(Latency { dist, sampler })
    }
}

#[derive(Debug, Clone)]
pub struct Tool {
    pub name: String,
    pub description: String,
    pub latency: Latency,
    pub concurrency: Option<u32>,
    pub failure_rate: f64,
    pub timeout: Option<Nanos>,
    pub retries: u32,
    pub backoff: Nanos,
    pub cold_start: Option<Latency>,
    pub keep_warm: Nanos,
    pub memory_mb: u32,
}

impl Tool {
    /// A tool that always succeeds at once, for tests and references.
    pub fn simple(name: &str, latency: Latency) -> Tool {
        Tool {
            name: name.into(),
            description: String::new(),
            latency,
            concurrency: None,
            failure_rate: 0.0,
            timeout: None,
            retries: 0,
            backoff: 0,
            cold_start: None,
            keep_warm: 0,
            memory_mb: default_memory_mb(),
        }
    }

    /// Whether an attempt can fail or time out (so it may need more than one draw).
    pub fn can_fail(&self) -> bool {
        self.failure_rate > 0.0 || self.timeout.is_some()
    }
}

/// Turn-time costs in nanoseconds, and the limits of a shared model endpoint.
#[derive(Debug, Clone)]
pub struct TurnModel {
    pub base: Latency,
    pub per_result: Nanos,
    pub per_call: Nanos,
    pub per_context_item: Nanos,
    pub concurrency: Option<u32>,
    /// From `requests_per_s`: turn starts are at least this far apart.
    pub min_start_gap: Option<Nanos>,
    pub streamed_dispatch: bool,
}

impl TurnModel {
    pub fn simple(base: Latency) -> TurnModel {
        TurnModel {
            base,
            per_result: 0,
            per_call: 0,
            per_context_item: 0,
            concurrency: None,
            min_start_gap: None,
            streamed_dispatch: false,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Arrival {
    AllAtOnce,
    Poisson { rate_per_s: f64 },
    Closed { users: u32, think: Latency },
}

#[derive(Debug, Clone)]
pub struct FollowUps {
    pub count: u32,
    pub gap: Latency,
}

#[derive(Debug, Clone)]
pub struct Overheads {
    pub sync_invocation: Latency,
    pub async_dispatch: Latency,
    pub async_delivery: Latency,
}

/// A validated scenario, ready to simulate.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Where it was read from, as given (for messages and reports).
    pub file: String,
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub sessions: u64,
    pub model: TurnModel,
    pub tools: Vec<Tool>,
    pub plan: Plan,
    pub overheads: Overheads,
    pub batch_window: Nanos,
    pub arrival: Arrival,
    pub followups: Option<FollowUps>,
    pub cost: Option<CostSpec>,
    /// The file's text, so a report can show the scenario it came from.
    pub source: String,
}

/// A problem with a scenario, located in its file.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    pub line: usize,
    pub column: usize,
    /// Dotted key path, e.g. `tools.research.latency.sigma` (empty for syntax errors).
    pub path: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{file}: cannot read the scenario")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: the file is {bytes} bytes; scenario files are limited to {MAX_FILE_BYTES}")]
    TooLarge { file: String, bytes: u64 },
    #[error("{}", render(file, problems))]
    Invalid {
        file: String,
        problems: Vec<Located>,
    },
}

impl ScenarioError {
    pub fn problems(&self) -> &[Located] {
        match self {
            ScenarioError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

fn render(file: &str, problems: &[Located]) -> String {
    let lines: Vec<String> = problems
        .iter()
        .map(|p| {
            let path = if p.path.is_empty() {
                String::new()
            } else {
                format!(" {}:", p.path)
            };
            format!("{file}:{}:{}:{path} {}", p.line, p.column, p.message)
        })
        .collect();
    lines.join("\n")
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn from_file(path: &Path) -> Result<Scenario, ScenarioError> {
        let file = path.display().to_string();
        let io = |source| ScenarioError::Io {
            file: file.clone(),
            source,
        };
        let bytes = std::fs::metadata(path).map_err(io)?.len();
        if bytes > MAX_FILE_BYTES {
            return Err(ScenarioError::TooLarge { file, bytes });
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        Scenario::parse(&text, &file)
    }

    /// Validates scenario text; `file` names it in messages.
    pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
        let invalid = |problems| ScenarioError::Invalid {
            file: file.to_string(),
            problems,
        };
        let locate_all = |problems: Vec<Problem>| {
            invalid(problems.into_iter().map(|p| locate_path(text, p)).collect())
        };
        let mut spec = read(text).map_err(|p| invalid(vec![p]))?;
        // Empirical latencies may name a trace file, relative to the scenario's directory.
        let base = Path::new(file).parent().unwrap_or(Path::new(""));
        crate::traces::load_sample_files(&mut spec, base).map_err(locate_all)?;
        Scenario::compile(spec, text, file).map_err(locate_all)
    }

    /// Checks meaning and compiles samplers and the plan. Problems carry key paths only.
    fn compile(spec: ScenarioFile, text: &str, file: &str) -> Result<Scenario, Vec<Problem>> {
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
                async_dispatch: optional(
                    &spec.overheads.async_dispatch,
                    "overheads.async_dispatch",
                )?,
                async_delivery: optional(
                    &spec.overheads.async_delivery,
                    "overheads.async_delivery",
                )?,
            },
            batch_window: spec.async_loop.batch_window.map(from_duration).unwrap_or(0),
            arrival,
            followups,
            cost: spec.cost.clone(),
            source: text.to_string(),
        })
    }

    pub fn tool_name(&self, call: usize) -> &str {
        &self.tools[self.plan.calls[call].tool].name
    }

    /// Whether sessions share capacity (tool or model limits, warm pools): then they must be
    /// simulated together, in arrival order, on one thread.
    pub fn is_shared(&self) -> bool {
        self.model.concurrency.is_some()
            || self.model.min_start_gap.is_some()
            || self
                .tools
                .iter()
                .any(|t| t.concurrency.is_some() || t.cold_start.is_some())
    }

    /// Whether any call can fail, time out or be retried.
    pub fn has_failures(&self) -> bool {
        self.tools.iter().any(Tool::can_fail)
    }
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
}

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

/// Pass 1: TOML and serde. Returns the first problem, located.
fn read(text: &str) -> Result<ScenarioFile, Located> {
    let deserializer = toml::de::Deserializer::parse(text).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        Located {
            line,
            column,
            path: String::new(),
            message: e.message().trim_end().to_string(),
        }
    })?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let inner = e.into_inner();
        let located = locate_path(
            text,
            Problem {
                path: path.clone(),
                message: inner.message().trim_end().to_string(),
            },
        );
        // toml's own span is the most precise where it has one (e.g. an unknown key).
        match inner.span() {
            Some(span) => {
                let (line, column) = line_col(text, span.start);
                Located {
                    line,
                    column,
                    ..located
                }
            }
            None => located,
        }
    })
}

/// Resolves a key path such as `plan.calls[2].after[0]` to the line of the deepest part of it
/// that exists in the file.
fn locate_path(text: &str, problem: Problem) -> Located {
    let offset = toml::de::DeTable::parse(text)
        .ok()
        .map(|root| {
            let mut offset = root.span().start;
            let mut value: Option<&toml::Spanned<toml::de::DeValue>> = None;
            let mut table: Option<&toml::de::DeTable> = Some(root.get_ref());
            for segment in path_segments(&problem.path) {
                let next = match (segment, table, value) {
                    (Segment::Key(k), Some(t), _) => t
                        .iter()
                        .find(|(key, _)| key.get_ref() == k)
                        .map(|(key, v)| {
                            offset = key.span().start;
                            v
                        }),
                    (Segment::Index(i), _, Some(v)) => match v.get_ref() {
                        toml::de::DeValue::Array(items) => items.get(i).inspect(|item| {
                            offset = item.span().start;
                        }),
                        _ => None,
                    },
                    _ => None,
                };
                let Some(next) = next else { break };
                table = match next.get_ref() {
                    toml::de::DeValue::Table(t) => Some(t),
                    _ => None,
                };
                value = Some(next);
            }
            offset
        })
        .unwrap_or(0);
    let (line, column) = line_col(text, offset);
    Located {
        line,
        column,
        path: problem.path,
        message: problem.message,
    }
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

fn path_segments(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Segment::Key(key));
        }
        while let Some(close) = rest.find(']') {
            if let Ok(i) = rest[1..close].parse() {
                out.push(Segment::Index(i));
            }
            rest = &rest[close + 1..];
        }
    }
    out
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}
