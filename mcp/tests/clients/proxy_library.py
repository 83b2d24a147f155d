"""AWS's SigV4 MCP proxy as a library: `aws_iam_streamablehttp_client` (PyPI mcp-proxy-for-aws) with
the `mcp` 1.x ClientSession (the LangChain / LlamaIndex pattern) and with Strands Agents' MCPClient
(the factory pattern), against the deployed MCP server's Function URL (or its test stand-in).

Usage: python proxy_library.py URL [--region us-east-1] [--expect-ack] [--own-task ID]
                                   [--foreign-task ID] [--no-strands]
Venv: requirements-agents.txt. Credentials: the standard chain (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, or a profile), as the library resolves them by default.

Checks:
- an unsigned request to URL is refused: HTTP 403 {"Message":"Forbidden"}; so is one signed with a
  wrong secret (botocore's signer, as the library uses);
- through the library: tools/list has the catalog; `sentiment` and `research` give their results
  (`--expect-ack`: research is acknowledged at once and collected with `task_results`);
- `--own-task ID`: tasks/get of the caller's own task succeeds (and task_status, with --expect-ack);
- `--foreign-task ID` (another principal's task): tasks/get is an error (and task_status /
  task_cancel are tool errors, with --expect-ack);
- Strands: `MCPClient(lambda: aws_iam_streamablehttp_client(...))` lists the tools and calls
  `sentiment`, also as an Agent's direct tool call (no model involved).

Any failed check raises (non-zero exit). The last line printed is one JSON report.
"""

import argparse
import asyncio
import json
import sys

import boto3
import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from mcp import ClientSession
from mcp_proxy_for_aws.client import aws_iam_streamablehttp_client

import aws_proxy_common as common
from aws_proxy_common import check


async def wrong_secret_is_refused(url, region):
    """Signed correctly in form, with the right access key id (and session token) but a wrong
    secret: 403."""
    own = boto3.Session().get_credentials()
    body = json.dumps(common.INITIALIZE)
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
    )
    SigV4Auth(Credentials(own.access_key, "not-the-secret", own.token), "lambda", region).add_auth(request)
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(url, content=body, headers=dict(request.headers))
    check(answer.status_code == 403, f"wrong secret: HTTP {answer.status_code} {answer.text}")
    check(answer.json() == common.FORBIDDEN, f"wrong secret: body {answer.text}")


async def session_flow(url, region, report, args):
    client = aws_iam_streamablehttp_client(endpoint=url, aws_service="lambda", aws_region=region)
    async with client as (read, write, _session_id), ClientSession(read, write) as session:
        init = await session.initialize()
        report["protocol_version"] = init.protocolVersion
        report["server"] = init.serverInfo.name
        await common.flow(session, report, args.expect_ack, args.own_task, args.foreign_task)
        if args.own_task:
            got, error = await common.tasks_get(session, args.own_task)
            check(error is None, f"tasks/get of own task {args.own_task}: {error}")
            check(args.own_task in json.dumps(got.model_dump(mode="json")), f"tasks/get: {got}")
            report["own_task_get"] = "ok"
        if args.foreign_task:
            got, error = await common.tasks_get(session, args.foreign_task)
            check(got is None, f"tasks/get of a foreign task answered: {got}")
            report["foreign_task_get_error"] = error


def strands_flow(url, region, report, expect_ack):
    """The Strands factory pattern, as the README shows it."""
    from strands import Agent
    from strands.tools.mcp import MCPClient

    factory = lambda: aws_iam_streamablehttp_client(endpoint=url, aws_service="lambda", aws_region=region)  # noqa: E731
    with MCPClient(factory) as mcp_client:
        tools = mcp_client.list_tools_sync()
        names = [tool.tool_name for tool in tools]
        check(all(name in names for name in common.CATALOG), f"strands list_tools_sync: {names}")
        result = mcp_client.call_tool_sync("strands-1", "sentiment", {"text": "awful screen"})
        check(result["status"] == "success", f"strands call_tool_sync: {result}")
        content = result.get("structuredContent") or {}
        if not (expect_ack and content.get("status") == "working"):
            check(content.get("sentiment") == "negative", f"strands sentiment: {result}")
        report["tasks_created"] = report.get("tasks_created", 0) + 1

        agent = Agent(tools=tools, callback_handler=None)
        direct = agent.tool.sentiment(text="great battery", record_direct_tool_call=False)
        check(direct["status"] == "success", f"strands agent.tool.sentiment: {direct}")
        report["tasks_created"] += 1
        report["strands"] = {"tools": names, "sentiment": content.get("sentiment") or content.get("status")}


async def main(args, report):
    report["unsigned_status"] = await common.unsigned_is_refused(args.url)
    await wrong_secret_is_refused(args.url, args.region)
    report["wrong_secret"] = "refused"
    await session_flow(args.url, args.region, report, args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--expect-ack", action="store_true", help="the issue-23 server: slow plain calls are acknowledged")
    parser.add_argument("--own-task", help="a task id of this caller: tasks/get must succeed")
    parser.add_argument("--foreign-task", help="another principal's task id: tasks/get must fail")
    parser.add_argument("--no-strands", action="store_true")
    args = parser.parse_args()
    report = {"client": "proxy_library", "expect_ack": args.expect_ack}
    try:
        asyncio.run(main(args, report))
        if not args.no_strands:
            strands_flow(args.url, args.region, report, args.expect_ack)
    except BaseException:
        print(json.dumps(report, sort_keys=True), file=sys.stderr)
        raise
    common.print_report(report)
