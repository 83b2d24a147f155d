"""Acknowledge-now ("ack") mode from the Python `mcp` 2.x SDK's plain `Client` (no tasks extension).

Usage: python py_mcp2_ack.py URL [--mode auto|legacy|2026-07-28] [--ack-limit-ms 500]
Venv: requirements-dev.txt (fastmcp 4.1.4 brings mcp 2.3.0). `--mode` is `mcp.Client(mode=...)`:
`auto` (the SDK's default) probes server/discover and falls back to `initialize`; `legacy` forces the
`initialize` handshake (one MCP session = one conversation).

Checks, against docs/mcp.md:
- tools/list: the catalog tools plus task_results, task_status, task_cancel; every catalog tool's
  description mentions that it runs asynchronously.
- `research` {latency_ms: 1500} is acknowledged at once: isError false, content[0].text starts with
  "research is running asynchronously as task <id>." and names task_results, structuredContent
  {taskId, status: working, tool, conversation}. The ack latency is measured.
- `sentiment` meanwhile answers inline: structuredContent.sentiment, content[0].text = the same JSON.
- `task_results` {wait_s: 10} returns exactly the research result, once (one text block per result
  plus a summary); a second `task_results` {wait_s: 0} returns no results.
- Bad input is an isError tool result, not a protocol error: task_status with an unknown task id,
  task_results with wait_s -1 and 61.
- Piggyback: research {latency_ms: 300}, 1 s later `sentiment`: its result carries an extra text
  block starting "[asynctools] " naming research and the task id, and
  _meta["io.asynctools/results"] lists it; task_results afterwards does not return it again.

Any failed check raises (non-zero exit). The last line printed is one JSON object of measurements.
"""

import argparse
import asyncio
import json
import sys
import time

from mcp import Client

CATALOG = {"sentiment", "research", "synthetic"}
RESULTS_TOOLS = {"task_results", "task_status", "task_cancel"}
SENTIMENTS = {"positive", "negative", "mixed", "neutral"}
UNKNOWN_TASK = "01JZZZZZZZZZZZZZZZZZZZZZZZ"


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def wire(result):
    """The CallToolResult as it was on the wire (camelCase keys, `_meta`)."""
    return result.model_dump(by_alias=True, mode="json", exclude_none=True)


def texts(result):
    return [block.get("text", "") for block in result.get("content", []) if block.get("type") == "text"]


async def timed(coro):
    started = time.monotonic()
    value = await coro
    return value, round((time.monotonic() - started) * 1000, 2)


def check_ack(result, tool):
    """The contract's ack: a normal, successful CallToolResult that names the task and how to get its result."""
    check(result.get("isError") is not True, f"{tool} ack is an error: {result}")
    sc = result.get("structuredContent") or {}
    task_id = sc.get("taskId")
    check(isinstance(task_id, str) and task_id, f"{tool} ack has no structuredContent.taskId: {result}")
    check(sc.get("status") == "working", f"{tool} ack status {sc.get('status')!r}: {result}")
    check(sc.get("tool") == tool, f"{tool} ack names tool {sc.get('tool')!r}")
    check(isinstance(sc.get("conversation"), str) and sc["conversation"], f"{tool} ack has no conversation: {sc}")
    first = texts(result)[0] if texts(result) else ""
    check(first.startswith(f"{tool} is running asynchronously as task {task_id}."),
          f"{tool} ack text does not start as the contract says: {first!r}")
    check("task_results" in first, f"{tool} ack text does not say how to get the result (task_results): {first!r}")
    check("guess" in first.lower(), f"{tool} ack text does not tell the model not to guess: {first!r}")
    return task_id, sc["conversation"]


def check_inline_sentiment(result):
    check(result.get("isError") is not True, f"sentiment failed: {result}")
    sc = result.get("structuredContent")
    check(isinstance(sc, dict), f"sentiment has no structuredContent: {result}")
    check("taskId" not in sc, f"sentiment was acknowledged, not answered inline (loaded machine?): {sc}")
    check(sc.get("sentiment") in SENTIMENTS, f"sentiment result: {sc}")
    check(json.loads(texts(result)[0]) == sc, f"sentiment content[0].text is not the structuredContent: {result}")
    return sc


def check_results(result, label):
    check(result.get("isError") is not True, f"{label}: task_results failed: {result}")
    sc = result.get("structuredContent") or {}
    check(isinstance(sc.get("results"), list), f"{label}: no results list: {sc}")
    check(isinstance(sc.get("pending"), list), f"{label}: no pending list: {sc}")
    check(isinstance(sc.get("conversation"), str), f"{label}: no conversation: {sc}")
    check(len(texts(result)) == len(sc["results"]) + 1,
          f"{label}: content is not one text block per result plus a summary: {texts(result)}")
    for entry in sc["results"]:
        check(entry.get("status") in {"completed", "failed", "cancelled"}, f"{label}: result status: {entry}")
        check(any(entry["taskId"] in text for text in texts(result)), f"{label}: no text block names {entry['taskId']}")
    return sc


async def expect_tool_error(client, name, args, report, key):
    """Bad input must come back as a tool result with isError, never as an exception."""
    try:
        result = wire(await client.call_tool(name, args))
    except Exception as error:  # noqa: BLE001 - the point is that nothing raises
        raise AssertionError(f"{name} {args} raised {type(error).__name__}: {error} (contract: isError result)")
    check(result.get("isError") is True, f"{name} {args} is not an isError result: {result}")
    report["bad_input"][key] = texts(result)[0][:160] if texts(result) else ""


async def main(report, url, mode, ack_limit_ms):
    async with Client(url, mode=mode) as client:
        report["protocol_version"] = client.protocol_version
        legacy_session = client.protocol_version not in {"2026-07-28"}

        listed = await client.list_tools()
        tools = {tool.name: tool for tool in listed.tools}
        check(CATALOG | RESULTS_TOOLS <= set(tools), f"tools/list: {sorted(tools)}")
        for name in CATALOG:
            check("asynchronous" in (tools[name].description or "").lower(),
                  f"{name}'s description does not mention asynchronous: {tools[name].description!r}")
        report["tools"] = sorted(tools)

        # Without a session (2026-07-28) the conversation is the principal's default one: record
        # and drain whatever an earlier client left there. A fresh legacy session must be empty.
        leftover = check_results(wire(await client.call_tool("task_results", {"wait_s": 0})), "start")
        report["leftover_results_at_start"] = len(leftover["results"])
        if legacy_session:
            check(leftover["results"] == [], f"a fresh session already has results: {leftover}")

        # 1. A 1.5 s research call: acknowledged at once.
        research, report["research_ack_ms"] = await timed(
            client.call_tool("research", {"topic": "MCP tasks", "latency_ms": 1500}))
        research = wire(research)
        research_id, conversation = check_ack(research, "research")
        report["conversation"] = conversation
        check(report["research_ack_ms"] < ack_limit_ms, f"slow ack: {report['research_ack_ms']} ms")

        # 2. A fast call meanwhile: inline.
        sentiment, report["sentiment_ms"] = await timed(
            client.call_tool("sentiment", {"text": "great battery, awful screen"}))
        sentiment = wire(sentiment)
        report["sentiment"] = check_inline_sentiment(sentiment)["sentiment"]
        check(len(texts(sentiment)) == 1, f"sentiment carried extra blocks while research still runs: {texts(sentiment)}")

        # 3. task_results waits for research and hands it over exactly once.
        got, report["task_results_wait_ms"] = await timed(client.call_tool("task_results", {"wait_s": 10}))
        got = check_results(wire(got), "task_results wait_s 10")
        ids = [entry["taskId"] for entry in got["results"]]
        check(ids == [research_id], f"task_results returned {ids}, expected exactly [{research_id}]")
        entry = got["results"][0]
        check(entry["status"] == "completed" and entry["tool"] == "research", f"research entry: {entry}")
        findings = (entry.get("result") or {}).get("findings")
        check(findings, f"research result has no findings: {entry}")
        check(got["conversation"] == conversation, f"conversation {got['conversation']} != ack's {conversation}")
        check(research_id not in [p["taskId"] for p in got["pending"]], "research is both a result and pending")
        report["research_findings"] = findings
        again = check_results(wire(await client.call_tool("task_results", {"wait_s": 0})), "task_results again")
        check(again["results"] == [], f"a second task_results returned results again: {again['results']}")

        # 4. Bad input: isError results, nothing raises.
        await expect_tool_error(client, "task_status", {"task_id": UNKNOWN_TASK}, report, "task_status_unknown")
        await expect_tool_error(client, "task_results", {"wait_s": -1}, report, "wait_s_-1")
        await expect_tool_error(client, "task_results", {"wait_s": 61}, report, "wait_s_61")
        status = wire(await client.call_tool("task_status", {"task_id": research_id}))
        check(status.get("isError") is not True, f"task_status of research: {status}")
        check((status.get("structuredContent") or {}).get("status") == "completed", f"task_status: {status}")

        # 5. Piggyback: a finished result rides on the next tools/call of the conversation.
        short, report["short_research_ack_ms"] = await timed(
            client.call_tool("research", {"topic": "piggyback", "latency_ms": 300}))
        short_id, _ = check_ack(wire(short), "research")
        await asyncio.sleep(1)
        carrier = wire(await client.call_tool("sentiment", {"text": "fine"}))
        check_inline_sentiment(carrier)
        extra = [text for text in texts(carrier)[1:] if text.startswith("[asynctools] ")]
        check(len(texts(carrier)) == 2 and len(extra) == 1,
              f"sentiment did not carry exactly one [asynctools] block: {texts(carrier)}")
        check("research" in extra[0] and short_id in extra[0], f"piggyback block does not name the task: {extra[0]!r}")
        meta = (carrier.get("_meta") or {}).get("io.asynctools/results")
        check(isinstance(meta, list) and [m.get("taskId") for m in meta] == [short_id],
              f'_meta["io.asynctools/results"]: {meta}')
        check(meta[0].get("status") == "completed" and (meta[0].get("result") or {}).get("findings"),
              f"piggybacked entry: {meta[0]}")
        report["piggyback_block"] = extra[0][:200]
        after = check_results(wire(await client.call_tool("task_results", {"wait_s": 0})), "after piggyback")
        check(short_id not in [e["taskId"] for e in after["results"]], "task_results returned the piggybacked result")
        check(after["results"] == [], f"unexpected results after piggyback: {after['results']}")

    report["ok"] = True
    report.pop("error", None)
    print(json.dumps(report))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--mode", default="auto")
    parser.add_argument("--ack-limit-ms", type=float, default=500)
    options = parser.parse_args()
    report = {"script": "py_mcp2_ack", "mode": options.mode, "bad_input": {}, "ok": False}
    try:
        asyncio.run(main(report, options.url, options.mode, options.ack_limit_ms))
    except BaseException as failure:  # the JSON line comes last whatever happened
        while isinstance(failure, BaseExceptionGroup) and len(failure.exceptions) == 1:
            failure = failure.exceptions[0]  # anyio's task groups wrap the real error
        report["error"] = f"{type(failure).__name__}: {failure}"
        print(f"FAILED: {report['error']}", file=sys.stderr)
        print(json.dumps(report))
        sys.exit(1)
