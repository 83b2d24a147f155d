//! The tool catalog (`workers/tools.toml`), shared with the CDK stack. Parsed and checked here with
//! the limits written in the file's header; the binaries embed the file so Lambda uses the same one.

use crate::error::InputError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::ops::RangeInclusive;
use std::sync::OnceLock;
use thiserror::Error;

/// The catalog compiled into every binary.
pub const EMBEDDED_CATALOG_TOML: &str = include_str!("../tools.toml");
pub const CATALOG_VERSION: u32 = 1;

/// Lambda's 900 s maximum, less the worker's write reserve (`limits::WRITE_RESERVE_S`).
const TIMEOUT_S: RangeInclusive<u32> = 1..=880;
const MEMORY_MB: RangeInclusive<u32> = 128..=10240;
const BATCH_SIZE: RangeInclusive<u32> = 1..=10;
const MAX_CONCURRENCY: RangeInclusive<u32> = 2..=1000;
/// AWS advises at least 5 for SQS event sources: throttled invocations count as receives.
const MAX_RECEIVE_COUNT: RangeInclusive<u32> = 5..=100;
const RECOVERY_S: RangeInclusive<u32> = 5..=900;
pub const DEFAULT_RECOVERY_S: u32 = 30;
const MAX_NAME_CHARS: usize = 32;
/// An input schema is sent in every `tools/list`; this keeps the list (and the catalog) small.
pub const MAX_INPUT_SCHEMA_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Error)]
#[error("tool catalog: {0}")]
pub struct CatalogError(pub String);

/// One tool of the catalog. Units are in the names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub timeout_s: u32,
    pub memory_mb: u32,
    pub batch_size: u32,
    pub max_concurrency: u32,
    pub max_receive_count: u32,
    /// How long a crashed worker's tasks wait before another worker takes them over: the worker
    /// hides each message it runs for this long and renews it (and its lease) with a heartbeat.
    #[serde(default = "default_recovery_s")]
    pub recovery_s: u32,
    /// The JSON Schema of the tool's arguments (MCP's `tools/list` advertises it). Optional: the
    /// tool's own argument check is what refuses bad input either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<serde_json::Map<String, serde_json::Value>>,
}

fn default_recovery_s() -> u32 {
    DEFAULT_RECOVERY_S
}

impl ToolSpec {
    /// AWS's advice for SQS event sources: six times the function timeout.
    /// (The worker function's timeout is `timeout_s` plus the write reserve.)
    pub fn visibility_timeout_s(&self) -> u32 {
        6 * (self.timeout_s + crate::limits::WRITE_RESERVE_S)
    }

    /// `web-search` -> `WebSearch`: the suffix of the stack outputs `WorkQueueUrl<Tool>`.
    pub fn pascal_name(&self) -> String {
        pascal_case(&self.name)
    }
}

pub fn pascal_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

#[derive(Debug, Deserialize)]
struct CatalogFile {
    version: u32,
    tools: Vec<ToolSpec>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    tools: Vec<ToolSpec>,
}

impl Catalog {
    /// The catalog compiled into this binary (checked by the tests, so it always parses).
    pub fn embedded() -> &'static Catalog {
        static EMBEDDED: OnceLock<Catalog> = OnceLock::new();
        EMBEDDED.get_or_init(|| {
            Catalog::parse(EMBEDDED_CATALOG_TOML).expect("workers/tools.toml is valid")
        })
    }

    pub fn parse(text: &str) -> Result<Catalog, CatalogError> {
        let file: CatalogFile =
            toml::from_str(text).map_err(|e| CatalogError(e.to_string().trim_end().to_string()))?;
        if file.version != CATALOG_VERSION {
            return Err(CatalogError(format!(
                "version = {} is not supported (expected {CATALOG_VERSION})",
                file.version
            )));
        }
        if file.tools.is_empty() {
            return Err(CatalogError(
                "no [[tools]]: the catalog needs at least one tool".into(),
            ));
        }
        let mut names = BTreeSet::new();
        for (index, tool) in file.tools.iter().enumerate() {
            check_tool(index, tool)?;
            if !names.insert(tool.name.as_str()) {
                return Err(CatalogError(format!(
                    "tools[{index}]: name = {:?} is used twice; names must be unique",
                    tool.name
                )));
            }
        }
        Ok(Catalog { tools: file.tools })
    }

    pub fn tools(&self) -> &[ToolSpec] {
        &self.tools
    }

    pub fn names(&self) -> Vec<&str> {
        self.tools.iter().map(|t| t.name.as_str()).collect()
    }

    /// The tool named `name`, or an error listing the known tools.
    pub fn get(&self, name: &str) -> Result<&ToolSpec, InputError> {
        self.tools.iter().find(|t| t.name == name).ok_or_else(|| {
            InputError::new(
                "tool",
                format!(
                    "{name:?} is not in the tool catalog (known: {})",
                    self.names().join(", ")
                ),
            )
        })
    }
}

fn check_tool(index: usize, tool: &ToolSpec) -> Result<(), CatalogError> {
    let name = &tool.name;
    let name_ok = !name.is_empty()
        && name.len() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !name_ok {
        return Err(CatalogError(format!(
            "tools[{index}]: name = {name:?} must be 1..={MAX_NAME_CHARS} lowercase letters, digits or '-'"
        )));
    }
    let ranges: [(&str, u32, &RangeInclusive<u32>, &str); 6] = [
        (
            "timeout_s",
            tool.timeout_s,
            &TIMEOUT_S,
            " (Lambda's maximum less the 20 s write reserve)",
        ),
        ("memory_mb", tool.memory_mb, &MEMORY_MB, " (Lambda's range)"),
        (
            "batch_size",
            tool.batch_size,
            &BATCH_SIZE,
            " (SQS event source)",
        ),
        (
            "max_concurrency",
            tool.max_concurrency,
            &MAX_CONCURRENCY,
            " (SQS event source)",
        ),
        (
            "max_receive_count",
            tool.max_receive_count,
            &MAX_RECEIVE_COUNT,
            " (AWS advises at least 5)",
        ),
        ("recovery_s", tool.recovery_s, &RECOVERY_S, ""),
    ];
    for (field, value, range, why) in ranges {
        if !range.contains(&value) {
            return Err(CatalogError(format!(
                "tools[{index}] ({name}): {field} = {value} is outside {}..={}{why}",
                range.start(),
                range.end()
            )));
        }
    }
    if let Some(schema) = &tool.input_schema {
        check_input_schema(index, name, schema)?;
    }
    if tool.recovery_s > tool.visibility_timeout_s() {
        return Err(CatalogError(format!(
            "tools[{index}] ({name}): recovery_s = {} is longer than the work queue's visibility timeout ({} s)",
            tool.recovery_s,
            tool.visibility_timeout_s()
        )));
    }
    Ok(())
}

fn check_input_schema(
    index: usize,
    name: &str,
    schema: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), CatalogError> {
    let kind = schema.get("type");
    if kind != Some(&serde_json::Value::from("object")) {
        return Err(CatalogError(format!(
            "tools[{index}] ({name}): input_schema.type = {} must be \"object\" (tool arguments are a JSON object)",
            kind.map_or("(missing)".to_string(), |k| k.to_string())
        )));
    }
    let bytes = serde_json::to_vec(schema).map_or(usize::MAX, |b| b.len());
    if bytes > MAX_INPUT_SCHEMA_BYTES {
        return Err(CatalogError(format!(
            "tools[{index}] ({name}): input_schema is {bytes} bytes as JSON; at most {MAX_INPUT_SCHEMA_BYTES}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"
version = 1
[[tools]]
name = "web-search"
description = "d"
timeout_s = 10
memory_mb = 256
batch_size = 10
max_concurrency = 20
max_receive_count = 5
"#;

    #[test]
    fn the_embedded_catalog_parses_and_has_the_issue_tools() {
        let names = Catalog::embedded().names();
        for tool in ["sentiment", "research", "synthetic"] {
            assert!(names.contains(&tool), "{tool} missing from tools.toml");
        }
    }

    #[test]
    fn pascal_names_match_the_stack_outputs() {
        assert_eq!(pascal_case("synthetic"), "Synthetic");
        assert_eq!(pascal_case("web-search"), "WebSearch");
        assert_eq!(pascal_case("a2-b"), "A2B");
    }

    #[test]
    fn a_valid_catalog_parses() {
        let catalog = Catalog::parse(ONE).unwrap();
        assert_eq!(
            catalog.get("web-search").unwrap().visibility_timeout_s(),
            180
        );
    }

    #[test]
    fn unknown_tools_are_named_with_the_known_ones() {
        let err = Catalog::embedded().get("nope").unwrap_err();
        assert_eq!(err.field, "tool");
        assert!(
            err.message.contains("\"nope\" is not in the tool catalog"),
            "{err}"
        );
        assert!(err.message.contains("sentiment"), "{err}");
    }

    fn broken(from: &str, to: &str) -> String {
        let text = ONE.replace(from, to);
        assert_ne!(text, ONE, "the replacement must apply");
        Catalog::parse(&text).unwrap_err().to_string()
    }

    #[test]
    fn every_limit_is_checked_with_its_field_and_range() {
        let cases = [
            (
                "timeout_s = 10",
                "timeout_s = 0",
                "timeout_s = 0 is outside 1..=880",
            ),
            (
                "timeout_s = 10",
                "timeout_s = 881",
                "timeout_s = 881 is outside 1..=880",
            ),
            (
                "memory_mb = 256",
                "memory_mb = 127",
                "memory_mb = 127 is outside 128..=10240",
            ),
            (
                "memory_mb = 256",
                "memory_mb = 10241",
                "memory_mb = 10241 is outside 128..=10240",
            ),
            (
                "batch_size = 10",
                "batch_size = 0",
                "batch_size = 0 is outside 1..=10",
            ),
            (
                "batch_size = 10",
                "batch_size = 11",
                "batch_size = 11 is outside 1..=10",
            ),
            (
                "max_concurrency = 20",
                "max_concurrency = 1",
                "max_concurrency = 1 is outside 2..=1000",
            ),
            (
                "max_concurrency = 20",
                "max_concurrency = 1001",
                "max_concurrency = 1001 is outside 2..=1000",
            ),
            (
                "max_receive_count = 5",
                "max_receive_count = 3",
                "max_receive_count = 3 is outside 5..=100 (AWS advises at least 5)",
            ),
            (
                "max_receive_count = 5",
                "max_receive_count = 101",
                "max_receive_count = 101 is outside 5..=100",
            ),
            (
                "max_receive_count = 5",
                "max_receive_count = 5\nrecovery_s = 4",
                "recovery_s = 4 is outside 5..=900",
            ),
            (
                "timeout_s = 10",
                "timeout_s = 1\nrecovery_s = 900",
                "recovery_s = 900 is longer than the work queue's visibility timeout (126 s)",
            ),
            (
                "\"web-search\"",
                "\"Web\"",
                "name = \"Web\" must be 1..=32 lowercase",
            ),
            (
                "\"web-search\"",
                "\"\"",
                "name = \"\" must be 1..=32 lowercase",
            ),
            (
                "\"web-search\"",
                "\"abcdefghijklmnopqrstuvwxyz0123456\"",
                "must be 1..=32",
            ),
            ("version = 1", "version = 2", "version = 2 is not supported"),
            (
                "max_receive_count = 5",
                "max_receive_count = 5\n[tools.input_schema]\ntype = \"array\"",
                "input_schema.type = \"array\" must be \"object\"",
            ),
            (
                "max_receive_count = 5",
                "max_receive_count = 5\n[tools.input_schema]\nrequired = [\"q\"]",
                "input_schema.type = (missing) must be \"object\"",
            ),
        ];
        for (from, to, expected) in cases {
            let err = broken(from, to);
            assert!(err.contains(expected), "{to}: got {err}");
            assert!(err.starts_with("tool catalog: "), "{err}");
        }
    }

    #[test]
    fn input_schemas_are_read_as_json_and_bounded() {
        let with_schema = ONE.replace(
            "max_receive_count = 5",
            "max_receive_count = 5\n[tools.input_schema]\ntype = \"object\"\nrequired = [\"q\"]\n\
             [tools.input_schema.properties.q]\ntype = \"string\"\nmaxLength = 9",
        );
        let catalog = Catalog::parse(&with_schema).unwrap();
        let schema = catalog.tools()[0].input_schema.clone().unwrap();
        assert_eq!(
            serde_json::Value::Object(schema),
            serde_json::json!({"type": "object", "required": ["q"],
                "properties": {"q": {"type": "string", "maxLength": 9}}})
        );
        let huge = ONE.replace(
            "max_receive_count = 5",
            &format!(
                "max_receive_count = 5\n[tools.input_schema]\ntype = \"object\"\ndescription = \"{}\"",
                "x".repeat(MAX_INPUT_SCHEMA_BYTES)
            ),
        );
        let err = Catalog::parse(&huge).unwrap_err().to_string();
        assert!(err.contains("(web-search): input_schema is 16"), "{err}");
        assert!(err.contains("at most 16384"), "{err}");
        // Every built-in tool carries one (MCP advertises them).
        assert!(
            Catalog::embedded()
                .tools()
                .iter()
                .all(|t| t.input_schema.is_some())
        );
    }

    #[test]
    fn structural_errors_are_clear() {
        assert!(broken("timeout_s = 10\n", "").contains("missing field `timeout_s`"));
        assert!(broken("timeout_s = 10", "timeout_s = \"ten\"").contains("timeout_s"));
        assert!(broken("timeout_s = 10", "timeout_s = -1").contains("timeout_s"));
        let twice = format!("{ONE}{}", &ONE[ONE.find("[[tools]]").unwrap()..]);
        assert!(
            Catalog::parse(&twice)
                .unwrap_err()
                .to_string()
                .contains("is used twice")
        );
        assert!(
            Catalog::parse("version = 1\ntools = []")
                .unwrap_err()
                .to_string()
                .contains("at least one tool")
        );
        assert!(Catalog::parse("not toml [").is_err());
    }
}
