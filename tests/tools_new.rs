//! `asynctools tools new NAME`, run as a user runs it, in a temporary copy of the parts of the
//! repository it touches (`workers/tools.toml` and `workers/src/tools/`): the real repository is
//! never written.
//!
//! That the generated code builds and passes its tests is checked in the workers crate itself: the
//! template is the module `workers/src/tools/custom/template_tool.rs` (compiled in test builds), and
//! `template_tool_is_generated_verbatim` below shows that a tool is that file with its names
//! replaced.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use workers::Catalog;

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const TEMPLATE_MARKER: &str = "// asynctools tools new: the template starts after this line\n";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A temporary "repository": the real catalog and tools directory, optionally without `custom/`.
fn repo_copy(with_custom: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let workers = dir.path().join("workers");
    std::fs::create_dir_all(&workers).unwrap();
    std::fs::copy(
        Path::new(REPO).join("workers/tools.toml"),
        workers.join("tools.toml"),
    )
    .unwrap();
    copy_dir(
        &Path::new(REPO).join("workers/src/tools"),
        &workers.join("src/tools"),
    );
    if !with_custom {
        std::fs::remove_dir_all(workers.join("src/tools/custom")).unwrap();
    }
    dir
}

fn asynctools_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_asynctools"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every file under `dir` with its text: what a refused or dry run must leave as it was.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(path.clone(), std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    files
}

fn read(dir: &Path, path: &str) -> String {
    std::fs::read_to_string(dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The modules listed under the marker of `custom/mod.rs` (the repository's own tools included).
fn module_block(registry: &str) -> Vec<String> {
    registry
        .lines()
        .skip_while(|l| *l != "// asynctools tools new: modules (keep this line)")
        .skip(1)
        .map_while(|l| l.strip_prefix("mod ")?.strip_suffix(';'))
        .map(str::to_string)
        .collect()
}

fn assert_refused(dir: &Path, args: &[&str], says: &str) {
    let before = snapshot(dir);
    let out = asynctools_in(dir, args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(
        stderr.contains(says),
        "{args:?}: expected {says:?} in {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(snapshot(dir), before, "{args:?} changed files");
}

#[test]
fn a_new_tool_gets_its_file_its_registration_and_its_catalog_entry() {
    let repo = repo_copy(true);
    let root = repo.path();
    let catalog_before = read(root, "workers/tools.toml");
    let before = Catalog::parse(&catalog_before).unwrap();
    // Run from a subdirectory: the root is found by walking up.
    let out = asynctools_in(
        &root.join("workers/src/tools"),
        &["tools", "new", "web-search"],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let source = read(root, "workers/src/tools/custom/web_search.rs");
    for expected in [
        "pub struct WebSearch;",
        "impl Tool for WebSearch {",
        "fn check_arguments(&self, arguments: &Value) -> Result<(), InputError> {",
        "args::required_str(arguments, \"text\")?",
        "context.cancelled.cancelled()",
        "#[cfg(test)]",
        "async fn good_arguments_are_accepted_and_run()",
        "fn bad_arguments_are_refused_naming_the_argument()",
    ] {
        assert!(
            source.contains(expected),
            "{expected} missing from\n{source}"
        );
    }
    assert!(
        !source.contains("template"),
        "a placeholder is left:\n{source}"
    );

    let registry = read(root, "workers/src/tools/custom/mod.rs");
    let modules = module_block(&registry);
    assert!(modules.contains(&"web_search".to_string()), "{registry}");
    assert!(
        registry.contains(
            "        (\"web-search\", Arc::new(web_search::WebSearch)),\n        \
             // asynctools tools new: tools (keep this line)\n"
        ),
        "{registry}"
    );

    // The catalog keeps its text and gains one entry that every reader accepts.
    let catalog_after = read(root, "workers/tools.toml");
    assert!(
        catalog_after.starts_with(&catalog_before),
        "the existing entries keep their formatting"
    );
    let after = Catalog::parse(&catalog_after).expect("the catalog still parses");
    assert_eq!(after.tools().len(), before.tools().len() + 1);
    assert_eq!(&after.tools()[..before.tools().len()], before.tools());
    let spec = after.get("web-search").unwrap();
    assert_eq!(
        (
            spec.timeout_s,
            spec.memory_mb,
            spec.batch_size,
            spec.max_concurrency,
            spec.max_receive_count
        ),
        (30, 256, 10, 10, 5)
    );
    assert!(spec.description.contains("TODO"), "{}", spec.description);
    let schema = serde_json::Value::Object(spec.input_schema.clone().expect("an input_schema"));
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["required"], serde_json::json!(["text"]));
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["properties"]["text"]["type"], "string");
    assert_eq!(schema["properties"]["text"]["maxLength"], 10_000);
    assert_eq!(
        schema["properties"].as_object().unwrap().len(),
        1,
        "exactly the template's one argument"
    );

    for step in [
        "cargo test -p workers-core web_search",
        "tasks submit web-search --args '{\"text\": \"hello\"}' --backend memory",
        "make synth",
        "docs/tools.md",
    ] {
        assert!(stdout.contains(step), "{step:?} missing from\n{stdout}");
    }

    // A second tool: modules stay sorted, entries pile up above the marker.
    let out = asynctools_in(root, &["tools", "new", "alpha"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let registry = read(root, "workers/src/tools/custom/mod.rs");
    let modules = module_block(&registry);
    assert!(modules.contains(&"alpha".to_string()), "{registry}");
    assert!(modules.is_sorted(), "{registry}");
    assert!(
        registry.contains(
            "(\"web-search\", Arc::new(web_search::WebSearch)),\n        \
             (\"alpha\", Arc::new(alpha::Alpha)),\n"
        ),
        "{registry}"
    );
    let catalog = Catalog::parse(&read(root, "workers/tools.toml")).unwrap();
    assert!(catalog.get("alpha").is_ok() && catalog.get("web-search").is_ok());
}

#[test]
fn dry_run_prints_everything_and_writes_nothing() {
    let repo = repo_copy(true);
    let before = snapshot(repo.path());
    let out = asynctools_in(repo.path(), &["tools", "new", "web-search", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(snapshot(repo.path()), before, "--dry-run wrote something");
    let stdout = text(&out.stdout);
    for expected in [
        "=== would have created workers/src/tools/custom/web_search.rs",
        "pub struct WebSearch;",
        "=== would have changed workers/src/tools/custom/mod.rs",
        "+ mod web_search;",
        "+ (\"web-search\", Arc::new(web_search::WebSearch)),",
        "=== would have appended to workers/tools.toml",
        "+ name = \"web-search\"",
        "+ additionalProperties = false",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing from\n{stdout}"
        );
    }
}

#[test]
fn bad_names_duplicates_and_a_missing_root_are_refused_with_exit_2() {
    let repo = repo_copy(true);
    let root = repo.path();
    for (name, says) in [
        ("Web", "NAME: \"Web\" is not a tool name"),
        (
            "web_search",
            "is not a tool name: use 1 to 32 lowercase letters",
        ),
        ("", "NAME: \"\" is not a tool name"),
        (&"a".repeat(33), "is not a tool name"),
        ("2fa", "must start with a letter"),
        ("type", "is a Rust keyword"),
        ("tool", "would make a type named Tool"),
        (
            "sentiment",
            "NAME: \"sentiment\" is already in the tool catalog",
        ),
        ("template-tool", "template_tool.rs exists already"),
    ] {
        assert_refused(root, &["tools", "new", name], says);
    }
    // The same name twice: the second run finds it in the catalog.
    let out = asynctools_in(root, &["tools", "new", "web-search"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_refused(
        root,
        &["tools", "new", "web-search"],
        "\"web-search\" is already in the tool catalog",
    );
    // A registration left behind after its catalog entry was removed by hand.
    let catalog = read(root, "workers/tools.toml");
    let cut = catalog.find("\n[[tools]]\nname = \"web-search\"").unwrap();
    std::fs::write(root.join("workers/tools.toml"), &catalog[..cut + 1]).unwrap();
    std::fs::remove_file(root.join("workers/src/tools/custom/web_search.rs")).unwrap();
    assert_refused(
        root,
        &["tools", "new", "web-search"],
        "custom/mod.rs: already has `mod web_search;`",
    );
    // A mod.rs whose markers are gone.
    let registry = read(root, "workers/src/tools/custom/mod.rs")
        .replace("// asynctools tools new: tools (keep this line)", "");
    std::fs::write(root.join("workers/src/tools/custom/mod.rs"), registry).unwrap();
    assert_refused(
        root,
        &["tools", "new", "beta"],
        "has no line `// asynctools tools new: tools (keep this line)`",
    );
    // No workers/tools.toml here or above.
    let elsewhere = tempfile::tempdir().unwrap();
    assert_refused(
        elsewhere.path(),
        &["tools", "new", "beta"],
        "no workers/tools.toml in",
    );
    // A catalog that does not parse is not appended to.
    let broken = repo_copy(true);
    std::fs::write(
        broken.path().join("workers/tools.toml"),
        "version = 1\n[[tools]]\n",
    )
    .unwrap();
    assert_refused(
        broken.path(),
        &["tools", "new", "beta"],
        "workers/tools.toml must parse before a tool is added to it",
    );
}

#[test]
fn the_registry_is_created_when_missing() {
    let repo = repo_copy(false);
    let out = asynctools_in(repo.path(), &["tools", "new", "web-search"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let registry = read(repo.path(), "workers/src/tools/custom/mod.rs");
    assert!(registry.contains("pub fn register(tools: ToolBox) -> ToolBox {"));
    assert!(registry.contains("mod web_search;"));
    assert!(registry.contains("(\"web-search\", Arc::new(web_search::WebSearch)),"));
    assert!(
        !registry.contains("template_tool"),
        "a new repository's registry does not compile the template"
    );
    assert!(text(&out.stdout).contains("created     workers/src/tools/custom/mod.rs"));
}

/// The template module in the workers crate (compiled and tested there) is exactly what `tools new`
/// writes for its own name: so every generated tool is that tested code with other names.
#[test]
fn template_tool_is_generated_verbatim() {
    let repo = repo_copy(false);
    let out = asynctools_in(repo.path(), &["tools", "new", "template-tool"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let template = read(Path::new(REPO), "workers/src/tools/custom/template_tool.rs");
    let (_, body) = template.split_once(TEMPLATE_MARKER).unwrap();
    assert_eq!(
        read(repo.path(), "workers/src/tools/custom/template_tool.rs"),
        body
    );
}

/// What `tools new` writes is already formatted (`make lint` runs rustfmt --check), for names of
/// every length: rustfmt breaks long registrations, and sorts `mod` lines.
#[test]
fn generated_files_are_rustfmt_clean() {
    let has_rustfmt = Command::new("rustfmt")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_rustfmt {
        eprintln!("generated_files_are_rustfmt_clean: SKIPPED (no rustfmt on PATH)");
        return;
    }
    let repo = repo_copy(true);
    let letters = "abcdefghijklmnopqrstuvwxyz";
    let mut names: Vec<String> = (1..=32)
        .map(|n| letters.chars().cycle().take(n).collect())
        .collect();
    names.extend(
        ["w2-x", "a-b-c", "z9", "m-10", "m-9", "q--r"]
            .iter()
            .map(|s| s.to_string()),
    );
    for name in &names {
        let out = asynctools_in(repo.path(), &["tools", "new", name]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
    }
    let custom = repo.path().join("workers/src/tools/custom");
    let files: Vec<PathBuf> = std::fs::read_dir(&custom)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(files.len() > names.len());
    let out = Command::new("rustfmt")
        .args(["--edition", "2024", "--check"])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rustfmt would change the generated files:\n{}",
        text(&out.stdout)
    );
    let catalog = Catalog::parse(&read(repo.path(), "workers/tools.toml")).unwrap();
    for name in &names {
        assert!(catalog.get(name).is_ok(), "{name}");
    }
}
