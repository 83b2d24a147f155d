//! Scenario files: the TOML a user writes, and the validated [`Scenario`] the engine runs.
//!
//! Reading happens in two passes, each of which reports where a problem is:
//! 1. serde reads the TOML into [`ScenarioFile`] ([`file`]: unknown keys, wrong types, unreadable
//!    durations are refused here; serde_path_to_error names the key path, toml the line);
//! 2. [`compile`] checks meaning (sigma ≤ 0, unknown tools, cycles, limits);
//!
//! and [`locate`] resolves each problem's key path to a line through the spanned TOML tree.

mod compile;
pub mod file;
mod locate;

pub use crate::model::scenario::*;
pub use file::*;

use crate::model::dist::Problem;
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
            invalid(
                problems
                    .into_iter()
                    .map(|p| locate::locate_path(text, p))
                    .collect(),
            )
        };
        let mut spec = locate::read(text).map_err(|p| invalid(vec![p]))?;
        // Empirical latencies may name a trace file, relative to the scenario's directory.
        let base = Path::new(file).parent().unwrap_or(Path::new(""));
        file::load_sample_files(&mut spec, base).map_err(locate_all)?;
        compile::compile(spec, text, file).map_err(locate_all)
    }

    /// What the scenario describes, for `asynctools validate`: one line for the whole, one per
    /// tool and one for the model.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "{}: valid\n  {}: {} calls per session, dependency depth {}, {} tools, seed {}, {} sessions\n",
            self.file,
            self.name,
            self.plan.len(),
            self.plan.depth(),
            self.tools.len(),
            self.seed,
            self.sessions
        );
        for tool in &self.tools {
            let mean = tool
                .latency
                .dist
                .mean_ns()
                .map_or("infinite mean".to_string(), |m| {
                    format!("mean {}", crate::model::time::human(m))
                });
            out += &format!(
                "  tool {}: {} ({mean})\n",
                tool.name,
                tool.latency.dist.describe()
            );
        }
        out += &format!("  model turn: {}\n", self.model.base.dist.describe());
        out
    }
}
