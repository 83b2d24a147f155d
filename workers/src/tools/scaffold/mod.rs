//! `tools new NAME`: the boilerplate of a new Rust tool — its file from the template, its
//! registration in `workers/src/tools/custom/mod.rs`, and its `[[tools]]` entry in the catalog —
//! planned from the repository's files, then shown (a dry run) or written.

use crate::catalog::{Catalog, pascal_case};
use crate::error::InputError;
use anyhow::anyhow;
use std::path::{Path, PathBuf};

/// Why `tools new` stopped: the input (a name, the repository) or something failing.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error(transparent)]
    Input(anyhow::Error),
    #[error(transparent)]
    Failed(anyhow::Error),
}

impl From<InputError> for ScaffoldError {
    fn from(e: InputError) -> Self {
        ScaffoldError::Input(e.into())
    }
}

const CATALOG: &str = "workers/tools.toml";
const TOOLS_DIR: &str = "workers/src/tools";
const CUSTOM_DIR: &str = "workers/src/tools/custom";
const CUSTOM_MOD: &str = "workers/src/tools/custom/mod.rs";
const TOOLS_MOD: &str = "workers/src/tools/mod.rs";

/// The template, compiled and tested here (test builds only) so that what `tools new` writes
/// builds and passes its tests.
#[cfg(test)]
#[path = "../custom/template_tool.rs"]
mod template_tool;

/// The template: a real module of the workers crate (compiled and tested there), whose text after
/// its marker line is a new tool once the names of the tool `template-tool` are replaced.
const TEMPLATE_FILE: &str = include_str!("../custom/template_tool.rs");
const TEMPLATE_MARKER: &str = "// asynctools tools new: the template starts after this line\n";
const TEMPLATE_TOOL: &str = "template-tool";

/// The new tool's source file.
fn tool_file(names: &Names) -> Result<String, ScaffoldError> {
    let template = self::names(TEMPLATE_TOOL)?;
    let (_, body) = TEMPLATE_FILE.split_once(TEMPLATE_MARKER).ok_or_else(|| {
        ScaffoldError::Failed(anyhow!(
            "the built-in template has lost its marker line; rebuild asynctools"
        ))
    })?;
    Ok(body
        .replace(&template.tool, &names.tool)
        .replace(&template.module, &names.module)
        .replace(&template.type_name, &names.type_name))
}

/// custom/mod.rs as compiled in: with the tools registered in this build, if any.
const CUSTOM_MOD_FILE: &str = include_str!("../custom/mod.rs");
/// The line in custom/mod.rs under which `mod NAME;` lines go (kept sorted, as rustfmt wants).
const MODULES_MARKER: &str = "// asynctools tools new: modules (keep this line)";
/// The line in custom/mod.rs above which registrations go.
const TOOLS_MARKER: &str = "// asynctools tools new: tools (keep this line)";

/// A line of the block of `mod NAME;` lines under the modules marker.
fn is_mod_line(line: &str) -> bool {
    line.starts_with("mod ") && line.ends_with(';')
}

/// A custom/mod.rs without its registrations: the `mod` lines under the modules marker and the
/// entries between `vec![` and the tools marker. What `tools new` creates where the file is
/// missing.
fn without_registrations(text: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    if let Some(marker) = lines.iter().position(|l| l.trim() == MODULES_MARKER) {
        let mods = lines[marker + 1..]
            .iter()
            .take_while(|l| is_mod_line(l))
            .count();
        lines.drain(marker + 1..marker + 1 + mods);
    }
    if let Some(marker) = lines.iter().position(|l| l.trim() == TOOLS_MARKER)
        && let Some(list) = lines[..marker].iter().rposition(|l| l.trim() == "vec![")
    {
        lines.drain(list + 1..marker);
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

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
pub struct Names {
    /// In the catalog and the API: `web-search`.
    pub tool: String,
    /// The Rust module and file: `web_search`.
    pub module: String,
    /// The Rust type: `WebSearch`.
    pub type_name: String,
}

/// The names a new tool goes by, or why `tool` cannot name one.
pub fn names(tool: &str) -> Result<Names, InputError> {
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
    let type_name = pascal_case(tool);
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
fn find_root(start: &Path) -> Result<PathBuf, ScaffoldError> {
    start
        .ancestors()
        .find(|dir| dir.join(CATALOG).is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            ScaffoldError::Input(anyhow!(
                "no {CATALOG} in {} or any directory above it: run `asynctools tools new` inside \
                 the asynctools repository",
                start.display()
            ))
        })
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
        .position(|l| !is_mod_line(l))
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
pub struct Change {
    pub path: String,
    /// The file's whole new text.
    pub text: String,
    /// What to show for it: the whole text (a new file) or the lines it gains.
    pub shown: String,
    pub how: &'static str,
}

/// What `tools new` would write, relative to the repository root.
pub struct NewTool {
    pub root: PathBuf,
    pub names: Names,
    pub changes: Vec<Change>,
}

impl NewTool {
    /// Plans the tool `names` in the repository at or above `start`, reading what it changes and
    /// checking that the result is a valid catalog; writes nothing.
    pub fn plan(start: &Path, names: Names) -> Result<NewTool, ScaffoldError> {
        let root = find_root(start)?;
        let read = |path: &str| {
            std::fs::read_to_string(root.join(path)).map_err(|e| {
                ScaffoldError::Failed(anyhow!("reading {}: {e}", root.join(path).display()))
            })
        };
        let catalog_text = read(CATALOG)?;
        let catalog = Catalog::parse(&catalog_text).map_err(|e| {
            ScaffoldError::Input(anyhow!(
                "{CATALOG} must parse before a tool is added to it: {e}"
            ))
        })?;
        if catalog.get(&names.tool).is_ok() {
            return Err(InputError::new(
                "NAME",
                format!(
                    "{:?} is already in the tool catalog ({CATALOG}); choose another name",
                    names.tool
                ),
            )
            .into());
        }
        if !root.join(TOOLS_DIR).is_dir() {
            return Err(ScaffoldError::Input(anyhow!(
                "{} has {CATALOG} but no {TOOLS_DIR}/: not an asynctools repository",
                root.display()
            )));
        }
        let file = format!("{CUSTOM_DIR}/{}.rs", names.module);
        if root.join(&file).exists() {
            return Err(InputError::new(
                "NAME",
                format!("{file} exists already; choose another name"),
            )
            .into());
        }
        let (mod_before, mod_how) = if root.join(CUSTOM_MOD).exists() {
            (read(CUSTOM_MOD)?, "changed")
        } else {
            (without_registrations(CUSTOM_MOD_FILE), "created")
        };
        let (mod_after, mod_added) = register_in(&mod_before, &names)?;
        let entry = catalog_entry(&names);
        let mut catalog_after = catalog_text.clone();
        if !catalog_after.ends_with('\n') {
            catalog_after.push('\n');
        }
        catalog_after.push_str(&entry);
        // The entry must leave a catalog every reader accepts, with the tool and its schema in it.
        let parsed = Catalog::parse(&catalog_after)
            .map_err(|e| ScaffoldError::Failed(anyhow!("the new entry breaks {CATALOG}: {e}")))?;
        if parsed
            .get(&names.tool)
            .ok()
            .and_then(|t| t.input_schema.as_ref())
            .is_none()
        {
            return Err(ScaffoldError::Failed(anyhow!(
                "the new entry of {CATALOG} has no input_schema"
            )));
        }
        let source = tool_file(&names)?;
        let changes = vec![
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
        Ok(NewTool {
            root,
            names,
            changes,
        })
    }

    /// What a dry run prints: every change, nothing written.
    pub fn dry_run_text(&self) -> String {
        let mut shown = format!(
            "asynctools tools new {} --dry-run: nothing is written (root {})\n",
            self.names.tool,
            self.root.display()
        );
        for change in &self.changes {
            shown.push_str(&format!(
                "\n=== would have {} {}\n",
                change.how, change.path
            ));
            shown.push_str(&change.shown);
        }
        shown
    }

    /// Writes the changes (the tool's file only if it does not exist yet); returns what to print
    /// next: what was written and the next steps.
    pub fn write(&self) -> Result<String, ScaffoldError> {
        let root = &self.root;
        std::fs::create_dir_all(root.join(CUSTOM_DIR))
            .map_err(|e| ScaffoldError::Failed(anyhow!("creating {CUSTOM_DIR}: {e}")))?;
        for (i, change) in self.changes.iter().enumerate() {
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
                let done: Vec<&str> = self.changes[..i].iter().map(|c| c.path.as_str()).collect();
                ScaffoldError::Failed(anyhow!(
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
        Ok(next_steps(root, &self.names, &self.changes))
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
  2. Test it:     cargo test -p workers-core {module}
  3. Run it:      cargo run -- tasks submit {tool} --args '{{\"text\": \"hello\"}}' --backend memory
     (the catalog and the tools are compiled in: run the rebuilt binary)
  4. Deploy it:   make synth && make deploy (the stack gives it a queue, a DLQ, a worker function
     and alarms)
See docs/tools.md.\n"
    ));
    text
}

#[cfg(test)]
mod tests;
