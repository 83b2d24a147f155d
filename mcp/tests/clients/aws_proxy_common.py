"""Shared by proxy_stdio.py and proxy_library.py: checks of the deployed MCP server (`mcp-lambda`
behind an AWS_IAM Function URL) as seen through AWS's SigV4 MCP proxy (`mcp-proxy-for-aws`).

Both scripts speak through an `mcp` 1.x `ClientSession` (the proxy's stdio server, or the
library's signed Streamable HTTP transport), so the flow is written once here.

`expect_ack` switches on the checks of the acknowledge-now mode (docs/mcp.md): a plain tools/call
of a slow tool is answered at once with structuredContent {taskId, status "working", tool,
conversation}, the `task_results` / `task_status` / `task_cancel` tools exist, and a foreign task id
given to them is a tool error. Without it the script expects a server in block mode
(`--call-mode block`): plain calls block until the result.
"""

import json
import time

import httpx
from mcp.shared.exceptions import McpError

CATALOG = ["sentiment", "research", "synthetic"]
RESULT_TOOLS = ["task_results", "task_status", "task_cancel"]
FORBIDDEN = {"Message": "Forbidden"}
TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
TASKS_CAPABILITY = "io.modelcontextprotocol/clientCapabilities"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "unsigned-probe", "version": "0"},
    },
}


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def ms_since(started):
    return round((time.monotonic() - started) * 1000, 1)


async def unsigned_is_refused(url):
    """An unsigned request straight to the Function URL: 403 {"Message":"Forbidden"}."""
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            url,
            json=INITIALIZE,
            headers={"Accept": "application/json, text/event-stream"},
        )
    check(answer.status_code == 403, f"unsigned request: HTTP {answer.status_code} {answer.text}")
    check(answer.json() == FORBIDDEN, f"unsigned request: body {answer.text}")
    return answer.status_code


def structured(result):
    return result.structuredContent or {}


def text_of(result):
    return " ".join(getattr(block, "text", "") for block in result.content)


def is_ack(result, tool):
    """Whether `result` is the contract's acknowledgement of a `tool` task (not its result)."""
    content = structured(result)
    return content.get("status") == "working" and "taskId" in content and content.get("tool", tool) == tool


async def collect(session, ack, report, wait_s=20, limit_s=60):
    """Polls `task_results` until the acknowledged task's result is handed over."""
    content = structured(ack)
    task_id, conversation = content["taskId"], content.get("conversation")
    args = {"wait_s": wait_s, "task_ids": [task_id]}
    if conversation:
        args["conversation"] = conversation
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        got = await session.call_tool("task_results", args)
        check(not got.isError, f"task_results: {text_of(got)}")
        for item in structured(got).get("results", []):
            if item.get("taskId") == task_id:
                report.setdefault("collected", []).append(task_id)
                return item
    raise AssertionError(f"task {task_id}: no result from task_results within {limit_s} s")


async def call_and_get(session, tool, args, report, expect_ack, must_ack):
    """Calls `tool`; its result JSON (collected with task_results when acknowledged)."""
    started = time.monotonic()
    result = await session.call_tool(tool, args)
    elapsed = ms_since(started)
    check(not result.isError, f"{tool}: tool error {text_of(result)}")
    report.setdefault("calls", []).append({"tool": tool, "ms": elapsed})
    report["tasks_created"] = report.get("tasks_created", 0) + 1
    if expect_ack and is_ack(result, tool):
        content = structured(result)
        check(
            text_of(result).startswith(f"{tool} is running asynchronously as task {content['taskId']}."),
            f"{tool}: ack text {text_of(result)!r}",
        )
        report.setdefault("acks", []).append({"tool": tool, "taskId": content["taskId"], "ms": elapsed})
        if content.get("conversation") and content["conversation"] not in report.setdefault("conversations", []):
            report["conversations"].append(content["conversation"])
        item = await collect(session, result, report)
        check(item.get("status") == "completed", f"{tool}: {item}")
        return item.get("result") or {}, content["taskId"]
    check(not must_ack, f"{tool}: expected an acknowledgement at once (--expect-ack), got {structured(result)}")
    return structured(result), None


async def flow(session, report, expect_ack, own_task=None, foreign_task=None):
    """The common checks over an initialized session; fills `report`."""
    tools = [t.name for t in (await session.list_tools()).tools]
    report["tools"] = tools
    expected = CATALOG + (RESULT_TOOLS if expect_ack else [])
    check(all(name in tools for name in expected), f"tools/list: {tools}, expected {expected}")

    sentiment, _ = await call_and_get(
        session, "sentiment", {"text": "I love it"}, report, expect_ack, must_ack=False
    )
    check(sentiment.get("sentiment") == "positive", f"sentiment: {sentiment}")
    report["sentiment"] = sentiment["sentiment"]

    research, task_id = await call_and_get(
        session, "research", {"topic": "sigv4", "latency_ms": 1500}, report, expect_ack, must_ack=expect_ack
    )
    check(research.get("findings"), f"research: {research}")
    report["research_task"] = task_id

    if expect_ack:
        if task_id:
            status = await session.call_tool("task_status", {"task_id": task_id})
            check(not status.isError and structured(status).get("taskId") == task_id, f"own task_status: {status}")
        if own_task:
            status = await session.call_tool("task_status", {"task_id": own_task})
            check(not status.isError, f"task_status of own task {own_task}: {text_of(status)}")
            check(structured(status).get("taskId") == own_task, f"task_status: {structured(status)}")
            report["own_task_status"] = structured(status).get("status")
        if foreign_task:
            for tool in ("task_status", "task_cancel"):
                refused = await session.call_tool(tool, {"task_id": foreign_task})
                check(refused.isError, f"{tool} of a foreign task answered: {structured(refused)}")
                report.setdefault("foreign_refused", []).append(tool)
    elif foreign_task or own_task:
        report["task_tool_checks"] = "skipped: task_status needs the issue-23 server (--expect-ack)"


async def tasks_get(session, task_id):
    """SEP-2663 `tasks/get`, declaring the tasks extension in the request's `_meta` as a
    2026-07-28 client does (the server refuses task methods to clients that did not declare it,
    -32021); `mcp` 1.x has no API for it, so it is sent as a plain request. (result, error)."""
    import mcp.types as types

    params = types.GetTaskRequestParams.model_validate(
        {"taskId": task_id, "_meta": {TASKS_CAPABILITY: {"extensions": {TASKS_EXTENSION: {}}}}}
    )
    request = types.ClientRequest(types.GetTaskRequest(params=params))
    try:
        return await session.send_request(request, types.Result), None
    except McpError as error:
        return None, {"code": error.error.code, "message": error.error.message}


def print_report(report):
    print(json.dumps(report, sort_keys=True), flush=True)
