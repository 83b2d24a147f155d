"""2025-11-25 experimental tasks (SEP-1686) from the Python `mcp` 1.x SDK's `ClientSession`.

Usage: python py_mcp1_tasks.py URL [--ack-limit-ms 500]
Venv: requirements-agents.txt (mcp 1.30.0).

Checks, against docs/mcp.md (the 2025-11-25 tasks):
- initialize: capabilities.tasks has list, cancel and requests.tools.call; tools/list gives every
  catalog tool execution.taskSupport "optional" (or "required").
- `session.experimental.call_tool_as_task("research", {latency_ms: 1500})`: a CreateTaskResult at once
  (ack latency measured), status working, with ttl, pollInterval, createdAt, lastUpdatedAt;
  `poll_task` (tasks/get at the suggested interval) reaches completed; `get_task_result` gives the
  CallToolResult with structuredContent.findings.
- `sentiment` as a task is already completed at its first tasks/get (and its result is inline JSON).
- A 20 s research task, then `cancel_task`: cancelled, and tasks/get says cancelled.
- `list_tasks` lists the tasks created here; tasks/get of an unknown id is a -32602 error.

Any failed check raises (non-zero exit). The last line printed is one JSON object of measurements.
"""

import argparse
import asyncio
import json
import sys
import time
import warnings

import mcp.types as types
from mcp import ClientSession
from mcp.shared.exceptions import McpError

try:  # mcp >= 1.24 names it streamable_http_client; the old name is deprecated
    from mcp.client.streamable_http import streamable_http_client as http_client
except ImportError:  # pragma: no cover
    from mcp.client.streamable_http import streamablehttp_client as http_client

# mcp 1.x marks the whole experimental tasks API deprecated (SEP-1686 left the spec for an extension).
warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*experimental tasks API.*")

CATALOG = {"sentiment", "research", "synthetic"}
UNKNOWN_TASK = "01JZZZZZZZZZZZZZZZZZZZZZZZ"


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def ms_since(started):
    return round((time.monotonic() - started) * 1000, 2)


async def main(report, url, ack_limit_ms):
    async with http_client(url) as (read, write, *_), ClientSession(read, write) as session:
        init = await session.initialize()
        report["protocol_version"] = init.protocolVersion
        tasks_cap = init.capabilities.tasks
        check(tasks_cap is not None, f"no capabilities.tasks: {init.capabilities}")
        check(tasks_cap.requests and tasks_cap.requests.tools and tasks_cap.requests.tools.call is not None,
              f"capabilities.tasks.requests.tools.call missing: {tasks_cap}")
        check(tasks_cap.list is not None and tasks_cap.cancel is not None, f"tasks list/cancel missing: {tasks_cap}")
        report["capabilities_tasks"] = tasks_cap.model_dump(exclude_none=True)

        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        check(CATALOG <= set(tools), f"tools/list: {sorted(tools)}")
        support = {name: (tools[name].execution.taskSupport if tools[name].execution else None) for name in CATALOG}
        check(all(value in {"optional", "required"} for value in support.values()), f"taskSupport: {support}")
        report["task_support"] = support

        # 1. research (1.5 s) as a task: at once, working; polled to completed; its result.
        started = time.monotonic()
        created = await session.experimental.call_tool_as_task("research", {"topic": "MCP tasks", "latency_ms": 1500})
        report["research_ack_ms"] = ms_since(started)
        task = created.task
        check(report["research_ack_ms"] < ack_limit_ms, f"slow ack: {report['research_ack_ms']} ms")
        check(task.status == "working", f"research created as {task.status}")
        check(task.ttl and task.ttl > 0 and task.pollInterval and task.pollInterval > 0, f"ttl/pollInterval: {task}")
        check(task.createdAt is not None and task.lastUpdatedAt is not None, f"timestamps: {task}")
        report["research_task"] = {"taskId": task.taskId, "ttl": task.ttl, "pollInterval": task.pollInterval}
        statuses = [status.status async for status in session.experimental.poll_task(task.taskId)]
        report["research_polls"] = len(statuses)
        report["research_done_ms"] = ms_since(started)
        check(statuses[-1] == "completed", f"research polled to {statuses}")
        check(set(statuses[:-1]) <= {"working"}, f"research statuses {statuses}")
        result = await session.experimental.get_task_result(task.taskId, types.CallToolResult)
        check(not result.isError, f"research result is an error: {result}")
        findings = (result.structuredContent or {}).get("findings")
        check(findings, f"research result has no findings: {result}")
        check(json.loads(result.content[0].text) == result.structuredContent, "research text != structuredContent")
        report["research_findings"] = findings

        # 2. sentiment as a task: already completed at the first tasks/get.
        started = time.monotonic()
        fast = await session.experimental.call_tool_as_task("sentiment", {"text": "great battery, awful screen"})
        report["sentiment_ack_ms"] = ms_since(started)
        report["sentiment_created_status"] = fast.task.status
        first = await session.experimental.get_task(fast.task.taskId)
        check(first.status == "completed", f"sentiment is {first.status} at its first tasks/get")
        fast_result = await session.experimental.get_task_result(fast.task.taskId, types.CallToolResult)
        check(not fast_result.isError and (fast_result.structuredContent or {}).get("sentiment"),
              f"sentiment result: {fast_result}")
        report["sentiment"] = fast_result.structuredContent["sentiment"]

        # 3. A 20 s task, cancelled.
        long = await session.experimental.call_tool_as_task("research", {"topic": "cancel me", "latency_ms": 20000})
        check(long.task.status == "working", f"long research created as {long.task.status}")
        started = time.monotonic()
        cancelled = await session.experimental.cancel_task(long.task.taskId)
        report["cancel_ms"] = ms_since(started)
        check(cancelled.status == "cancelled", f"tasks/cancel answered {cancelled.status}")
        check((await session.experimental.get_task(long.task.taskId)).status == "cancelled", "not cancelled on get")

        # 4. tasks/list and an unknown id.
        listed = await session.experimental.list_tasks()
        mine = {task.taskId, fast.task.taskId, long.task.taskId}
        listed_ids = {t.taskId for t in listed.tasks}
        check(mine <= listed_ids, f"tasks/list lacks {mine - listed_ids}")
        report["listed_tasks"] = len(listed.tasks)
        try:
            await session.experimental.get_task(UNKNOWN_TASK)
        except McpError as error:
            check(error.error.code == types.INVALID_PARAMS, f"unknown task: code {error.error.code}")
            report["unknown_task_error"] = error.error.message
        else:
            raise AssertionError("tasks/get of an unknown task id succeeded")

    report["ok"] = True
    report.pop("error", None)
    print(json.dumps(report))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--ack-limit-ms", type=float, default=500)
    options = parser.parse_args()
    report = {"script": "py_mcp1_tasks", "ok": False}
    try:
        asyncio.run(main(report, options.url, options.ack_limit_ms))
    except BaseException as failure:  # the JSON line comes last whatever happened
        while isinstance(failure, BaseExceptionGroup) and len(failure.exceptions) == 1:
            failure = failure.exceptions[0]  # anyio's task groups wrap the real error
        report["error"] = f"{type(failure).__name__}: {failure}"
        print(f"FAILED: {report['error']}", file=sys.stderr)
        print(json.dumps(report, default=str))
        sys.exit(1)
