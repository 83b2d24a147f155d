//! The MCP server: `tools/list` (the catalog and the results tools), `tools/call` through the
//! pipeline's dispatcher (`calls.rs`: an acknowledgement, an inline result, a task or a blocking
//! call), the results tools (`results.rs`), and the SEP-2663 methods `tasks/get`, `tasks/cancel`
//! and `tasks/update`. The 2025-11-25 task methods are served by `legacy.rs`.

use crate::conversation::Conversation;
use crate::delivery::Hub;
use crate::errors;
use crate::identity::Principals;
use crate::scope::{CONVERSATION_META_KEY, Place, Scope};
use crate::status::{self, TaskTiming};
use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CancelTaskParams, ExperimentalCapabilities,
    GetTaskParams, GetTaskResult, Implementation, JsonObject, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool, UpdateTaskParams,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{RoleServer, ServerHandler};
use std::sync::Arc;
use std::time::Duration;
use workers::clock::now_ms;
use workers::{Caller, Dispatcher, InputError, TaskRecord};

/// The reply-queue consumer the server's tasks name by default (a deployment must have it).
pub const DEFAULT_CONSUMER: &str = "mcp";
/// How long a call waits for its task before answering without the result, by default.
pub const DEFAULT_INLINE_WITHIN: Duration = Duration::from_millis(100);
/// Waiting calls a principal may have at once, by default (`quota.rs`).
pub const DEFAULT_MAX_WAITING_CALLS: u32 = 8;
/// The longest inline wait an option may set: beyond it a call is no longer "at once".
pub const MAX_INLINE_WITHIN: Duration = Duration::from_secs(10);
/// The experimental capability Claude Code's channels look for.
pub const CHANNEL_CAPABILITY: &str = "claude/channel";

/// How a `tools/call` from a client that does not use tasks is answered when its task takes longer
/// than the inline bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CallMode {
    /// At once, with an acknowledgement naming the task; the result comes in a later message.
    #[default]
    Ack,
    /// When the result is there (the MCP default for tools; the agent waits).
    Block,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Whose reply queue gets the results (pushes and waits are fed from it).
    pub consumer: String,
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
    pub call_mode: CallMode,
    /// A call whose task finishes within this answers with the result itself, in every mode.
    pub inline_within: Duration,
    /// Declare Claude Code's channel capability and push each result of a session to it.
    pub channels: bool,
    /// Calls of one principal that may wait for results at once (`quota.rs`); `None`: no limit.
    pub max_waiting_calls: Option<u32>,
}

impl Settings {
    /// Defaults for a dispatcher that keeps tasks `task_ttl_days`.
    pub fn new(task_ttl_days: u32) -> Settings {
        Settings {
            consumer: DEFAULT_CONSUMER.to_string(),
            timing: TaskTiming {
                ttl_ms: u64::from(task_ttl_days) * 86_400_000,
                poll_interval_ms: 500,
            },
            progress_every: Duration::from_secs(1),
            persistent_connection: false,
            push_statuses: true,
            max_wait: None,
            call_mode: CallMode::Ack,
            inline_within: DEFAULT_INLINE_WITHIN,
            channels: false,
            max_waiting_calls: Some(DEFAULT_MAX_WAITING_CALLS),
        }
    }

    pub fn check(&self) -> Result<(), InputError> {
        workers::protocol::check_consumer_name(&self.consumer)?;
        if self.timing.ttl_ms == 0 {
            return Err(InputError::new("ttl", "must be positive"));
        }
        if self.max_wait.is_some_and(|w| w.is_zero()) {
            return Err(InputError::new("max_wait", "must be positive when set"));
        }
        if self.max_waiting_calls == Some(0) {
            return Err(InputError::new(
                "max_waiting_calls",
                "must be at least 1 (leave it unset for no limit)",
            ));
        }
        if self.inline_within > MAX_INLINE_WITHIN {
            return Err(InputError::new(
                "inline_within",
                format!(
                    "{:?} is longer than the {:?} limit",
                    self.inline_within, MAX_INLINE_WITHIN
                ),
            ));
        }
        Ok(())
    }
}

/// The MCP server. Cheap to clone: the HTTP transport makes one per session or request.
#[derive(Clone)]
pub struct FrontDoor {
    pub(crate) inner: Arc<Inner>,
    /// The one conversation of a stdio server; HTTP sessions bring theirs with each request.
    conversation: Option<Arc<Conversation>>,
}

pub(crate) struct Inner {
    pub(crate) dispatcher: Arc<Dispatcher>,
    pub(crate) principals: Principals,
    pub(crate) settings: Settings,
    pub(crate) hub: Arc<Hub>,
    /// The catalog's tools (described as asynchronous), then the results tools.
    pub(crate) tools: Vec<Tool>,
}

impl FrontDoor {
    pub fn new(
        dispatcher: Arc<Dispatcher>,
        principals: Principals,
        settings: Settings,
        hub: Arc<Hub>,
    ) -> Result<FrontDoor, InputError> {
        settings.check()?;
        let mut tools: Vec<Tool> = dispatcher
            .catalog()
            .tools()
            .iter()
            .map(|spec| {
                Tool::new(
                    spec.name.clone(),
                    describe_async(&spec.description),
                    crate::schemas::input_schema(spec),
                )
            })
            .collect();
        tools.extend(crate::agent_tools::tools());
        Ok(FrontDoor {
            inner: Arc::new(Inner {
                dispatcher,
                principals,
                settings,
                hub,
                tools,
            }),
            conversation: None,
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
            conversation: self.conversation.clone(),
        })
    }

    /// The same server serving one conversation on a connection of its own (stdio).
    pub fn with_conversation(&self, conversation: Arc<Conversation>) -> FrontDoor {
        self.inner.hub.conversations.register(&conversation);
        FrontDoor {
            inner: self.inner.clone(),
            conversation: Some(conversation),
        }
    }

    pub fn conversation(&self) -> Option<&Arc<Conversation>> {
        self.conversation.as_ref()
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.inner.hub
    }

    pub fn dispatcher(&self) -> &Arc<Dispatcher> {
        &self.inner.dispatcher
    }

    pub fn tools(&self) -> &[Tool] {
        &self.inner.tools
    }

    fn owner_scope(&self) -> workers::OwnerScope {
        self.inner.dispatcher.owner_scope()
    }

    pub(crate) fn timing(&self) -> TaskTiming {
        self.inner.settings.timing
    }

    /// The scope of a request: its caller, and its session's conversation (stdio's, or the one
    /// the HTTP transport put in the request), bound to the caller that opened it. Without a
    /// session (the stateless server) the conversation is the one `_meta` names, or the default.
    pub fn scope(
        &self,
        headers: Option<&http::request::Parts>,
        meta: Option<&JsonObject>,
    ) -> Result<Scope, McpError> {
        let caller = self
            .inner
            .principals
            .caller_from(headers.map(|parts| &parts.headers), self.owner_scope())?;
        let live = self.conversation.clone().or_else(|| {
            headers.and_then(|parts| parts.extensions.get::<Arc<Conversation>>().cloned())
        });
        let place = match live {
            Some(conversation) => {
                conversation
                    .bind(&caller.principal)
                    .map_err(|e| McpError::invalid_request(e, None))?;
                Place::Live(conversation)
            }
            None => {
                let named = meta
                    .and_then(|m| m.get(CONVERSATION_META_KEY))
                    .and_then(|v| v.as_str());
                if let Some(handle) = named {
                    workers::protocol::check_conversation_id(handle).map_err(|e| {
                        McpError::invalid_params(
                            format!("_meta[{CONVERSATION_META_KEY:?}]: {}", e.message),
                            None,
                        )
                    })?;
                }
                return Ok(Scope::stateless(caller, named));
            }
        };
        Ok(Scope { caller, place })
    }

    /// The caller a request's headers name (`Principals`), to the deployment's owner scope.
    pub fn caller_of(&self, headers: &http::HeaderMap) -> Result<Caller, McpError> {
        self.inner
            .principals
            .caller_from(Some(headers), self.owner_scope())
    }

    fn request_scope(
        &self,
        context: &RequestContext<RoleServer>,
        meta: Option<&JsonObject>,
    ) -> Result<Scope, McpError> {
        let scope = self.scope(context.extensions.get::<http::request::Parts>(), meta)?;
        if let Some(conversation) = scope.live() {
            conversation.attach(&context.peer);
        }
        Ok(scope)
    }

    /// The caller's task, unless it does not exist for them (another owner's, expired, malformed).
    pub(crate) async fn lookup(
        &self,
        caller: &Caller,
        task_id: &str,
    ) -> Result<TaskRecord, McpError> {
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

    fn capabilities(&self) -> ServerCapabilities {
        let mut capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_tasks()
            .build();
        if self.inner.settings.channels {
            let mut experimental = ExperimentalCapabilities::new();
            experimental.insert(CHANNEL_CAPABILITY.to_string(), JsonObject::new());
            capabilities.experimental = Some(experimental);
        }
        capabilities
    }
}

/// A catalog tool's description, with what every model must know about calling it.
fn describe_async(description: &str) -> String {
    format!(
        "{description} Asynchronous: if it takes longer than a moment, the call returns a task id \
         at once and the result comes in a later message (appended to a later tool result, or \
         from task_results); never guess the result meanwhile."
    )
}

const INSTRUCTIONS: &str = "The tools of this server run asynchronously on the asynctools task \
    pipeline. A call that takes longer than a moment answers at once with a task id; its result \
    is handed to you exactly once in a later message: appended to a later tool result, returned \
    by task_results, or pushed to the session where the client supports it. Never guess or make \
    up a result you do not have yet: carry on with other work, and call task_results with wait_s \
    when you need to wait for one. Clients with the tasks extension (io.modelcontextprotocol/tasks, \
    or the 2025-11-25 tasks) get tasks instead and poll them.";

impl ServerHandler for FrontDoor {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(self.capabilities())
            .with_server_info(Implementation::new("asynctools", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        // The session's connection, for pushes to it (channel events).
        if let Some(conversation) = self.conversation.clone().or_else(|| {
            context
                .extensions
                .get::<http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<Arc<Conversation>>().cloned())
        }) {
            conversation.attach(&context.peer);
        }
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
        // rmcp moves the request's `_meta` into the context before calling the handler.
        let meta = request.meta.as_ref().or(Some(&context.meta));
        let scope = self.request_scope(&context, meta.map(|m| &m.0.0))?;
        let declares_tasks = context
            .client_capabilities()
            .is_some_and(|caps| caps.supports_tasks());
        self.call(&scope, request, declares_tasks, &context).await
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, McpError> {
        let scope = self.request_scope(&context, None)?;
        let record = self.lookup(&scope.caller, &request.task_id).await?;
        self.note_read(&scope, &record).await;
        Ok(GetTaskResult::new(status::detailed(&record, self.timing())))
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        // No tool here asks for input, so no key is ever outstanding: per SEP-2663 responses to
        // keys that are not outstanding are ignored. The task must still exist for the caller.
        let caller = self.inner.principals.caller(&context, self.owner_scope())?;
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
        let caller = self.inner.principals.caller(&context, self.owner_scope())?;
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
