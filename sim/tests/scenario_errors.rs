//! Bad scenario input is refused with one clear message naming the file, key path and line.

use proptest::prelude::*;
use sim::Scenario;

const VALID: &str = r#"name = "ok"
seed = 3

[model]
turn = { dist = "lognormal", median = "1s", sigma = 0.5 }
per_result = "100ms"

[tools.search]
latency = { dist = "lognormal", median = "2s", sigma = 0.4 }

[tools.sentiment]
latency = "300ms"

[plan]
rounds = [["search", "sentiment"]]
"#;

/// Parses `text` expecting an error; returns its message.
fn error(text: &str) -> String {
    match Scenario::parse(text, "bad.toml") {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            message.contains(part),
            "{message:?} should mention {part:?}"
        );
    }
}

#[test]
fn the_valid_base_parses() {
    let s = Scenario::parse(VALID, "ok.toml").unwrap();
    assert_eq!(s.plan.len(), 2);
    assert_eq!(s.tools.len(), 2);
}

#[test]
fn unknown_key() {
    let text = VALID.replace(
        "per_result = \"100ms\"",
        "per_result = \"100ms\"\nper_reslt = \"1s\"",
    );
    let e = error(&text);
    assert_mentions(&e, &["bad.toml:7:", "model", "unknown field `per_reslt`"]);
}

#[test]
fn unknown_key_inside_a_distribution() {
    let text = VALID.replace("sigma = 0.4 }", "sigma = 0.4, mode = 2 }");
    let e = error(&text);
    assert_mentions(
        &e,
        &[
            "bad.toml:9:",
            "tools.search.latency",
            "unknown field `mode`",
        ],
    );
}

#[test]
fn negative_duration() {
    let e = error(&VALID.replace("per_result = \"100ms\"", "per_result = \"-5ms\""));
    assert_mentions(&e, &["bad.toml:6:", "model.per_result", "negative"]);
}

#[test]
fn unparsable_duration() {
    let e = error(&VALID.replace("latency = \"300ms\"", "latency = \"fast\""));
    assert_mentions(
        &e,
        &[
            "bad.toml:12:",
            "tools.sentiment.latency",
            "\"fast\"",
            "250ms",
        ],
    );
}

#[test]
fn number_without_unit() {
    let e = error(&VALID.replace("per_result = \"100ms\"", "per_result = 100"));
    assert_mentions(&e, &["bad.toml:6:", "model.per_result", "no unit"]);
}

#[test]
fn sigma_not_positive() {
    let e = error(&VALID.replace("sigma = 0.4", "sigma = -1.0"));
    assert_mentions(
        &e,
        &["bad.toml:9:", "tools.search.latency.sigma", "must be > 0"],
    );
    let e = error(&VALID.replace("sigma = 0.4", "sigma = 0.0"));
    assert_mentions(&e, &["tools.search.latency.sigma"]);
}

#[test]
fn weights_that_do_not_sum_to_a_positive_number() {
    let text = VALID.replace(
        "latency = \"300ms\"",
        "latency = { dist = \"mixture\", components = [\n  { weight = 0.0, latency = \"1s\" },\n  { weight = 0.0, latency = \"2s\" },\n] }",
    );
    let e = error(&text);
    assert_mentions(
        &e,
        &[
            "bad.toml:12:",
            "tools.sentiment.latency.components",
            "sum to a positive",
        ],
    );
    let e = error(&text.replacen("weight = 0.0", "weight = -1.0", 1));
    assert_mentions(&e, &["bad.toml:13:", "components[0].weight", "≥ 0"]);
}

#[test]
fn unknown_tool_in_rounds() {
    let e = error(&VALID.replace(
        "[[\"search\", \"sentiment\"]]",
        "[[\"search\"], [\"serach\"]]",
    ));
    assert_mentions(
        &e,
        &[
            "bad.toml:15:",
            "plan.rounds[1][0]",
            "unknown tool \"serach\"",
            "search, sentiment",
        ],
    );
}

const DAG: &str = r#"[model]
turn = "1s"
[tools.a]
latency = "1s"
[[plan.calls]]
id = "x"
tool = "a"
after = ["z"]
[[plan.calls]]
id = "y"
tool = "a"
after = ["x"]
[[plan.calls]]
id = "z"
tool = "a"
after = ["y"]
"#;

#[test]
fn dependency_cycle() {
    let e = error(DAG);
    assert_mentions(
        &e,
        &["bad.toml:", "plan.calls[", "].after[0]", "dependency cycle"],
    );
    // the cycle is spelled out, closing on itself
    assert!(
        e.contains("x → y → z → x") || e.contains("y → z → x → y") || e.contains("z → x → y → z"),
        "{e}"
    );
}

#[test]
fn unknown_tool_and_dependency_in_calls() {
    let e = error(&DAG.replace(
        "tool = \"a\"\nafter = [\"x\"]",
        "tool = \"b\"\nafter = [\"w\"]",
    ));
    assert_mentions(
        &e,
        &["bad.toml:11:", "plan.calls[1].tool", "unknown tool \"b\""],
    );
    assert_mentions(
        &e,
        &[
            "bad.toml:12:",
            "plan.calls[1].after[0]",
            "no call has the id \"w\"",
        ],
    );
}

#[test]
fn empty_plan() {
    let e = error(&VALID.replace("rounds = [[\"search\", \"sentiment\"]]", "rounds = []"));
    assert_mentions(&e, &["bad.toml:15:", "plan.rounds", "empty"]);
    let e = error(&VALID.replace("rounds = [[\"search\", \"sentiment\"]]", ""));
    assert_mentions(&e, &["bad.toml:14:", "plan", "empty"]);
}

#[test]
fn missing_section() {
    let e = error(&VALID.replace("[model]", "[modle]"));
    assert_mentions(&e, &["bad.toml:", "unknown field `modle`"]);
}

#[test]
fn toml_syntax_error() {
    let e = error(&VALID.replace("seed = 3", "seed = = 3"));
    assert_mentions(&e, &["bad.toml:2:"]);
}

#[test]
fn sessions_out_of_range() {
    let e = error(&VALID.replace("seed = 3", "seed = 3\nsessions = 0"));
    assert_mentions(&e, &["bad.toml:3:", "sessions", "between 1 and"]);
}

#[test]
fn a_missing_file_names_the_file() {
    let e = Scenario::from_file(std::path::Path::new("no/such/scenario.toml")).unwrap_err();
    assert_mentions(&e.to_string(), &["no/such/scenario.toml", "cannot read"]);
}

#[test]
fn every_shipped_scenario_is_valid() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            Scenario::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
            seen += 1;
        }
    }
    assert!(seen >= 3, "found {seen} scenarios");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Random text never panics the parser.
    #[test]
    fn random_text_never_panics(text in "\\PC{0,200}") {
        let _ = Scenario::parse(&text, "fuzz.toml");
    }

    /// Nor does a valid file with a few characters replaced.
    #[test]
    fn mutated_scenarios_never_panic(
        edits in proptest::collection::vec((0usize..VALID.len(), "[-=\\[\\]{}\",.0-9a-z \n]{0,3}"), 1..4)
    ) {
        let mut text = VALID.to_string();
        for (at, insert) in edits {
            let mut at = at.min(text.len());
            while !text.is_char_boundary(at) { at -= 1; }
            let end = (at + insert.len()).min(text.len());
            let mut end = end;
            while !text.is_char_boundary(end) { end -= 1; }
            text.replace_range(at..end, &insert);
        }
        if let Err(e) = Scenario::parse(&text, "fuzz.toml") {
            // Every error names the file and a line.
            prop_assert!(e.to_string().starts_with("fuzz.toml:"), "{}", e);
        }
    }
}

#[test]
fn pipeline_counts_out_of_range_and_unknown() {
    let cost = "[cost]\ninput_usd_per_mtok = 3.0\noutput_usd_per_mtok = 15.0\n[cost.pipeline]\n";
    let e = error(&format!("{VALID}{cost}write_units = -1.0\n"));
    assert_mentions(&e, &["bad.toml", "cost.pipeline.write_units", "-1"]);
    let e = error(&format!("{VALID}{cost}sqs_requests = 1e9\n"));
    assert_mentions(&e, &["cost.pipeline.sqs_requests", "10000"]);
    let e = error(&format!("{VALID}{cost}write_unit = 3.0\n"));
    assert_mentions(&e, &["bad.toml:", "unknown field `write_unit`"]);
    let ok = Scenario::parse(&format!("{VALID}{cost}write_units = 12.5\n"), "ok.toml").unwrap();
    let pipeline = ok.cost.unwrap().pipeline;
    assert_eq!(pipeline.write_units, 12.5);
    // What is not given keeps the measured default.
    assert_eq!(
        pipeline.read_units,
        sim::model::pipeline_counts::PipelineCounts::MEASURED.read_units
    );
}
