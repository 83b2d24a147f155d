//! `tools/call` of a catalog tool: the task is in the table and on its queue before any answer;
//! then the call waits a moment (the inline bound) for it, and answers with
//!
//! - the result itself, when the task finished within the bound (every client, every mode: a fast
//!   tool never costs a poll);
//! - a task, for clients that asked for tasks (SEP-2663 here; SEP-1686 in `legacy.rs`);
//! - an acknowledgement naming the task (ack mode, the default for every other client): a normal
//!   tool result telling the model the result comes later and must not be guessed;
//! - or, in block mode, the result once it is there.
//!
//! Results already finished in the conversation ride along on any answer that is not a task.

use crate::conversation::tasks_conversation;
use crate::errors;
use crate::scope::Scope;
use crate::server::{CallMode, FrontDoor};
use crate::status;
use rmcp::ErrorData as McpError;
use rmcp::RoleServer;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, CreateTaskResult,
    ProgressNotificationParam, TaskStatus as McpStatus,
};
use rmcp::service::RequestContext;
use serde_json::{Value, json};
use std::time::Duration;
use workers::{Caller, PipelineError, SubmitAck, TaskRecord, TaskRequest};

/// How a call waits for its task.
pub(crate) struct Wait<'a> {
    /// Give up after this long (`Ok(None)`); `None`: until the task ends.
    pub limit: Option<Duration>,
    /// The request, for progress notifications and its cancellation (which cancels the task).
    pub context: Option<&'a RequestContext<RoleServer>>,
}

impl FrontDoor {
    pub(crate) async fn call(
        &self,
        scope: &Scope,
        request: CallToolRequestParams,
        declares_tasks: bool,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        if let Some(call) = crate::agent_tools::parse(&request.name, request.arguments.as_ref()) {
            return Ok(self.agent_call(scope, call).await?.into());
        }
        let settings = &self.inner.settings;
        let blocking = !declares_tasks && settings.call_mode == CallMode::Block;
        // A blocking call waits: it needs one of the caller's waiting slots before anything is
        // stored.
        let _waiting = if blocking {
            match self.waiting_call(&scope.caller, settings.max_wait).await {
                Ok(waiting) => Some(waiting),
                Err(refusal) => {
                    return Ok(CallToolResult::error(vec![ContentBlock::text(refusal)]).into());
                }
            }
        } else {
            None
        };
        let conversation_id = if declares_tasks {
            tasks_conversation(scope.handle())
        } else {
            scope.handle().to_string()
        };
        // Held before the task exists: a fast tool can finish before `submit` returns, and the
        // result pump must not push what this call is about to answer with itself.
        let task_id = workers::dispatcher::new_task_id();
        let hold = scope.hold(&task_id);
        // A quota's refusal is an `isError` result, which the model reads.
        let ack = match self
            .submit(&scope.caller, &request, conversation_id, task_id.clone())
            .await?
        {
            Ok(ack) => ack,
            Err(PipelineError::QuotaExceeded { message, .. }) => {
                let text = ContentBlock::text(message);
                return Ok(CallToolResult::error(vec![text]).into());
            }
            Err(e) => return Err(errors::pipeline(e)),
        };
        // No idempotency key: the task is always the new one.
        debug_assert_eq!(ack.task_id, task_id);
        let limit = if blocking {
            settings.max_wait
        } else if self
            .inner
            .hub
            .latencies
            .worth_waiting(&request.name, settings.inline_within)
        {
            Some(settings.inline_within)
        } else {
            // Known to take longer than the bound: waiting would only delay the answer.
            Some(Duration::ZERO)
        };
        let wait = Wait {
            limit,
            context: Some(context),
        };
        let finished = if limit == Some(Duration::ZERO) {
            None
        } else {
            self.wait(&scope.caller, &ack.task_id, wait).await?
        };
        let mut answer = match finished {
            Some(record) => {
                if let Err(e) = self
                    .inner
                    .dispatcher
                    .claim_delivery(&scope.caller, record.clone())
                    .await
                {
                    tracing::warn!(task_id = %record.task_id, error = %e, "could not mark an inline result delivered");
                }
                finished_answer(&record)?
            }
            None if declares_tasks => {
                self.watch(&ack.task_id, context);
                let task = status::acknowledged(&ack, self.timing());
                return Ok(CallToolResponse::Task(CreateTaskResult::new(task)));
            }
            None if blocking => {
                let waited = settings.max_wait.unwrap_or_default().as_secs();
                return Err(errors::still_working(&ack.task_id, waited));
            }
            None => acknowledgement(&ack, scope.handle()),
        };
        drop(hold);
        if !declares_tasks {
            self.append_finished(scope, &mut answer).await;
        }
        Ok(answer.into())
    }

    /// Pushes the task's status to this connection when it ends, where the connection stays open.
    fn watch(&self, task_id: &str, context: &RequestContext<RoleServer>) {
        let settings = &self.inner.settings;
        let keeps_connection = settings.push_statuses
            && (settings.persistent_connection
                || context
                    .protocol_version()
                    .is_some_and(|v| v.has_initialize()));
        if keeps_connection {
            self.inner.hub.watch(task_id, context.peer.clone());
        }
    }

    /// Submits a call of a catalog tool as task `task_id`: `Err` for a tool the server does not
    /// have, else the dispatcher's answer, left to the caller to report (a quota's refusal reads
    /// differently in a `tools/call` and in the tasks extensions).
    pub(crate) async fn submit(
        &self,
        caller: &Caller,
        request: &CallToolRequestParams,
        conversation_id: String,
        task_id: String,
    ) -> Result<Result<SubmitAck, PipelineError>, McpError> {
        let catalog = self.inner.dispatcher.catalog();
        if catalog.get(&request.name).is_err() {
            let mut known = catalog.names();
            known.extend([
                crate::agent_tools::TASK_RESULTS,
                crate::agent_tools::TASK_STATUS,
                crate::agent_tools::TASK_CANCEL,
            ]);
            return Err(errors::unknown_tool(&request.name, &known));
        }
        let arguments = Value::Object(request.arguments.clone().unwrap_or_default());
        let mut task = TaskRequest::new(conversation_id, request.name.to_string(), arguments);
        task.reply_to = Some(self.inner.settings.consumer.clone());
        let ack = self.inner.dispatcher.submit_as(caller, task, task_id).await;
        if ack.is_ok() {
            self.inner.hub.note_owner(&caller.principal);
        }
        Ok(ack)
    }

    /// Waits for the task to end: `Ok(None)` if it is still working when `wait.limit` passes.
    /// Woken by the result pump; polling the table is the fallback (results routed elsewhere, or
    /// no pump at all). Reports progress when the request asked for it; a request its client
    /// cancels cancels the task.
    pub(crate) async fn wait(
        &self,
        caller: &Caller,
        task_id: &str,
        wait: Wait<'_>,
    ) -> Result<Option<TaskRecord>, McpError> {
        let started = tokio::time::Instant::now();
        let progress_token = wait.context.and_then(|c| c.meta.get_progress_token());
        let progress_every = self.inner.settings.progress_every;
        let mut next_progress = started + progress_every;
        let mut poll = Duration::from_millis(10);
        let mut waiter = self.inner.hub.waiter(task_id);
        let outcome = loop {
            let record = self.lookup(caller, task_id).await?;
            if record.status.is_terminal() {
                self.inner.hub.latencies.record(&record);
                break Ok(Some(record));
            }
            let left = wait.limit.map(|l| l.saturating_sub(started.elapsed()));
            if left.is_some_and(|l| l.is_zero()) {
                break Ok(None);
            }
            if let (Some(token), Some(context)) = (&progress_token, wait.context)
                && tokio::time::Instant::now() >= next_progress
            {
                let progress =
                    ProgressNotificationParam::new(token.clone(), started.elapsed().as_secs_f64())
                        .with_message(format!("task {task_id}: {}", record.status));
                let sent = context.peer.notify_progress(progress);
                if tokio::time::timeout(Duration::from_secs(1), sent)
                    .await
                    .is_err()
                {
                    tracing::debug!(%task_id, "progress notification timed out");
                }
                next_progress += progress_every;
            }
            let mut nap = poll;
            if progress_token.is_some() {
                nap = nap.min(next_progress.saturating_duration_since(tokio::time::Instant::now()));
            }
            if let Some(left) = left {
                nap = nap.min(left);
            }
            let cancelled = async {
                match wait.context {
                    Some(context) => context.ct.cancelled().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = waiter.changed() => {}
                () = tokio::time::sleep(nap) => poll = (poll * 2).min(Duration::from_secs(1)),
                () = cancelled => {
                    if let Err(e) = self.inner.dispatcher.cancel(caller, task_id).await {
                        tracing::warn!(%task_id, error = %e, "could not cancel an abandoned call's task");
                    }
                    break Err(McpError::internal_error("the request was cancelled", None));
                }
            }
            // A closed channel (entry dropped) or a stale `true` would spin; take a fresh one.
            waiter = self.inner.hub.waiter(task_id);
        };
        drop(waiter);
        self.inner.hub.release_waiter(task_id);
        outcome
    }
}

/// The answer of a call whose task has ended, as a blocking call answers: the tool's result (with
/// `isError` for its own error), a cancelled note, or a JSON-RPC error for an infrastructure
/// failure.
pub(crate) fn finished_answer(record: &TaskRecord) -> Result<CallToolResult, McpError> {
    match status::mcp_status(record.status, record.error.as_ref()) {
        McpStatus::Completed => Ok(status::tool_result(record)),
        McpStatus::Cancelled => Ok(CallToolResult::error(vec![ContentBlock::text(format!(
            "task {} was cancelled",
            record.task_id
        ))])),
        _ => {
            let failure = status::failure(record);
            let message = failure
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("the task failed")
                .to_string();
            Err(McpError::internal_error(
                message,
                failure.get("data").cloned(),
            ))
        }
    }
}

/// What the model reads in place of a result it does not have yet. Worded for models: it names
/// the task, says the result comes later, forbids guessing it, and says how to get it.
pub(crate) fn acknowledgement(ack: &SubmitAck, handle: &str) -> CallToolResult {
    let text = format!(
        "{tool} is running asynchronously as task {id}. Its result is not available yet: it will \
         be delivered to you in a later message, appended to a later tool result or returned by \
         task_results. Do not guess, invent or assume the result. Carry on with other work, or \
         tell the user it is in progress; when you need it and have nothing else to do, call \
         task_results with wait_s (for example 30) to wait for it. (conversation {handle})",
        tool = ack.tool,
        id = ack.task_id,
    );
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(json!({
        "taskId": ack.task_id,
        "status": "working",
        "tool": ack.tool,
        "conversation": handle,
    }));
    result
}
