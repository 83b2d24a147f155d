//! The tools behind the catalog (`workers_core::tools`), and the two kinds that reach beyond the
//! process through AWS: `lambda` (a function invoked) and `http` (an endpoint, its authorization
//! read from Secrets Manager).

pub mod http;
pub mod lambda;

pub use http::HttpTool;
pub use lambda::LambdaTool;
pub use workers_core::tools::*;

use std::sync::Arc;
use workers_core::catalog::{Catalog, ToolKind};
use workers_core::error::InputError;

/// The built-in tools, plus one per catalog entry of kind `lambda` or `http` (which need `sdk` to
/// reach Lambda or Secrets Manager; `None` loads the default AWS configuration, and only when such a
/// tool needs it). Fails on a catalog tool it cannot build, naming it.
pub async fn for_catalog(
    catalog: &Catalog,
    sdk: Option<&aws_config::SdkConfig>,
) -> Result<ToolBox, InputError> {
    let mut tools = ToolBox::builtin();
    let needs_aws = catalog.tools().iter().any(|t| {
        t.kind == ToolKind::Lambda || (t.kind == ToolKind::Http && t.auth_secret.is_some())
    });
    let loaded;
    let sdk = match sdk {
        Some(sdk) => Some(sdk),
        None if needs_aws => {
            loaded = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .load()
                .await;
            Some(&loaded)
        }
        None => None,
    };
    for spec in catalog.tools() {
        let tool: Arc<dyn Tool> = match (spec.kind, sdk) {
            (ToolKind::Builtin, _) => continue,
            (ToolKind::Lambda, Some(sdk)) => Arc::new(LambdaTool::new(spec, sdk)?),
            (ToolKind::Lambda, None) => {
                return Err(InputError::new(
                    format!("tools.{}", spec.name),
                    "a lambda tool needs an AWS configuration",
                ));
            }
            (ToolKind::Http, sdk) => Arc::new(HttpTool::new(spec, sdk)?),
        };
        tools = tools.with(&spec.name, tool);
    }
    tools.covers(catalog)?;
    Ok(tools)
}
