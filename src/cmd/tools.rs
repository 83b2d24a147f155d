//! `tools new NAME`: the boilerplate of a new Rust tool — its file from the template, its
//! registration in `workers/src/tools/custom/mod.rs`, and its `[[tools]]` entry in the catalog.

use super::{CmdError, CmdResult};
use anyhow::anyhow;
use std::path::{Path, PathBuf};
use workers::{Catalog, InputError};

#[derive(clap::Subcommand, Debug)]
pub enum ToolsCommand {
    /// Write the boilerplate of a new Rust tool: its code (from a template that builds and passes
    /// its tests), its registration, and its catalog entry with an input schema.
    New(NewArgs),
}

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Writes, relative to the repository root (the nearest directory upwards \
    holding workers/tools.toml):\n  workers/src/tools/custom/NAME.rs   the tool (NAME with '-' as \
    '_')\n  workers/src/tools/custom/mod.rs    registers it (created if missing)\n  \
    workers/tools.toml                 a [[tools]] entry, appended\nSee docs/tools.md."
)]
pub struct NewArgs {
    /// The tool's name in the catalog: 1 to 32 lowercase letters, digits and '-', starting with a
    /// letter (it also names a Rust module and type).
    name: String,
    /// Print what would be written, and write nothing.
    #[arg(long)]
    dry_run: bool,
}

pub fn run(command: ToolsCommand) -> CmdResult {
    match command {
        ToolsCommand::New(args) => new(args),
    }
}

const CATALOG: &str = "workers/tools.toml";
const TOOLS_DIR: &str = "workers/src/tools";
const CUSTOM_DIR: &str = "workers/src/tools/custom";
const CUSTOM_MOD: &str = "workers/src/tools/custom/mod.rs";
const TOOLS_MOD: &str = "workers/src/tools/mod.rs";

/// The line in custom/mod.rs under which `mod NAME;` lines go (kept sorted, as rustfmt wants).
const MODULES_MARKER: &str = "// asynctools tools new: modules (keep this line)";
/// The line in custom/mod.rs above which registrations go.
const TOOLS_MARKER: &str = "// asynctools tools new: tools (keep this line)";

/// The template: a real module of the workers crate (compiled and tested there), whose text after
/// its marker line is a new tool once its three names are replaced.
const TEMPLATE_FILE: &str = include_str!("../../workers/src/tools/custom/template_tool.rs");
const TEMPLATE_MARKER: &str = "// asynctools tools new: the template starts after this line\n";
const TEMPLATE_NAME: &str = "template-tool";
const TEMPLATE_MODULE: &str = "template_tool";
const TEMPLATE_TYPE: &str = "TemplateTool";

/// custom/mod.rs as `tools new` creates it when it is missing (the repository's own copy also
/// compiles the template, in test builds).
const FRESH_CUSTOM_MOD: &str = r#"//! Your own Rust tools, one file each, made by `asynctools tools new NAME` (docs/tools.md).
//! `ToolBox::builtin` calls `register`, so they run wherever the built-in tools run: the local
//! worker, the Lambda workers, `tasks submit --backend memory`, the MCP server.
//!
//! `tools new` adds a `mod` line under the first marker and an entry above the second; both lists
//! may be edited by hand too (keep the marker lines).

// asynctools tools new: modules (keep this line)

use super::{Tool, ToolBox};
use std::sync::Arc;

/// The tools of this directory, by catalog name.
fn custom_tools() -> Vec<(&'static str, Arc<dyn Tool>)> {
    vec![
        // asynctools tools new: tools (keep this line)
    ]
}

/// Adds the tools of this directory to `tools`.
pub fn register(tools: ToolBox) -> ToolBox {
    custom_tools()
        .into_iter()
        .fold(tools, |tools, (name, tool)| tools.with(name, tool))
}
"#;

/// Words a module may not be named (Rust 2024's strict and reserved keywords).
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Type names the generated file already uses (its imports and the prelude's names it relies on):
/// a tool's type may not shadow them.
const TAKEN_TYPES: &[&str] = &[
    "Tool",
    "ToolContext",
    "ToolFailure",
    "InputError",
    "Value",
    "Result",
    "Option",
    "Ok",
    "Err",
    "Some",
    "None",
    "String",
    "Vec",
    "Box",
    "Send",
    "Sync",
    "Sized",
    "Drop",
    "Copy",
    "Clone",
    "Default",
    "Fn",
    "FnMut",
    "FnOnce",
    "Iterator",
    "IntoIterator",
    "ToString",
    "ToOwned",
    "From",
    "Into",
    "TryFrom",
    "TryInto",
    "AsRef",
    "AsMut",
    "Eq",
    "PartialEq",
    "Ord",
    "PartialOrd",
    "Extend",
    "FromIterator",
    "Unpin",
];

/// The names one tool goes by.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Names {
    /// In the catalog and the API: `web-search`.
    tool: String,
    /// The Rust module and file: `web_search`.
    module: String,
    /// The Rust type: `WebSearch`.
    type_name: String,
}

fn names(tool: &str) -> Result<Names, InputError> {
    let field = "NAME";
    let catalog_ok = !tool.is_empty()
        && tool.len() <= 32
        && tool
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !catalog_ok {
        return Err(InputError::new(
            field,
            format!(
                "{tool:?} is not a tool name: use 1 to 32 lowercase letters, digits and '-' \
                 (e.g. web-search)"
            ),
        ));
    }
    if !tool.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(InputError::new(
            field,
            format!(
                "{tool:?} must start with a letter: it also names a Rust module and type \
                 (a catalog entry of kind lambda or http may start with a digit)"
            ),
        ));
    }
    let module = tool.replace('-', "_");
    let type_name = workers::catalog::pascal_case(tool);
    if KEYWORDS.contains(&module.as_str()) {
        return Err(InputError::new(
            field,
            format!("{tool:?} is a Rust keyword and cannot name a module; choose another name"),
        ));
    }
    if TAKEN_TYPES.contains(&type_name.as_str()) {
        return Err(InputError::new(
            field,
            format!(
                "{tool:?} would make a type named {type_name}, a name the tool's code already \
                 uses; choose another name"
            ),
        ));
    }
    Ok(Names {
        tool: tool.to_string(),
        module,
        type_name,
    })
}

/// The nearest directory, from `start` upwards, that holds `workers/tools.toml`.
fn find_root(start: &Path) -> Result<PathBuf, CmdError> {
    start
        .ancestors()
        .find(|dir| dir.join(CATALOG).is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            CmdError::input(anyhow!(
                "no {CATALOG} in {} or any directory above it: run `asynctools tools new` inside \
                 the asynctools repository",
                start.display()
            ))
        })
}

/// The new tool's source file.
fn tool_file(names: &Names) -> Result<String, CmdError> {
    let (_, body) = TEMPLATE_FILE.split_once(TEMPLATE_MARKER).ok_or_else(|| {
        CmdError::runtime(anyhow!(
            "the built-in template has lost its marker line; rebuild asynctools"
        ))
    })?;
    Ok(body
        .replace(TEMPLATE_NAME, &names.tool)
        .replace(TEMPLATE_MODULE, &names.module)
        .replace(TEMPLATE_TYPE, &names.type_name))
}

/// The registration entry, formatted as rustfmt formats it: one line while the tuple is at most 60
/// characters wide (rustfmt's width for call-like items), else one element per line.
fn registration(names: &Names, indent: &str) -> String {
    let name = format!("\"{}\"", names.tool);
    let tool = format!("Arc::new({}::{})", names.module, names.type_name);
    let one_line = format!("{name}, {tool}");
    if one_line.len() <= 60 {
        format!("{indent}({one_line}),\n")
    } else {
        format!("{indent}(\n{indent}    {name},\n{indent}    {tool},\n{indent}),\n")
    }
}

/// custom/mod.rs with the tool added: its `mod` line sorted into the block under the first marker,
/// its entry above the second. Refuses a file without the markers or that has the tool already.
fn register_in(text: &str, names: &Names) -> Result<(String, Vec<String>), InputError> {
    let field = CUSTOM_MOD;
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let marker_at = |lines: &[String], marker: &str| lines.iter().position(|l| l.trim() == marker);
    let missing = |marker: &str| {
        InputError::new(
            field,
            format!("has no line `{marker}`; put it back where the list it marks is"),
        )
    };
    let mod_line = format!("mod {};", names.module);
    if lines.iter().any(|l| l.trim() == mod_line) {
        return Err(InputError::new(
            field,
            format!("already has `{mod_line}`; remove it, or choose another name"),
        ));
    }
    let quoted = format!("\"{}\"", names.tool);
    if lines.iter().any(|l| {
        let l = l.trim_start();
        l.starts_with(&format!("({quoted},")) || l.starts_with(&format!("{quoted},"))
    }) {
        return Err(InputError::new(
            field,
            format!("already registers {quoted}; remove it, or choose another name"),
        ));
    }
    let modules = marker_at(&lines, MODULES_MARKER).ok_or_else(|| missing(MODULES_MARKER))?;
    let block_end = lines[modules + 1..]
        .iter()
        .position(|l| !(l.starts_with("mod ") && l.ends_with(';')))
        .map_or(lines.len(), |n| modules + 1 + n);
    lines.insert(block_end, mod_line.clone());
    // rustfmt orders a block of `mod` lines by the modules' names, byte by byte.
    lines[modules + 1..=block_end].sort_by(|a, b| {
        let name = |l: &str| {
            l.trim_start_matches("mod ")
                .trim_end_matches(';')
                .to_string()
        };
        name(a).cmp(&name(b))
    });
    let tools = marker_at(&lines, TOOLS_MARKER).ok_or_else(|| missing(TOOLS_MARKER))?;
    let indent: String = lines[tools]
        .chars()
        .take_while(|c| c.is_whitespace())
        .collect();
    let entry = registration(names, &indent);
    for (i, line) in entry.lines().enumerate() {
        lines.insert(tools + i, line.to_string());
    }
    let mut added = vec![mod_line];
    added.extend(entry.lines().map(|l| l.trim().to_string()));
    let mut out = lines.join("\n");
    out.push('\n');
    Ok((out, added))
}

/// The `[[tools]]` entry: the catalog's limits at their defaults, and the template's argument.
fn catalog_entry(names: &Names) -> String {
    let Names { tool, module, .. } = names;
    format!(
        r#"
[[tools]]
name = "{tool}"
description = "TODO: what {tool} does, in one sentence (MCP clients show it to the model)."
timeout_s = 30
memory_mb = 256
batch_size = 10
max_concurrency = 10
max_receive_count = 5

[tools.input_schema]
type = "object"
description = "Arguments of `{tool}` ({CUSTOM_DIR}/{module}.rs: check_arguments)."
required = ["text"]
additionalProperties = false
[tools.input_schema.properties.text]
type = "string"
description = "The text to work on; not blank, at most 10000 characters."
pattern = '\S'
maxLength = 10000
"#
    )
}

/// One file `tools new` writes.
struct Change {
    path: String,
    /// The file's whole new text.
    text: String,
    /// What to show for it: the whole text (a new file) or the lines it gains.
    shown: String,
    how: &'static str,
}

fn new(args: NewArgs) -> CmdResult {
    let names = names(&args.name).map_err(CmdError::input)?;
    let cwd = std::env::current_dir().map_err(|e| CmdError::runtime(anyhow!("{e}")))?;
    let root = find_root(&cwd)?;
    let read = |path: &str| {
        std::fs::read_to_string(root.join(path))
            .map_err(|e| CmdError::runtime(anyhow!("reading {}: {e}", root.join(path).display())))
    };
    let catalog_text = read(CATALOG)?;
    let catalog = Catalog::parse(&catalog_text).map_err(|e| {
        CmdError::input(anyhow!(
            "{CATALOG} must parse before a tool is added to it: {e}"
        ))
    })?;
    if catalog.get(&names.tool).is_ok() {
        return Err(CmdError::input(InputError::new(
            "NAME",
            format!(
                "{:?} is already in the tool catalog ({CATALOG}); choose another name",
                names.tool
            ),
        )));
    }
    if !root.join(TOOLS_DIR).is_dir() {
        return Err(CmdError::input(anyhow!(
            "{} has {CATALOG} but no {TOOLS_DIR}/: not an asynctools repository",
            root.display()
        )));
    }
    let file = format!("{CUSTOM_DIR}/{}.rs", names.module);
    if root.join(&file).exists() {
        return Err(CmdError::input(InputError::new(
            "NAME",
            format!("{file} exists already; choose another name"),
        )));
    }
    let custom_mod = root.join(CUSTOM_MOD);
    let (mod_before, mod_how) = if custom_mod.exists() {
        (read(CUSTOM_MOD)?, "changed")
    } else {
        (FRESH_CUSTOM_MOD.to_string(), "created")
    };
    let (mod_after, mod_added) = register_in(&mod_before, &names).map_err(CmdError::input)?;
    let entry = catalog_entry(&names);
    let mut catalog_after = catalog_text.clone();
    if !catalog_after.ends_with('\n') {
        catalog_after.push('\n');
    }
    catalog_after.push_str(&entry);
    // The entry must leave a catalog every reader accepts, with the tool and its schema in it.
    let parsed = Catalog::parse(&catalog_after)
        .map_err(|e| CmdError::runtime(anyhow!("the new entry breaks {CATALOG}: {e}")))?;
    if parsed
        .get(&names.tool)
        .ok()
        .and_then(|t| t.input_schema.as_ref())
        .is_none()
    {
        return Err(CmdError::runtime(anyhow!(
            "the new entry of {CATALOG} has no input_schema"
        )));
    }
    let source = tool_file(&names)?;
    let changes = [
        Change {
            path: file,
            shown: source.clone(),
            text: source,
            how: "created",
        },
        Change {
            path: CUSTOM_MOD.to_string(),
            shown: if mod_how == "created" {
                mod_after.clone()
            } else {
                plus(mod_added.iter().map(String::as_str))
            },
            text: mod_after,
            how: mod_how,
        },
        Change {
            path: CATALOG.to_string(),
            shown: plus(entry.lines()),
            text: catalog_after,
            how: "appended to",
        },
    ];
    if args.dry_run {
        let mut shown = format!(
            "asynctools tools new {} --dry-run: nothing is written (root {})\n",
            names.tool,
            root.display()
        );
        for change in &changes {
            shown.push_str(&format!(
                "\n=== would have {} {}\n",
                change.how, change.path
            ));
            shown.push_str(&change.shown);
        }
        return show(&shown);
    }
    std::fs::create_dir_all(root.join(CUSTOM_DIR))
        .map_err(|e| CmdError::runtime(anyhow!("creating {CUSTOM_DIR}: {e}")))?;
    for (i, change) in changes.iter().enumerate() {
        let path = root.join(&change.path);
        let written = if i == 0 {
            // Never overwrite a file that appeared meanwhile.
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .and_then(|mut f| std::io::Write::write_all(&mut f, change.text.as_bytes()))
        } else {
            std::fs::write(&path, &change.text)
        };
        written.map_err(|e| {
            let done: Vec<&str> = changes[..i].iter().map(|c| c.path.as_str()).collect();
            CmdError::runtime(anyhow!(
                "writing {}: {e} (already written: {})",
                path.display(),
                if done.is_empty() {
                    "nothing".to_string()
                } else {
                    done.join(", ")
                }
            ))
        })?;
    }
    show(&next_steps(&root, &names, &changes))
}

/// Prints to standard output; a closed pipe (`| head`) is not a panic.
fn show(text: &str) -> CmdResult {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CmdError::runtime(anyhow!(
            "writing to standard output: {e}"
        ))),
    }
}

/// Lines shown as added.
fn plus<'a>(lines: impl Iterator<Item = &'a str>) -> String {
    lines
        .map(|l| format!("+{}{l}\n", if l.is_empty() { "" } else { " " }))
        .collect()
}

fn next_steps(root: &Path, names: &Names, changes: &[Change]) -> String {
    let Names {
        tool,
        module,
        type_name,
    } = names;
    let mut text = format!(
        "new tool {tool} (type {type_name}) in {}:\n",
        root.display()
    );
    for change in changes {
        text.push_str(&format!("  {:<11} {}\n", change.how, change.path));
    }
    let wired = std::fs::read_to_string(root.join(TOOLS_MOD))
        .is_ok_and(|text| text.contains("custom::register"));
    if !wired {
        text.push_str(&format!(
            "\n{TOOLS_MOD} does not call custom::register yet: add `pub mod custom;` beside the \
             other modules, and end ToolBox::builtin with `custom::register(ToolBox {{ tools }})`.\n"
        ));
    }
    text.push_str(&format!(
        "\nNext:
  1. Implement it in {CUSTOM_DIR}/{module}.rs (check_arguments, run); describe it and
     its arguments in {CATALOG} (description, input_schema: MCP clients read both).
  2. Test it:     cargo test -p workers {module}
  3. Run it:      cargo run -- tasks submit {tool} --args '{{\"text\": \"hello\"}}' --backend memory
     (the catalog and the tools are compiled in: run the rebuilt binary)
  4. Deploy it:   make synth && make deploy (the stack gives it a queue, a DLQ, a worker function
     and alarms)
See docs/tools.md.\n"
    ));
    text
}

#[cfg(test)]
mod tests {
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
            TEMPLATE_NAME,
            TEMPLATE_MODULE,
            TEMPLATE_TYPE,
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
        let (once, added) = register_in(FRESH_CUSTOM_MOD, &n("web-search")).unwrap();
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
        let no_marker = FRESH_CUSTOM_MOD.replace(TOOLS_MARKER, "");
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
            workers::catalog::EMBEDDED_CATALOG_TOML,
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
}
