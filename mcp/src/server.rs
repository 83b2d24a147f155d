//! The MCP server: `tools/list` from the catalog, `tools/call` through the pipeline's dispatcher
//! (a task for clients that declare the tasks extension, a blocking call otherwise), and the
//! SEP-2663 methods `tasks/get`, `tasks/cancel` and `tasks/update`.

use crate::delivery::Hub;
use crate::errors;
use crate::identity::Principals;
use crate::status::{self, TaskTiming};
use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CancelTaskParams, CreateTaskResult, GetTaskParams,
    GetTaskResult, Implementation, ListToolsResult, PaginatedRequestParams,
    ProgressNotificationParam, ServerCapabilities, ServerConfig, Tool, UpdateTaskParams,
};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use workers::clock::now_ms;
use workers::{Caller, Dispatcher, InputError, TaskRecord, TaskRequest};

/// The reply-queue consumer the server's tasks name by default (a deployment must have it).
pub const DEFAULT_CONSUMER: &str = "mcp";
/// The conversation id the server's tasks are recorded under.
pub const DEFAULT_CONVERSATION: &str = "mcp";

#[derive(Debug, Clone)]
pub struct Settings {
    /// Whose reply queue gets the results (pushes and blocking calls are fed from it).
    pub consumer: String,
    pub conversation_id: String,
    pub timing: TaskTiming,
    /// How often a blocking call reports progress while its task runs.
    pub progress_every: Duration,
    /// Whether the transport keeps one connection per client (stdio), so statuses can be pushed
    /// to any client; over HTTP only legacy sessions keep one.
    pub persistent_connection: bool,
    /// Whether anything pushes statuses at all: false where no result pump runs (the stateless
    /// Lambda function), so no connection is remembered for pushes that never come.
    pub push_statuses: bool,
    /// How long a blocking call waits before answering that its task is still working (the
    /// task keeps running). `None`: as long as the task takes.
    pub max_wait: Option<Duration>,
}

impl Settings {
    /// Defaults for a dispatcher that keeps tasks `task_ttl_days`.
    pub fn new(task_ttl_days: u32) -> Settings {
        Settings {
            consumer: DEFAULT_CONSUMER.to_string(),
            conversation_id: DEFAULT_CONVERSATION.to_string(),
            timing: TaskTiming {
                ttl_ms: u64::from(task_ttl_days) * 86_400_000,
                poll_interval_ms: 500,
            },
            progress_every: Duration::from_secs(1),
            persistent_connection: false,
            push_statuses: true,
            max_wait: None,
        }
    }

    pub fn check(&self) -> Result<(), InputError> {
        workers::protocol::check_consumer_name(&self.consumer)?;
        workers::protocol::check_conversation_id(&self.conversation_id)?;
        if self.timing.ttl_ms == 0 {
            return Err(InputError::new("ttl", "must be positive"));
        }
        if self.max_wait.is_some_and(|w| w.is_zero()) {
            return Err(InputError::new("max_wait", "must be positive when set"));
        }
        Ok(())
    }
}

/// The MCP server. Cheap to clone: the HTTP transport makes one per session or request.
#[derive(Clone)]
pub struct FrontDoor {
    inner: Arc<Inner>,
}

struct Inner {
    dispatcher: Arc<Dispatcher>,
    principals: Principals,
    settings: Settings,
    hub: Arc<Hub>,
    tools: Vec<Tool>,
}

impl FrontDoor {
    pub fn new(
        dispatcher: Arc<Dispatcher>,
        principals: Principals,
        settings: Settings,
        hub: Arc<Hub>,
    ) -> Result<FrontDoor, InputError> {
        settings.check()?;
        let tools = dispatcher
            .catalog()
            .tools()
            .iter()
            .map(|spec| {
                Tool::new(
                    spec.name.clone(),
                    spec.description.clone(),
                    crate::schemas::input_schema(spec),
                )
            })
            .collect();
        Ok(FrontDoor {
            inner: Arc::new(Inner {
                dispatcher,
                principals,
                settings,
                hub,
                tools,
            }),
        })
    }

    /// The same server with other settings (stdio sets `persistent_connection`).
    pub fn with_settings(&self, settings: Settings) -> Result<FrontDoor, InputError> {
        settings.check()?;
        Ok(FrontDoor {
            inner: Arc::new(Inner {
                dispatcher: self.inner.dispatcher.clone(),
                principals: self.inner.principals.clone(),
                settings,
                hub: self.inner.hub.clone(),
                tools: self.inner.tools.clone(),
            }),
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.inner.hub
    }

    fn timing(&self) -> TaskTiming {
        self.inner.settings.timing
    }

    /// The caller's task, unless it does not exist for them (another owner's, expired, malformed).
    async fn lookup(&self, caller: &Caller, task_id: &str) -> Result<TaskRecord, McpError> {
        let record = self
            .inner
            .dispatcher
            .get(caller, task_id)
            .await
            .map_err(|e| errors::lookup(task_id, e))?;
        if self.timing().expired(record.created_at_ms, now_ms()) {
            return Err(errors::unknown_task(task_id));
        }
        Ok(record)
    }

    async fn submit(
        &self,
        caller: &Caller,
        request: &CallToolRequestParams,
    ) -> Result<workers::SubmitAck, McpError> {
        let catalog = self.inner.dispatcher.catalog();
        if catalog.get(&request.name).is_err() {
            return Err(errors::unknown_tool(&request.name, &catalog.names()));
        }
        let arguments = Value::Object(request.arguments.clone().unwrap_or_default());
        let mut task = TaskRequest::new(
            self.inner.settings.conversation_id.clone(),
            request.name.to_string(),
            arguments,
        );
        task.reply_to = Some(self.inner.settings.consumer.clone());
        let ack = self
            .inner
            .dispatcher
            .submit(caller, task)
            .await
            .map_err(errors::pipeline)?;
        self.inner.hub.note_owner(&caller.principal);
        Ok(ack)
    }

    /// The synchronous fallback: waits for the task, reporting progress when the client asked
    /// for it; a client that gives up (cancels the request) cancels the task.
    async fn wait(
        &self,
        caller: &Caller,
        task_id: &str,
        context: &RequestContext<RoleServer>,
    ) -> Result<TaskRecord, McpError> {
        let started = tokio::time::Instant::now();
        let progress_token = context.meta.get_progress_token();
        let mut next_progress = started;
        // Woken by the result pump; polling is the fallback when the result is routed elsewhere.
        let mut poll = Duration::from_millis(10);
        let mut waiter = self.inner.hub.waiter(task_id);
        let outcome = loop {
            let record = self.lookup(caller, task_id).await?;
            if record.status.is_terminal() {
                break Ok(record);
            }
            if let Some(limit) = self.inner.settings.max_wait
                && started.elapsed() >= limit
            {
                break Err(errors::still_working(task_id, limit.as_secs()));
            }
            if let Some(token) = &progress_token
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
                next_progress += self.inner.settings.progress_every;
            }
            let until_progress =
                next_progress.saturating_duration_since(tokio::time::Instant::now());
            let mut nap = if progress_token.is_some() {
                poll.min(until_progress)
            } else {
                poll
            };
            if let Some(limit) = self.inner.settings.max_wait {
                nap = nap.min(limit.saturating_sub(started.elapsed()));
            }
            tokio::select! {
                _ = waiter.changed() => {}
                () = tokio::time::sleep(nap) => poll = (poll * 2).min(Duration::from_secs(1)),
                () = context.ct.cancelled() => {
                    if let Err(e) = self.inner.dispatcher.cancel(caller, task_id).await {
                        tracing::warn!(%task_id, error = %e, "could not cancel an abandoned blocking call's task");
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

impl ServerHandler for FrontDoor {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tasks()
                .build(),
        )
        .with_server_info(Implementation::new("asynctools", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Tools run asynchronously on the asynctools task pipeline. Clients that declare the \
             io.modelcontextprotocol/tasks extension get a task at once and poll tasks/get (or \
             receive notifications/tasks); other clients' calls block until the result.",
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(self.inner.tools.clone()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.inner.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let caller = self.inner.principals.caller(&context)?;
        let declares_tasks = context
            .client_capabilities()
            .is_some_and(|caps| caps.supports_tasks());
        // The task is in the table and on its queue before the reply (`submit` returns after both).
        let ack = self.submit(&caller, &request).await?;
        if declares_tasks {
            let keeps_connection = self.inner.settings.push_statuses
                && (self.inner.settings.persistent_connection
                    || context
                        .protocol_version()
                        .is_some_and(|v| v.has_initialize()));
            if keeps_connection {
                self.inner.hub.watch(&ack.task_id, context.peer.clone());
            }
            let task = status::acknowledged(&ack, self.timing());
            return Ok(CallToolResponse::Task(CreateTaskResult::new(task)));
        }
        let record = self.wait(&caller, &ack.task_id, &context).await?;
        match status::mcp_status(record.status, record.error.as_ref()) {
            rmcp::model::TaskStatus::Completed => Ok(status::tool_result(&record).into()),
            rmcp::model::TaskStatus::Cancelled => {
                Ok(
                    rmcp::model::CallToolResult::error(vec![rmcp::model::ContentBlock::text(
                        format!("task {} was cancelled", record.task_id),
                    )])
                    .into(),
                )
            }
            _ => {
                let failure = status::failure(&record);
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

    async fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, McpError> {
        let caller = self.inner.principals.caller(&context)?;
        let record = self.lookup(&caller, &request.task_id).await?;
        Ok(GetTaskResult::new(status::detailed(&record, self.timing())))
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        // No tool here asks for input, so no key is ever outstanding: per SEP-2663 responses to
        // keys that are not outstanding are ignored. The task must still exist for the caller.
        let caller = self.inner.principals.caller(&context)?;
        self.lookup(&caller, &request.task_id).await?;
        if !request.input_responses.is_empty() {
            tracing::debug!(task_id = %request.task_id, "ignoring input responses: nothing is outstanding");
        }
        Ok(())
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let caller = self.inner.principals.caller(&context)?;
        self.lookup(&caller, &request.task_id).await?;
        // A queued task never runs once CANCELLED; a running tool is told at its next heartbeat.
        // A task that already finished keeps its status (terminal states never change).
        self.inner
            .dispatcher
            .cancel(&caller, &request.task_id)
            .await
            .map_err(|e| errors::lookup(&request.task_id, e))?;
        Ok(())
    }
}
