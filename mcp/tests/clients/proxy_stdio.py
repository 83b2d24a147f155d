"""AWS's SigV4 MCP proxy as a stdio MCP server, the way Claude Desktop, Claude Code, Cursor or Kiro
run it: this script spawns `mcp-proxy-for-aws URL --service lambda --region REGION` and talks to it
with the `mcp` 1.x stdio client; the proxy signs every request to URL (the deployed MCP server's
Function URL, or its test stand-in) with the credentials in its environment.

Usage: python proxy_stdio.py URL --proxy PATH [--region us-east-1] [--expect-ack]
                             [--own-task ID] [--foreign-task ID]
PATH: the proxy executable (`mcp-proxy-for-aws` of the library distribution, or
`mcp-proxy-for-aws-cli`, the pinned distribution `uvx mcp-proxy-for-aws-cli@VERSION` runs).
Venv: requirements-agents.txt. The proxy gets AWS_* variables from this process's environment,
passed explicitly: an MCP host gives a stdio server only a minimal environment plus its "env".

Checks:
- an unsigned request to URL is refused: HTTP 403 {"Message":"Forbidden"};
- through the proxy: tools/list has the catalog; `sentiment` and `research` give their results
  (`--expect-ack`: research is acknowledged at once and collected with `task_results`);
- with `--expect-ack` only: `--own-task ID` task_status succeeds; `--foreign-task ID` (another
  principal's task) task_status and task_cancel are tool errors. (The proxy forwards tools, not
  tasks/get, so without the results tools there is nothing to ask through it.)

Any failed check raises (non-zero exit). The last line printed is one JSON report.
"""

import argparse
import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

import aws_proxy_common as common

# What the proxy may see: credentials, region, and the switches that keep it off the network
# (no instance metadata, no config files of the user running the tests, no update check).
PASSED = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_EC2_METADATA_DISABLED",
    "FASTMCP_CHECK_FOR_UPDATES",
    "HOME",
)


async def main(args, report):
    report["unsigned_status"] = await common.unsigned_is_refused(args.url)
    server = StdioServerParameters(
        command=args.proxy,
        args=[args.url, "--service", "lambda", "--region", args.region, "--log-level", "ERROR"],
        env={k: os.environ[k] for k in PASSED if k in os.environ},
    )
    async with stdio_client(server, errlog=sys.stderr) as (read, write), ClientSession(read, write) as session:
        init = await session.initialize()
        report["protocol_version"] = init.protocolVersion
        report["server"] = init.serverInfo.name
        await common.flow(session, report, args.expect_ack, args.own_task, args.foreign_task)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--proxy", required=True, help="the mcp-proxy-for-aws executable")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--expect-ack", action="store_true", help="the issue-23 server: slow plain calls are acknowledged")
    parser.add_argument("--own-task", help="a task id of this caller (checked with --expect-ack)")
    parser.add_argument("--foreign-task", help="another principal's task id (checked with --expect-ack)")
    args = parser.parse_args()
    report = {"client": "proxy_stdio", "proxy": os.path.basename(args.proxy), "expect_ack": args.expect_ack}
    try:
        asyncio.run(main(args, report))
    except BaseException:
        print(json.dumps(report, sort_keys=True), file=sys.stderr)
        raise
    common.print_report(report)
