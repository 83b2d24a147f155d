//! The FastMCP client with fastmcp-tasks (from PyPI, pinned in requirements-dev.txt) against the
//! server: tests/python/fastmcp_flow.py drives the flow; here we start the server and
//! check that what is stored is exactly what the script created (refused calls store nothing).

mod common;

use common::Stack;
use std::time::Duration;

async fn run_flow(stack: &Stack, python: &std::path::Path) -> serde_json::Value {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/fastmcp_flow.py");
    let mut command = tokio::process::Command::new(python);
    command
        .arg("-W")
        .arg("ignore")
        .arg(&script)
        .arg(stack.url());
    command.kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(180), command.output())
        .await
        .expect("the FastMCP flow finished within 180 s")
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "fastmcp_flow.py failed:\n{stdout}\n{stderr}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    let report: serde_json::Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("last line is not the JSON report ({e}):\n{stdout}\n{stderr}"));
    eprintln!("fastmcp flow: {report}");
    report
}

async fn check_store(stack: &Stack, report: &serde_json::Value) {
    let created = report["tasks_created"].as_u64().expect("tasks_created");
    let stored = stack.stored(&stack.principal.principal).await;
    assert_eq!(
        stored.len() as u64,
        created,
        "stored tasks should be exactly the accepted calls (refused calls store nothing): {:?}",
        stored
            .iter()
            .map(|t| (&t.tool, t.status))
            .collect::<Vec<_>>()
    );
    let cancelled = stored
        .iter()
        .filter(|t| t.status == workers::TaskStatus::Cancelled)
        .count();
    assert_eq!(cancelled, 1, "the 20 s call was cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fastmcp_flow_on_the_memory_backend() {
    let Some(python) = common::python_or_skip("fastmcp_flow_on_the_memory_backend") else {
        return;
    };
    let stack = common::memory_stack().await;
    let report = run_flow(&stack, &python).await;
    check_store(&stack, &report).await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fastmcp_flow_on_moto() {
    let Some(python) = common::python_or_skip("fastmcp_flow_on_moto") else {
        return;
    };
    let Some(stack) = common::moto_stack("fastmcp_flow_on_moto").await else {
        return;
    };
    let report = run_flow(&stack, &python).await;
    check_store(&stack, &report).await;
    stack.stop().await;
}

/// The deployed (Lambda) shape: no sessions, no pushes. FastMCP must still get its tasks.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fastmcp_flow_against_the_stateless_server() {
    let Some(python) = common::python_or_skip("fastmcp_flow_against_the_stateless_server") else {
        return;
    };
    let stack = common::memory_stack_stateless().await;
    let report = run_flow(&stack, &python).await;
    check_store(&stack, &report).await;
    stack.stop().await;
}
