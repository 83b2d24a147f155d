//! Parameter sweeps: where does async stop paying off?
//!
//! `asynctools sweep SCENARIO --set KEY=A..B [--steps N] [--set KEY2=C..D]` edits the
//! scenario's TOML value tree at each step (so every value goes through the same validation as
//! a file, and errors name the key), simulates baseline and candidate on the same seed (common
//! random numbers across steps too, so curves are smooth), and reports each paired metric's
//! speedup (mean per-session baseline/candidate ratio, 95% CI). A *crossover* is where the
//! speedup crosses 1×, located by linear interpolation between the two steps around it.

use crate::metrics::Metric;
use crate::policy::Policy;
use crate::report::{Ordered, PairSummary, Report};
use crate::runner::RunOptions;
use crate::scenario::{Scenario, ScenarioError};
use crate::time::human;
use serde::Serialize;
use std::fmt::Write as _;

pub const SCHEMA: &str = "asynctools.sweep/v1";
pub const MAX_AXES: usize = 2;
pub const MAX_STEPS: usize = 50;
pub const DEFAULT_STEPS: usize = 11;
/// Sessions per step unless the caller says otherwise: a sweep simulates many scenarios.
pub const DEFAULT_SESSIONS: u64 = 10_000;
/// Steps × sessions: beyond this a sweep runs for many minutes; ask for fewer.
pub const MAX_SESSION_STEPS: u64 = 500_000_000;

/// What a swept value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AxisKind {
    /// A duration string in the scenario; values are seconds.
    Duration,
    /// A float in the scenario.
    Number,
    /// An integer in the scenario (values rounded).
    Integer,
}

/// One swept parameter: `steps` evenly spaced values from `from` to `to`.
#[derive(Clone, Debug, Serialize)]
pub struct Axis {
    pub key: String,
    pub kind: AxisKind,
    /// Seconds for durations.
    pub from: f64,
    pub to: f64,
    pub steps: usize,
}

impl Axis {
    /// Reads `KEY=A..B`: both ends durations (`100ms..2s`) or both numbers (`0.2..1.5`).
    pub fn parse(spec: &str, steps: usize) -> Result<Axis, String> {
        let usage = "write --set KEY=A..B, e.g. --set model.turn.median=200ms..2s";
        let (key, range) = spec
            .split_once('=')
            .ok_or_else(|| format!("--set {spec}: no '='; {usage}"))?;
        let key = key.trim();
        check_key(key).map_err(|why| format!("--set {spec}: {why}"))?;
        let (a, b) = range
            .split_once("..")
            .ok_or_else(|| format!("--set {spec}: no '..' between the two ends; {usage}"))?;
        let (a, b) = (a.trim(), b.trim());
        if !(2..=MAX_STEPS).contains(&steps) {
            return Err(format!(
                "--steps must be between 2 and {MAX_STEPS}, got {steps}"
            ));
        }
        let (kind, from, to) = match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(x), Ok(y)) if x.is_finite() && y.is_finite() => (AxisKind::Number, x, y),
            (Ok(_), Ok(_)) => return Err(format!("--set {spec}: the ends must be finite")),
            (Err(_), Err(_)) => {
                let d = |t: &str| {
                    crate::duration::parse(t)
                        .map(|d| d.as_secs_f64())
                        .map_err(|e| format!("--set {spec}: {e}"))
                };
                (AxisKind::Duration, d(a)?, d(b)?)
            }
            _ => {
                return Err(format!(
                    "--set {spec}: give both ends as durations (\"1s..3s\") or both as numbers \
                     (\"0.2..0.8\")"
                ));
            }
        };
        if from == to {
            return Err(format!("--set {spec}: the two ends are equal"));
        }
        Ok(Axis {
            key: key.to_string(),
            kind,
            from,
            to,
            steps,
        })
    }

    pub fn values(&self) -> Vec<f64> {
        let n = self.steps.max(2);
        (0..n)
            .map(|i| {
                let x = self.from + (self.to - self.from) * i as f64 / (n - 1) as f64;
                match self.kind {
                    AxisKind::Integer => x.round(),
                    // Whole nanoseconds, as the scenario will hold them.
                    AxisKind::Duration => (x * 1e9).round() / 1e9,
                    AxisKind::Number => x,
                }
            })
            .collect()
    }

    /// The value as the scenario's TOML holds it.
    fn literal(&self, x: f64) -> toml::Value {
        match self.kind {
            AxisKind::Duration => toml::Value::String(format!("{}ns", (x * 1e9).round() as u64)),
            AxisKind::Integer => toml::Value::Integer(x.round() as i64),
            AxisKind::Number => toml::Value::Float(x),
        }
    }

    /// The value for people: `1.75 s`, `0.3`.
    pub fn show(&self, x: f64) -> String {
        match self.kind {
            AxisKind::Duration => human(x * 1e9),
            _ => crate::charts::axis_number(x),
        }
    }

    /// Axis title: `model.turn.value (s)`.
    pub fn title(&self) -> String {
        match self.kind {
            AxisKind::Duration => format!("{} (s)", self.key),
            _ => self.key.clone(),
        }
    }
}

fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > 200 {
        return Err("the key must have 1 to 200 characters".into());
    }
    if segments(key).is_none() {
        return Err(format!(
            "\"{key}\" is not a key path; write dotted names such as tools.search.latency.median \
             (array items as components[0])"
        ));
    }
    Ok(())
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// `a.b[2].c` → Key(a), Key(b), Index(2), Key(c); `None` if malformed.
fn segments(key: &str) -> Option<Vec<Segment<'_>>> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let (name, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return None;
        }
        out.push(Segment::Key(name));
        while !rest.is_empty() {
            let close = rest.find(']')?;
            if !rest.starts_with('[') {
                return None;
            }
            out.push(Segment::Index(rest[1..close].parse().ok()?));
            rest = &rest[close + 1..];
        }
    }
    Some(out)
}

/// Sets `axis.key` to `value_of(axis)` in the TOML tree, creating missing tables; the axis's
/// kind is refined from the value already there (an integer key takes integers).
fn set_key(
    root: &mut toml::Table,
    axis: &mut Axis,
    value_of: impl Fn(&Axis) -> toml::Value,
) -> Result<(), String> {
    let key = axis.key.clone();
    let segs = segments(&key).ok_or_else(|| format!("{key}: not a key path"))?;
    let mut tree = toml::Value::Table(std::mem::take(root));
    let result = set_in(&mut tree, &segs, String::new(), axis, &value_of);
    if let toml::Value::Table(t) = tree {
        *root = t;
    }
    result
}

fn set_in(
    here: &mut toml::Value,
    segs: &[Segment],
    mut path: String,
    axis: &mut Axis,
    value_of: &dyn Fn(&Axis) -> toml::Value,
) -> Result<(), String> {
    let Some((seg, rest)) = segs.split_first() else {
        return Ok(());
    };
    let next: &mut toml::Value = match seg {
        Segment::Key(k) => {
            let parent = path.clone();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(k);
            let toml::Value::Table(t) = here else {
                return Err(format!(
                    "{path}: {parent} is a {} ({here}), not a table; sweep {parent} itself",
                    here.type_str()
                ));
            };
            if rest.is_empty() {
                match (t.get(*k), axis.kind) {
                    (Some(toml::Value::Integer(_)), AxisKind::Number) => {
                        axis.kind = AxisKind::Integer
                    }
                    (Some(toml::Value::Integer(_) | toml::Value::Float(_)), AxisKind::Duration) => {
                        return Err(format!(
                            "{path} is a number; give numbers: --set {path}=A..B"
                        ));
                    }
                    (Some(toml::Value::String(s)), AxisKind::Number) => {
                        return Err(format!(
                            "{path} is a duration (\"{s}\"); give durations such as \
                             --set {path}=100ms..2s"
                        ));
                    }
                    _ => {}
                }
                t.insert(k.to_string(), value_of(axis));
                return Ok(());
            }
            t.entry(k.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        }
        Segment::Index(n) => {
            let _ = write!(path, "[{n}]");
            let toml::Value::Array(items) = here else {
                return Err(format!("{path}: not an array"));
            };
            let len = items.len();
            let item = items
                .get_mut(*n)
                .ok_or_else(|| format!("{path}: the array has {len} items"))?;
            if rest.is_empty() {
                *item = value_of(axis);
                return Ok(());
            }
            item
        }
    };
    set_in(next, rest, path, axis, value_of)
}

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

impl SweepReport {
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a sweep always serializes");
        s.push('\n');
        s
    }

    fn metric_names(&self) -> Vec<Metric> {
        self.points
            .first()
            .map(|p| p.metrics.0.iter().map(|(m, _)| *m).collect())
            .unwrap_or_default()
    }

    /// What "lower" means for a metric, in words.
    fn lower_word(metric: &str) -> &'static str {
        match Metric::ALL
            .iter()
            .find(|m| m.name() == metric)
            .map(|m| m.unit())
        {
            Some(crate::metrics::Unit::Seconds) => "faster",
            Some(crate::metrics::Unit::Usd) => "cheaper",
            _ => "lower",
        }
    }

    /// The crossovers as sentences (one per metric; two-axis sweeps list the crossover at each
    /// value of the second axis); says so when there are none.
    pub fn crossover_sentences(&self) -> Vec<String> {
        let axis = &self.axes[0].axis;
        let (b, a) = (&self.baseline, &self.candidate);
        let mut out = Vec::new();
        let mut none = Vec::new();
        for metric in self.metric_names() {
            let found: Vec<&Crossover> = self
                .crossovers
                .iter()
                .filter(|c| c.metric == metric.name())
                .collect();
            if found.is_empty() {
                none.push(metric.name());
                continue;
            }
            let word = Self::lower_word(metric.name());
            let one_way = found
                .iter()
                .all(|c| c.candidate_stops_being_lower == found[0].candidate_stops_being_lower);
            if let (Some(other), true) = (self.axes.get(1), one_way) {
                let turn = if found[0].candidate_stops_being_lower {
                    "stops"
                } else {
                    "starts"
                };
                let list: Vec<String> = found
                    .iter()
                    .map(|c| {
                        format!(
                            "{} when {} = {}",
                            axis.show(c.value),
                            other.axis.key,
                            other.axis.show(c.at_other.unwrap_or(f64::NAN))
                        )
                    })
                    .collect();
                out.push(format!(
                    "{}: {a} {turn} being {word} than {b} at {} ≈ {}.",
                    metric.name(),
                    axis.key,
                    list.join(", ")
                ));
                continue;
            }
            let places: Vec<String> = found
                .iter()
                .map(|c| {
                    let turn = if c.candidate_stops_being_lower {
                        format!("{a} stops being {word}")
                    } else {
                        format!("{a} becomes {word}")
                    };
                    let other = match (c.at_other, self.axes.get(1)) {
                        (Some(y), Some(ax)) => {
                            format!(" when {} = {}", ax.axis.key, ax.axis.show(y))
                        }
                        _ => String::new(),
                    };
                    format!(
                        "{turn} than {b} at {} ≈ {}{other} (between steps {} and {})",
                        axis.key,
                        axis.show(c.value),
                        axis.show(c.between[0]),
                        axis.show(c.between[1])
                    )
                })
                .collect();
            out.push(format!("{}: {}.", metric.name(), places.join("; ")));
        }
        if !none.is_empty() {
            out.push(format!(
                "No crossover in this range for {}.",
                none.join(", ")
            ));
        }
        out
    }

    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}: {} → {} speedup ({}/{} per session, mean), {} sessions per step, seed {}",
            self.scenario,
            self.baseline,
            self.candidate,
            self.baseline,
            self.candidate,
            self.sessions,
            self.seed
        );
        let mut table = comfy_table::Table::new();
        table.load_style(comfy_table::presets::UTF8_BORDERS_ONLY);
        let mut header: Vec<String> = self.axes.iter().map(|a| a.axis.key.clone()).collect();
        header.extend(self.metric_names().iter().map(|m| m.name().to_string()));
        table.set_header(header);
        for p in &self.points {
            let mut row: Vec<String> = self
                .axes
                .iter()
                .zip(&p.at)
                .map(|(a, x)| a.axis.show(*x))
                .collect();
            row.extend(p.metrics.0.iter().map(|(_, s)| {
                // A star: the 95% interval includes 1×, no difference shown.
                let star = if s.ratio.ci95_low <= 1.0 && s.ratio.ci95_high >= 1.0 {
                    "*"
                } else {
                    ""
                };
                format!("{:.3}×{star}", s.ratio.mean)
            }));
            table.add_row(row);
        }
        let _ = writeln!(out, "{table}");
        let _ = writeln!(
            out,
            "* the 95% confidence interval includes 1×. Intervals: --format json or markdown, and sweep.html (--out).\n"
        );
        for line in self.crossover_sentences() {
            let _ = writeln!(out, "{line}");
        }
        out
    }

    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# {}: sweep of {}\n\n{}/{} per session (mean [95% CI]); > 1 means {} is lower. {} \
             sessions per step, seed {}.\n",
            self.scenario,
            self.axes
                .iter()
                .map(|a| a.axis.key.as_str())
                .collect::<Vec<_>>()
                .join(" × "),
            self.baseline,
            self.candidate,
            self.candidate,
            self.sessions,
            self.seed
        );
        for line in self.crossover_sentences() {
            let _ = writeln!(out, "- {line}");
        }
        let _ = writeln!(out);
        let mut header = String::from("|");
        let mut rule = String::from("|");
        for a in &self.axes {
            let _ = write!(header, " {} |", a.axis.key);
            rule.push_str("---:|");
        }
        for m in self.metric_names() {
            let _ = write!(header, " {} |", m.name());
            rule.push_str("---:|");
        }
        let _ = writeln!(out, "{header}\n{rule}");
        for p in &self.points {
            let mut line = String::from("|");
            for (a, x) in self.axes.iter().zip(&p.at) {
                let _ = write!(line, " {} |", a.axis.show(*x));
            }
            for (_, s) in &p.metrics.0 {
                let _ = write!(
                    line,
                    " {:.3}× [{:.3}, {:.3}] |",
                    s.ratio.mean, s.ratio.ci95_low, s.ratio.ci95_high
                );
            }
            let _ = writeln!(out, "{line}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_and_refuses_mixed_ends() {
        let a = Axis::parse("model.turn.median=200ms..2s", 10).unwrap();
        assert_eq!((a.kind, a.from, a.to), (AxisKind::Duration, 0.2, 2.0));
        let v = a.values();
        assert_eq!((v.len(), v[0], v[9]), (10, 0.2, 2.0));
        let a = Axis::parse("tools.a.latency.sigma=0.2..1.5", 2).unwrap();
        assert_eq!(a.kind, AxisKind::Number);
        for bad in [
            "x=1s..3",
            "x",
            "x=1..",
            "x=1s",
            "=1..2",
            "a..b=1..2",
            "x=2..2",
        ] {
            assert!(Axis::parse(bad, 5).is_err(), "{bad}");
        }
        assert!(Axis::parse("x=1..2", 51).unwrap_err().contains("--steps"));
        assert!(Axis::parse("x=1..2", 1).unwrap_err().contains("--steps"));
    }

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

    #[test]
    fn set_key_edits_and_types() {
        let mut t: toml::Table = "sessions = 10\n[model]\nturn = \"1s\"\n".parse().unwrap();
        let mut a = Axis::parse("sessions=5..20", 4).unwrap();
        set_key(&mut t, &mut a, |a| a.literal(7.0)).unwrap();
        assert_eq!(a.kind, AxisKind::Integer);
        assert_eq!(t["sessions"].as_integer(), Some(7));
        let mut a = Axis::parse("model.turn.value=1s..2s", 4).unwrap();
        let e = set_key(&mut t, &mut a, |a| a.literal(1.0)).unwrap_err();
        assert!(
            e.contains("model.turn.value: model.turn is a string"),
            "{e}"
        );
        let mut a = Axis::parse("model.turn=1..2", 4).unwrap();
        let e = set_key(&mut t, &mut a, |a| a.literal(1.0)).unwrap_err();
        assert!(e.contains("model.turn is a duration"), "{e}");
        let mut a = Axis::parse("overheads.async_delivery=1ms..2ms", 4).unwrap();
        set_key(&mut t, &mut a, |a| a.literal(0.0015)).unwrap();
        assert_eq!(t["overheads"]["async_delivery"].as_str(), Some("1500000ns"));
    }
}
