//! The three tools every agent gets beside the catalog's: `task_results`, `task_status` and
//! `task_cancel`. Their names, arguments and wording are an interface agents and their prompts
//! rely on; the texts are written for models.

use rmcp::model::{JsonObject, Tool};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

pub const TASK_RESULTS: &str = "task_results";
pub const TASK_STATUS: &str = "task_status";
pub const TASK_CANCEL: &str = "task_cancel";
/// The longest `task_results` wait: below the 60 s request timeout of the TypeScript SDK, the
/// shortest of the common clients'.
pub const MAX_WAIT_S: f64 = 55.0;
/// Task ids one `task_results` call may name.
pub const MAX_TASK_IDS: usize = 100;

/// A call of one of these tools, its arguments checked.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentCall {
    Results {
        wait: Duration,
        task_ids: Option<Vec<String>>,
        conversation: Option<String>,
    },
    Status {
        task_id: String,
        conversation: Option<String>,
    },
    Cancel {
        task_id: String,
        conversation: Option<String>,
    },
}

const CONVERSATION_HELP: &str = "The conversation handle from an acknowledgement. Leave it out \
    within the session that made the call; give it where the server keeps no session (the \
    deployed server) or to collect results after reconnecting.";

fn schema(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::default(),
    }
}

/// Their `tools/list` entries.
pub fn tools() -> Vec<Tool> {
    let task_id = json!({"type": "string", "description": "The task id from the acknowledgement (26 characters)."});
    let conversation = json!({"type": "string", "description": CONVERSATION_HELP});
    vec![
        Tool::new(
            TASK_RESULTS,
            format!(
                "Get the results of your asynchronous tool calls. The other tools of this server \
                 answer at once with a task id when they take longer than a moment, and their \
                 results arrive later: each finished result is handed to you exactly once, either \
                 appended to a later tool result or returned here. This returns every finished \
                 result not yet handed to you. With wait_s > 0 it waits up to that many seconds \
                 (at most {MAX_WAIT_S}) until at least one result is ready: call it that way when \
                 you have nothing else to do but wait. With wait_s 0 (the default) it returns at \
                 once. task_ids limits it to those tasks."
            ),
            schema(json!({
                "type": "object",
                "properties": {
                    "wait_s": {
                        "type": "number", "minimum": 0, "maximum": MAX_WAIT_S,
                        "description": "Seconds to wait for the first result when none is ready (default 0)."
                    },
                    "task_ids": {
                        "type": "array", "items": {"type": "string"}, "maxItems": MAX_TASK_IDS,
                        "description": "Only these tasks (default: all of this conversation)."
                    },
                    "conversation": conversation,
                },
                "additionalProperties": false
            })),
        ),
        Tool::new(
            TASK_STATUS,
            "The status of one asynchronous task: still running, or finished with its result \
             (given again even if it was handed to you before). Use task_results to collect \
             results as they finish.",
            schema(json!({
                "type": "object",
                "properties": {"task_id": task_id, "conversation": conversation},
                "required": ["task_id"],
                "additionalProperties": false
            })),
        ),
        Tool::new(
            TASK_CANCEL,
            "Cancel an asynchronous task that is no longer needed. A queued task never runs; a \
             running one is told to stop. A finished task keeps its result.",
            schema(json!({
                "type": "object",
                "properties": {"task_id": task_id, "conversation": conversation},
                "required": ["task_id"],
                "additionalProperties": false
            })),
        ),
    ]
}

/// `None` when `name` is not one of these tools; otherwise the checked call or what is wrong with
/// its arguments (said so the model can correct it).
pub fn parse(name: &str, arguments: Option<&JsonObject>) -> Option<Result<AgentCall, String>> {
    let empty = JsonObject::new();
    let args = arguments.unwrap_or(&empty);
    let allowed: &[&str] = match name {
        TASK_RESULTS => &["wait_s", "task_ids", "conversation"],
        TASK_STATUS | TASK_CANCEL => &["task_id", "conversation"],
        _ => return None,
    };
    Some(check(name, args, allowed))
}

fn check(name: &str, args: &JsonObject, allowed: &[&str]) -> Result<AgentCall, String> {
    if let Some(unknown) = args.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!(
            "{name}: unknown argument {unknown:?}; it takes {}",
            allowed.join(", ")
        ));
    }
    let conversation = match args.get("conversation") {
        None | Some(Value::Null) => None,
        Some(Value::String(handle)) => {
            workers::protocol::check_conversation_id(handle)
                .map_err(|e| format!("{name}: conversation: {}", e.message))?;
            Some(handle.clone())
        }
        Some(other) => {
            return Err(format!(
                "{name}: conversation must be a string, got {other}"
            ));
        }
    };
    match name {
        TASK_RESULTS => Ok(AgentCall::Results {
            wait: wait(args.get("wait_s"))?,
            task_ids: task_ids(args.get("task_ids"))?,
            conversation,
        }),
        _ => {
            let task_id = match args.get("task_id") {
                Some(Value::String(id)) => id.clone(),
                None | Some(Value::Null) => return Err(format!("{name}: task_id is required")),
                Some(other) => {
                    return Err(format!("{name}: task_id must be a string, got {other}"));
                }
            };
            check_task_id(name, &task_id)?;
            Ok(if name == TASK_STATUS {
                AgentCall::Status {
                    task_id,
                    conversation,
                }
            } else {
                AgentCall::Cancel {
                    task_id,
                    conversation,
                }
            })
        }
    }
}

fn wait(value: Option<&Value>) -> Result<Duration, String> {
    let seconds = match value {
        None | Some(Value::Null) => return Ok(Duration::ZERO),
        Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
        Some(other) => {
            return Err(format!(
                "task_results: wait_s must be a number, got {other}"
            ));
        }
    };
    if !(0.0..=MAX_WAIT_S).contains(&seconds) {
        return Err(format!(
            "task_results: wait_s must be between 0 and {MAX_WAIT_S} seconds, got {seconds}"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn task_ids(value: Option<&Value>) -> Result<Option<Vec<String>>, String> {
    let items = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(format!(
                "task_results: task_ids must be an array of task ids, got {other}"
            ));
        }
    };
    if items.is_empty() || items.len() > MAX_TASK_IDS {
        return Err(format!(
            "task_results: task_ids must name 1 to {MAX_TASK_IDS} tasks, got {}",
            items.len()
        ));
    }
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        let Value::String(id) = item else {
            return Err(format!(
                "task_results: task_ids must be strings, got {item}"
            ));
        };
        check_task_id(TASK_RESULTS, id)?;
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    Ok(Some(ids))
}

fn check_task_id(name: &str, id: &str) -> Result<(), String> {
    workers::protocol::check_task_id(id)
        .map_err(|_| format!("{name}: {id:?} is not a task id (a task id has 26 characters, as in the acknowledgement)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(value: Value) -> JsonObject {
        value.as_object().cloned().unwrap()
    }

    const ID: &str = "01M8RHG0JA4TF2PYGERHQTV0J2";

    #[test]
    fn other_names_are_not_ours() {
        assert!(parse("research", None).is_none());
    }

    #[test]
    fn results_arguments_are_checked() {
        assert_eq!(
            parse(TASK_RESULTS, None).unwrap().unwrap(),
            AgentCall::Results {
                wait: Duration::ZERO,
                task_ids: None,
                conversation: None
            }
        );
        let call = parse(
            TASK_RESULTS,
            Some(&args(
                json!({"wait_s": 2.5, "task_ids": [ID, ID], "conversation": "mcp-1"}),
            )),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            call,
            AgentCall::Results {
                wait: Duration::from_millis(2500),
                task_ids: Some(vec![ID.to_string()]),
                conversation: Some("mcp-1".into())
            }
        );
        for (bad, needle) in [
            (json!({"wait_s": -1}), "between 0 and 55 seconds, got -1"),
            (json!({"wait_s": 56}), "between 0 and 55 seconds, got 56"),
            (json!({"wait_s": "5"}), "wait_s must be a number"),
            (json!({"task_ids": []}), "1 to 100 tasks"),
            (json!({"task_ids": ["nope"]}), "\"nope\" is not a task id"),
            (json!({"task_ids": [1]}), "must be strings"),
            (json!({"conversation": "a b"}), "conversation: contains ' '"),
            (json!({"timeout": 1}), "unknown argument \"timeout\""),
        ] {
            let message = parse(TASK_RESULTS, Some(&args(bad.clone())))
                .unwrap()
                .unwrap_err();
            assert!(message.contains(needle), "{bad}: {message}");
        }
    }

    #[test]
    fn status_and_cancel_need_a_task_id() {
        assert_eq!(
            parse(TASK_CANCEL, Some(&args(json!({"task_id": ID}))))
                .unwrap()
                .unwrap(),
            AgentCall::Cancel {
                task_id: ID.into(),
                conversation: None
            }
        );
        let missing = parse(TASK_STATUS, None).unwrap().unwrap_err();
        assert_eq!(missing, "task_status: task_id is required");
        let bad = parse(TASK_STATUS, Some(&args(json!({"task_id": "x"}))))
            .unwrap()
            .unwrap_err();
        assert!(bad.contains("is not a task id"), "{bad}");
    }

    #[test]
    fn their_schemas_forbid_what_parse_refuses() {
        for tool in tools() {
            assert_eq!(tool.input_schema["additionalProperties"], false);
        }
    }
}
