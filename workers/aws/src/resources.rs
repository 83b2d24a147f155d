//! The stack's resource names: read from a `cdk deploy --outputs-file` file, from environment
//! variables, or from flags; `local up` writes the same file.

use crate::catalog::{Catalog, pascal_case};
use crate::error::InputError;
use crate::limits::DEFAULT_CONSUMER;
use crate::protocol::check_consumer_name;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub const DEFAULT_STACK_NAME: &str = "AsyncTools";
/// The outputs file `local up` writes, and the one read when none is named and it exists.
pub const DEFAULT_OUTPUTS_FILE: &str = "out/asynctools-outputs.json";

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resources {
    pub table: String,
    /// consumer name -> its reply queue URL.
    pub reply_queue_urls: BTreeMap<String, String>,
    /// consumer name -> that reply queue's DLQ URL.
    pub reply_dead_letter_queue_urls: BTreeMap<String, String>,
    /// tool name -> work queue URL.
    pub work_queue_urls: BTreeMap<String, String>,
    /// tool name -> that work queue's DLQ URL.
    pub dead_letter_queue_urls: BTreeMap<String, String>,
    pub dispatcher_url: Option<String>,
    pub dispatcher_arn: Option<String>,
}

const TABLE: &str = "TaskTableName";
/// Comma-separated consumer names: which `ReplyQueueUrl<Consumer>` outputs to read.
const CONSUMERS: &str = "Consumers";
const DISPATCHER_URL: &str = "DispatcherUrl";
const DISPATCHER_ARN: &str = "DispatcherArn";

impl Resources {
    /// The outputs file's shape: `{"<stack>": {"TaskTableName": ..., "WorkQueueUrl<Tool>": ...}}`.
    pub fn to_outputs_json(&self, stack_name: &str, catalog: &Catalog) -> Value {
        let mut outputs = Map::new();
        let mut put = |key: String, value: &str| {
            outputs.insert(key, Value::String(value.to_string()));
        };
        put(TABLE.into(), &self.table);
        let consumers: Vec<&str> = self.reply_queue_urls.keys().map(String::as_str).collect();
        put(CONSUMERS.into(), &consumers.join(","));
        for (consumer, url) in &self.reply_queue_urls {
            put(format!("ReplyQueueUrl{}", pascal_case(consumer)), url);
        }
        for (consumer, url) in &self.reply_dead_letter_queue_urls {
            put(
                format!("ReplyDeadLetterQueueUrl{}", pascal_case(consumer)),
                url,
            );
        }
        if let Some(url) = &self.dispatcher_url {
            put(DISPATCHER_URL.into(), url);
        }
        if let Some(arn) = &self.dispatcher_arn {
            put(DISPATCHER_ARN.into(), arn);
        }
        for tool in catalog.tools() {
            if let Some(url) = self.work_queue_urls.get(&tool.name) {
                put(format!("WorkQueueUrl{}", tool.pascal_name()), url);
            }
            if let Some(url) = self.dead_letter_queue_urls.get(&tool.name) {
                put(format!("DeadLetterQueueUrl{}", tool.pascal_name()), url);
            }
        }
        let mut root = Map::new();
        root.insert(stack_name.to_string(), Value::Object(outputs));
        Value::Object(root)
    }

    pub fn from_outputs_json(
        text: &str,
        stack_name: &str,
        catalog: &Catalog,
    ) -> Result<Resources, InputError> {
        let field = "outputs file";
        let root: Value = serde_json::from_str(text)
            .map_err(|e| InputError::new(field, format!("is not JSON: {e}")))?;
        let outputs = root
            .get(stack_name)
            .and_then(Value::as_object)
            .ok_or_else(|| {
                let stacks: Vec<&str> = root
                    .as_object()
                    .map(|m| m.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                InputError::new(
                    field,
                    format!(
                        "has no stack {stack_name:?} (stacks: {}); pass --stack-name",
                        stacks.join(", ")
                    ),
                )
            })?;
        let get = |key: &str| outputs.get(key).and_then(Value::as_str).map(str::to_string);
        let required = |key: &str| {
            get(key).ok_or_else(|| {
                InputError::new(field, format!("stack {stack_name} has no output {key}"))
            })
        };
        let mut resources = Resources {
            table: required(TABLE)?,
            dispatcher_url: get(DISPATCHER_URL),
            dispatcher_arn: get(DISPATCHER_ARN),
            ..Resources::default()
        };
        let consumers = get(CONSUMERS).unwrap_or_else(|| DEFAULT_CONSUMER.to_string());
        for consumer in consumers
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            check_consumer_name(consumer)
                .map_err(|e| InputError::new(field, format!("output {CONSUMERS}: {e}")))?;
            let key = format!("ReplyQueueUrl{}", pascal_case(consumer));
            resources
                .reply_queue_urls
                .insert(consumer.to_string(), required(&key)?);
            if let Some(url) = get(&format!("ReplyDeadLetterQueueUrl{}", pascal_case(consumer))) {
                resources
                    .reply_dead_letter_queue_urls
                    .insert(consumer.to_string(), url);
            }
        }
        for tool in catalog.tools() {
            let key = format!("WorkQueueUrl{}", tool.pascal_name());
            resources
                .work_queue_urls
                .insert(tool.name.clone(), required(&key)?);
            if let Some(url) = get(&format!("DeadLetterQueueUrl{}", tool.pascal_name())) {
                resources
                    .dead_letter_queue_urls
                    .insert(tool.name.clone(), url);
            }
        }
        Ok(resources)
    }

    /// Every catalog tool must have a work queue.
    pub fn check_complete(&self, catalog: &Catalog) -> Result<(), InputError> {
        if self.table.is_empty() {
            return Err(InputError::new(
                "table",
                "is not set (flag --table, ASYNCTOOLS_TABLE, or an outputs file)",
            ));
        }
        if self.reply_queue_urls.is_empty() {
            return Err(InputError::new(
                "reply queues",
                "are not set (ASYNCTOOLS_REPLY_QUEUES, or an outputs file)",
            ));
        }
        for name in catalog.names() {
            if !self.work_queue_urls.contains_key(name) {
                return Err(InputError::new(
                    "work queues",
                    format!(
                        "have no URL for tool {name:?} (ASYNCTOOLS_WORK_QUEUES, --work-queue {name}=URL, or an outputs file)"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Parses `ASYNCTOOLS_WORK_QUEUES`: a JSON object of tool name -> queue URL, tools from the catalog.
pub fn parse_work_queues(
    text: &str,
    catalog: &Catalog,
) -> Result<BTreeMap<String, String>, InputError> {
    let field = "ASYNCTOOLS_WORK_QUEUES";
    let map: BTreeMap<String, String> = serde_json::from_str(text).map_err(|e| {
        InputError::new(
            field,
            format!("must be a JSON object of tool name to queue URL: {e}"),
        )
    })?;
    for (tool, url) in &map {
        catalog
            .get(tool)
            .map_err(|e| InputError::new(field, e.message))?;
        if url.is_empty() {
            return Err(InputError::new(
                field,
                format!("the URL of {tool:?} is empty"),
            ));
        }
    }
    Ok(map)
}

/// Parses `ASYNCTOOLS_REPLY_QUEUES`: a JSON object of consumer name -> reply queue URL.
pub fn parse_reply_queues(text: &str) -> Result<BTreeMap<String, String>, InputError> {
    let field = "ASYNCTOOLS_REPLY_QUEUES";
    let map: BTreeMap<String, String> = serde_json::from_str(text).map_err(|e| {
        InputError::new(
            field,
            format!("must be a JSON object of consumer name to queue URL: {e}"),
        )
    })?;
    if map.is_empty() || map.len() > crate::limits::MAX_CONSUMERS {
        return Err(InputError::new(
            field,
            format!(
                "names {} consumers; 1..={} are allowed",
                map.len(),
                crate::limits::MAX_CONSUMERS
            ),
        ));
    }
    for (consumer, url) in &map {
        check_consumer_name(consumer).map_err(|e| InputError::new(field, e.message))?;
        if url.is_empty() {
            return Err(InputError::new(
                field,
                format!("the URL of {consumer:?} is empty"),
            ));
        }
    }
    Ok(map)
}

/// Flags and environment variables that override (or replace) the outputs file.
#[derive(Debug, Clone, Default)]
pub struct ResourceOverrides {
    pub table: Option<String>,
    pub reply_queue_urls: BTreeMap<String, String>,
    pub work_queue_urls: BTreeMap<String, String>,
}

impl ResourceOverrides {
    /// `ASYNCTOOLS_TABLE`, `ASYNCTOOLS_REPLY_QUEUES`, `ASYNCTOOLS_WORK_QUEUES`, and a worker's own
    /// `ASYNCTOOLS_TOOL` + `ASYNCTOOLS_WORK_QUEUE`.
    pub fn from_env(
        get: impl Fn(&str) -> Option<String>,
        catalog: &Catalog,
    ) -> Result<Self, InputError> {
        let mut overrides = ResourceOverrides {
            table: get("ASYNCTOOLS_TABLE").filter(|s| !s.is_empty()),
            reply_queue_urls: BTreeMap::new(),
            work_queue_urls: BTreeMap::new(),
        };
        if let Some(text) = get("ASYNCTOOLS_REPLY_QUEUES").filter(|s| !s.is_empty()) {
            overrides.reply_queue_urls = parse_reply_queues(&text)?;
        }
        if let Some(text) = get("ASYNCTOOLS_WORK_QUEUES").filter(|s| !s.is_empty()) {
            overrides.work_queue_urls = parse_work_queues(&text, catalog)?;
        }
        if let (Some(tool), Some(url)) = (get("ASYNCTOOLS_TOOL"), get("ASYNCTOOLS_WORK_QUEUE")) {
            catalog
                .get(&tool)
                .map_err(|e| InputError::new("ASYNCTOOLS_TOOL", e.message))?;
            overrides.work_queue_urls.insert(tool, url);
        }
        Ok(overrides)
    }

    /// Later overrides win over earlier ones.
    pub fn then(mut self, later: ResourceOverrides) -> Self {
        self.table = later.table.or(self.table);
        self.reply_queue_urls.extend(later.reply_queue_urls);
        self.work_queue_urls.extend(later.work_queue_urls);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_none() && self.reply_queue_urls.is_empty() && self.work_queue_urls.is_empty()
    }

    pub fn apply(self, base: Option<Resources>) -> Resources {
        let mut resources = base.unwrap_or_default();
        if let Some(table) = self.table {
            resources.table = table;
        }
        resources.reply_queue_urls.extend(self.reply_queue_urls);
        resources.work_queue_urls.extend(self.work_queue_urls);
        resources
    }
}

/// Where a command finds the stack's resource names, each over the one before: an outputs file
/// (`outputs`, else `DEFAULT_OUTPUTS_FILE` when it exists), the environment
/// (`ResourceOverrides::from_env`), and flags (`table`, `work_queues` as `TOOL=URL` pairs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceSources {
    pub outputs: Option<PathBuf>,
    /// The stack's key in the outputs file.
    pub stack_name: String,
    pub table: Option<String>,
    pub work_queues: Vec<String>,
}

impl ResourceSources {
    /// The resources, complete for `catalog`; `env` reads the environment.
    pub fn resolve(
        &self,
        catalog: &Catalog,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Resources, InputError> {
        let outputs = self.outputs.clone().or_else(|| {
            let default = PathBuf::from(DEFAULT_OUTPUTS_FILE);
            default.exists().then_some(default)
        });
        let base = match &outputs {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    InputError::new(format!("outputs file {}", path.display()), e.to_string())
                })?;
                Some(Resources::from_outputs_json(
                    &text,
                    &self.stack_name,
                    catalog,
                )?)
            }
            None => None,
        };
        let env = ResourceOverrides::from_env(env, catalog)?;
        let mut flags = ResourceOverrides {
            table: self.table.clone(),
            ..ResourceOverrides::default()
        };
        for pair in &self.work_queues {
            let (tool, url) = pair.split_once('=').ok_or_else(|| {
                InputError::new("--work-queue", format!("{pair:?} is not TOOL=URL"))
            })?;
            catalog.get(tool)?;
            flags
                .work_queue_urls
                .insert(tool.to_string(), url.to_string());
        }
        let resources = env.then(flags).apply(base);
        resources.check_complete(catalog)?;
        Ok(resources)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Resources {
        let mut r = Resources {
            table: "T".into(),
            ..Default::default()
        };
        for consumer in ["default", "agents-2"] {
            r.reply_queue_urls
                .insert(consumer.into(), format!("http://q/reply-{consumer}"));
            r.reply_dead_letter_queue_urls
                .insert(consumer.into(), format!("http://q/reply-{consumer}-dlq"));
        }
        for tool in Catalog::embedded().names() {
            r.work_queue_urls
                .insert(tool.into(), format!("http://q/{tool}"));
            r.dead_letter_queue_urls
                .insert(tool.into(), format!("http://q/{tool}-dlq"));
        }
        r
    }

    #[test]
    fn outputs_round_trip_in_the_cdk_shape() {
        let catalog = Catalog::embedded();
        let json = sample().to_outputs_json("AsyncTools", catalog);
        let outputs = &json["AsyncTools"];
        assert_eq!(outputs["TaskTableName"], "T");
        assert_eq!(outputs["WorkQueueUrlSynthetic"], "http://q/synthetic");
        assert_eq!(
            outputs["DeadLetterQueueUrlSentiment"],
            "http://q/sentiment-dlq"
        );
        assert_eq!(outputs["Consumers"], "agents-2,default");
        assert_eq!(outputs["ReplyQueueUrlAgents2"], "http://q/reply-agents-2");
        assert_eq!(
            outputs["ReplyDeadLetterQueueUrlDefault"],
            "http://q/reply-default-dlq"
        );
        assert!(
            outputs.get("DispatcherUrl").is_none(),
            "local stacks have no dispatcher function"
        );
        let back = Resources::from_outputs_json(&json.to_string(), "AsyncTools", catalog).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn bad_outputs_files_say_what_is_missing() {
        let catalog = Catalog::embedded();
        let err =
            Resources::from_outputs_json("{\"Other\": {}}", "AsyncTools", catalog).unwrap_err();
        assert!(
            err.to_string()
                .contains("has no stack \"AsyncTools\" (stacks: Other)"),
            "{err}"
        );
        let err = Resources::from_outputs_json(
            "{\"AsyncTools\": {\"TaskTableName\": \"T\"}}",
            "AsyncTools",
            catalog,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("has no output ReplyQueueUrlDefault"),
            "{err}"
        );
        let err = Resources::from_outputs_json("nope", "AsyncTools", catalog).unwrap_err();
        assert!(
            err.to_string().starts_with("outputs file: is not JSON"),
            "{err}"
        );
    }

    #[test]
    fn work_queue_env_is_checked_against_the_catalog() {
        let catalog = Catalog::embedded();
        let ok = parse_work_queues(r#"{"synthetic": "http://q/s"}"#, catalog).unwrap();
        assert_eq!(ok["synthetic"], "http://q/s");
        let err = parse_work_queues(r#"{"nope": "http://q/s"}"#, catalog).unwrap_err();
        assert!(
            err.to_string()
                .contains("\"nope\" is not in the tool catalog"),
            "{err}"
        );
        let err = parse_work_queues("[1]", catalog).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("ASYNCTOOLS_WORK_QUEUES: must be a JSON object"),
            "{err}"
        );
    }

    #[test]
    fn overrides_win_and_gaps_are_named() {
        let catalog = Catalog::embedded();
        let env = |k: &str| (k == "ASYNCTOOLS_TABLE").then(|| "FromEnv".to_string());
        let resources = ResourceOverrides::from_env(env, catalog)
            .unwrap()
            .apply(Some(sample()));
        assert_eq!(resources.table, "FromEnv");
        let err = ResourceOverrides::default()
            .apply(None)
            .check_complete(catalog)
            .unwrap_err();
        assert!(err.to_string().starts_with("table: is not set"), "{err}");
    }
}
