//! The seed's slow research call, honestly labelled as a demo: it waits, then says it did no research.

use super::{Tool, ToolContext, ToolFailure, args};
use crate::error::InputError;
use async_trait::async_trait;
use serde_json::{Value, json};
use std::time::Duration;

/// The seed's example sleeps 15 s.
pub const DEFAULT_LATENCY_MS: u64 = 15_000;
const MAX_LATENCY_MS: u64 = 900_000;
const MAX_TOPIC_CHARS: usize = 500;

pub struct Research;

#[async_trait]
impl Tool for Research {
    fn check_arguments(&self, arguments: &Value) -> Result<(), InputError> {
        args::only_known(arguments, &["topic", "latency_ms"])?;
        let topic = args::required_str(arguments, "topic")?;
        if topic.trim().is_empty() {
            return Err(InputError::new(args::field("topic"), "must not be blank"));
        }
        if topic.chars().count() > MAX_TOPIC_CHARS {
            return Err(InputError::new(
                args::field("topic"),
                format!(
                    "is {} characters; the limit is {MAX_TOPIC_CHARS}",
                    topic.chars().count()
                ),
            ));
        }
        args::optional_u64(arguments, "latency_ms", MAX_LATENCY_MS)?;
        Ok(())
    }

    async fn run(&self, arguments: Value, context: ToolContext) -> Result<Value, ToolFailure> {
        self.check_arguments(&arguments)
            .map_err(|e| ToolFailure::new(e.to_string()))?;
        let topic =
            args::required_str(&arguments, "topic").map_err(|e| ToolFailure::new(e.to_string()))?;
        let latency_ms = args::optional_u64(&arguments, "latency_ms", MAX_LATENCY_MS)
            .map_err(|e| ToolFailure::new(e.to_string()))?
            .unwrap_or(DEFAULT_LATENCY_MS);
        context
            .wait(
                Duration::from_millis(latency_ms),
                "cancelled while researching",
            )
            .await?;
        Ok(json!({
            "topic": topic,
            "findings": format!(
                "Demo findings about {topic:?}: `research` is a demonstration of a slow tool call. It waited \
                 {latency_ms} ms and did no real research; do not present this as fact."
            ),
            "demo": true,
            "latency_ms": latency_ms,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cancel_ends_the_wait() {
        let context = ToolContext::new("01JZZZZZZZZZZZZZZZZZZZZZZZ", "c", Duration::from_secs(900));
        let cancelled = context.cancelled.clone();
        let run = Research.run(json!({"topic": "t", "latency_ms": 600_000}), context);
        let cancel = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            cancelled.cancel();
        };
        let (ended, ()) = tokio::join!(tokio::time::timeout(Duration::from_secs(60), run), cancel);
        let failure = ended
            .expect("the cancel ends the 600 s wait")
            .expect_err("a cancelled research fails");
        assert!(failure.message.contains("cancelled"), "{}", failure.message);
    }
}
