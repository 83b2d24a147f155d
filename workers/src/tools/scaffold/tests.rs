//! The names, the template, the registration and the catalog entry of `tools new`.

use super::*;

fn n(tool: &str) -> Names {
    names(tool).unwrap()
}

#[test]
fn names_are_catalog_names_that_make_rust_names() {
    assert_eq!(
        n("web-search"),
        Names {
            tool: "web-search".into(),
            module: "web_search".into(),
            type_name: "WebSearch".into()
        }
    );
    assert_eq!(n("a2-b").type_name, "A2B");
    for (bad, says) in [
        ("", "is not a tool name"),
        ("Web", "is not a tool name"),
        ("web_search", "is not a tool name"),
        (&"a".repeat(33), "is not a tool name"),
        ("2fa", "must start with a letter"),
        ("-x", "must start with a letter"),
        ("type", "is a Rust keyword"),
        ("self", "is a Rust keyword"),
        ("tool", "a type named Tool"),
        ("tool-context", "a type named ToolContext"),
        ("result", "a type named Result"),
    ] {
        let err = names(bad).unwrap_err();
        assert_eq!(err.field, "NAME");
        assert!(err.message.contains(says), "{bad:?}: {err}");
    }
    assert!(names(&"a".repeat(32)).is_ok());
}

#[test]
fn the_template_has_its_marker_and_names() {
    let source = tool_file(&n("web-search")).unwrap();
    assert!(source.contains("pub struct WebSearch;"));
    assert!(source.contains("impl Tool for WebSearch {"));
    assert!(source.contains("The tool `web-search` of workers/tools.toml."));
    for placeholder in [
        "template-tool",
        "template_tool",
        "TemplateTool",
        "asynctools tools new: the template",
    ] {
        assert!(!source.contains(placeholder), "{placeholder} left in");
    }
    // The template's limit is the schema's.
    assert!(source.contains("const MAX_TEXT_CHARS: usize = 10_000;"));
    assert!(catalog_entry(&n("x")).contains("maxLength = 10000"));
}

#[test]
fn registrations_keep_modules_sorted_and_entries_above_the_marker() {
    let fresh = without_registrations(CUSTOM_MOD_FILE);
    let (once, added) = register_in(&fresh, &n("web-search")).unwrap();
    assert_eq!(
        added,
        [
            "mod web_search;",
            "(\"web-search\", Arc::new(web_search::WebSearch)),"
        ]
    );
    let (twice, _) = register_in(&once, &n("alpha")).unwrap();
    assert!(twice.contains(&format!("{MODULES_MARKER}\nmod alpha;\nmod web_search;\n")));
    assert!(twice.contains(&format!(
        "        (\"web-search\", Arc::new(web_search::WebSearch)),\n        (\"alpha\", \
         Arc::new(alpha::Alpha)),\n        {TOOLS_MARKER}\n"
    )));
    let (sorted, _) = register_in(&twice, &n("a10")).unwrap();
    let (sorted, _) = register_in(&sorted, &n("a")).unwrap();
    assert!(sorted.contains("\nmod a;\nmod a10;\nmod alpha;\nmod web_search;\n"));
    let again = register_in(&twice, &n("alpha")).unwrap_err();
    assert!(
        again.message.contains("already has `mod alpha;`"),
        "{again}"
    );
    let no_marker = fresh.replace(TOOLS_MARKER, "");
    let err = register_in(&no_marker, &n("beta")).unwrap_err();
    assert!(err.message.contains("has no line"), "{err}");
}

#[test]
fn long_registrations_are_broken_as_rustfmt_breaks_them() {
    let long = n(&"a".repeat(32));
    assert_eq!(
        registration(&long, "    "),
        format!(
            "    (\n        \"{0}\",\n        Arc::new({0}::A{1}),\n    ),\n",
            "a".repeat(32),
            "a".repeat(31)
        )
    );
}

#[test]
fn the_entry_makes_a_valid_catalog_with_the_schema() {
    let text = format!(
        "{}{}",
        crate::catalog::EMBEDDED_CATALOG_TOML,
        catalog_entry(&n("web-search"))
    );
    let catalog = Catalog::parse(&text).unwrap();
    let spec = catalog.get("web-search").unwrap();
    assert_eq!(
        (spec.timeout_s, spec.memory_mb, spec.batch_size),
        (30, 256, 10)
    );
    let schema = spec.input_schema.as_ref().unwrap();
    assert_eq!(schema["required"], serde_json::json!(["text"]));
    assert_eq!(schema["additionalProperties"], false);
}

#[test]
fn a_fresh_registry_is_the_compiled_one_without_its_registrations() {
    let fresh = without_registrations(CUSTOM_MOD_FILE);
    assert!(fresh.contains(&format!(
        "\n{MODULES_MARKER}\n\nuse super::{{Tool, ToolBox}};\n"
    )));
    assert!(fresh.contains(&format!("    vec![\n        {TOOLS_MARKER}\n    ]\n")));
    assert!(fresh.contains("pub fn register(tools: ToolBox) -> ToolBox {"));
    assert!(!fresh.lines().any(is_mod_line), "{fresh}");
    // Taking the registrations out undoes adding them, long entries included.
    let (one, _) = register_in(&fresh, &n("web-search")).unwrap();
    let (two, _) = register_in(&one, &n(&"a".repeat(32))).unwrap();
    assert_ne!(two, fresh);
    assert_eq!(without_registrations(&two), fresh);
}
