//! An ordinary Lambda function, written without asynctools in mind: it counts the words of a text.
//! The catalog entry in `docs/tools.md` makes it an async tool: the worker invokes it with the
//! call's arguments as the event, and its JSON answer becomes the task's result.
//!
//! Event: `{"text": "...", "top": 3}`; answer: `{"words": N, "characters": N, "top": [[word, n]...]}`.
//! For trying failure paths: `"fail": "message"` makes it return an error (the task ends FAILED
//! with that message) and `"sleep_ms": N` makes it wait first.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const MAX_TOP: u64 = 50;

async fn count(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (args, context) = event.into_parts();
    if let Some(ms) = args["sleep_ms"].as_u64() {
        tokio::time::sleep(std::time::Duration::from_millis(ms.min(60_000))).await;
    }
    if let Some(message) = args["fail"].as_str() {
        return Err(message.into());
    }
    let text = args["text"]
        .as_str()
        .ok_or("the event needs \"text\": a string")?;
    let top = args["top"].as_u64().unwrap_or(3).min(MAX_TOP) as usize;
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for word in text.split_whitespace() {
        let word: String = word
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        if !word.is_empty() {
            *counts.entry(word).or_default() += 1;
        }
    }
    let mut ranked: Vec<(&String, &u64)> = counts.iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    // asynctools puts the task id in the client context: a function with effects can dedupe on it.
    let task_id = context
        .client_context
        .as_ref()
        .and_then(|c| c.custom.get("task_id").cloned());
    Ok(json!({
        "words": counts.values().sum::<u64>(),
        "characters": text.chars().count(),
        "top": ranked.into_iter().take(top).collect::<Vec<_>>(),
        "task_id": task_id,
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(count)).await
}
