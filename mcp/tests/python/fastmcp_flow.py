"""The issue's flow from the FastMCP client with fastmcp-tasks, against `asynctools mcp serve`.

Usage: python fastmcp_flow.py URL
Run by mcp/tests/fastmcp.rs, which starts the server (memory backend or moto) and then checks that
the stored tasks are exactly the ones this script reports it created. Prints one JSON line with the
counts and timings last; any failed check raises (non-zero exit).
"""

import asyncio
import json
import sys
import time

from fastmcp import Client
from fastmcp.exceptions import ToolError
from fastmcp_tasks.client import call_tool_task  # importing it registers the tasks extension

# Generous for a debug build on a shared 2-core machine; the benchmark measures the real figure.
ACK_LIMIT_S = 0.5


def check(condition, message):
    if not condition:
        raise AssertionError(message)


async def refused(call, needle):
    """The call must fail with an error whose text contains `needle`."""
    try:
        await call
    except Exception as error:  # ToolError or McpError, depending on the client's path
        check(needle in str(error), f"expected an error about {needle!r}, got {error!r}")
        return str(error)
    raise AssertionError(f"expected a refusal about {needle!r}, the call succeeded")


async def main(url):
    created = 0
    report = {}
    async with Client(url, timeout=60) as client:
        tools = {tool.name: tool for tool in await client.list_tools()}
        check(
            sorted(tools)
            == ["research", "sentiment", "synthetic", "task_cancel", "task_results", "task_status"],
            f"tools: {sorted(tools)}",
        )
        schema = tools["sentiment"].input_schema
        check(schema.get("required") == ["text"], f"sentiment schema: {schema}")
        check(schema.get("additionalProperties") is False, f"sentiment schema: {schema}")

        # A 3 s research call as a task: the ack is at once and says `working`.
        started = time.monotonic()
        research = await call_tool_task(client, "research", {"topic": "MCP tasks", "latency_ms": 3000})
        report["research_ack_ms"] = round((time.monotonic() - started) * 1000, 2)
        created += 1
        check(report["research_ack_ms"] < ACK_LIMIT_S * 1000, f"slow ack: {report}")
        check(research.create_result.status == "working", f"ack status {research.create_result.status}")
        check(research.create_result.ttl_ms and research.create_result.ttl_ms > 0, "no ttl")
        check(research.create_result.poll_interval_ms, "no poll interval")

        # Sentiment meanwhile: a fast call is answered with its result, not a task (no poll
        # interval to pay), so it goes through call_tool, which takes either answer;
        # fastmcp-tasks' call_tool_task insists on a task.
        sentiment_started = time.monotonic()
        fast = await client.call_tool("sentiment", {"text": "great battery, awful screen"})
        report["sentiment_ms"] = round((time.monotonic() - sentiment_started) * 1000, 2)
        created += 1
        check(fast.structured_content["sentiment"] in ("positive", "negative", "neutral"), f"{fast}")
        still = await research.status()
        check(still.status == "working", f"research should still run, is {still.status}")
        report["sentiment_done_s"] = round(time.monotonic() - started, 3)

        slow = await research.result()
        report["research_done_s"] = round(time.monotonic() - started, 3)
        check(slow.structured_content["demo"] is True, f"{slow}")
        check(report["research_done_s"] >= 2.9, f"research too early: {report}")
        done = await research.status()
        check(done.status == "completed" and done.result is not None, f"{done}")

        # Cancel a 20 s call: it ends `cancelled`, long before the 20 s.
        long_call = await call_tool_task(client, "synthetic", {"sleep_ms": 20000})
        created += 1
        await asyncio.sleep(0.3)
        await long_call.cancel()
        final = await long_call.wait(timeout=10)
        check(final.status == "cancelled", f"cancelled call is {final.status}")

        # A tool's own error: a result with isError (inline: it fails at once).
        failed = await client.call_tool("synthetic", {"fail": "no luck"}, raise_on_error=False)
        created += 1
        check(failed.is_error is True, f"tool error result {failed}")

        # A plain blocking call_tool (the client drives the task to its result).
        plain = await client.call_tool("sentiment", {"text": "I love it"})
        created += 1
        check(plain.structured_content["sentiment"] == "positive", f"{plain}")

        # Refused: an unknown tool and oversize arguments; nothing is stored for them.
        report["unknown_tool_error"] = await refused(client.call_tool("nope", {}), "unknown tool")
        report["oversize_error"] = await refused(
            client.call_tool("sentiment", {"text": "x" * 70_000}), "limit"
        )
        report["bad_arguments_error"] = await refused(
            client.call_tool("research", {"topic": "   "}), "blank"
        )

    # A client without the tasks extension (the legacy protocol carries no extension ads): the
    # slow call is acknowledged at once, and its result is handed over later by task_results.
    async with Client(url, mode="legacy", timeout=60) as legacy:
        started = time.monotonic()
        ack = await legacy.call_tool("research", {"topic": "ack", "latency_ms": 1500})
        created += 1
        report["legacy_ack_ms"] = round((time.monotonic() - started) * 1000, 2)
        check(report["legacy_ack_ms"] < ACK_LIMIT_S * 1000, f"slow ack: {report}")
        check(ack.structured_content["status"] == "working", f"ack: {ack}")
        check("not available yet" in ack.content[0].text, f"ack text: {ack.content[0].text}")
        results = await legacy.call_tool("task_results", {"wait_s": 10})
        listed = results.structured_content["results"]
        check([r["taskId"] for r in listed] == [ack.structured_content["taskId"]], f"{listed}")
        check(listed[0]["result"]["latency_ms"] == 1500, f"{listed}")
        again = await legacy.call_tool("task_results", {"wait_s": 0})
        check(again.structured_content["results"] == [], f"handed over twice: {again}")
        await refused(legacy.call_tool("nope", {}), "unknown tool")

    report["tasks_created"] = created
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
