//! `local up` (the stack's table and queues on an emulator) and `demo` (the seed's example on the
//! in-memory backend).

use super::backend::catalog;
use super::{CmdError, CmdResult};
use anyhow::Context;
use std::path::PathBuf;
use std::time::Duration;
use workers::InputError;
use workers::aws::{
    AwsSettings, DEFAULT_OUTPUTS_FILE, DEFAULT_STACK_NAME, ProvisionOptions, provision, sdk_config,
};
use workers::demo::{DemoOptions, run_demo};

#[derive(clap::Args, Debug)]
pub struct LocalUpArgs {
    /// The emulator, e.g. http://127.0.0.1:5000 (moto_server).
    #[arg(long, value_name = "URL")]
    endpoint: String,
    /// Where to write the outputs file.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_OUTPUTS_FILE)]
    outputs: PathBuf,
    #[arg(long, default_value = DEFAULT_STACK_NAME)]
    stack_name: String,
    /// Consumers to create a reply queue (+ DLQ) for, comma-separated (`mcp` is the MCP server's).
    #[arg(long, value_delimiter = ',', default_value = "default,mcp")]
    consumers: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// How long the slow research call takes (the seed's example: 15s).
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    research_latency: Duration,
    /// Play it through the MCP server (tasks extension) instead of calling the dispatcher.
    #[arg(long)]
    mcp: bool,
}

pub async fn local_up(args: LocalUpArgs) -> CmdResult {
    let catalog = catalog()?;
    let sdk = sdk_config(&AwsSettings::emulator(&args.endpoint)).await;
    let options = ProvisionOptions {
        consumers: args.consumers.clone(),
        ..ProvisionOptions::new(&args.stack_name)
    };
    let resources = provision(&sdk, &catalog, &options)
        .await
        .with_context(|| format!("creating the stack on {}", args.endpoint))
        .map_err(CmdError::runtime)?;
    let outputs = resources.to_outputs_json(&args.stack_name, &catalog);
    if let Some(dir) = args.outputs.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(CmdError::runtime)?;
    }
    let text = serde_json::to_string_pretty(&outputs).map_err(CmdError::runtime)?;
    std::fs::write(&args.outputs, text + "\n")
        .with_context(|| format!("writing {}", args.outputs.display()))
        .map_err(CmdError::runtime)?;
    println!(
        "created on {}: table {}, a reply queue + DLQ for each consumer ({}), and a work queue + DLQ \
         for each of {}",
        args.endpoint,
        resources.table,
        args.consumers.join(", "),
        catalog.names().join(", ")
    );
    println!("wrote {}", args.outputs.display());
    Ok(())
}

pub async fn demo(args: DemoArgs) -> CmdResult {
    if args.research_latency > Duration::from_secs(120) {
        return Err(CmdError::input(InputError::new(
            "--research-latency",
            "must be at most 120s (the research tool's timeout)",
        )));
    }
    let mut out = std::io::stdout();
    if args.mcp {
        return mcp::demo::run(&mut out, args.research_latency)
            .await
            .map(|_| ())
            .map_err(CmdError::runtime);
    }
    run_demo(
        &mut out,
        &DemoOptions {
            research_latency: args.research_latency,
        },
    )
    .await
    .map(|_| ())
    .map_err(CmdError::runtime)
}
