//! A client of the dispatcher: the deployed one behind its Function URL (the routes of `api`,
//! SigV4-signed), or the dispatcher logic in this process. Both answer with the same types, the
//! ones the HTTP API sends.

use crate::api::{CancelReply, ErrorReply, PageQuery, PageReply, Reply, Route};
use crate::aws::FunctionUrlClient;
use crate::backend::AwsConnection;
use crate::dispatcher::{Caller, Dispatcher, DispatcherSettings};
use crate::error::{InputError, PipelineError};
use crate::protocol::{SubmitAck, TaskRequest};
use crate::record::TaskRecord;
use crate::state::TaskStatus;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Where a client's calls go.
pub enum TaskClient {
    /// The dispatcher logic in this process, as `caller`.
    InProcess {
        dispatcher: Box<Dispatcher>,
        caller: Caller,
    },
    /// The deployed dispatcher's Function URL; the caller is the signing IAM principal.
    Remote(Box<FunctionUrlClient>),
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The dispatcher in this process refused the call, or its backend failed.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// The deployed dispatcher answered with an error.
    #[error("dispatcher answered HTTP {status}: {message}")]
    Http { status: u16, message: String },
    /// No answer, or not the answer the route gives.
    #[error(transparent)]
    Transport(anyhow::Error),
    /// `wait` gave up on a task that had not finished.
    #[error("task {task_id} is still {status} after {}", humantime::format_duration(*.waited))]
    StillRunning {
        task_id: String,
        status: TaskStatus,
        waited: Duration,
    },
}

impl From<InputError> for ClientError {
    fn from(e: InputError) -> Self {
        ClientError::Pipeline(e.into())
    }
}

impl ClientError {
    /// True when the caller sent something wrong (exit 2 / HTTP 4xx) rather than something failing.
    pub fn is_caller_error(&self) -> bool {
        match self {
            ClientError::Pipeline(e) => e.is_caller_error(),
            ClientError::Http { status, .. } => (400..500).contains(status),
            ClientError::Transport(_) | ClientError::StillRunning { .. } => false,
        }
    }
}

/// How often `wait` reads the task.
const WAIT_POLL: Duration = Duration::from_millis(100);

impl TaskClient {
    /// The deployed dispatcher when the connection names its URL, else the dispatcher logic here
    /// with the catalog's tools, as `caller` (asked only then).
    pub async fn for_connection(
        connection: &AwsConnection,
        caller: impl FnOnce() -> Result<Caller, InputError>,
    ) -> Result<TaskClient, ClientError> {
        if let Some(url) = &connection.dispatcher_url {
            let client =
                FunctionUrlClient::new(&connection.sdk, url).map_err(ClientError::Transport)?;
            return Ok(TaskClient::Remote(Box::new(client)));
        }
        let backend = &connection.backend;
        let tools = crate::tools::for_catalog(&backend.catalog, Some(&connection.sdk)).await?;
        let dispatcher = backend.dispatcher(tools, DispatcherSettings::default())?;
        Ok(TaskClient::InProcess {
            dispatcher: Box::new(dispatcher),
            caller: caller()?,
        })
    }

    /// One call of the HTTP API, its answer read as the route's type.
    async fn call<T: DeserializeOwned>(
        client: &FunctionUrlClient,
        route: Route,
        param: &str,
        query: Option<PageQuery<'_>>,
        body: Option<&str>,
    ) -> Result<T, ClientError> {
        let mut path = route.path(param);
        if let Some(query) = query {
            path.push_str(&query.to_query());
        }
        let Reply { status, body } = client
            .call(route.method(), &path, body)
            .await
            .map_err(ClientError::Transport)?;
        if !(200..300).contains(&status) {
            let message = match serde_json::from_value::<ErrorReply>(body.clone()) {
                Ok(reply) => reply.error,
                Err(_) => body.to_string(),
            };
            return Err(ClientError::Http { status, message });
        }
        serde_json::from_value(body.clone()).map_err(|e| {
            ClientError::Transport(anyhow::anyhow!(
                "{} {path}: HTTP {status} with an unexpected body ({e}): {body}",
                route.method()
            ))
        })
    }

    pub async fn submit(&self, request: TaskRequest) -> Result<SubmitAck, ClientError> {
        match self {
            TaskClient::InProcess { dispatcher, caller } => {
                Ok(dispatcher.submit(caller, request).await?)
            }
            TaskClient::Remote(client) => {
                let body = serde_json::to_string(&request)
                    .map_err(|e| ClientError::Transport(e.into()))?;
                Self::call(client, Route::Submit, "", None, Some(&body)).await
            }
        }
    }

    pub async fn get(&self, task_id: &str) -> Result<TaskRecord, ClientError> {
        match self {
            TaskClient::InProcess { dispatcher, caller } => {
                Ok(dispatcher.get(caller, task_id).await?)
            }
            TaskClient::Remote(client) => Self::call(client, Route::Get, task_id, None, None).await,
        }
    }

    /// One page of a conversation's tasks, oldest first.
    pub async fn list(
        &self,
        conversation_id: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<PageReply, ClientError> {
        match self {
            TaskClient::InProcess { dispatcher, caller } => Ok(dispatcher
                .list(caller, conversation_id, limit, cursor)
                .await?
                .into()),
            TaskClient::Remote(client) => {
                let query = PageQuery { limit, cursor };
                Self::call(client, Route::List, conversation_id, Some(query), None).await
            }
        }
    }

    pub async fn cancel(&self, task_id: &str) -> Result<CancelReply, ClientError> {
        match self {
            TaskClient::InProcess { dispatcher, caller } => {
                Ok(dispatcher.cancel(caller, task_id).await?.into())
            }
            TaskClient::Remote(client) => {
                Self::call(client, Route::Cancel, task_id, None, None).await
            }
        }
    }

    /// Reads the task until it is terminal, for at most `timeout`.
    pub async fn wait(&self, task_id: &str, timeout: Duration) -> Result<TaskRecord, ClientError> {
        let started = tokio::time::Instant::now();
        loop {
            let record = self.get(task_id).await?;
            if record.status.is_terminal() {
                return Ok(record);
            }
            if started.elapsed() > timeout {
                return Err(ClientError::StillRunning {
                    task_id: task_id.to_string(),
                    status: record.status,
                    waited: timeout,
                });
            }
            tokio::time::sleep(WAIT_POLL).await;
        }
    }
}
