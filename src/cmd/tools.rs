//! `tools new NAME`: the boilerplate of a new Rust tool — its file from the template, its
//! registration in `workers/src/tools/custom/mod.rs`, and its `[[tools]]` entry in the catalog
//! (`workers::tools::scaffold` plans and writes them).

use super::{CmdError, CmdResult};
use anyhow::anyhow;
use workers::tools::scaffold::{NewTool, ScaffoldError, names};

#[derive(clap::Subcommand, Debug)]
pub enum ToolsCommand {
    /// Write the boilerplate of a new Rust tool: its code (from a template that builds and passes
    /// its tests), its registration, and its catalog entry with an input schema.
    New(NewArgs),
}

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Writes, relative to the repository root (the nearest directory upwards \
    holding workers/tools.toml):\n  workers/src/tools/custom/NAME.rs   the tool (NAME with '-' as \
    '_')\n  workers/src/tools/custom/mod.rs    registers it (created if missing)\n  \
    workers/tools.toml                 a [[tools]] entry, appended\nSee docs/tools.md."
)]
pub struct NewArgs {
    /// The tool's name in the catalog: 1 to 32 lowercase letters, digits and '-', starting with a
    /// letter (it also names a Rust module and type).
    name: String,
    /// Print what would be written, and write nothing.
    #[arg(long)]
    dry_run: bool,
}

pub fn run(command: ToolsCommand) -> CmdResult {
    match command {
        ToolsCommand::New(args) => new(args),
    }
}

fn new(args: NewArgs) -> CmdResult {
    let names = names(&args.name).map_err(CmdError::input)?;
    let cwd = std::env::current_dir().map_err(|e| CmdError::runtime(anyhow!("{e}")))?;
    let new_tool = NewTool::plan(&cwd, names).map_err(from_scaffold)?;
    if args.dry_run {
        return show(&new_tool.dry_run_text());
    }
    show(&new_tool.write().map_err(from_scaffold)?)
}

fn from_scaffold(e: ScaffoldError) -> CmdError {
    match e {
        ScaffoldError::Input(e) => CmdError::Input(e),
        ScaffoldError::Failed(e) => CmdError::Runtime(e),
    }
}

/// Prints to standard output; a closed pipe (`| head`) is not a panic.
fn show(text: &str) -> CmdResult {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CmdError::runtime(anyhow!(
            "writing to standard output: {e}"
        ))),
    }
}
