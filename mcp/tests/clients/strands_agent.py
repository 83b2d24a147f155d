"""A Strands Agents agent on the ack-mode server, driven by a scripted model (no model service).

Usage: python strands_agent.py URL [--first-answer-limit-s 1.0]
Venv: requirements-agents.txt (strands-agents 1.62.0, mcp 1.30.0).

The agent is `strands.Agent` with the server's tools from `strands.tools.mcp.MCPClient` over mcp 1.x's
`streamablehttp_client`, in the default configuration (no `tasks_config`: plain tools/call, so the
server answers slow calls with an ack). The model is `ScriptedModel`, a `strands.models.Model` that
plays a fixed script and reads the real tool results from the messages it is given:
  turn 1: calls `research` {topic, latency_ms: 1500} and `sentiment` {text} in one message;
  turn 2: answers the user from the sentiment result (text), says research is still running, and
          calls `task_results` {wait_s: 10};
  turn 3: answers with the research findings taken from the task_results tool result's text.
What a user would see is asserted (see docs/mcp.md, acknowledge-now mode):
- the first answer (turn 2's text) reaches the user within 1 s of the prompt, while research runs;
- the research findings reach the user in a later turn, after task_results returned them;
- each task id's result appears exactly once in the transcript (agent.messages);
- the ack tool result contains no research findings and tells the model not to guess.
Timestamps (seconds from the prompt) of each tool result, of each turn's first streamed text, and of
the research result are in the JSON line printed last. Any failed check exits non-zero.
"""

import argparse
import json
import re
import sys
import threading
import time
import warnings
from collections.abc import AsyncGenerator
from typing import Any

warnings.filterwarnings("ignore", category=DeprecationWarning)  # streamablehttp_client's old name

from mcp.client.streamable_http import streamablehttp_client  # noqa: E402
from strands import Agent  # noqa: E402
from strands.hooks import AfterToolCallEvent  # noqa: E402
from strands.models import Model  # noqa: E402
from strands.tools.mcp import MCPClient  # noqa: E402

REVIEW = "Great battery, awful screen."
TOPIC = "asynchronous tool calls in agents"
RESEARCH_MS = 1500
ACK_RE = re.compile(r"^(?P<tool>\w+) is running asynchronously as task (?P<task>[0-9A-Za-z_-]+)\.")


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def result_texts(tool_result):
    return [item["text"] for item in tool_result.get("content", []) if "text" in item]


def string_leaves(value):
    """The strings inside a JSON value (research's `findings` may be a string, a list or an object)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [leaf for item in value for leaf in string_leaves(item)]
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in string_leaves(item)]
    return [json.dumps(value)]


def mentions(text, leaf):
    """Whether `text` carries `leaf`, verbatim or JSON-escaped (a result embedded as JSON text)."""
    return leaf in text or json.dumps(leaf, ensure_ascii=False)[1:-1] in text


class ScriptedModel(Model):
    """Plays the script above. Makes no network call; reads tool results only from `messages`."""

    def __init__(self, clock):
        self.config = {"model_id": "scripted"}
        self.clock = clock
        self.turns = []  # (turn number, seconds since the prompt) when each stream() call started
        self.seen_tool_specs = []

    def update_config(self, **model_config: Any) -> None:
        self.config.update(model_config)

    def get_config(self) -> Any:
        return self.config

    async def structured_output(self, output_model, prompt, system_prompt=None, **kwargs) -> AsyncGenerator:
        raise NotImplementedError("the scripted model has no structured output")
        yield  # pragma: no cover

    @staticmethod
    def _tool_uses(messages):
        """toolUseId -> tool name, from the assistant messages this model produced earlier."""
        return {block["toolUse"]["toolUseId"]: block["toolUse"]["name"]
                for message in messages if message["role"] == "assistant"
                for block in message["content"] if "toolUse" in block}

    @staticmethod
    def _last_tool_results(messages):
        """toolUseId -> toolResult, from the last user message (the results of the previous turn)."""
        last = messages[-1]
        check(last["role"] == "user", f"the model expected tool results, got a {last['role']} message")
        return {block["toolResult"]["toolUseId"]: block["toolResult"] for block in last["content"]
                if "toolResult" in block}

    async def stream(self, messages, tool_specs=None, system_prompt=None, *, tool_choice=None, **kwargs):
        turn = 1 + sum(1 for message in messages if message["role"] == "assistant")
        self.turns.append((turn, self.clock()))
        names = {spec["name"] for spec in tool_specs or []}
        self.seen_tool_specs = sorted(names)
        yield {"messageStart": {"role": "assistant"}}
        if turn == 1:
            check({"research", "sentiment", "task_results"} <= names, f"the agent offers {sorted(names)}")
            for event in self._tool_use("call-research", "research", {"topic": TOPIC, "latency_ms": RESEARCH_MS}):
                yield event
            for event in self._tool_use("call-sentiment", "sentiment", {"text": REVIEW}):
                yield event
            stop = "tool_use"
        elif turn == 2:
            uses = self._tool_uses(messages)
            results = self._last_tool_results(messages)
            by_tool = {uses[use_id]: result for use_id, result in results.items()}
            check({"research", "sentiment"} <= set(by_tool), f"turn 2 got results of {sorted(by_tool)}")
            # Only the text a model provider would forward is read, not structuredContent.
            sentiment = json.loads(result_texts(by_tool["sentiment"])[0])
            ack = ACK_RE.match(result_texts(by_tool["research"])[0])
            check(ack is not None, f"research's result is not an ack: {result_texts(by_tool['research'])}")
            answer = (f"The review is {sentiment['sentiment']} (score {sentiment.get('score')}). "
                      f"The research on {TOPIC!r} is still running (task {ack['task']}); "
                      "I will tell you what it finds as soon as it is in.")
            for event in self._text(answer):
                yield event
            for event in self._tool_use("call-results", "task_results", {"wait_s": 10}):
                yield event
            stop = "tool_use"
        elif turn == 3:
            uses = self._tool_uses(messages)
            results = self._last_tool_results(messages)
            by_tool = {uses[use_id]: result for use_id, result in results.items()}
            check("task_results" in by_tool, f"turn 3 got results of {sorted(by_tool)}")
            research_task = next(ACK_RE.match(text)["task"] for message in messages if message["role"] == "user"
                                 for block in message["content"] if "toolResult" in block
                                 for text in result_texts(block["toolResult"]) if ACK_RE.match(text))
            blocks = [text for text in result_texts(by_tool["task_results"]) if research_task in text]
            check(blocks, f"task_results' text does not mention task {research_task}: {result_texts(by_tool['task_results'])}")
            answer = "The research is done. What it found:\n" + "\n".join(blocks)
            for event in self._text(answer):
                yield event
            stop = "end_turn"
        else:
            raise AssertionError(f"the script has no turn {turn}")
        yield {"messageStop": {"stopReason": stop}}
        yield {"metadata": {"usage": {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0},
                            "metrics": {"latencyMs": 0}}}

    @staticmethod
    def _text(text):
        middle = len(text) // 2  # two deltas, as a streaming provider would send
        yield {"contentBlockDelta": {"delta": {"text": text[:middle]}}}
        yield {"contentBlockDelta": {"delta": {"text": text[middle:]}}}
        yield {"contentBlockStop": {}}

    @staticmethod
    def _tool_use(tool_use_id, name, arguments):
        yield {"contentBlockStart": {"start": {"toolUse": {"toolUseId": tool_use_id, "name": name}}}}
        yield {"contentBlockDelta": {"delta": {"toolUse": {"input": json.dumps(arguments)}}}}
        yield {"contentBlockStop": {}}


def main(report, url, first_answer_limit_s):
    started = time.monotonic()
    clock = lambda: round(time.monotonic() - started, 3)  # noqa: E731
    model = ScriptedModel(clock)
    tool_results = []  # (seconds, tool, toolUseId, status)
    user_text = {}  # turn -> {"first_s", "text"}
    lock = threading.Lock()

    def on_tool_result(event: AfterToolCallEvent):
        with lock:
            tool_results.append({"t_s": clock(), "tool": event.tool_use["name"],
                                 "toolUseId": event.tool_use["toolUseId"], "status": event.result.get("status")})

    def callback_handler(**kwargs):
        if "data" in kwargs:  # streamed text: what the user sees, as it arrives
            turn = model.turns[-1][0]
            with lock:
                seen = user_text.setdefault(turn, {"first_s": clock(), "text": ""})
                seen["text"] += kwargs["data"]

    mcp_client = MCPClient(lambda: streamablehttp_client(url))  # default: no tasks_config
    with mcp_client:
        tools = mcp_client.list_tools_sync()
        report["tools"] = sorted(tool.tool_name for tool in tools)
        report["connect_s"] = clock()
        agent = Agent(model=model, tools=tools, callback_handler=callback_handler,
                      system_prompt="You are a helpful assistant.")
        agent.add_hook(on_tool_result, AfterToolCallEvent)
        started = time.monotonic()  # the prompt is time zero
        result = agent(f"Analyse this review: {REVIEW!r}. Also research {TOPIC!r} for me.")
        report["total_s"] = clock()
        messages = agent.messages

    report["stop_reason"] = str(result.stop_reason)
    report["model_turns"] = model.turns
    report["tool_results"] = tool_results
    report["user_text"] = {str(turn): seen for turn, seen in user_text.items()}

    # The transcript: every toolResult with the toolUse that asked for it.
    uses = {block["toolUse"]["toolUseId"]: block["toolUse"] for message in messages
            for block in message["content"] if "toolUse" in block}
    results = [block["toolResult"] for message in messages for block in message["content"] if "toolResult" in block]
    by_tool = {}
    for tool_result in results:
        by_tool.setdefault(uses[tool_result["toolUseId"]]["name"], []).append(tool_result)
    check(sorted(by_tool) == ["research", "sentiment", "task_results"], f"tools called: {sorted(by_tool)}")
    check(all(len(v) == 1 for v in by_tool.values()), f"a tool was called more than once: {by_tool}")
    check([t for t, _ in model.turns] == [1, 2, 3], f"model turns {model.turns}")

    # The ack: no findings, tells the model not to guess, names the task id.
    ack = by_tool["research"][0]
    ack_text = "\n".join(result_texts(ack))
    match = ACK_RE.match(result_texts(ack)[0])
    check(match and match["tool"] == "research", f"research's tool result is not an ack: {ack_text!r}")
    research_task = match["task"]
    check("guess" in ack_text.lower(), f"the ack does not tell the model not to guess: {ack_text!r}")
    check(ack.get("status") == "success", f"the ack is an error for Strands: {ack}")
    if "structuredContent" in ack:
        check(ack["structuredContent"].get("taskId") == research_task, f"ack structuredContent: {ack['structuredContent']}")
        check(ack["structuredContent"].get("status") == "working", f"ack structuredContent: {ack['structuredContent']}")
    report["research_task"] = research_task
    report["ack_text"] = ack_text[:300]

    # The research result as task_results handed it over.
    delivered = by_tool["task_results"][0]
    check(delivered.get("status") == "success", f"task_results failed: {delivered}")
    entries = (delivered.get("structuredContent") or {}).get("results")
    check(isinstance(entries, list), f"task_results' structuredContent did not reach the agent: {delivered}")
    findings = [entry.get("result", {}).get("findings") for entry in entries if entry.get("taskId") == research_task]
    check(len(findings) == 1 and findings[0], f"task_results entries for {research_task}: {entries}")
    findings = findings[0]
    leaves = [leaf for leaf in string_leaves(findings) if leaf.strip()]
    check(leaves, f"research's findings have no text: {findings!r}")
    report["research_findings"] = findings

    def carries_findings(text):
        return all(mentions(text, leaf) for leaf in leaves)

    check(not any(mentions(ack_text, leaf) for leaf in leaves), "the ack contains research findings")

    # Each task id's result exactly once in the transcript: structured entries (task_results'
    # results, piggybacked _meta) and "[asynctools] " text blocks, over every tool result.
    counts = {}
    for tool_result in results:
        structured = tool_result.get("structuredContent") or {}
        meta = (tool_result.get("metadata") or {}).get("io.asynctools/results") or []
        for entry in list(structured.get("results") or []) + list(meta):
            counts[entry["taskId"]] = counts.get(entry["taskId"], 0) + 1
    report["result_counts"] = counts
    check(counts == {research_task: 1}, f"results per task id in the transcript: {counts}")
    blocks_with_findings = sum(1 for tool_result in results for text in result_texts(tool_result)
                               if any(mentions(text, leaf) for leaf in leaves))
    report["tool_result_blocks_with_findings"] = blocks_with_findings
    check(blocks_with_findings == 1, f"{blocks_with_findings} tool-result text blocks carry the findings")

    # What the user saw, and when.
    times = {r["tool"]: r["t_s"] for r in tool_results}
    report["research_result_seen_s"] = times["task_results"]
    first, last = user_text.get(2), user_text.get(3)
    check(first and last, f"the user saw text in turns {sorted(user_text)}, expected 2 and 3")
    check(first["first_s"] < first_answer_limit_s, f"the first answer reached the user at {first['first_s']} s")
    check(first["first_s"] < times["task_results"], "the first answer came after the research result")
    check(times["research"] < first_answer_limit_s and times["sentiment"] < first_answer_limit_s,
          f"turn 1's tool results came back at {times}")
    sentiment = json.loads(result_texts(by_tool["sentiment"][0])[0])["sentiment"]
    check(sentiment in first["text"], f"the first answer does not give the sentiment: {first['text']!r}")
    check(not any(mentions(first["text"], leaf) for leaf in leaves), "the first answer contains findings (a guess?)")
    check(carries_findings(last["text"]), f"the last answer lacks the findings: {last['text']!r}")
    check(last["first_s"] >= times["task_results"], "the findings reached the user before task_results returned")
    check(times["task_results"] >= RESEARCH_MS / 1000, f"task_results returned at {times['task_results']} s, before research could finish")
    final = messages[-1]
    check(final["role"] == "assistant" and carries_findings(final["content"][0].get("text", "")),
          "the transcript's last message is not the findings answer")
    report["first_answer_s"] = first["first_s"]
    report["findings_answer_s"] = last["first_s"]
    report["transcript_messages"] = len(messages)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--first-answer-limit-s", type=float, default=1.0)
    options = parser.parse_args()
    report = {"script": "strands_agent", "ok": False}
    try:
        main(report, options.url, options.first_answer_limit_s)
        report["ok"] = True
    except BaseException as failure:  # the JSON line comes last whatever happened
        report["error"] = f"{type(failure).__name__}: {failure}"
        print(f"FAILED: {report['error']}", file=sys.stderr)
    print(json.dumps(report, default=str))
    sys.exit(0 if report["ok"] else 1)
