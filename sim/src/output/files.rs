//! The files `--out DIR` writes: results.json, report.md and report.html.

use crate::input::scenario::Scenario;
use crate::output::report::Report;
use std::path::{Path, PathBuf};

/// A report file that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}", path.display())]
pub struct WriteError {
    /// "create" (the directory) or "write" (a file).
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Writes the report into `dir` (created if missing): results.json, report.md and `html` as
/// report.html.
pub fn write_report(
    dir: &Path,
    report: &Report,
    scenario: &Scenario,
    html: String,
) -> Result<(), WriteError> {
    std::fs::create_dir_all(dir).map_err(|source| WriteError {
        action: "create",
        path: dir.to_path_buf(),
        source,
    })?;
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| WriteError {
            action: "write",
            path,
            source,
        })
    };
    write("results.json", report.to_json())?;
    write("report.md", report.to_markdown(Some(&scenario.source)))?;
    write("report.html", html)
}
