//! Your own Rust tools, one file each, made by `asynctools tools new NAME` (docs/tools.md).
//! `ToolBox::builtin` calls `register`, so they run wherever the built-in tools run: the local
//! worker, the Lambda workers, `tasks submit --backend memory`, the MCP server.
//!
//! `tools new` adds a `mod` line under the first marker and an entry above the second; both lists
//! may be edited by hand too (keep the marker lines).

// asynctools tools new: modules (keep this line)

use super::{Tool, ToolBox};
use std::sync::Arc;

/// The tools of this directory, by catalog name.
fn custom_tools() -> Vec<(&'static str, Arc<dyn Tool>)> {
    vec![
        // asynctools tools new: tools (keep this line)
    ]
}

/// Adds the tools of this directory to `tools`.
pub fn register(tools: ToolBox) -> ToolBox {
    custom_tools()
        .into_iter()
        .fold(tools, |tools, (name, tool)| tools.with(name, tool))
}
