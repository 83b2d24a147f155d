//! The template of `asynctools tools new` (workers/src/tools/scaffold). A new tool is this file
//! from the line after the marker below, with `template-tool`, `template_tool` and `TemplateTool`
//! replaced by the tool's catalog name, module and type. It is compiled and tested as a module of
//! its own (by the scaffold, test builds only), so what `tools new` writes builds and passes its
//! tests.
// asynctools tools new: the template starts after this line
//! The tool `template-tool` of workers/tools.toml.
//!
//! Made by `asynctools tools new` (docs/tools.md, "Your own tools").
//!
//! Replace the example argument `text` and the work in `work` with your own. Keep `check_arguments`
//! and the tool's `[tools.input_schema]` in workers/tools.toml in step: MCP clients read the schema,
//! the dispatcher and the worker run this check.

use crate::error::InputError;
use crate::tools::{Tool, ToolContext, ToolFailure, args};
use async_trait::async_trait;
use serde_json::{Value, json};

/// The longest `text` accepted, in characters (`maxLength` in the schema).
const MAX_TEXT_CHARS: usize = 10_000;

pub struct TemplateTool;

#[async_trait]
impl Tool for TemplateTool {
    /// Runs when the task is submitted (bad input is refused before anything is queued) and again
    /// before each run. Every error names its argument (`arguments.text`), and the arguments are
    /// only ever read through the `args` helpers, so both checks agree.
    fn check_arguments(&self, arguments: &Value) -> Result<(), InputError> {
        args::only_known(arguments, &["text"])?;
        let text = args::required_str(arguments, "text")?;
        if text.trim().is_empty() {
            return Err(InputError::new(args::field("text"), "must not be blank"));
        }
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(InputError::new(
                args::field("text"),
                format!("is longer than {MAX_TEXT_CHARS} characters"),
            ));
        }
        Ok(())
    }

    /// The result is any JSON value (at most 200 KiB as text); an `Err` ends the task FAILED with
    /// its message, and is never retried. The worker stops a run at the tool's `timeout_s`
    /// (`context.budget` says how long is left).
    async fn run(&self, arguments: Value, context: ToolContext) -> Result<Value, ToolFailure> {
        self.check_arguments(&arguments)
            .map_err(|e| ToolFailure::new(e.to_string()))?;
        let text =
            args::required_str(&arguments, "text").map_err(|e| ToolFailure::new(e.to_string()))?;
        // A cancelled task's result is thrown away: stop working as soon as it is cancelled.
        tokio::select! {
            result = work(text) => result,
            () = context.cancelled.cancelled() => Err(ToolFailure::new("cancelled")),
        }
    }
}

/// The tool's work: replace it with yours (a call to a service, a computation, ...).
async fn work(text: &str) -> Result<Value, ToolFailure> {
    tokio::task::yield_now().await;
    Ok(json!({
        "characters": text.chars().count(),
        "words": text.split_whitespace().count(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn good_arguments_are_accepted_and_run() {
        let tool = TemplateTool;
        let arguments = json!({"text": "hello async world"});
        tool.check_arguments(&arguments).unwrap();
        let budget = std::time::Duration::from_secs(30);
        let context = ToolContext::new("task-1", "conversation-1", budget);
        let result = tool.run(arguments, context).await.unwrap();
        assert_eq!(result, json!({"characters": 17, "words": 3}));
    }

    #[test]
    fn bad_arguments_are_refused_naming_the_argument() {
        let tool = TemplateTool;
        let too_long = "x".repeat(MAX_TEXT_CHARS + 1);
        let cases = [
            (json!({}), "arguments.text: is required"),
            (json!({"text": 7}), "arguments.text: must be a string"),
            (json!({"text": " \n"}), "arguments.text: must not be blank"),
            (json!({"text": too_long}), "arguments.text: is longer than"),
            (json!({"text": "hi", "x": 1}), "arguments.x: is not an"),
        ];
        for (arguments, expected) in cases {
            let error = tool.check_arguments(&arguments).unwrap_err().to_string();
            assert!(error.starts_with(expected), "{arguments}: {error}");
        }
    }
}
