//! Running the built `asynctools` binary the way a user does, for the CLI tests.
#![allow(dead_code)]

use std::process::{Command, Output};

/// Runs `asynctools ARGS` from the repository root and waits for it.
pub fn asynctools(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_asynctools"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
