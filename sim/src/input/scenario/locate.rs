//! Where a problem is: a serde or meaning problem's key path resolved to a line and column of
//! the scenario file, through toml's spanned tree.

use super::{Located, ScenarioFile};
use crate::input::keypath::{self, Segment};
use crate::model::dist::Problem;

/// Pass 1: TOML and serde. Returns the first problem, located.
pub(super) fn read(text: &str) -> Result<ScenarioFile, Located> {
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
pub(super) fn locate_path(text: &str, problem: Problem) -> Located {
    let offset = toml::de::DeTable::parse(text)
        .ok()
        .map(|root| {
            let mut offset = root.span().start;
            let mut value: Option<&toml::Spanned<toml::de::DeValue>> = None;
            let mut table: Option<&toml::de::DeTable> = Some(root.get_ref());
            let (Ok(segments) | Err(segments)) = keypath::parse(&problem.path);
            for segment in segments {
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

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}
