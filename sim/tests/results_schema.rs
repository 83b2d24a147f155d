//! `results.json` matches its documented schema (docs/results-schema.md): every documented field
//! is there with its type, and every field is documented.

#[path = "common/report.rs"]
mod fixture;

use serde_json::Value;
use sim::output::report::Report;
use sim::run::metrics::Metric;
use std::collections::BTreeMap;

struct Field {
    types: Vec<String>,
    optional: bool,
}

/// The table of docs/results-schema.md: path → (types, optional).
fn documented() -> BTreeMap<String, Field> {
    let doc = include_str!("../../docs/results-schema.md");
    let mut fields = BTreeMap::new();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        let path = cells[0].trim_start_matches("| `").trim_end_matches('`');
        let (types, optional) = match cells[1].split_once(", ") {
            Some((t, "optional")) => (t, true),
            _ => (cells[1], false),
        };
        let types = types.split("\\|").map(str::to_string).collect();
        let previous = fields.insert(path.to_string(), Field { types, optional });
        assert!(previous.is_none(), "{path} is documented twice");
    }
    assert!(fields.len() > 40, "the table was not found");
    fields
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Walks `v` at documented path `path`, checking types, documentation and required children.
fn check(v: &Value, path: &str, doc: &BTreeMap<String, Field>, seen: &mut Vec<String>) {
    let field = doc
        .get(path)
        .unwrap_or_else(|| panic!("`{path}` is in the report but not in docs/results-schema.md"));
    let t = type_of(v);
    let ok = field
        .types
        .iter()
        .any(|d| d == t || (d == "number" && t == "integer"));
    assert!(ok, "`{path}` is {t} ({v}), documented as {:?}", field.types);
    seen.push(path.to_string());
    let child = |suffix: &str| {
        if path.is_empty() {
            suffix.trim_start_matches('.').to_string()
        } else {
            format!("{path}{suffix}")
        }
    };
    match v {
        Value::Object(map) => {
            let wildcard = child(".*");
            if doc.contains_key(&wildcard) {
                for value in map.values() {
                    check(value, &wildcard, doc, seen);
                }
                return;
            }
            for (k, value) in map {
                check(value, &child(&format!(".{k}")), doc, seen);
            }
            // Every required child of this object is present.
            let prefix = child(".");
            for (p, f) in doc.range(prefix.clone()..) {
                let Some(rest) = p.strip_prefix(&prefix) else {
                    break;
                };
                let direct = !rest.contains('.') && !rest.contains("[]");
                if direct && !f.optional {
                    assert!(
                        map.contains_key(rest),
                        "`{p}` is documented but missing from {v}"
                    );
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                check(item, &child("[]"), doc, seen);
            }
        }
        _ => {}
    }
}

fn report(cost: bool) -> Value {
    let scenario = fixture::scenario(cost);
    let results = fixture::run(&scenario, 2);
    serde_json::from_str(&Report::new(&scenario, &results).to_json()).unwrap()
}

#[test]
fn results_json_follows_the_documented_schema() {
    let doc = documented();
    let mut seen = Vec::new();
    let plain = report(false);
    // The root is an object with the documented top-level keys.
    for key in ["schema", "scenario", "run", "policies", "comparisons"] {
        assert!(plain.get(key).is_some(), "no {key}");
    }
    for (key, value) in plain.as_object().unwrap() {
        check(value, key, &doc, &mut seen);
    }
    assert_eq!(plain["schema"], "asynctools.results/v1");
    // Metric keys are metric names, in the simulator's order (checked in the text: a parsed
    // JSON object does not keep key order).
    let names: Vec<String> = plain["policies"][0]["metrics"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let order: Vec<&str> = Metric::ALL
        .iter()
        .map(|m| m.name())
        .filter(|n| names.iter().any(|k| k == n))
        .collect();
    assert_eq!(order.len(), names.len(), "unknown metric keys in {names:?}");
    assert_eq!(&order[..3], &["makespan", "first_update", "result_delay"]);
    let scenario = fixture::scenario(false);
    let text = Report::new(&scenario, &fixture::run(&scenario, 1)).to_json();
    let block = &text[text.find("\"metrics\"").unwrap()..];
    let positions: Vec<usize> = order
        .iter()
        .map(|n| block.find(&format!("\"{n}\": {{")).unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "{order:?} at {positions:?}"
    );

    // With prices, the cost metrics are there and documented like any other.
    let priced = report(true);
    for (key, value) in priced.as_object().unwrap() {
        check(value, key, &doc, &mut seen);
    }
    assert_eq!(priced["policies"][1]["metrics"]["cost_usd"]["unit"], "usd");
    assert!(priced["comparisons"][0]["metrics"]["cost_usd"]["ratio"]["mean"].is_number());
}

#[test]
fn shared_capacity_fields_follow_the_schema_too() {
    let doc = documented();
    let text = format!(
        "{}\n[workload]\narrival = \"poisson\"\nrate_per_s = 2.0\n",
        fixture::SCENARIO.replace("[tools.lookup]\n", "[tools.lookup]\nconcurrency = 2\n")
    );
    let scenario = sim::Scenario::parse(&text, "shared.toml").unwrap_or_else(|e| panic!("{e}"));
    let results = fixture::run(&scenario, 1);
    let json: Value = serde_json::from_str(&Report::new(&scenario, &results).to_json()).unwrap();
    assert_eq!(json["run"]["shared_capacity"], true);
    assert!(json["policies"][0]["resources"].is_array());
    let mut seen = Vec::new();
    for (key, value) in json.as_object().unwrap() {
        check(value, key, &doc, &mut seen);
    }
    assert!(
        seen.iter()
            .any(|p| p == "policies[].resources[].utilisation")
    );
}
