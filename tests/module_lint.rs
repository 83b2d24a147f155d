//! `make lint`'s module check (scripts/module-cycles.py) holds each crate to its layers: shown here
//! on copies of the real sources, with a wrong-way import planted in each (the simulator's model
//! importing its runner; the pipeline's core importing an adapter) and a cycle.

use std::path::Path;
use std::process::Command;

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

/// The lint on `crate_dir/src` copied under a temporary directory, after `plant` edits the copy:
/// (exit code, output).
fn lint_copy(crate_dir: &str, plant: impl FnOnce(&Path)) -> (i32, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join(crate_dir).join("src");
    copy_dir(&root.join(crate_dir).join("src"), &src);
    plant(&src);
    let out = Command::new("python3")
        .arg(root.join("scripts/module-cycles.py"))
        .arg(&src)
        .output()
        .expect("python3 runs the lint");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Puts `line` at the top of `file` (after a file's inline `mod tests` the lint reads nothing).
fn plant_import(file: &Path, line: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    std::fs::write(file, format!("{line}\n{text}")).unwrap();
}

#[test]
fn the_real_sources_pass() {
    for krate in [
        "sim",
        "workers",
        "workers/aws",
        "workers/hosts",
        "live",
        "mcp",
    ] {
        let (code, out) = lint_copy(krate, |_| {});
        assert_eq!(code, 0, "{krate}: {out}");
    }
}

#[test]
fn the_simulators_model_importing_its_runner_fails() {
    let (code, out) = lint_copy("sim", |src| {
        plant_import(
            &src.join("model/cost.rs"),
            "use crate::run::options::RunOptions;",
        )
    });
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("model::cost imports run::options, a layer above it"),
        "{out}"
    );
}

#[test]
fn the_pipelines_core_importing_an_adapter_fails() {
    let (code, out) = lint_copy("workers", |src| {
        plant_import(
            &src.join("dispatcher.rs"),
            "use crate::memory::MemoryStore;",
        )
    });
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("dispatcher imports memory, a layer above it"),
        "{out}"
    );
}

/// The names of the `[dependencies]` of a crate's manifest.
fn dependencies(crate_dir: &str) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(crate_dir).join("Cargo.toml")).unwrap();
    let manifest: toml::Table = text.parse().unwrap();
    manifest["dependencies"]
        .as_table()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

/// Across the pipeline's crates Cargo keeps the direction (core ← adapters ← hosts): a crate can
/// only name what its manifest lists. This holds the manifests to it.
#[test]
fn the_pipelines_crates_depend_only_downward() {
    let core = dependencies("workers");
    let reaches_out = |name: &String| {
        name.starts_with("aws") || name.starts_with("lambda") || name.starts_with("workers")
    };
    assert!(
        !core.iter().any(reaches_out),
        "workers-core must know no AWS, Lambda runtime or other pipeline crate: {core:?}"
    );
    let adapters = dependencies("workers/aws");
    assert!(adapters.contains(&"workers-core".to_string()));
    assert!(
        !adapters
            .iter()
            .any(|d| d == "workers" || d.starts_with("lambda")),
        "workers-aws must not know the hosts: {adapters:?}"
    );
    let hosts = dependencies("workers/hosts");
    for needed in ["workers-core", "workers-aws"] {
        assert!(hosts.contains(&needed.to_string()), "{hosts:?}");
    }
}

#[test]
fn a_cycle_fails() {
    // sweeper imports record: record importing sweeper closes a cycle.
    let (code, out) = lint_copy("workers", |src| {
        plant_import(&src.join("record.rs"), "use crate::sweeper;")
    });
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("import cycle between"), "{out}");
}
