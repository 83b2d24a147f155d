//! Input JSON Schemas of the catalog's tools, as `tools/list` publishes them. They are written in
//! the catalog (`workers/tools.toml`, `input_schema`); `tests/schemas.rs` checks that each built-in
//! tool's schema accepts exactly what the tool's own `check_arguments` accepts.

use rmcp::model::JsonObject;
use std::sync::Arc;
use workers::catalog::ToolSpec;

/// The tool's schema; for a tool whose catalog entry has none, any object (the tool's own argument
/// check still refuses bad input when the call is submitted).
pub fn input_schema(spec: &ToolSpec) -> Arc<JsonObject> {
    Arc::new(spec.input_schema.clone().unwrap_or_else(|| {
        let mut schema = JsonObject::new();
        schema.insert("type".into(), "object".into());
        schema
    }))
}
