//! The tool catalog (`workers/tools.toml`), shared with the CDK stack. Parsed and checked here with
//! the limits written in the file's header; the binaries embed the file so Lambda uses the same one.

use crate::error::InputError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::OnceLock;
use thiserror::Error;

/// The catalog compiled into every binary.
pub const EMBEDDED_CATALOG_TOML: &str = include_str!("../tools.toml");
pub const CATALOG_VERSION: u32 = 1;
/// Names a catalog file to use instead of the compiled-in one (local trials only).
pub const CATALOG_ENV: &str = "ASYNCTOOLS_CATALOG";

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
    /// Optional: how long one call typically takes to its result, in milliseconds. The MCP server
    /// acknowledges a call of a tool typically slower than its inline bound at once instead of
    /// waiting for it, until it has seen the tool's own runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typical_run_ms: Option<u64>,
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

    /// The catalog of a process: the compiled-in one, or, for trying tools locally without a
    /// rebuild, the file `ASYNCTOOLS_CATALOG` names (`env` reads the environment). The deployed
    /// stack always uses the compiled one.
    pub fn for_process(env: impl Fn(&str) -> Option<OsString>) -> Result<Catalog, InputError> {
        let Some(path) = env(CATALOG_ENV)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
        else {
            return Ok(Catalog::embedded().clone());
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            InputError::new(CATALOG_ENV, format!("reading {}: {e}", path.display()))
        })?;
        Catalog::parse(&text)
            .map_err(|e| InputError::new(path.display().to_string(), e.to_string()))
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
    let timeout_ms = u64::from(tool.timeout_s) * 1000;
    if let Some(typical) = tool.typical_run_ms
        && !(1..=timeout_ms).contains(&typical)
    {
        return Err(CatalogError(format!(
            "tools[{index}] ({name}): typical_run_ms = {typical} is outside 1..={timeout_ms} (the tool's timeout_s in ms)"
        )));
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
mod tests;
