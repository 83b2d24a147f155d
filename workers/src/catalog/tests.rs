//! The catalog's checks, one rule at a time.

use super::*;

const ONE: &str = r#"
version = 1
[[tools]]
name = "web-search"
description = "d"
timeout_s = 10
memory_mb = 256
batch_size = 10
max_concurrency = 20
max_receive_count = 5
"#;

#[test]
fn the_embedded_catalog_parses_and_has_the_issue_tools() {
    let names = Catalog::embedded().names();
    for tool in ["sentiment", "research", "synthetic"] {
        assert!(names.contains(&tool), "{tool} missing from tools.toml");
    }
}

#[test]
fn pascal_names_match_the_stack_outputs() {
    assert_eq!(pascal_case("synthetic"), "Synthetic");
    assert_eq!(pascal_case("web-search"), "WebSearch");
    assert_eq!(pascal_case("a2-b"), "A2B");
}

#[test]
fn a_valid_catalog_parses() {
    let catalog = Catalog::parse(ONE).unwrap();
    assert_eq!(
        catalog.get("web-search").unwrap().visibility_timeout_s(),
        180
    );
}

#[test]
fn unknown_tools_are_named_with_the_known_ones() {
    let err = Catalog::embedded().get("nope").unwrap_err();
    assert_eq!(err.field, "tool");
    assert!(
        err.message.contains("\"nope\" is not in the tool catalog"),
        "{err}"
    );
    assert!(err.message.contains("sentiment"), "{err}");
}

fn broken(from: &str, to: &str) -> String {
    let text = ONE.replace(from, to);
    assert_ne!(text, ONE, "the replacement must apply");
    Catalog::parse(&text).unwrap_err().to_string()
}

#[test]
fn every_limit_is_checked_with_its_field_and_range() {
    let cases = [
        (
            "timeout_s = 10",
            "timeout_s = 0",
            "timeout_s = 0 is outside 1..=880",
        ),
        (
            "timeout_s = 10",
            "timeout_s = 881",
            "timeout_s = 881 is outside 1..=880",
        ),
        (
            "memory_mb = 256",
            "memory_mb = 127",
            "memory_mb = 127 is outside 128..=10240",
        ),
        (
            "memory_mb = 256",
            "memory_mb = 10241",
            "memory_mb = 10241 is outside 128..=10240",
        ),
        (
            "batch_size = 10",
            "batch_size = 0",
            "batch_size = 0 is outside 1..=10",
        ),
        (
            "batch_size = 10",
            "batch_size = 11",
            "batch_size = 11 is outside 1..=10",
        ),
        (
            "max_concurrency = 20",
            "max_concurrency = 1",
            "max_concurrency = 1 is outside 2..=1000",
        ),
        (
            "max_concurrency = 20",
            "max_concurrency = 1001",
            "max_concurrency = 1001 is outside 2..=1000",
        ),
        (
            "max_receive_count = 5",
            "max_receive_count = 3",
            "max_receive_count = 3 is outside 5..=100 (AWS advises at least 5)",
        ),
        (
            "max_receive_count = 5",
            "max_receive_count = 101",
            "max_receive_count = 101 is outside 5..=100",
        ),
        (
            "max_receive_count = 5",
            "max_receive_count = 5\nrecovery_s = 4",
            "recovery_s = 4 is outside 5..=900",
        ),
        (
            "timeout_s = 10",
            "timeout_s = 1\nrecovery_s = 900",
            "recovery_s = 900 is longer than the work queue's visibility timeout (126 s)",
        ),
        (
            "\"web-search\"",
            "\"Web\"",
            "name = \"Web\" must be 1..=32 lowercase",
        ),
        (
            "\"web-search\"",
            "\"\"",
            "name = \"\" must be 1..=32 lowercase",
        ),
        (
            "\"web-search\"",
            "\"abcdefghijklmnopqrstuvwxyz0123456\"",
            "must be 1..=32",
        ),
        ("version = 1", "version = 2", "version = 2 is not supported"),
        (
            "max_receive_count = 5",
            "max_receive_count = 5\n[tools.input_schema]\ntype = \"array\"",
            "input_schema.type = \"array\" must be \"object\"",
        ),
        (
            "max_receive_count = 5",
            "max_receive_count = 5\n[tools.input_schema]\nrequired = [\"q\"]",
            "input_schema.type = (missing) must be \"object\"",
        ),
    ];
    for (from, to, expected) in cases {
        let err = broken(from, to);
        assert!(err.contains(expected), "{to}: got {err}");
        assert!(err.starts_with("tool catalog: "), "{err}");
    }
}

#[test]
fn input_schemas_are_read_as_json_and_bounded() {
    let with_schema = ONE.replace(
        "max_receive_count = 5",
        "max_receive_count = 5\n[tools.input_schema]\ntype = \"object\"\nrequired = [\"q\"]\n\
         [tools.input_schema.properties.q]\ntype = \"string\"\nmaxLength = 9",
    );
    let catalog = Catalog::parse(&with_schema).unwrap();
    let schema = catalog.tools()[0].input_schema.clone().unwrap();
    assert_eq!(
        serde_json::Value::Object(schema),
        serde_json::json!({"type": "object", "required": ["q"],
            "properties": {"q": {"type": "string", "maxLength": 9}}})
    );
    let huge = ONE.replace(
        "max_receive_count = 5",
        &format!(
            "max_receive_count = 5\n[tools.input_schema]\ntype = \"object\"\ndescription = \"{}\"",
            "x".repeat(MAX_INPUT_SCHEMA_BYTES)
        ),
    );
    let err = Catalog::parse(&huge).unwrap_err().to_string();
    assert!(err.contains("(web-search): input_schema is 16"), "{err}");
    assert!(err.contains("at most 16384"), "{err}");
    // Every built-in tool carries one (MCP advertises them).
    assert!(
        Catalog::embedded()
            .tools()
            .iter()
            .all(|t| t.input_schema.is_some())
    );
}

fn with_keys(keys: &str) -> Result<Catalog, String> {
    Catalog::parse(&ONE.replace(
        "max_receive_count = 5",
        &format!("max_receive_count = 5\n{keys}"),
    ))
    .map_err(|e| e.to_string())
}

#[test]
fn lambda_and_http_tools_name_their_target() {
    let accepted = [
        "kind = \"builtin\"",
        "kind = \"lambda\"\nfunction = \"word-count_2\"",
        "kind = \"lambda\"\nfunction = \"arn:aws:lambda:eu-west-1:123456789012:function:wc\"",
        "kind = \"lambda\"\nfunction = \"arn:aws-cn:lambda:cn-north-1:123456789012:function:wc:prod\"",
        "kind = \"lambda\"\nfunction = \"arn:aws:lambda:eu-west-1:123456789012:function:wc:$LATEST\"",
        "kind = \"http\"\nurl = \"https://geo.example.com/v1?x=1\"",
        "kind = \"http\"\nurl = \"http://127.0.0.1:8080/tool\"",
        "kind = \"http\"\nurl = \"http://localhost/tool\"",
        "kind = \"http\"\nurl = \"http://[::1]:9/tool\"",
        "kind = \"http\"\nurl = \"http://LOCALHOST:1/\"",
        "kind = \"http\"\nurl = \"http://127.1/\"",
        "kind = \"http\"\nurl = \"https://h/\"\nauth_secret = \"prod/geo-key@v1\"\nmax_attempts = 5",
        "kind = \"http\"\nurl = \"https://h/\"\nauth_secret = \"arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/geo-AbCdEf\"",
    ];
    for keys in accepted {
        let catalog = with_keys(keys).unwrap_or_else(|e| panic!("{keys}: {e}"));
        assert!(check_target(&catalog.tools()[0]).is_ok());
    }
    let refused = [
        ("kind = \"python\"", "unknown variant `python`"),
        (
            "kind = \"lambda\"",
            "(web-search): kind = \"lambda\" needs function",
        ),
        (
            "kind = \"lambda\"\nfunction = \"has space\"",
            "function = \"has space\" is neither a function name",
        ),
        (
            "kind = \"lambda\"\nfunction = \"arn:aws:lambda:eu-west-1:1234:function:wc\"",
            "is neither",
        ),
        (
            "kind = \"lambda\"\nfunction = \"arn:aws:s3:::bucket\"",
            "is neither",
        ),
        (
            "kind = \"lambda\"\nfunction = \"wc\"\nurl = \"https://h/\"",
            "url is only for kind = \"http\" (this tool is kind = \"lambda\")",
        ),
        (
            "function = \"wc\"",
            "function is only for kind = \"lambda\" (this tool is kind = \"builtin\")",
        ),
        ("kind = \"http\"", "kind = \"http\" needs url"),
        (
            "kind = \"http\"\nurl = \"http://geo.example.com/\"",
            "must be https://",
        ),
        (
            "kind = \"http\"\nurl = \"ftp://h/x\"",
            "must be an https:// URL",
        ),
        (
            "kind = \"http\"\nurl = \"https://u:pw@h/x\"",
            "must not carry credentials",
        ),
        (
            "kind = \"http\"\nurl = \"http://127.0.0.2/\"",
            "must be https://",
        ),
        (
            "kind = \"lambda\"\nfunction = \"arn:aws:lambda:EU:123456789012:function:wc\"",
            "is neither",
        ),
        (
            "kind = \"lambda\"\nfunction = \"arn:gcp:lambda:eu-west-1:123456789012:function:wc\"",
            "is neither",
        ),
        ("kind = \"http\"\nurl = \"not a url\"", "is not a URL"),
        (
            "kind = \"http\"\nurl = \"https://h/\"\nmax_attempts = 0",
            "max_attempts = 0 is outside 1..=5",
        ),
        (
            "kind = \"http\"\nurl = \"https://h/\"\nmax_attempts = 6",
            "max_attempts = 6 is outside 1..=5",
        ),
        (
            "kind = \"http\"\nurl = \"https://h/\"\nauth_secret = \"a b\"",
            "auth_secret = \"a b\" is neither",
        ),
        (
            "kind = \"http\"\nurl = \"https://h/\"\nfunction = \"wc\"",
            "function is only for kind = \"lambda\"",
        ),
        (
            "max_attempts = 2",
            "max_attempts is only for kind = \"http\"",
        ),
    ];
    for (keys, expected) in refused {
        let err = with_keys(keys).unwrap_err();
        assert!(err.contains(expected), "{keys}: got {err}");
    }
    let long = format!(
        "kind = \"http\"\nurl = \"https://h/{}\"",
        "x".repeat(MAX_URL_CHARS)
    );
    assert!(
        with_keys(&long)
            .unwrap_err()
            .contains("is longer than 2048 characters")
    );
}

#[test]
fn a_stage_target_overrides_the_catalog_and_is_checked_the_same_way() {
    let catalog = with_keys("kind = \"http\"\nurl = \"https://dev.example.com/\"").unwrap();
    let prod = TargetOverride {
        url: Some("https://prod.example.com/v2".into()),
        auth_secret: Some("prod/key".into()),
        ..TargetOverride::default()
    };
    let staged = catalog.with_target("web-search", &prod).unwrap();
    let spec = &staged.tools()[0];
    assert_eq!(spec.url.as_deref(), Some("https://prod.example.com/v2"));
    assert_eq!(spec.auth_secret.as_deref(), Some("prod/key"));
    assert_eq!(
        catalog.tools()[0].url.as_deref(),
        Some("https://dev.example.com/")
    );
    let wrong_kind = TargetOverride {
        function: Some("f".into()),
        ..TargetOverride::default()
    };
    let err = catalog
        .with_target("web-search", &wrong_kind)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("(from the environment): function is only for kind = \"lambda\""),
        "{err}"
    );
    let bad_url = TargetOverride {
        url: Some("http://prod.example.com/".into()),
        ..TargetOverride::default()
    };
    assert!(
        catalog
            .with_target("web-search", &bad_url)
            .unwrap_err()
            .to_string()
            .contains("must be https://")
    );
    assert!(catalog.with_target("nope", &prod).is_err());
    // No override: the catalog as it is.
    assert_eq!(
        catalog
            .with_target("web-search", &TargetOverride::default())
            .unwrap(),
        catalog
    );
}

#[test]
fn structural_errors_are_clear() {
    assert!(broken("timeout_s = 10\n", "").contains("missing field `timeout_s`"));
    assert!(broken("timeout_s = 10", "timeout_s = \"ten\"").contains("timeout_s"));
    assert!(broken("timeout_s = 10", "timeout_s = -1").contains("timeout_s"));
    let twice = format!("{ONE}{}", &ONE[ONE.find("[[tools]]").unwrap()..]);
    assert!(
        Catalog::parse(&twice)
            .unwrap_err()
            .to_string()
            .contains("is used twice")
    );
    assert!(
        Catalog::parse("version = 1\ntools = []")
            .unwrap_err()
            .to_string()
            .contains("at least one tool")
    );
    assert!(Catalog::parse("not toml [").is_err());
}
