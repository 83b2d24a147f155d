//! The wire protocol (version 1): task requests, acknowledgements, work and result messages.
//! Every message carries `version`; readers reject versions they do not know.

use crate::catalog::Catalog;
use crate::error::InputError;
use crate::limits::*;
use crate::record::{TaskError, TaskRecord};
use crate::state::TaskStatus;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Defined with the limits, so the task record (which carries it too) needs nothing from here.
pub use crate::limits::PROTOCOL_VERSION;

fn protocol_version() -> u32 {
    PROTOCOL_VERSION
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// A tool call, as the agent (or the CLI) sends it to the dispatcher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskRequest {
    #[serde(default = "protocol_version")]
    pub version: u32,
    pub conversation_id: String,
    pub tool: String,
    #[serde(default = "empty_object")]
    pub arguments: Value,
    /// The same key (within a conversation) returns the same task and enqueues nothing new.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Epoch milliseconds after which the task must not start; it then ends TIMED_OUT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// The consumer (a process hosting conversations) whose reply queue gets the result; one of the
    /// deployment's consumers. Default: `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
}

impl TaskRequest {
    pub fn new(
        conversation_id: impl Into<String>,
        tool: impl Into<String>,
        arguments: Value,
    ) -> Self {
        TaskRequest {
            version: PROTOCOL_VERSION,
            conversation_id: conversation_id.into(),
            tool: tool.into(),
            arguments,
            idempotency_key: None,
            deadline_ms: None,
            reply_to: None,
        }
    }

    /// The consumer named, or the default one.
    pub fn consumer(&self) -> &str {
        self.reply_to.as_deref().unwrap_or(DEFAULT_CONSUMER)
    }

    /// Checks everything that does not depend on the tool's own argument schema.
    pub fn validate(&self, catalog: &Catalog, now_ms: u64) -> Result<(), InputError> {
        check_version("version", self.version)?;
        check_conversation_id(&self.conversation_id)?;
        catalog.get(&self.tool)?;
        check_arguments(&self.arguments)?;
        check_consumer_name(self.consumer())?;
        if let Some(key) = &self.idempotency_key {
            check_token("idempotency_key", key, MAX_IDEMPOTENCY_KEY_CHARS)?;
        }
        if let Some(deadline_ms) = self.deadline_ms {
            if deadline_ms <= now_ms {
                return Err(InputError::new(
                    "deadline_ms",
                    format!("{deadline_ms} is in the past (now is {now_ms})"),
                ));
            }
            if deadline_ms - now_ms > MAX_DEADLINE_AHEAD_MS {
                return Err(InputError::new(
                    "deadline_ms",
                    format!(
                        "is {} ms ahead; the limit is {MAX_DEADLINE_AHEAD_MS} ms (24 h)",
                        deadline_ms - now_ms
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Parses a request from JSON text with a clear error on unknown or missing fields.
    pub fn from_json(text: &str) -> Result<TaskRequest, InputError> {
        serde_json::from_str(text)
            .map_err(|e| InputError::new("request", format!("is not a valid task request: {e}")))
    }
}

pub fn check_version(field: &str, version: u32) -> Result<(), InputError> {
    if version != PROTOCOL_VERSION {
        return Err(InputError::new(
            field,
            format!(
                "protocol version {version} is not supported (this build speaks {PROTOCOL_VERSION})"
            ),
        ));
    }
    Ok(())
}

/// Consumer names become queue-name suffixes and output keys: like tool names.
pub fn check_consumer_name(name: &str) -> Result<(), InputError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_CONSUMER_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(InputError::new(
            "reply_to",
            format!(
                "{name:?} must be 1..={MAX_CONSUMER_NAME_CHARS} lowercase letters, digits or '-'"
            ),
        ))
    }
}

/// A principal: an IAM ARN, or a local name. Part of storage keys (`<owner>#<conversation>`), so
/// no '#', and printable ASCII only.
pub fn check_principal(principal: &str) -> Result<(), InputError> {
    if principal.is_empty() || principal.len() > MAX_PRINCIPAL_CHARS {
        return Err(InputError::new(
            "principal",
            format!("must be 1..={MAX_PRINCIPAL_CHARS} characters"),
        ));
    }
    if let Some(bad) = principal
        .chars()
        .find(|c| !c.is_ascii_graphic() || *c == '#')
    {
        return Err(InputError::new(
            "principal",
            format!("contains {bad:?}; allowed are printable ASCII characters except '#'"),
        ));
    }
    Ok(())
}

pub fn check_conversation_id(id: &str) -> Result<(), InputError> {
    check_token("conversation_id", id, MAX_CONVERSATION_ID_CHARS)
}

/// Ids and keys become parts of storage keys (`idem#<conversation>#<key>`), hence the narrow alphabet.
fn check_token(field: &str, value: &str, max_chars: usize) -> Result<(), InputError> {
    if value.is_empty() {
        return Err(InputError::new(field, "must not be empty"));
    }
    if value.len() > max_chars {
        return Err(InputError::new(
            field,
            format!("is {} characters; the limit is {max_chars}", value.len()),
        ));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
    {
        return Err(InputError::new(
            field,
            format!("contains {bad:?}; allowed are ASCII letters, digits and - _ . :"),
        ));
    }
    Ok(())
}

pub fn check_arguments(arguments: &Value) -> Result<(), InputError> {
    if !arguments.is_object() {
        return Err(InputError::new("arguments", "must be a JSON object"));
    }
    let bytes = json_len(arguments);
    if bytes > MAX_ARGUMENTS_BYTES {
        return Err(InputError::new(
            "arguments",
            format!(
                "are {bytes} bytes of JSON; the limit is {}",
                bytes_label(MAX_ARGUMENTS_BYTES)
            ),
        ));
    }
    Ok(())
}

/// A result within `MAX_RESULT_BYTES`, measured on the JSON as sent ([`sent_json_len`]).
pub fn check_result(result: &Value) -> Result<(), InputError> {
    let bytes = sent_json_len(result);
    if bytes > MAX_RESULT_BYTES {
        return Err(InputError::new(
            "result",
            format!(
                "is {bytes} bytes of JSON as sent (U+FFFE and U+FFFF escaped); the limit is {}",
                bytes_label(MAX_RESULT_BYTES)
            ),
        ));
    }
    Ok(())
}

/// The bytes `value` takes in a message: its compact JSON after [`sqs_safe_json`], which writes
/// each character SQS refuses (3 bytes in UTF-8) as a 6-byte `\uXXXX` escape.
pub fn sent_json_len(value: &Value) -> usize {
    let json = serde_json::to_string(value).expect("a JSON value always serializes");
    let escaped: usize = json
        .chars()
        .filter(|c| !sqs_allows(*c))
        .map(|c| 6 - c.len_utf8())
        .sum();
    json.len() + escaped
}

/// Whether SQS accepts `c` in a message body: XML 1.0's characters (#x9 | #xA | #xD | [#x20-#xD7FF]
/// | [#xE000-#xFFFD] | [#x10000-#x10FFFF]).
pub fn sqs_allows(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Rewrites the characters SQS refuses as JSON `\uXXXX` escapes. Valid only on JSON text: outside
/// strings JSON is ASCII, and serde_json already escapes control characters, so the refused ones
/// (U+FFFE, U+FFFF) can only stand inside strings, where the escape means the same character.
pub fn sqs_safe_json(json: String) -> String {
    if json.chars().all(sqs_allows) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if sqs_allows(c) {
            out.push(c);
        } else {
            out.push_str(&format!("\\u{:04x}", c as u32));
        }
    }
    out
}

/// Task ids are ULIDs (26 Crockford base32 characters, time-ordered).
pub fn check_task_id(id: &str) -> Result<(), InputError> {
    ulid::Ulid::from_string(id)
        .map(|_| ())
        .map_err(|e| InputError::new("task_id", format!("{id:?} is not a ULID task id ({e})")))
}

/// Compact JSON size in bytes (what serde_json writes: UTF-8, characters SQS refuses unescaped).
pub fn json_len(value: &impl Serialize) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a Value to an infallible writer cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// The dispatcher's immediate answer to a tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmitAck {
    pub version: u32,
    pub task_id: String,
    pub conversation_id: String,
    pub tool: String,
    pub status: TaskStatus,
    pub created_at_ms: u64,
    /// True when an earlier request with the same idempotency key created this task.
    pub duplicate: bool,
    /// What the model reads in place of the tool's result.
    pub message: String,
}

impl SubmitAck {
    pub fn for_record(record: &TaskRecord, duplicate: bool) -> SubmitAck {
        let message = if record.status.is_terminal() {
            format!(
                "Task {} ({}) already finished with status {}. Its result was delivered as a separate \
                 message naming this task id; use `get` with the task id if you need it again.",
                record.task_id, record.tool, record.status
            )
        } else {
            format!(
                "Task {} ({}) was accepted and runs in the background. Its result is NOT available yet: \
                 do not guess, invent or assume it. It will arrive later in a separate message naming \
                 task id {}. Carry on with other work meanwhile and tell the user the result is pending.",
                record.task_id, record.tool, record.task_id
            )
        };
        SubmitAck {
            version: PROTOCOL_VERSION,
            task_id: record.task_id.clone(),
            conversation_id: record.conversation_id.clone(),
            tool: record.tool.clone(),
            status: record.status,
            created_at_ms: record.created_at_ms,
            duplicate,
            message,
        }
    }
}

/// A work queue message: only the task id (the record is the source of truth for everything else).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkMessage {
    pub version: u32,
    pub task_id: String,
    pub tool: String,
}

/// Why a work message could not be used; `task_id` is set when the message still names a task.
#[derive(Debug, Clone, PartialEq)]
pub struct MalformedMessage {
    pub task_id: Option<String>,
    pub reason: String,
    /// Written by a newer protocol than this build speaks: during a rolling deploy a newer worker
    /// will take it, so it is retried rather than failing its task.
    pub newer_version: bool,
}

impl WorkMessage {
    pub fn new(task_id: &str, tool: &str) -> Self {
        WorkMessage {
            version: PROTOCOL_VERSION,
            task_id: task_id.to_string(),
            tool: tool.to_string(),
        }
    }

    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("a WorkMessage always serializes")
    }

    pub fn parse(body: &str) -> Result<WorkMessage, MalformedMessage> {
        let value: Value = serde_json::from_str(body).map_err(|e| MalformedMessage {
            task_id: None,
            reason: format!("work message is not JSON: {e}"),
            newer_version: false,
        })?;
        let task_id = value
            .get("task_id")
            .and_then(Value::as_str)
            .filter(|id| check_task_id(id).is_ok())
            .map(str::to_string);
        let malformed = |reason: String| MalformedMessage {
            task_id: task_id.clone(),
            reason,
            newer_version: false,
        };
        if let Some(version) = value.get("version").and_then(Value::as_u64)
            && version > u64::from(PROTOCOL_VERSION)
        {
            return Err(MalformedMessage {
                newer_version: true,
                ..malformed(format!(
                    "work message version {version} is newer than this worker's {PROTOCOL_VERSION}"
                ))
            });
        }
        let message: WorkMessage = serde_json::from_value(value.clone())
            .map_err(|e| malformed(format!("work message is malformed: {e}")))?;
        check_version("work message version", message.version)
            .map_err(|e| malformed(e.to_string()))?;
        check_task_id(&message.task_id).map_err(|e| malformed(e.to_string()))?;
        Ok(message)
    }
}

/// Published on the consumer's reply queue when a task reaches a terminal state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultMessage {
    pub version: u32,
    pub task_id: String,
    pub owner: String,
    pub reply_to: String,
    pub conversation_id: String,
    /// The caller's own key, when it gave one: lets it match results to its calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    pub tool: String,
    pub status: TaskStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<TaskError>,
    pub created_at_ms: u64,
    pub finished_at_ms: u64,
}

impl ResultMessage {
    pub fn for_record(record: &TaskRecord) -> ResultMessage {
        debug_assert!(record.status.is_terminal());
        ResultMessage {
            version: PROTOCOL_VERSION,
            task_id: record.task_id.clone(),
            owner: record.owner.clone(),
            reply_to: record.reply_to.clone(),
            conversation_id: record.conversation_id.clone(),
            idempotency_key: record.idempotency_key.clone(),
            tool: record.tool.clone(),
            status: record.status,
            result: record.result.clone(),
            error: record.error.clone(),
            created_at_ms: record.created_at_ms,
            finished_at_ms: record.finished_at_ms.unwrap_or(record.updated_at_ms),
        }
    }

    /// JSON that SQS accepts: characters outside XML's set (U+FFFE, U+FFFF), which a tool may echo,
    /// are written as `\u` escapes, so the same JSON value arrives.
    pub fn to_body(&self) -> String {
        sqs_safe_json(serde_json::to_string(self).expect("a ResultMessage always serializes"))
    }

    /// Why this message cannot be sent, if its body (the bytes sent) is over `MAX_MESSAGE_BYTES`:
    /// the measured sizes and the limit, in words for the task's error.
    pub fn too_large(&self) -> Option<String> {
        let bytes = self.to_body().len();
        (bytes > MAX_MESSAGE_BYTES).then(|| {
            let result = self
                .result
                .as_ref()
                .map(|r| {
                    format!(
                        "the result is {} bytes of JSON as sent, and ",
                        sent_json_len(r)
                    )
                })
                .unwrap_or_default();
            format!(
                "the result could not be published: {result}its result message would be {bytes} \
                 bytes; the limit of a message is {}",
                bytes_label(MAX_MESSAGE_BYTES)
            )
        })
    }

    pub fn parse(body: &str) -> Result<ResultMessage, InputError> {
        let message: ResultMessage = serde_json::from_str(body)
            .map_err(|e| InputError::new("result message", format!("is malformed: {e}")))?;
        check_version("result message version", message.version)?;
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Text with the characters that matter here among ordinary ones.
    fn text() -> impl Strategy<Value = String> {
        let special = prop::sample::select(
            "\u{0}\u{1f}\t\n\r\u{ef}\u{fffd}\u{fffe}\u{ffff}\u{10000}\u{e000}\"\\"
                .chars()
                .collect::<Vec<_>>(),
        );
        prop::collection::vec(prop_oneof![any::<char>(), special], 0..64)
            .prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        #[test]
        fn sqs_safe_json_keeps_the_value_and_only_allowed_characters(value in text()) {
            let json = Value::String(value);
            let sent = sqs_safe_json(serde_json::to_string(&json).unwrap());
            prop_assert!(sent.chars().all(sqs_allows), "{sent:?}");
            prop_assert_eq!(serde_json::from_str::<Value>(&sent).unwrap(), json.clone());
            prop_assert_eq!(sent_json_len(&json), sent.len());
        }
    }
}
