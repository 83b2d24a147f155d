//! Everything a running MCP server needs around the handler: the dispatcher, the result pump that
//! feeds pushes and blocking calls, and (optionally) local workers in this process.

use crate::delivery::{Hub, ResultPump};
use crate::identity::Principals;
use crate::server::{FrontDoor, Settings};
use anyhow::Context;
use std::sync::Arc;
use tokio::sync::watch;
use workers::poller::{PoolOptions, WorkerPool};
use workers::{Backend, Caller, DispatcherSettings, ToolBox};

pub struct RuntimeOptions {
    pub settings: Settings,
    pub principals: Principals,
    pub dispatcher: DispatcherSettings,
    /// Workers for every catalog tool in this process: needed with the memory backend, optional
    /// against AWS (where the stack's Lambda workers run the tools).
    pub local_workers: Option<PoolOptions>,
    /// The tools' implementations (`workers::tools::for_catalog` for a catalog with Lambda- or
    /// HTTP-backed tools).
    pub tools: ToolBox,
}

impl RuntimeOptions {
    /// One fixed principal, the default settings, local workers.
    pub fn local(principal: Caller) -> RuntimeOptions {
        let dispatcher = DispatcherSettings::default();
        RuntimeOptions {
            settings: Settings::new(dispatcher.task_ttl_days),
            principals: Principals::Fixed(principal),
            dispatcher,
            // A worker id of its own per process: a takeover by another server's workers shows.
            local_workers: Some(PoolOptions::new(format!(
                "mcp-local-{}",
                ulid::Ulid::generate()
            ))),
            tools: ToolBox::builtin(),
        }
    }
}

pub struct Runtime {
    pub backend: Backend,
    pub door: FrontDoor,
    pool: Option<WorkerPool>,
    pump: tokio::task::JoinHandle<()>,
    stop: watch::Sender<bool>,
}

impl Runtime {
    /// Starts the pump (and workers) on the current tokio runtime.
    pub fn start(backend: Backend, options: RuntimeOptions) -> anyhow::Result<Runtime> {
        let dispatcher = backend
            .dispatcher(options.tools.clone(), options.dispatcher.clone())
            .context("building the dispatcher")?;
        let mut settings = options.settings;
        // Never advertise a task for longer than the table keeps it.
        let table_ttl_ms = u64::from(options.dispatcher.task_ttl_days) * 86_400_000;
        settings.timing.ttl_ms = settings.timing.ttl_ms.min(table_ttl_ms);
        let queue = backend
            .replies
            .queue(&settings.consumer)
            .with_context(|| format!("the reply queue of consumer {:?}", settings.consumer))?;
        let hub = Arc::new(Hub::new(&backend.catalog));
        let door = FrontDoor::new(
            Arc::new(dispatcher),
            options.principals,
            settings.clone(),
            hub.clone(),
        )?;
        let pool = match &options.local_workers {
            Some(pool_options) => {
                let names: Vec<String> = backend
                    .catalog
                    .names()
                    .iter()
                    .map(|n| n.to_string())
                    .collect();
                Some(WorkerPool::start(
                    &backend,
                    &options.tools,
                    &names,
                    pool_options,
                )?)
            }
            None => None,
        };
        let (stop, stopped) = watch::channel(false);
        let pump = ResultPump {
            store: backend.store.clone(),
            queue,
            consumer: settings.consumer.clone(),
            hub,
            timing: settings.timing,
            channels: settings.channels,
        };
        let pump = tokio::spawn(pump.run(stopped));
        Ok(Runtime {
            backend,
            door,
            pool,
            pump,
            stop,
        })
    }

    /// Stops the pump and the local workers (each finishes what it holds).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Some(pool) = self.pool {
            pool.stop().await;
        }
        let _ = self.pump.await;
    }
}
