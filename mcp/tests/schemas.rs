//! Each tool's published input schema accepts exactly the arguments its own `check_arguments`
//! accepts: every combination of typical, boundary and wrong values per argument, plus unknown
//! arguments, is run through both.
//!
//! One known divergence is left out on purpose: JSON Schema calls `5.0` an integer, while the
//! tools read integers with `as_u64`, which refuses a float. No schema keyword can say "written
//! without a fraction", so the values below are integers or clearly fractional.

use serde_json::{Map, Value, json};
use workers::ToolBox;

/// Values tried for an argument; `None` is "absent".
fn pool(kind: &str) -> Vec<Option<Value>> {
    let mut values = vec![
        None,
        Some(Value::Null),
        Some(json!(true)),
        Some(json!([])),
        Some(json!({})),
        Some(json!(1.5)),
        Some(json!(-1)),
    ];
    match kind {
        "text" => values.extend(
            [
                json!(""),
                json!("   "),
                json!("\t\n"),
                json!("good"),
                json!(" padded "),
                json!("x".repeat(500)),
                json!("x".repeat(501)),
                json!("é".repeat(500)),
                json!("é".repeat(501)),
                json!(7),
            ]
            .map(Some),
        ),
        "millis" => values.extend(
            [
                json!(0),
                json!(1),
                json!(900_000),
                json!(900_001),
                json!(1e20),
                json!("5"),
            ]
            .map(Some),
        ),
        "bytes" => values.extend(
            [
                json!(0),
                json!(1_048_576),
                json!(1_048_577),
                json!(18_446_744_073_709_551_615u64),
            ]
            .map(Some),
        ),
        "any" => values.extend([json!("anything"), json!({"nested": [1, 2]}), json!(0)].map(Some)),
        _ => unreachable!(),
    }
    values
}

/// Every combination of the arguments' pools, each with and without an unknown argument.
fn cases(arguments: &[(&str, &str)]) -> Vec<Value> {
    let mut objects = vec![Map::new()];
    for (name, kind) in arguments {
        let mut next = Vec::new();
        for object in &objects {
            for value in pool(kind) {
                let mut object = object.clone();
                if let Some(value) = value {
                    object.insert(name.to_string(), value);
                }
                next.push(object);
            }
        }
        objects = next;
    }
    let mut with_unknown: Vec<Value> = objects
        .iter()
        .take(50)
        .map(|o| {
            let mut o = o.clone();
            o.insert("unexpected".into(), json!(1));
            Value::Object(o)
        })
        .collect();
    with_unknown.extend(objects.into_iter().map(Value::Object));
    with_unknown
}

fn agree(tool: &str, arguments: &[(&str, &str)]) -> (usize, usize) {
    let spec = workers::Catalog::embedded().get(tool).unwrap();
    let schema = Value::Object(spec.input_schema.clone().expect("a schema in tools.toml"));
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let tools = ToolBox::builtin();
    let implementation = tools.get(tool).unwrap();
    let (mut valid, mut invalid) = (0, 0);
    for case in cases(arguments) {
        let by_schema = validator.is_valid(&case);
        let by_tool = implementation.check_arguments(&case);
        assert_eq!(
            by_schema,
            by_tool.is_ok(),
            "{tool}: schema says {by_schema}, check_arguments says {by_tool:?} for {case}"
        );
        if by_schema { valid += 1 } else { invalid += 1 }
    }
    assert!(
        valid > 0 && invalid > 0,
        "{tool}: both kinds of cases must occur"
    );
    (valid, invalid)
}

#[test]
fn sentiment_schema_agrees_with_its_checks() {
    agree("sentiment", &[("text", "text")]);
}

#[test]
fn research_schema_agrees_with_its_checks() {
    agree("research", &[("topic", "text"), ("latency_ms", "millis")]);
}

#[test]
fn synthetic_schema_agrees_with_its_checks() {
    let (valid, invalid) = agree(
        "synthetic",
        &[
            ("sleep_ms", "millis"),
            ("echo", "any"),
            ("fail", "text"),
            ("pad_bytes", "bytes"),
        ],
    );
    assert!(valid + invalid > 10_000);
}

#[test]
fn every_catalog_tool_publishes_its_catalog_schema() {
    for spec in workers::Catalog::embedded().tools() {
        let written = spec
            .input_schema
            .clone()
            .unwrap_or_else(|| panic!("{} has no input_schema in workers/tools.toml", spec.name));
        assert_eq!(written["additionalProperties"], false, "{}", spec.name);
        let published = mcp::schemas::input_schema(spec);
        assert_eq!(
            *published, written,
            "{}: tools/list publishes the catalog's schema",
            spec.name
        );
    }
}
