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
pub const MAX_URL_CHARS: usize = 2048;
/// `kind = "http"`: attempts on 429, 5xx and connection errors.
pub const HTTP_MAX_ATTEMPTS: RangeInclusive<u32> = 1..=5;
pub const DEFAULT_HTTP_MAX_ATTEMPTS: u32 = 3;

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
    /// What runs the tool: code in this binary, an existing Lambda function, or an HTTP endpoint.
    #[serde(default)]
    pub kind: ToolKind,
    /// `kind = "lambda"`: the function's name or ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// `kind = "http"`: where the arguments are POSTed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `kind = "http"`, optional: the Secrets Manager secret (name or ARN) whose string is sent as
    /// the `Authorization` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_secret: Option<String>,
    /// `kind = "http"`, optional: attempts on 429, 5xx and connection errors (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
}

/// A stage's own target for a tool, overriding the catalog's (CDK context `toolTargets`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetOverride {
    pub function: Option<String>,
    pub url: Option<String>,
    pub auth_secret: Option<String>,
}

/// Where a tool's code lives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolKind {
    /// Implemented in this binary (`workers::tools`, registered in `ToolBox::builtin`).
    #[default]
    Builtin,
    /// An existing Lambda function, invoked synchronously with the arguments as its event.
    Lambda,
    /// An HTTP endpoint the arguments are POSTed to as JSON.
    Http,
}

impl ToolKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ToolKind::Builtin => "builtin",
            ToolKind::Lambda => "lambda",
            ToolKind::Http => "http",
        }
    }
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

    /// This catalog with `tool`'s target replaced where `target` names one: a stage's own function,
    /// URL or secret (the stack passes them to the tool's worker function), checked like the file.
    pub fn with_target(
        &self,
        tool: &str,
        target: &TargetOverride,
    ) -> Result<Catalog, CatalogError> {
        let mut catalog = self.clone();
        let spec = catalog
            .tools
            .iter_mut()
            .find(|t| t.name == tool)
            .ok_or_else(|| CatalogError(format!("no tool {tool:?} to override")))?;
        if let Some(f) = &target.function {
            spec.function = Some(f.clone());
        }
        if let Some(u) = &target.url {
            spec.url = Some(u.clone());
        }
        if let Some(s) = &target.auth_secret {
            spec.auth_secret = Some(s.clone());
        }
        check_target(spec)
            .map_err(|e| CatalogError(format!("{tool} (from the environment): {e}")))?;
        Ok(catalog)
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
    check_target(tool).map_err(|e| CatalogError(format!("tools[{index}] ({name}): {e}")))?;
    if tool.recovery_s > tool.visibility_timeout_s() {
        return Err(CatalogError(format!(
            "tools[{index}] ({name}): recovery_s = {} is longer than the work queue's visibility timeout ({} s)",
            tool.recovery_s,
            tool.visibility_timeout_s()
        )));
    }
    Ok(())
}

/// The kind-specific keys: present exactly where the kind takes them, and well-formed. Also used
/// for the per-stage overrides a worker function gets from its environment.
pub fn check_target(tool: &ToolSpec) -> Result<(), String> {
    let kind = tool.kind;
    let only = |key: &str, wanted: ToolKind| {
        format!(
            "{key} is only for kind = \"{}\" (this tool is kind = \"{}\")",
            wanted.as_str(),
            kind.as_str()
        )
    };
    if kind != ToolKind::Lambda && tool.function.is_some() {
        return Err(only("function", ToolKind::Lambda));
    }
    if kind != ToolKind::Http {
        for (key, present) in [
            ("url", tool.url.is_some()),
            ("auth_secret", tool.auth_secret.is_some()),
            ("max_attempts", tool.max_attempts.is_some()),
        ] {
            if present {
                return Err(only(key, ToolKind::Http));
            }
        }
    }
    match kind {
        ToolKind::Builtin => Ok(()),
        ToolKind::Lambda => match &tool.function {
            None => Err("kind = \"lambda\" needs function = \"<name or ARN>\"".into()),
            Some(f) => check_function(f).map_err(|e| format!("function = {f:?} {e}")),
        },
        ToolKind::Http => {
            let url = tool
                .url
                .as_deref()
                .ok_or("kind = \"http\" needs url = \"https://...\"")?;
            check_url(url).map_err(|e| format!("url = {url:?} {e}"))?;
            if let Some(secret) = &tool.auth_secret {
                check_secret(secret).map_err(|e| format!("auth_secret = {secret:?} {e}"))?;
            }
            if let Some(n) = tool.max_attempts
                && !HTTP_MAX_ATTEMPTS.contains(&n)
            {
                return Err(format!(
                    "max_attempts = {n} is outside {}..={}",
                    HTTP_MAX_ATTEMPTS.start(),
                    HTTP_MAX_ATTEMPTS.end()
                ));
            }
            Ok(())
        }
    }
}

fn is_name(s: &str, max: usize, extra: &str) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || extra.contains(c))
}

/// A Lambda function name, or its ARN with an optional version or alias.
fn check_function(f: &str) -> Result<(), &'static str> {
    if is_name(f, 64, "") {
        return Ok(());
    }
    let parts: Vec<&str> = f.split(':').collect();
    let arn_ok = matches!(parts.len(), 7 | 8)
        && parts[0] == "arn"
        && is_partition(parts[1])
        && parts[2] == "lambda"
        && is_region(parts[3])
        && is_account(parts[4])
        && parts[5] == "function"
        && is_name(parts[6], 64, "")
        && parts.get(7).is_none_or(|q| is_name(q, 128, "$"));
    if arn_ok {
        Ok(())
    } else {
        Err(
            "is neither a function name (1..=64 of A-Z a-z 0-9 - _) nor a function ARN \
             (arn:aws:lambda:<region>:<account>:function:<name>[:<version or alias>])",
        )
    }
}

/// `https://host/...`, or `http://` to a loopback host (local testing only); parsed as WHATWG
/// URLs are (the CDK app's reader does the same), and never with credentials in it (they would
/// sit in the worker's environment in plain text: use `auth_secret`).
fn check_url(text: &str) -> Result<(), String> {
    if text.chars().count() > MAX_URL_CHARS {
        return Err(format!("is longer than {MAX_URL_CHARS} characters"));
    }
    let url = url::Url::parse(text).map_err(|e| format!("is not a URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials (user:password@): use auth_secret".into());
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
        Some(url::Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(
            "must be https:// (http:// is only allowed to a loopback host: 127.0.0.1, localhost, [::1])"
                .into(),
        ),
        _ => Err("must be an https:// URL with a host".into()),
    }
}

/// `aws`, `aws-cn`, `aws-us-gov`, ...
fn is_partition(p: &str) -> bool {
    p.strip_prefix("aws")
        .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
}

fn is_region(r: &str) -> bool {
    !r.is_empty()
        && r.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_account(a: &str) -> bool {
    a.len() == 12 && a.chars().all(|c| c.is_ascii_digit())
}

/// A Secrets Manager secret name or ARN.
fn check_secret(secret: &str) -> Result<(), &'static str> {
    if is_name(secret, 512, "/+=.@") {
        return Ok(());
    }
    let parts: Vec<&str> = secret.splitn(7, ':').collect();
    let arn_ok = parts.len() == 7
        && parts[0] == "arn"
        && is_partition(parts[1])
        && parts[2] == "secretsmanager"
        && is_region(parts[3])
        && is_account(parts[4])
        && parts[5] == "secret"
        && is_name(parts[6], usize::MAX, "/+=.@");
    if arn_ok {
        Ok(())
    } else {
        Err("is neither a secret name (1..=512 of A-Z a-z 0-9 / _ + = . @ -) nor a secret ARN")
    }
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

    fn with_keys(keys: &str) -> Result<Catalog, String> {
        Catalog::parse(&ONE.replace(
            "max_receive_count = 5",
            &format!("max_receive_count = 5\n{keys}"),
        ))
        .map_err(|e| e.to_string())
    }

    #[test]
    fn lambda_and_http_tools_name_their_target() {
        let accepted = [
            "kind = \"builtin\"",
            "kind = \"lambda\"\nfunction = \"word-count_2\"",
            "kind = \"lambda\"\nfunction = \"arn:aws:lambda:eu-west-1:123456789012:function:wc\"",
            "kind = \"lambda\"\nfunction = \"arn:aws-cn:lambda:cn-north-1:123456789012:function:wc:prod\"",
            "kind = \"lambda\"\nfunction = \"arn:aws:lambda:eu-west-1:123456789012:function:wc:$LATEST\"",
            "kind = \"http\"\nurl = \"https://geo.example.com/v1?x=1\"",
            "kind = \"http\"\nurl = \"http://127.0.0.1:8080/tool\"",
            "kind = \"http\"\nurl = \"http://localhost/tool\"",
            "kind = \"http\"\nurl = \"http://[::1]:9/tool\"",
            "kind = \"http\"\nurl = \"http://LOCALHOST:1/\"",
            "kind = \"http\"\nurl = \"http://127.1/\"",
            "kind = \"http\"\nurl = \"https://h/\"\nauth_secret = \"prod/geo-key@v1\"\nmax_attempts = 5",
            "kind = \"http\"\nurl = \"https://h/\"\nauth_secret = \"arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/geo-AbCdEf\"",
        ];
        for keys in accepted {
            let catalog = with_keys(keys).unwrap_or_else(|e| panic!("{keys}: {e}"));
            assert!(check_target(&catalog.tools()[0]).is_ok());
        }
        let refused = [
            ("kind = \"python\"", "unknown variant `python`"),
            (
                "kind = \"lambda\"",
                "(web-search): kind = \"lambda\" needs function",
            ),
            (
                "kind = \"lambda\"\nfunction = \"has space\"",
                "function = \"has space\" is neither a function name",
            ),
            (
                "kind = \"lambda\"\nfunction = \"arn:aws:lambda:eu-west-1:1234:function:wc\"",
                "is neither",
            ),
            (
                "kind = \"lambda\"\nfunction = \"arn:aws:s3:::bucket\"",
                "is neither",
            ),
            (
                "kind = \"lambda\"\nfunction = \"wc\"\nurl = \"https://h/\"",
                "url is only for kind = \"http\" (this tool is kind = \"lambda\")",
            ),
            (
                "function = \"wc\"",
                "function is only for kind = \"lambda\" (this tool is kind = \"builtin\")",
            ),
            ("kind = \"http\"", "kind = \"http\" needs url"),
            (
                "kind = \"http\"\nurl = \"http://geo.example.com/\"",
                "must be https://",
            ),
            (
                "kind = \"http\"\nurl = \"ftp://h/x\"",
                "must be an https:// URL",
            ),
            (
                "kind = \"http\"\nurl = \"https://u:pw@h/x\"",
                "must not carry credentials",
            ),
            (
                "kind = \"http\"\nurl = \"http://127.0.0.2/\"",
                "must be https://",
            ),
            (
                "kind = \"lambda\"\nfunction = \"arn:aws:lambda:EU:123456789012:function:wc\"",
                "is neither",
            ),
            (
                "kind = \"lambda\"\nfunction = \"arn:gcp:lambda:eu-west-1:123456789012:function:wc\"",
                "is neither",
            ),
            ("kind = \"http\"\nurl = \"not a url\"", "is not a URL"),
            (
                "kind = \"http\"\nurl = \"https://h/\"\nmax_attempts = 0",
                "max_attempts = 0 is outside 1..=5",
            ),
            (
                "kind = \"http\"\nurl = \"https://h/\"\nmax_attempts = 6",
                "max_attempts = 6 is outside 1..=5",
            ),
            (
                "kind = \"http\"\nurl = \"https://h/\"\nauth_secret = \"a b\"",
                "auth_secret = \"a b\" is neither",
            ),
            (
                "kind = \"http\"\nurl = \"https://h/\"\nfunction = \"wc\"",
                "function is only for kind = \"lambda\"",
            ),
            (
                "max_attempts = 2",
                "max_attempts is only for kind = \"http\"",
            ),
        ];
        for (keys, expected) in refused {
            let err = with_keys(keys).unwrap_err();
            assert!(err.contains(expected), "{keys}: got {err}");
        }
        let long = format!(
            "kind = \"http\"\nurl = \"https://h/{}\"",
            "x".repeat(MAX_URL_CHARS)
        );
        assert!(
            with_keys(&long)
                .unwrap_err()
                .contains("is longer than 2048 characters")
        );
    }

    #[test]
    fn a_stage_target_overrides_the_catalog_and_is_checked_the_same_way() {
        let catalog = with_keys("kind = \"http\"\nurl = \"https://dev.example.com/\"").unwrap();
        let prod = TargetOverride {
            url: Some("https://prod.example.com/v2".into()),
            auth_secret: Some("prod/key".into()),
            ..TargetOverride::default()
        };
        let staged = catalog.with_target("web-search", &prod).unwrap();
        let spec = &staged.tools()[0];
        assert_eq!(spec.url.as_deref(), Some("https://prod.example.com/v2"));
        assert_eq!(spec.auth_secret.as_deref(), Some("prod/key"));
        assert_eq!(
            catalog.tools()[0].url.as_deref(),
            Some("https://dev.example.com/")
        );
        let wrong_kind = TargetOverride {
            function: Some("f".into()),
            ..TargetOverride::default()
        };
        let err = catalog
            .with_target("web-search", &wrong_kind)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("(from the environment): function is only for kind = \"lambda\""),
            "{err}"
        );
        let bad_url = TargetOverride {
            url: Some("http://prod.example.com/".into()),
            ..TargetOverride::default()
        };
        assert!(
            catalog
                .with_target("web-search", &bad_url)
                .unwrap_err()
                .to_string()
                .contains("must be https://")
        );
        assert!(catalog.with_target("nope", &prod).is_err());
        // No override: the catalog as it is.
        assert_eq!(
            catalog
                .with_target("web-search", &TargetOverride::default())
                .unwrap(),
            catalog
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
