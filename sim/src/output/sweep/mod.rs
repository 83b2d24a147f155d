//! Parameter sweeps: where does async stop paying off?
//!
//! `asynctools sweep SCENARIO --set KEY=A..B [--steps N] [--set KEY2=C..D]` edits the
//! scenario's TOML value tree at each step (so every value goes through the same validation as
//! a file, and errors name the key), simulates baseline and candidate on the same seed (common
//! random numbers across steps too, so curves are smooth), and reports each paired metric's
//! speedup (mean per-session baseline/candidate ratio, 95% CI). A *crossover* is where the
//! speedup crosses 1×, located by linear interpolation between the two steps around it.
//!
//! [`axis`] reads `KEY=A..B` and edits the tree; [`render`] prints the report.

use crate::input::scenario::{Scenario, ScenarioError};
use crate::model::policy::Policy;
use crate::output::report::{Ordered, PairSummary, Report};
use crate::run::metrics::Metric;
use crate::run::options::RunOptions;
use serde::Serialize;

mod axis;
mod render;

use axis::set_key;
pub use axis::{Axis, AxisKind};

pub const SCHEMA: &str = "asynctools.sweep/v1";
pub const MAX_AXES: usize = 2;
pub const MAX_STEPS: usize = 50;
pub const DEFAULT_STEPS: usize = 11;
/// Sessions per step unless the caller says otherwise: a sweep simulates many scenarios.
pub const DEFAULT_SESSIONS: u64 = 10_000;
/// Steps × sessions: beyond this a sweep runs for many minutes; ask for fewer.
pub const MAX_SESSION_STEPS: u64 = 500_000_000;

/// What to sweep and how to run each step.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    pub axes: Vec<Axis>,
    pub sessions: u64,
    pub seed: u64,
    pub threads: Option<usize>,
    pub baseline: Policy,
    pub candidate: Policy,
}

/// One grid point: the parameter values and the paired comparison there.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    pub at: Vec<f64>,
    pub metrics: Ordered<PairSummary>,
}

/// Where a metric's speedup crosses 1× along the first axis.
#[derive(Clone, Debug, Serialize)]
pub struct Crossover {
    pub metric: String,
    /// The second axis's value this line was taken at (two-axis sweeps).
    pub at_other: Option<f64>,
    /// The first axis's value where the speedup is 1×, interpolated.
    pub value: f64,
    /// The two steps it lies between.
    pub between: [f64; 2],
    /// True: the candidate is lower (faster) below `value` and not above it.
    pub candidate_stops_being_lower: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct SweepReport {
    pub schema: &'static str,
    pub scenario: String,
    pub file: String,
    pub sessions: u64,
    pub seed: u64,
    pub baseline: String,
    pub candidate: String,
    pub axes: Vec<AxisReport>,
    /// Row-major: the first axis varies fastest.
    pub points: Vec<Point>,
    pub crossovers: Vec<Crossover>,
    /// The scenario file as given, so the sweep stands alone.
    #[serde(skip)]
    pub source: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct AxisReport {
    #[serde(flatten)]
    pub axis: Axis,
    pub values: Vec<f64>,
}

/// Runs the sweep. Errors name the key and value that made a scenario invalid.
pub fn sweep(scenario: &Scenario, opts: &SweepOptions) -> Result<SweepReport, String> {
    if opts.axes.is_empty() || opts.axes.len() > MAX_AXES {
        return Err(format!(
            "give 1 or {MAX_AXES} parameters to sweep with --set, got {}",
            opts.axes.len()
        ));
    }
    if opts.axes.len() == 2 && opts.axes[0].key == opts.axes[1].key {
        return Err(format!("{} is swept twice", opts.axes[0].key));
    }
    if opts.baseline == opts.candidate {
        return Err("the two policies compared must differ".into());
    }
    let steps: u64 = opts.axes.iter().map(|a| a.steps as u64).product();
    if opts.sessions.saturating_mul(steps) > MAX_SESSION_STEPS {
        return Err(format!(
            "{steps} steps × {} sessions is more than {MAX_SESSION_STEPS} simulated sessions; \
             use fewer --steps or --sessions",
            opts.sessions
        ));
    }
    let tree: toml::Table = scenario
        .source
        .parse()
        .map_err(|e| format!("{}: {e}", scenario.file))?;
    let mut axes = opts.axes.clone();
    // Bind each axis to the tree once, so integer keys are known before values are listed.
    for axis in &mut axes {
        let mut probe = tree.clone();
        set_key(&mut probe, axis, |a| a.literal(a.from))?;
    }
    let values: Vec<Vec<f64>> = axes.iter().map(Axis::values).collect();
    let (nx, ny) = (values[0].len(), values.get(1).map_or(1, Vec::len));
    let mut points = Vec::with_capacity(nx * ny);
    for j in 0..ny {
        for i in 0..nx {
            let mut at = vec![values[0][i]];
            let mut edited = tree.clone();
            set_key(&mut edited, &mut axes[0], |a| a.literal(values[0][i]))?;
            if let Some(ys) = values.get(1) {
                at.push(ys[j]);
                set_key(&mut edited, &mut axes[1], |a| a.literal(ys[j]))?;
            }
            let describe = || {
                axes.iter()
                    .zip(&at)
                    .map(|(a, x)| format!("{}={}", a.key, a.show(*x)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let text = toml::to_string(&edited).map_err(|e| format!("{}: {e}", describe()))?;
            let step = Scenario::parse(&text, &scenario.file).map_err(|e| match e {
                ScenarioError::Invalid { problems, .. } => problems
                    .iter()
                    .map(|p| format!("{}: {}: {}", describe(), p.path, p.message))
                    .collect::<Vec<_>>()
                    .join("\n"),
                other => format!("{}: {other}", describe()),
            })?;
            let run = RunOptions {
                sessions: opts.sessions,
                seed: opts.seed,
                threads: opts.threads,
                policies: vec![opts.baseline.clone(), opts.candidate.clone()],
            };
            let results = crate::simulate(&step, &run, &|_| {})
                .map_err(|e| format!("{}: {e}", describe()))?;
            let report = Report::new(&step, &results);
            let comparison = report
                .comparisons
                .into_iter()
                .next()
                .expect("two policies give one comparison");
            points.push(Point {
                at,
                metrics: comparison.metrics,
            });
        }
    }
    let crossovers = find_crossovers(&values, &points, nx);
    Ok(SweepReport {
        schema: SCHEMA,
        scenario: scenario.name.clone(),
        file: scenario.file.clone(),
        sessions: opts.sessions,
        seed: opts.seed,
        baseline: opts.baseline.name(),
        candidate: opts.candidate.name(),
        axes: axes
            .into_iter()
            .zip(values)
            .map(|(axis, values)| AxisReport { axis, values })
            .collect(),
        points,
        crossovers,
        source: scenario.source.clone(),
    })
}

fn find_crossovers(values: &[Vec<f64>], points: &[Point], nx: usize) -> Vec<Crossover> {
    let Some(first) = points.first() else {
        return Vec::new();
    };
    let metrics: Vec<Metric> = first.metrics.0.iter().map(|(m, _)| *m).collect();
    let mut out = Vec::new();
    for metric in metrics {
        for (j, row) in points.chunks(nx).enumerate() {
            let ys: Vec<f64> = row
                .iter()
                .map(|p| p.metrics.get(metric).map_or(f64::NAN, |s| s.ratio.mean))
                .collect();
            for (value, between, stops) in crossings(&values[0], &ys) {
                out.push(Crossover {
                    metric: metric.name().to_string(),
                    at_other: values.get(1).map(|v| v[j]),
                    value,
                    between,
                    candidate_stops_being_lower: stops,
                });
            }
        }
    }
    out
}

/// Where `ys` crosses 1 between consecutive `xs`: (interpolated x, the two xs, whether it goes
/// from above 1 to at-or-below 1).
pub fn crossings(xs: &[f64], ys: &[f64]) -> Vec<(f64, [f64; 2], bool)> {
    let mut out = Vec::new();
    for i in 0..xs.len().saturating_sub(1) {
        let (a, b) = (ys[i] - 1.0, ys[i + 1] - 1.0);
        if !(a.is_finite() && b.is_finite()) {
            continue;
        }
        let down = a > 0.0 && b <= 0.0;
        let up = a <= 0.0 && b > 0.0;
        if down || up {
            let x = xs[i] + (xs[i + 1] - xs[i]) * a / (a - b);
            out.push((x, [xs[i], xs[i + 1]], down));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossings_interpolate_both_ways() {
        let xs = [0.0, 1.0, 2.0, 3.0];
        let c = crossings(&xs, &[1.5, 1.1, 0.9, 1.2]);
        assert_eq!(c.len(), 2);
        assert!((c[0].0 - 1.5).abs() < 1e-12 && c[0].2);
        assert_eq!(c[0].1, [1.0, 2.0]);
        assert!(!c[1].2 && c[1].0 > 2.0 && c[1].0 < 3.0);
        assert!(crossings(&xs, &[1.5, 1.4, 1.3, f64::NAN]).is_empty());
    }
}
