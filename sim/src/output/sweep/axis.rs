//! One swept parameter: `KEY=A..B` read, its values listed, and each set in the scenario's TOML
//! tree at the key path.

use super::MAX_STEPS;
use crate::input::keypath::{self, Segment};
use crate::model::time::human;
use serde::Serialize;
use std::fmt::Write as _;

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
                    crate::model::duration::parse(t)
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
    pub(super) fn literal(&self, x: f64) -> toml::Value {
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
            _ => crate::output::charts::axis_number(x),
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

/// `a.b[2].c` as segments; `None` if malformed or a name has characters TOML keys here never do.
fn segments(key: &str) -> Option<Vec<Segment<'_>>> {
    let segments = keypath::parse(key).ok()?;
    let plain = |name: &str| {
        name.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    segments
        .iter()
        .all(|s| match s {
            Segment::Key(name) => plain(name),
            Segment::Index(_) => true,
        })
        .then_some(segments)
}

/// Sets `axis.key` to `value_of(axis)` in the TOML tree, creating missing tables; the axis's
/// kind is refined from the value already there (an integer key takes integers).
pub(super) fn set_key(
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
