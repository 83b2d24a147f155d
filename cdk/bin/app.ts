#!/usr/bin/env node
// The CDK CLI's entry point (cdk.json "app"). Context flags (see README.md):
//   -c dev=true                          a throwaway stack: the table and log groups go with it
//   -c alarmEmail=you@example.com        subscribe an address to the alarm topic
//   -c consumers=default,agents          one reply queue per consumer (or a JSON object of
//                                        name -> IAM principal ARN or null); default: default
//                                        (`mcp` is appended while the MCP server is on)
//   -c dispatcherReservedConcurrency=N   1..=1000, default 100
//   -c mcp=false                         no MCP server, reply settler or `mcp` consumer (default true)
//   -c mcpReservedConcurrency=N          1..=1000, default 50
//   -c maxOpenTasks=N|off                a principal's open tasks at most, 1..=1000, default 100
//   -c ownerScope=session|role           who owns an assumed role's tasks, default session
//   -c taskIndexProjection=keys|all      what the task table's indexes hold, default keys
//   -c toolTargets='{"tool": {"url": "https://..."}}'
//                                        this stage's function / url / auth_secret of `lambda`
//                                        and `http` tools, over the catalog's
// ASYNCTOOLS_SKIP_BUNDLING=1 synthesizes without building the Rust functions (template checks
// only: such a cloud assembly must never be deployed).
import { createApp } from '../lib/app';

const { app } = createApp({ skipBundling: process.env.ASYNCTOOLS_SKIP_BUNDLING === '1' });
app.synth();
