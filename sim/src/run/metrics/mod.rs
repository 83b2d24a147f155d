//! Streaming metrics: exact, mergeable accumulators.
//!
//! Every accumulator holds integers only (hdrhistogram counts, u128 sums, fixed-point ratios), so
//! merging is associative and commutative: shards can be combined in any order, on any number of
//! threads, and the result is bit-for-bit the same. Memory does not grow with the session count.

use crate::model::agent::{Outcome, Session};
use crate::model::time::{Nanos, div_i128};
use serde::Serialize;

mod stream;
pub use stream::Stream;

/// The contract's metrics (see `docs/agent-loop-model.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Makespan,
    FirstUpdate,
    ResultDelay,
    MaxSilence,
    ModelBusy,
    ModelIdle,
    IdleFraction,
    Turns,
    // Reported only when the scenario models what they measure:
    /// Follow-up message → end of the turn that answered it.
    ReplyLatency,
    /// Per attempt: reaching the tool → starting (tool concurrency).
    ToolQueueWait,
    /// Per turn: asking for the model → starting (model concurrency, rate limit).
    ModelQueueWait,
    ColdStarts,
    FailedCalls,
    TimedOutCalls,
    Retries,
    InputTokens,
    OutputTokens,
    CostUsd,
    ModelCostUsd,
    InfraCostUsd,
}

/// Per-session values beyond the [`Outcome`], filled by the runner.
#[derive(Clone, Copy, Debug, Default)]
pub struct Extras {
    pub cold_starts: u64,
    pub model_cost_pusd: u64,
    pub infra_cost_pusd: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Unit {
    #[serde(rename = "s")]
    Seconds,
    #[serde(rename = "fraction")]
    Fraction,
    #[serde(rename = "count")]
    Count,
    #[serde(rename = "usd")]
    Usd,
}

impl Metric {
    /// The contract's metrics, always reported.
    pub const CORE: [Metric; 8] = [
        Metric::Makespan,
        Metric::FirstUpdate,
        Metric::ResultDelay,
        Metric::MaxSilence,
        Metric::ModelBusy,
        Metric::ModelIdle,
        Metric::IdleFraction,
        Metric::Turns,
    ];

    pub const ALL: [Metric; 20] = [
        Metric::Makespan,
        Metric::FirstUpdate,
        Metric::ResultDelay,
        Metric::MaxSilence,
        Metric::ModelBusy,
        Metric::ModelIdle,
        Metric::IdleFraction,
        Metric::Turns,
        Metric::ReplyLatency,
        Metric::ToolQueueWait,
        Metric::ModelQueueWait,
        Metric::ColdStarts,
        Metric::FailedCalls,
        Metric::TimedOutCalls,
        Metric::Retries,
        Metric::InputTokens,
        Metric::OutputTokens,
        Metric::CostUsd,
        Metric::ModelCostUsd,
        Metric::InfraCostUsd,
    ];

    /// The per-session metrics that may be compared pairwise between policies.
    pub const PAIRED: [Metric; 8] = [
        Metric::Makespan,
        Metric::FirstUpdate,
        Metric::ResultDelay,
        Metric::MaxSilence,
        Metric::ModelIdle,
        Metric::Turns,
        Metric::ReplyLatency,
        Metric::CostUsd,
    ];

    /// Which metrics a scenario has: the core ones, plus those of the features it models.
    pub fn active(scenario: &crate::Scenario) -> Vec<Metric> {
        let mut out = Metric::CORE.to_vec();
        if scenario.followups.is_some() {
            out.push(Metric::ReplyLatency);
        }
        if scenario.tools.iter().any(|t| t.concurrency.is_some()) {
            out.push(Metric::ToolQueueWait);
        }
        if scenario.model.concurrency.is_some() || scenario.model.min_start_gap.is_some() {
            out.push(Metric::ModelQueueWait);
        }
        if scenario.tools.iter().any(|t| t.cold_start.is_some()) {
            out.push(Metric::ColdStarts);
        }
        if scenario.has_failures() {
            out.extend([Metric::FailedCalls, Metric::TimedOutCalls, Metric::Retries]);
        }
        if scenario.cost.is_some() {
            out.extend([
                Metric::InputTokens,
                Metric::OutputTokens,
                Metric::CostUsd,
                Metric::ModelCostUsd,
                Metric::InfraCostUsd,
            ]);
        }
        out
    }

    pub fn name(self) -> &'static str {
        match self {
            Metric::Makespan => "makespan",
            Metric::FirstUpdate => "first_update",
            Metric::ResultDelay => "result_delay",
            Metric::MaxSilence => "max_silence",
            Metric::ModelBusy => "model_busy",
            Metric::ModelIdle => "model_idle",
            Metric::IdleFraction => "idle_fraction",
            Metric::Turns => "turns",
            Metric::ReplyLatency => "reply_latency",
            Metric::ToolQueueWait => "tool_queue_wait",
            Metric::ModelQueueWait => "model_queue_wait",
            Metric::ColdStarts => "cold_starts",
            Metric::FailedCalls => "failed_calls",
            Metric::TimedOutCalls => "timed_out_calls",
            Metric::Retries => "retries",
            Metric::InputTokens => "input_tokens",
            Metric::OutputTokens => "output_tokens",
            Metric::CostUsd => "cost_usd",
            Metric::ModelCostUsd => "model_cost_usd",
            Metric::InfraCostUsd => "infra_cost_usd",
        }
    }

    pub fn unit(self) -> Unit {
        match self {
            Metric::IdleFraction => Unit::Fraction,
            Metric::Turns
            | Metric::ColdStarts
            | Metric::FailedCalls
            | Metric::TimedOutCalls
            | Metric::Retries
            | Metric::InputTokens
            | Metric::OutputTokens => Unit::Count,
            Metric::CostUsd | Metric::ModelCostUsd | Metric::InfraCostUsd => Unit::Usd,
            // Exhaustive: a new metric must say its unit (a count scaled as nanoseconds would be
            // off by 10^9).
            Metric::Makespan
            | Metric::FirstUpdate
            | Metric::ResultDelay
            | Metric::MaxSilence
            | Metric::ModelBusy
            | Metric::ModelIdle
            | Metric::ReplyLatency
            | Metric::ToolQueueWait
            | Metric::ModelQueueWait => Unit::Seconds,
        }
    }

    /// What one recorded value means, for report legends.
    pub fn meaning(self) -> &'static str {
        match self {
            Metric::Makespan => "request to final answer",
            Metric::FirstUpdate => "request to the end of the first turn that read a tool result",
            Metric::ResultDelay => {
                "per call: from the tool finishing to the end of the turn that read it"
            }
            Metric::MaxSilence => "longest stretch with no new output to the user",
            Metric::ModelBusy => "sum of model turn durations",
            Metric::ModelIdle => "makespan minus model busy time",
            Metric::IdleFraction => "model idle time over makespan",
            Metric::Turns => "model turns (LLM requests) per session",
            Metric::ReplyLatency => {
                "per follow-up message: sent → end of the turn that answered it"
            }
            Metric::ToolQueueWait => "per attempt: waiting for a free instance of the tool",
            Metric::ModelQueueWait => "per turn: waiting for model capacity or the rate limit",
            Metric::ColdStarts => "attempts per session that found no warm instance",
            Metric::FailedCalls => "calls per session whose last attempt failed",
            Metric::TimedOutCalls => "calls per session whose last attempt timed out",
            Metric::Retries => "retried attempts per session",
            Metric::InputTokens => "input tokens per session, over all turns",
            Metric::OutputTokens => "output tokens per session",
            Metric::CostUsd => "dollars per session: model tokens plus AWS requests and compute",
            Metric::ModelCostUsd => "dollars per session for model tokens",
            Metric::InfraCostUsd => "dollars per session for Lambda, SQS and DynamoDB",
        }
    }

    /// Stored value → reported value (seconds, fraction or count).
    pub fn scale(self) -> f64 {
        match self.unit() {
            Unit::Seconds => 1e-9,
            Unit::Fraction => 1e-6,
            Unit::Count => 1.0,
            Unit::Usd => 1e-12,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// All metrics of one policy.
#[derive(Clone, Debug)]
pub struct PolicyMetrics {
    streams: Vec<Stream>,
    active: Vec<Metric>,
    /// Bit i set: `Metric::ALL[i]` is recorded.
    mask: u32,
}

impl PolicyMetrics {
    pub fn new(active: &[Metric]) -> PolicyMetrics {
        PolicyMetrics {
            streams: vec![Stream::default(); Metric::ALL.len()],
            active: active.to_vec(),
            mask: active.iter().fold(0, |m, a| m | 1 << a.index()),
        }
    }

    pub fn active(&self) -> &[Metric] {
        &self.active
    }

    #[inline]
    fn on(&self, m: Metric) -> bool {
        self.mask & (1 << m.index()) != 0
    }

    #[inline]
    pub fn record(&mut self, outcome: &Outcome, session: &Session, extras: &Extras) {
        let s = &mut self.streams;
        s[Metric::Makespan.index()].record(outcome.makespan);
        s[Metric::FirstUpdate.index()].record(outcome.first_update);
        s[Metric::MaxSilence.index()].record(outcome.max_silence);
        s[Metric::ModelBusy.index()].record(outcome.model_busy);
        s[Metric::ModelIdle.index()].record(outcome.model_idle());
        s[Metric::IdleFraction.index()].record(outcome.idle_ppm());
        s[Metric::Turns.index()].record(outcome.turns as u64);
        s[Metric::ResultDelay.index()].record_each(session.calls.iter().map(|c| c.result_delay()));
        if self.mask & !0xff == 0 {
            return;
        }
        if self.on(Metric::ReplyLatency) {
            for &r in &session.replies {
                self.streams[Metric::ReplyLatency.index()].record(r);
            }
        }
        if self.on(Metric::ModelQueueWait) {
            for t in &session.turns {
                self.streams[Metric::ModelQueueWait.index()].record(t.start - t.requested);
            }
        }
        let counts = [
            (Metric::ColdStarts, extras.cold_starts),
            (Metric::FailedCalls, outcome.failed as u64),
            (Metric::TimedOutCalls, outcome.timed_out as u64),
            (Metric::Retries, outcome.retries as u64),
            (Metric::InputTokens, outcome.input_tokens),
            (Metric::OutputTokens, outcome.output_tokens),
            (
                Metric::CostUsd,
                extras.model_cost_pusd + extras.infra_cost_pusd,
            ),
            (Metric::ModelCostUsd, extras.model_cost_pusd),
            (Metric::InfraCostUsd, extras.infra_cost_pusd),
        ];
        for (m, v) in counts {
            if self.on(m) {
                self.streams[m.index()].record(v);
            }
        }
    }

    /// Records one tool queue wait (shared worlds record them as attempts start).
    pub fn record_tool_wait(&mut self, wait: Nanos) {
        self.streams[Metric::ToolQueueWait.index()].record(wait);
    }

    pub fn merge(&mut self, other: &PolicyMetrics) {
        for m in &self.active {
            self.streams[m.index()].merge(&other.streams[m.index()]);
        }
    }

    pub fn get(&self, metric: Metric) -> &Stream {
        &self.streams[metric.index()]
    }
}

/// The per-session values compared between policies.
#[derive(Clone, Copy, Debug, Default)]
pub struct SessionValues([u64; Metric::PAIRED.len()]);

impl SessionValues {
    pub fn new(outcome: &Outcome, session: &Session, extras: &Extras) -> SessionValues {
        let replies = &session.replies;
        SessionValues(Metric::PAIRED.map(|m| match m {
            Metric::Makespan => outcome.makespan,
            Metric::FirstUpdate => outcome.first_update,
            Metric::ResultDelay => outcome.mean_result_delay(session.calls.len()),
            Metric::MaxSilence => outcome.max_silence,
            Metric::ModelIdle => outcome.model_idle(),
            Metric::Turns => outcome.turns as u64,
            Metric::ReplyLatency => replies.iter().sum::<u64>() / (replies.len().max(1) as u64),
            Metric::CostUsd => extras.model_cost_pusd + extras.infra_cost_pusd,
            _ => unreachable!("only paired metrics"),
        }))
    }
}

/// Ratios are stored in fixed point with 20 fractional bits (resolution ~1e-6) and capped, so
/// that sums of squares over 10^10 sessions stay inside u128.
const RATIO_ONE: f64 = (1u64 << 20) as f64;
pub const RATIO_CAP: f64 = 1e6;

/// `baseline / candidate` in f64, converting through i64 when both fit (one instruction each;
/// the same value, since both are then exact in either conversion's rounding).
#[inline]
fn ratio_of(baseline: u64, candidate: u64) -> f64 {
    if (baseline | candidate) >> 63 == 0 {
        baseline as i64 as f64 / candidate as i64 as f64
    } else {
        baseline as f64 / candidate as f64
    }
}

/// Paired comparison of one metric: baseline / candidate and baseline − candidate, per session.
#[derive(Clone, Debug, Default)]
pub struct PairedStream {
    /// Sessions where the ratio is defined (candidate > 0, or both 0 → ratio 1).
    ratio_n: u64,
    ratio_sum: u128,
    ratio_sq_sum: u128,
    /// Candidate 0 while baseline > 0: the ratio is infinite and left out of its mean.
    undefined: u64,
    n: u64,
    diff_sum: i128,
    /// Squares of differences in microseconds (or units): only the spread needs them.
    diff_sq_sum: u128,
    candidate_better: u64,
    ties: u64,
}

impl PairedStream {
    #[inline]
    fn record(&mut self, baseline: u64, candidate: u64, micro: bool) {
        self.n += 1;
        self.candidate_better += (baseline > candidate) as u64;
        self.ties += (baseline == candidate) as u64;
        let diff = baseline as i128 - candidate as i128;
        self.diff_sum += diff;
        let d = if micro { div_i128(diff, 1000) } else { diff };
        self.diff_sq_sum = self.diff_sq_sum.saturating_add((d * d) as u128);
        let ratio = if candidate > 0 {
            ratio_of(baseline, candidate).min(RATIO_CAP)
        } else if baseline == 0 {
            1.0
        } else {
            self.undefined += 1;
            return;
        };
        let q = crate::model::time::round_to_u64(ratio * RATIO_ONE) as u128;
        self.ratio_n += 1;
        self.ratio_sum += q;
        self.ratio_sq_sum += q * q;
    }

    fn merge(&mut self, o: &PairedStream) {
        self.ratio_n += o.ratio_n;
        self.ratio_sum += o.ratio_sum;
        self.ratio_sq_sum += o.ratio_sq_sum;
        self.undefined += o.undefined;
        self.n += o.n;
        self.diff_sum += o.diff_sum;
        self.diff_sq_sum = self.diff_sq_sum.saturating_add(o.diff_sq_sum);
        self.candidate_better += o.candidate_better;
        self.ties += o.ties;
    }

    pub fn sessions(&self) -> u64 {
        self.n
    }

    pub fn undefined(&self) -> u64 {
        self.undefined
    }

    /// Mean of the per-session ratio baseline/candidate and its 95% confidence interval.
    pub fn ratio(&self) -> Estimate {
        estimate(
            self.ratio_n,
            self.ratio_sum as f64 / RATIO_ONE,
            self.ratio_sq_sum as f64 / (RATIO_ONE * RATIO_ONE),
        )
    }

    /// Mean of baseline − candidate (in stored units) and its 95% confidence interval.
    pub fn difference(&self, micro: bool) -> Estimate {
        let scale = if micro { 1000.0 } else { 1.0 };
        let mean = self.diff_sum as f64 / self.n.max(1) as f64;
        let sq = self.diff_sq_sum as f64 * scale * scale;
        let mut e = estimate(self.n, mean * self.n as f64, sq);
        e.mean = mean;
        e
    }

    pub fn candidate_better_fraction(&self) -> f64 {
        self.candidate_better as f64 / self.n.max(1) as f64
    }

    pub fn tie_fraction(&self) -> f64 {
        self.ties as f64 / self.n.max(1) as f64
    }
}

/// A mean with a normal-approximation 95% confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Estimate {
    pub mean: f64,
    pub ci95_low: f64,
    pub ci95_high: f64,
}

fn estimate(n: u64, sum: f64, sq_sum: f64) -> Estimate {
    if n == 0 {
        return Estimate {
            mean: f64::NAN,
            ci95_low: f64::NAN,
            ci95_high: f64::NAN,
        };
    }
    let nf = n as f64;
    let mean = sum / nf;
    let var = if n > 1 {
        ((sq_sum - nf * mean * mean) / (nf - 1.0)).max(0.0)
    } else {
        0.0
    };
    let half = 1.96 * (var / nf).sqrt();
    Estimate {
        mean,
        ci95_low: mean - half,
        ci95_high: mean + half,
    }
}

/// The paired comparison of two policies over every paired metric the scenario has.
#[derive(Clone, Debug, Default)]
pub struct PairMetrics {
    streams: [PairedStream; Metric::PAIRED.len()],
    active: [bool; Metric::PAIRED.len()],
}

impl PairMetrics {
    pub fn new(active: &[Metric]) -> PairMetrics {
        PairMetrics {
            streams: Default::default(),
            active: Metric::PAIRED.map(|m| active.contains(&m)),
        }
    }

    /// The paired metrics this comparison holds, in order.
    pub fn metrics(&self) -> impl Iterator<Item = Metric> + '_ {
        Metric::PAIRED
            .iter()
            .zip(&self.active)
            .filter(|(_, on)| **on)
            .map(|(m, _)| *m)
    }

    #[inline]
    pub fn record(&mut self, baseline: &SessionValues, candidate: &SessionValues) {
        for (i, m) in Metric::PAIRED.iter().enumerate() {
            if self.active[i] {
                let micro = m.unit() == Unit::Seconds || m.unit() == Unit::Usd;
                self.streams[i].record(baseline.0[i], candidate.0[i], micro);
            }
        }
    }

    pub fn merge(&mut self, other: &PairMetrics) {
        for (a, b) in self.streams.iter_mut().zip(&other.streams) {
            a.merge(b);
        }
    }

    pub fn get(&self, metric: Metric) -> &PairedStream {
        let i = Metric::PAIRED
            .iter()
            .position(|&m| m == metric)
            .expect("only paired metrics are compared");
        &self.streams[i]
    }
}

#[cfg(test)]
mod tests;
