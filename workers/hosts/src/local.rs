//! The local worker of a command line: which tools it serves, its id, and with the memory backend
//! (which lives inside one process) the whole loop — task requests in as JSON lines, each
//! acknowledgement and each result out as a JSON line, the tools run by workers in this process.

use crate::backend::Backend;
use crate::catalog::Catalog;
use crate::delivery::{ResultRouter, VecSink};
use crate::dispatcher::{Caller, Dispatcher, DispatcherSettings};
use crate::error::{InputError, PipelineError};
use crate::limits::DEFAULT_CONSUMER;
use crate::poller::{PoolOptions, WorkerPool};
use crate::protocol::TaskRequest;
use crate::tools::ToolBox;
use serde::Serialize;
use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::time::Duration;

/// `explicit`, else `local:<host>:<pid>`: what the worker writes into its leases.
pub fn worker_id(explicit: Option<String>) -> String {
    explicit.unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
        format!("local:{host}:{}", std::process::id())
    })
}

/// The tools a worker serves: those `requested` (each checked against the catalog), or every tool
/// of the catalog when none is.
pub fn tools_to_serve(catalog: &Catalog, requested: &[String]) -> Result<Vec<String>, InputError> {
    if requested.is_empty() {
        return Ok(catalog.names().iter().map(|s| s.to_string()).collect());
    }
    for tool in requested {
        catalog.get(tool)?;
    }
    Ok(requested.to_vec())
}

/// One JSON value and a newline, flushed.
pub fn write_json_line(out: &mut dyn Write, value: &impl Serialize) -> anyhow::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// How the line worker stopped early.
#[derive(Debug, thiserror::Error)]
pub enum LineWorkerError {
    #[error("reading the input: {0}")]
    Read(std::io::Error),
    #[error(transparent)]
    Write(anyhow::Error),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}

/// The memory backend's worker: a dispatcher, workers for some tools, and the router of the
/// caller's results, all in this process.
pub struct LineWorker {
    serve: Vec<String>,
    caller: Caller,
    dispatcher: Dispatcher,
    router: ResultRouter,
    pool: WorkerPool,
}

impl LineWorker {
    /// Starts the workers of `serve` on `backend`.
    pub fn start(
        backend: &Backend,
        tools: &ToolBox,
        serve: Vec<String>,
        mut options: PoolOptions,
        caller: Caller,
    ) -> Result<LineWorker, InputError> {
        options.wait = Duration::from_secs(1);
        options.sweep_every = None;
        let router = backend.router(&caller.principal, DEFAULT_CONSUMER)?;
        let pool = WorkerPool::start(backend, tools, &serve, &options)?;
        let dispatcher = backend.dispatcher(tools.clone(), DispatcherSettings::default())?;
        Ok(LineWorker {
            serve,
            caller,
            dispatcher,
            router,
            pool,
        })
    }

    /// Submits each line of `input` (a task request as JSON; blank lines are skipped) and writes
    /// its acknowledgement, or `{"error", "line"}` for a line that is not a request of a served
    /// tool, to `out`; writes each result as it lands. Returns once the input has ended and every
    /// task whose result comes back here has finished (a task addressed to another consumer, or a
    /// repeated idempotency key's task that had already finished, is not waited for), with the
    /// number of refused lines.
    pub async fn run(
        self,
        input: impl BufRead + Send + 'static,
        out: &mut (dyn Write + Send),
    ) -> Result<usize, LineWorkerError> {
        let LineWorker {
            serve,
            caller,
            dispatcher,
            mut router,
            pool,
        } = self;
        let (lines_tx, mut lines) = tokio::sync::mpsc::channel::<std::io::Result<String>>(16);
        std::thread::spawn(move || {
            for line in input.lines() {
                if lines_tx.blocking_send(line).is_err() {
                    break;
                }
            }
        });
        let mut results = VecSink::default();
        // The tasks whose results this router will hand over: not those addressed to another
        // consumer, nor a repeated idempotency key's task that had already finished.
        let mut awaited: HashSet<String> = HashSet::new();
        let mut input_open = true;
        let mut refused = 0;
        while input_open || !awaited.is_empty() {
            tokio::select! {
                line = lines.recv(), if input_open => match line {
                    None => input_open = false,
                    Some(Err(e)) => return Err(LineWorkerError::Read(e)),
                    Some(Ok(line)) if line.trim().is_empty() => {}
                    Some(Ok(line)) => match submit(&dispatcher, &caller, &serve, &line).await {
                        Ok((ack, consumer)) => {
                            if consumer == DEFAULT_CONSUMER && !ack.status.is_terminal() {
                                awaited.insert(ack.task_id.clone());
                            }
                            write_json_line(out, &ack).map_err(LineWorkerError::Write)?;
                        }
                        Err(message) => {
                            refused += 1;
                            let error = serde_json::json!({ "error": message, "line": line });
                            write_json_line(out, &error).map_err(LineWorkerError::Write)?;
                        }
                    },
                },
                polled = router.poll(&mut results, Duration::from_millis(500)) => {
                    polled?;
                    for result in results.0.drain(..) {
                        write_json_line(out, &result).map_err(LineWorkerError::Write)?;
                        awaited.remove(&result.task_id);
                    }
                }
            }
        }
        pool.stop().await;
        Ok(refused)
    }
}

/// A line's acknowledgement and the consumer its result goes to, or why it was refused.
async fn submit(
    dispatcher: &Dispatcher,
    caller: &Caller,
    serve: &[String],
    line: &str,
) -> Result<(crate::protocol::SubmitAck, String), String> {
    match TaskRequest::from_json(line) {
        Ok(request) if serve.contains(&request.tool) => {
            let consumer = request.consumer().to_string();
            dispatcher
                .submit(caller, request)
                .await
                .map(|ack| (ack, consumer))
                .map_err(|e| e.to_string())
        }
        Ok(request) => Err(format!(
            "tool {:?} is not served by this worker",
            request.tool
        )),
        Err(e) => Err(e.to_string()),
    }
}
