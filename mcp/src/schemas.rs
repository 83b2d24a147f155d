//! Input JSON Schemas of the catalog's tools, as `tools/list` publishes them.
//!
//! They live here until the catalog (`workers/tools.toml`) carries them; `tests/schemas.rs` checks
//! that each schema accepts exactly what the tool's own `check_arguments` accepts.

use rmcp::model::JsonObject;
use std::sync::Arc;

/// `(tool, schema JSON)`, embedded so the binary needs no files at run time.
const SCHEMAS: &[(&str, &str)] = &[
    ("sentiment", include_str!("../schemas/sentiment.json")),
    ("research", include_str!("../schemas/research.json")),
    ("synthetic", include_str!("../schemas/synthetic.json")),
];

/// The schema of `tool`, if one is written down.
pub fn input_schema(tool: &str) -> Option<Arc<JsonObject>> {
    let (_, text) = SCHEMAS.iter().find(|(name, _)| *name == tool)?;
    // The files are part of the build and a test parses each: a bad one fails the tests, not here.
    serde_json::from_str::<JsonObject>(text).ok().map(Arc::new)
}

/// For a catalog tool without a written schema: any object (the dispatcher still checks).
pub fn any_object() -> Arc<JsonObject> {
    let mut schema = JsonObject::new();
    schema.insert("type".into(), "object".into());
    Arc::new(schema)
}

/// The tools that have a schema (tests iterate over them).
pub fn tools_with_schemas() -> impl Iterator<Item = &'static str> {
    SCHEMAS.iter().map(|(name, _)| *name)
}
