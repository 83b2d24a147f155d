//! Latency trace files: observed latencies a scenario or `asynctools fit` reads.
//!
//! A trace file holds one latency per line, or a CSV file with a header and a column of them.
//! Values carry their unit (`120ms`, `1.5s`) or are bare numbers in the unit given beside the
//! file (`unit = "ms"`, `--unit ms`). Blank lines and lines starting with `#` are skipped; a
//! first line of names (not numbers) is a header. In a scenario:
//!
//! ```toml
//! latency = { dist = "empirical", file = "traces/search.csv" }
//! latency = { dist = "empirical", file = { path = "traces/search.csv", column = "latency_ms", unit = "ms" } }
//! ```
//!
//! The path is relative to the scenario file. Every problem names the file and line.

use crate::model::dist::{Dist, MAX_EMPIRICAL_SAMPLES, Problem};
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// Trace files beyond this are refused before they are read (a million lines is ~10 MB).
pub const MAX_TRACE_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// A problem with a trace file: `file:line: message` (line 0: the file as a whole).
#[derive(Debug, Clone, PartialEq)]
pub struct TraceError {
    pub file: String,
    pub line: u64,
    pub message: String,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

impl std::error::Error for TraceError {}

/// Reads a file of at most [`MAX_TRACE_FILE_BYTES`], naming it in errors.
pub(crate) fn read_limited(path: &Path) -> Result<String, TraceError> {
    let file = path.display().to_string();
    let whole = |message: String| TraceError {
        file: file.clone(),
        line: 0,
        message,
    };
    let bytes = std::fs::metadata(path)
        .map_err(|e| whole(format!("cannot read the file: {e}")))?
        .len();
    if bytes > MAX_TRACE_FILE_BYTES {
        return Err(whole(format!(
            "the file is {bytes} bytes; trace files are limited to {MAX_TRACE_FILE_BYTES}"
        )));
    }
    std::fs::read_to_string(path).map_err(|e| whole(format!("cannot read the file: {e}")))
}

/// Reads the latencies of a trace file (see the module docs).
pub fn read_latencies(
    path: &Path,
    column: Option<&str>,
    unit: Option<&str>,
) -> Result<Vec<Duration>, TraceError> {
    let text = read_limited(path)?;
    parse_latencies(&text, &path.display().to_string(), column, unit)
}

/// Parses trace text; `file` names it in errors.
pub fn parse_latencies(
    text: &str,
    file: &str,
    column: Option<&str>,
    unit: Option<&str>,
) -> Result<Vec<Duration>, TraceError> {
    let err = |line: u64, message: String| TraceError {
        file: file.to_string(),
        line,
        message,
    };
    let unit_ns = match unit {
        None => None,
        Some(u) => Some(unit_nanos(u).ok_or_else(|| {
            err(
                0,
                format!("unknown unit \"{u}\"; use one of ns, us, ms, s, min, h"),
            )
        })?),
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut index: Option<usize> = None;
    let mut values = Vec::new();
    let mut first = true;
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            err(line, format!("not a readable CSV line: {e}"))
        })?;
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(str::is_empty) {
            continue;
        }
        if first {
            first = false;
            let is_header = record.iter().all(looks_like_name);
            index = Some(pick_column(&record, is_header, column).map_err(|m| err(line, m))?);
            if is_header {
                continue;
            }
        }
        let i = index.expect("set on the first record");
        let field = record.get(i).ok_or_else(|| {
            err(
                line,
                format!(
                    "has {} fields; the latency is in field {}",
                    record.len(),
                    i + 1
                ),
            )
        })?;
        let value = parse_value(field, unit_ns).map_err(|m| err(line, m))?;
        if values.len() == MAX_EMPIRICAL_SAMPLES {
            return Err(err(
                line,
                format!("more than {MAX_EMPIRICAL_SAMPLES} latencies; sample the file down"),
            ));
        }
        values.push(value);
    }
    if values.is_empty() {
        return Err(err(0, "holds no latencies".into()));
    }
    Ok(values)
}

/// A header cell starts with a letter, `_` or a quote: never a number or a duration.
fn looks_like_name(field: &str) -> bool {
    field
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '"')
}

fn pick_column(
    first: &csv::StringRecord,
    is_header: bool,
    column: Option<&str>,
) -> Result<usize, String> {
    let names = || {
        if is_header {
            first.iter().collect::<Vec<_>>().join(", ")
        } else {
            format!("{} unnamed columns", first.len())
        }
    };
    match column {
        None if first.len() == 1 => Ok(0),
        None => Err(format!(
            "has several columns ({}); choose one with --column or `column = \"...\"` \
             (a header name or a number from 1)",
            names()
        )),
        Some(c) => {
            if let Some(i) = is_header
                .then(|| first.iter().position(|h| h == c))
                .flatten()
            {
                return Ok(i);
            }
            match c.parse::<usize>() {
                Ok(n) if (1..=first.len()).contains(&n) => Ok(n - 1),
                _ => Err(format!("no column \"{c}\"; the columns are: {}", names())),
            }
        }
    }
}

/// Nanoseconds per unit, for bare numbers.
pub fn unit_nanos(unit: &str) -> Option<f64> {
    Some(match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        _ => return None,
    })
}

fn parse_value(field: &str, unit_ns: Option<f64>) -> Result<Duration, String> {
    if field.is_empty() {
        return Err("the latency is empty".into());
    }
    match field.parse::<f64>() {
        Ok(x) => {
            let Some(k) = unit_ns else {
                return Err(format!(
                    "\"{field}\" has no unit; write \"{field}ms\", or give the unit of bare \
                     numbers with --unit ms (`unit = \"ms\"` in a scenario)"
                ));
            };
            let ns = x * k;
            if !ns.is_finite() || ns < 0.0 {
                return Err(format!("\"{field}\" is not a latency ≥ 0"));
            }
            if ns > crate::model::time::MAX_SAMPLE as f64 {
                return Err(format!("\"{field}\" is longer than 10^6 s"));
            }
            Ok(Duration::from_nanos(ns.round() as u64))
        }
        Err(_) => crate::model::duration::parse(field),
    }
}

/// Reads the samples of `dist` (and of a mixture's components) from the trace file it names,
/// relative to `base`; problems carry the key path `path`.
pub(crate) fn load_dist(dist: &mut Dist, path: &str, base: &Path, problems: &mut Vec<Problem>) {
    match dist {
        Dist::Empirical {
            samples,
            file: Some(file),
        } => {
            let problem = |message: String| Problem {
                path: format!("{path}.file"),
                message,
            };
            if !samples.is_empty() {
                problems.push(problem("give either `samples` or `file`, not both".into()));
                return;
            }
            let full = base.join(&file.path);
            match read_latencies(&full, file.column.as_deref(), file.unit.as_deref()) {
                Ok(values) => *samples = values,
                Err(e) => problems.push(problem(e.to_string())),
            }
        }
        Dist::Mixture { components } => {
            for (i, c) in components.iter_mut().enumerate() {
                load_dist(
                    &mut c.latency,
                    &format!("{path}.components[{i}].latency"),
                    base,
                    problems,
                );
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn reads_plain_lines_with_units_comments_and_blanks() {
        let text = "# observed\n120ms\n\n1.5s\n  80ms  \n";
        let v = parse_latencies(text, "t.txt", None, None).unwrap();
        assert_eq!(v, vec![ms(120), ms(1500), ms(80)]);
    }

    #[test]
    fn reads_a_named_csv_column_with_a_unit() {
        let text = "id,tool,latency_ms\n1,search,120\n2,search,80.5\n";
        let v = parse_latencies(text, "t.csv", Some("latency_ms"), Some("ms")).unwrap();
        assert_eq!(v, vec![ms(120), Duration::from_micros(80_500)]);
        let v = parse_latencies(text, "t.csv", Some("3"), Some("ms")).unwrap();
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_latencies("120ms\n130ms\nfast\n", "t.txt", None, None).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("t.txt", 3));
        assert!(e.to_string().starts_with("t.txt:3: "), "{e}");
        let e = parse_latencies("120ms\n130\n", "t.txt", None, None).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("no unit"), "{e}");
        let e = parse_latencies("a,b\n1,2\n", "t.csv", None, Some("ms")).unwrap_err();
        assert!(e.message.contains("several columns (a, b)"), "{e}");
        let e = parse_latencies("a,b\n1,2\n", "t.csv", Some("c"), Some("ms")).unwrap_err();
        assert!(e.message.contains("no column \"c\""), "{e}");
        let e = parse_latencies("# nothing\n", "t.txt", None, None).unwrap_err();
        assert!(e.message.contains("no latencies"), "{e}");
        let e = parse_latencies("-5\n", "t.txt", None, Some("ms")).unwrap_err();
        assert!(e.message.contains("≥ 0"), "{e}");
    }
}
