//! The MCP server from the clients agents use, none written here (`tests/clients/`, pinned in
//! `requirements-dev.txt`, `tests/clients/requirements-agents.txt` and `tests/clients/ts`):
//! the Python SDK 2.x and the TypeScript SDK v2 in acknowledge-now mode, the Python SDK 1.x and
//! the TypeScript SDK v1 with the 2025-11-25 tasks, and a Strands Agents agent with a scripted
//! model. Each script checks what its client gets and prints a JSON report; here every script runs
//! against the server on the memory backend and on moto, stateful and stateless, and the table is
//! checked afterwards: every task the script made that finished was handed over.
//!
//! Needs `make venv venv-agents clients-ts`; skipped without them unless
//! `ASYNCTOOLS_REQUIRE_MOTO=1` (as `make test` sets).

mod common;

use common::Stack;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn clients() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

#[derive(Clone, Copy)]
enum Runner {
    /// `.venv` (requirements-dev.txt: the Python SDK 2.x).
    Dev,
    /// `.venv-agents` (tests/clients/requirements-agents.txt: Strands, the Python SDK 1.x).
    Agents,
    /// Node with tests/clients/ts/node_modules.
    Node,
}

impl Runner {
    fn program(self) -> PathBuf {
        match self {
            Runner::Dev => root().join(".venv/bin/python"),
            Runner::Agents => root().join(".venv-agents/bin/python"),
            Runner::Node => PathBuf::from("node"),
        }
    }

    fn ready(self) -> bool {
        let probe = match self {
            Runner::Dev => "import mcp, mcp.client",
            Runner::Agents => "import strands, mcp.client.streamable_http",
            Runner::Node => {
                return clients()
                    .join("ts/node_modules/@modelcontextprotocol")
                    .is_dir()
                    && std::process::Command::new("node")
                        .arg("--version")
                        .output()
                        .is_ok_and(|o| o.status.success());
            }
        };
        std::process::Command::new(self.program())
            .args(["-c", probe])
            .output()
            .is_ok_and(|o| o.status.success())
    }
}

/// Runs `script` against the stack; its JSON report, or `None` when its runner is not installed
/// (a failure under ASYNCTOOLS_REQUIRE_MOTO=1).
async fn run(
    stack: &Stack,
    runner: Runner,
    script: &str,
    args: &[&str],
) -> Option<serde_json::Value> {
    if !runner.ready() {
        let required = std::env::var("ASYNCTOOLS_REQUIRE_MOTO").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "{script}: its runner is not installed (make venv venv-agents clients-ts)"
        );
        eprintln!("{script}: SKIPPED (run make venv venv-agents clients-ts)");
        return None;
    }
    let mut command = tokio::process::Command::new(runner.program());
    if matches!(runner, Runner::Dev | Runner::Agents) {
        command.args(["-W", "ignore"]);
    }
    command
        .arg(clients().join(script))
        .arg(stack.url())
        .args(args)
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(180), command.output())
        .await
        .unwrap_or_else(|_| panic!("{script} finished within 180 s"))
        .expect("the script runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed:\n{stdout}\n{stderr}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    let report: serde_json::Value = serde_json::from_str(last).unwrap_or_else(|e| {
        panic!("{script}: last line is not its report ({e}):\n{stdout}\n{stderr}")
    });
    assert_eq!(report["ok"], true, "{script}: {report}");
    eprintln!("{script}: {report}");
    Some(report)
}

/// Every task the script made is in the table as its principal's; each that finished with a
/// result was handed over (`delivered`), and it made at least `at_least`.
async fn check_handed_over(stack: &Stack, script: &str, at_least: usize) {
    let stored = stack.stored(&stack.principal.principal).await;
    assert!(
        stored.len() >= at_least,
        "{script}: {} tasks stored",
        stored.len()
    );
    // The pump and claims settle within moments of the script's last call.
    for _ in 0..50 {
        let stored = stack.stored(&stack.principal.principal).await;
        let open: Vec<_> = stored
            .iter()
            .filter(|t| t.status == workers::TaskStatus::Succeeded && !t.delivered)
            .map(|t| (&t.tool, &t.task_id))
            .collect();
        if open.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stored = stack.stored(&stack.principal.principal).await;
    panic!(
        "{script}: results never handed over: {:?}",
        stored
            .iter()
            .filter(|t| t.status == workers::TaskStatus::Succeeded && !t.delivered)
            .map(|t| (&t.tool, &t.task_id, &t.conversation_id))
            .collect::<Vec<_>>()
    );
}

enum Backend {
    Memory,
    Moto,
}

/// How long a call of a tool expected to be quick waits to answer inline, in these stacks. The
/// scripts check that `sentiment` (10 ms) answers inline and `research` (its catalog hint 15 s) is
/// acknowledged at once; with the default 100 ms, a loaded machine's moto made the first check a
/// matter of timing (CI saw it fail and pass on a retry). `tests/rmcp_client.rs` holds the inline
/// answer under the default bound, on the memory backend.
const CLIENTS_INLINE_WITHIN: Duration = Duration::from_secs(1);

async fn stack(test: &str, backend: Backend, stateless: bool) -> Option<Stack> {
    let adjust = |options: &mut mcp::RuntimeOptions| {
        options.settings.inline_within = CLIENTS_INLINE_WITHIN;
    };
    match backend {
        Backend::Memory => Some(common::memory_stack_adjusted(stateless, adjust).await),
        Backend::Moto => common::moto_stack_adjusted(test, stateless, adjust).await,
    }
}

macro_rules! client_tests {
    ($($name:ident: $runner:expr, $script:literal, [$($arg:literal),*], $made:literal;)*) => {$(
        mod $name {
            use super::*;

            async fn check(test: &str, backend: Backend, stateless: bool) {
                let Some(stack) = stack(test, backend, stateless).await else {
                    return;
                };
                if run(&stack, $runner, $script, &[$($arg),*]).await.is_some() {
                    check_handed_over(&stack, $script, $made).await;
                }
                stack.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn memory() {
                check(concat!(stringify!($name), "_memory"), Backend::Memory, false).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn memory_stateless() {
                check(concat!(stringify!($name), "_memory_stateless"), Backend::Memory, true).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn moto() {
                check(concat!(stringify!($name), "_moto"), Backend::Moto, false).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn moto_stateless() {
                check(concat!(stringify!($name), "_moto_stateless"), Backend::Moto, true).await;
            }
        }
    )*};
}

client_tests! {
    python_sdk_2_ack: Runner::Dev, "py_mcp2_ack.py", [], 4;
    python_sdk_2_ack_session: Runner::Dev, "py_mcp2_ack.py", ["--mode", "legacy"], 4;
    python_sdk_1_tasks: Runner::Agents, "py_mcp1_tasks.py", [], 3;
    typescript_sdk_2_ack: Runner::Node, "ts/ts_v2_ack.mjs", [], 4;
    typescript_sdk_1_tasks: Runner::Node, "ts/ts_v1_tasks.mjs", [], 3;
    strands_agent: Runner::Agents, "strands_agent.py", [], 2;
}
