//! Scenario overlays: small TOML files merged over a scenario before it is validated, so a
//! calibration (`asynctools calibrate` writes an `[overheads]` table) or a local tweak can be
//! applied to any scenario without editing it.
//!
//! The merge is a TOML table merge: tables merge key by key, recursively; any other value
//! (including arrays) in the overlay replaces the scenario's. One exception: a table with a
//! `dist` key is a distribution, a single value, and replaces the scenario's whole (merging a
//! lognormal's `median` into an empirical's `samples` would make nonsense). Overlays apply in the
//! order given.
//! Problems are reported against the file that caused them: the scenario is validated on its own
//! first (so its errors keep their line numbers), and anything that breaks only once the overlays
//! are merged names the overlay file and the key.

use crate::input::scenario::{MAX_FILE_BYTES, Scenario, ScenarioError};
use std::path::{Path, PathBuf};

/// More overlays than anyone stacks; bounds the work and the messages.
pub const MAX_OVERLAYS: usize = 16;
/// Tables nest at most this deep in an overlay (a scenario's deepest key is far shallower).
const MAX_DEPTH: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error("overlay {file}: cannot read it")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("overlay {file}: the file is {bytes} bytes; overlays are limited to {MAX_FILE_BYTES}")]
    TooLarge { file: String, bytes: u64 },
    #[error("at most {MAX_OVERLAYS} overlays, got {0}")]
    TooMany(usize),
    #[error("overlay {file}: not valid TOML: {message}")]
    Syntax { file: String, message: String },
    #[error("overlay {file}: key `{key}`: {message} (overlay applied to {scenario})")]
    Key {
        file: String,
        key: String,
        message: String,
        scenario: String,
    },
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
}

/// Reads `scenario` and merges `overlays` over it, in order, then validates the result.
pub fn load(scenario: &Path, overlays: &[PathBuf]) -> Result<Scenario, OverlayError> {
    if overlays.is_empty() {
        return Ok(Scenario::from_file(scenario)?);
    }
    if overlays.len() > MAX_OVERLAYS {
        return Err(OverlayError::TooMany(overlays.len()));
    }
    // Validated alone first: its own mistakes are reported with its own line numbers.
    let base = Scenario::from_file(scenario)?;
    let mut texts = Vec::with_capacity(overlays.len());
    for path in overlays {
        let file = path.display().to_string();
        let io = |source| OverlayError::Io {
            file: file.clone(),
            source,
        };
        let bytes = std::fs::metadata(path).map_err(io)?.len();
        if bytes > MAX_FILE_BYTES {
            return Err(OverlayError::TooLarge { file, bytes });
        }
        texts.push((file.clone(), std::fs::read_to_string(path).map_err(io)?));
    }
    apply(&base.source, &base.file, &texts)
}

/// Merges `overlays` (file name, text) over scenario text `text` (read from `file`) and
/// validates the result.
pub fn apply(
    text: &str,
    file: &str,
    overlays: &[(String, String)],
) -> Result<Scenario, OverlayError> {
    if overlays.len() > MAX_OVERLAYS {
        return Err(OverlayError::TooMany(overlays.len()));
    }
    let mut merged: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        // The scenario itself is unreadable: report it as the scenario error it is.
        OverlayError::Scenario(Scenario::parse(text, file).err().unwrap_or_else(|| {
            ScenarioError::Invalid {
                file: file.to_string(),
                problems: vec![crate::input::scenario::Located {
                    line: 1,
                    column: 1,
                    path: String::new(),
                    message: e.message().to_string(),
                }],
            }
        }))
    })?;
    // Which overlay set which key path, so a problem found after merging can be blamed on it.
    let mut owners: Vec<(String, String)> = Vec::new();
    for (overlay_file, overlay_text) in overlays {
        let overlay: toml::Table =
            overlay_text
                .parse()
                .map_err(|e: toml::de::Error| OverlayError::Syntax {
                    file: overlay_file.clone(),
                    message: e.to_string().trim().to_string(),
                })?;
        merge(&mut merged, overlay, "", 0, overlay_file, &mut owners)?;
    }
    let merged_text = toml::to_string(&merged).map_err(|e| OverlayError::Syntax {
        file: overlays.last().map(|o| o.0.clone()).unwrap_or_default(),
        message: e.to_string(),
    })?;
    Scenario::parse(&merged_text, file).map_err(|e| blame(e, &owners, file))
}

fn merge(
    into: &mut toml::Table,
    from: toml::Table,
    prefix: &str,
    depth: usize,
    file: &str,
    owners: &mut Vec<(String, String)>,
) -> Result<(), OverlayError> {
    if depth > MAX_DEPTH {
        return Err(OverlayError::Key {
            file: file.to_string(),
            key: prefix.to_string(),
            message: format!("tables nest more than {MAX_DEPTH} deep"),
            scenario: String::new(),
        });
    }
    for (key, value) in from {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        owners.push((path.clone(), file.to_string()));
        match (into.get_mut(&key), value) {
            (Some(toml::Value::Table(existing)), toml::Value::Table(table))
                if !table.contains_key("dist") =>
            {
                merge(existing, table, &path, depth + 1, file, owners)?;
            }
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
    Ok(())
}

/// Attributes the first problem of the merged scenario to the overlay that set the longest key
/// path it falls under (or that falls under it: an unknown key is reported at its table).
fn blame(error: ScenarioError, owners: &[(String, String)], scenario: &str) -> OverlayError {
    let Some(problem) = error.problems().first().cloned() else {
        return OverlayError::Scenario(error);
    };
    let related = |owned: &str| {
        problem.path == owned
            || problem.path.starts_with(&format!("{owned}."))
            || owned.starts_with(&format!("{}.", problem.path))
    };
    let owner = owners
        .iter()
        .filter(|(path, _)| related(path))
        .max_by_key(|(path, _)| path.len());
    match owner {
        Some((_, file)) => OverlayError::Key {
            file: file.clone(),
            key: if problem.path.is_empty() {
                "(document)".into()
            } else {
                problem.path.clone()
            },
            message: problem.message.clone(),
            scenario: scenario.to_string(),
        },
        None => OverlayError::Scenario(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
name = "t"
[model]
turn = "1s"
[tools.a]
latency = "2s"
[plan]
rounds = [["a"]]
[overheads]
sync_invocation = "5ms"
"#;

    fn over(text: &str) -> Result<Scenario, OverlayError> {
        apply(BASE, "base.toml", &[("o.toml".into(), text.into())])
    }

    #[test]
    fn an_overlay_replaces_and_adds_keys() {
        let s = over("[overheads]\nasync_dispatch = \"40ms\"\n").unwrap();
        assert_eq!(s.overheads.async_dispatch.dist.mean_ns(), Some(40e6));
        // Untouched keys of a merged table stay.
        assert_eq!(s.overheads.sync_invocation.dist.mean_ns(), Some(5e6));
    }

    #[test]
    fn a_distribution_replaces_the_whole_table() {
        let base = BASE.replace(
            "sync_invocation = \"5ms\"",
            "sync_invocation = { dist = \"lognormal\", median = \"5ms\", sigma = 0.5 }",
        );
        let s = apply(
            &base,
            "base.toml",
            &[(
                "o.toml".into(),
                "[overheads]\nsync_invocation = { dist = \"empirical\", samples = [\"2ms\", \"4ms\"] }\n"
                    .into(),
            )],
        )
        .unwrap();
        assert_eq!(s.overheads.sync_invocation.dist.mean_ns(), Some(3e6));
    }

    #[test]
    fn a_bad_key_names_the_overlay_and_the_key() {
        let e = over("[overheads]\nasync_dispatchx = \"40ms\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("overlay o.toml: key `overheads"), "{e}");
        assert!(e.contains("async_dispatchx"), "{e}");
        let e = over("[overheads]\nasync_dispatch = \"fast\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("o.toml") && e.contains("overheads.async_dispatch"),
            "{e}"
        );
    }

    #[test]
    fn broken_toml_names_the_overlay() {
        let e = over("[overheads\n").unwrap_err().to_string();
        assert!(e.starts_with("overlay o.toml: not valid TOML"), "{e}");
    }
}
