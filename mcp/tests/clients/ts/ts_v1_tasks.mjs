// 2025-11-25 experimental tasks (SEP-1686) from the TypeScript SDK v1 (`@modelcontextprotocol/sdk`).
//
// Usage: node ts_v1_tasks.mjs URL [--ack-limit-ms 500]   (from mcp/tests/clients/ts after `npm ci`)
//
// The v1 client makes a tools/call a task only when told to (`options.task`) or when it decides
// the tool is a task tool: `Client.isToolTask(name)` needs BOTH the server's initialize result
// `capabilities.tasks.requests.tools.call` AND the tool listed (listTools() must have run) with
// `execution.taskSupport` "optional" or "required" (node_modules/@modelcontextprotocol/sdk/dist/esm/
// client/index.js, isToolTask and cacheToolMetadata; experimental/tasks/client.js callToolStream).
// This script uses that automatic path, so it checks the server's declarations too.
//
// Checks, against docs/mcp.md (the 2025-11-25 tasks):
// - capabilities.tasks {list, cancel, requests.tools.call}; catalog tools execution.taskSupport.
// - `client.experimental.tasks.callToolStream` research {latency_ms: 1500}: first message
//   `taskCreated` (working) at once (latency measured), then `taskStatus` polls, then `result` with
//   structuredContent.findings; tasks/result again gives the same result.
// - sentiment through callToolStream: a task already completed at its first tasks/get.
// - research {latency_ms: 20000}: `cancelTask` on taskCreated -> cancelled; the stream ends with an
//   error saying cancelled; getTask says cancelled; listTasks lists the tasks.
// Any failed check exits 1. The last line printed is one JSON object of measurements.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';

const CATALOG = ['sentiment', 'research', 'synthetic'];

function check(condition, message) {
    if (!condition) throw new Error(`check failed: ${message}`);
}
const show = value => JSON.stringify(value);
const since = started => Math.round((performance.now() - started) * 100) / 100;

// Runs a callToolStream to its end, calling onCreated(task) at taskCreated; returns what it saw.
async function runStream(client, name, args, onCreated) {
    const started = performance.now();
    const seen = { types: [], statuses: [] };
    for await (const message of client.experimental.tasks.callToolStream({ name, arguments: args })) {
        seen.types.push(message.type);
        if (message.type === 'taskCreated') {
            seen.createdMs = since(started);
            seen.task = message.task;
            if (onCreated) await onCreated(message.task);
        } else if (message.type === 'taskStatus') {
            seen.statuses.push(message.task.status);
        } else if (message.type === 'result') {
            seen.result = message.result;
            seen.doneMs = since(started);
        } else if (message.type === 'error') {
            seen.error = message.error;
        }
    }
    return seen;
}

async function main(report, url, ackLimitMs) {
    const client = new Client({ name: 'asynctools-ts-v1-tasks', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    try {
        report.protocol_version = client.transport?.protocolVersion ?? null;
        const tasksCap = client.getServerCapabilities()?.tasks;
        check(tasksCap?.requests?.tools?.call, `capabilities.tasks.requests.tools.call missing: ${show(tasksCap)}`);
        check(tasksCap.list && tasksCap.cancel, `capabilities.tasks list/cancel missing: ${show(tasksCap)}`);
        report.capabilities_tasks = tasksCap;
        const { tools } = await client.listTools(); // caches execution.taskSupport for isToolTask
        const support = Object.fromEntries(tools.filter(t => CATALOG.includes(t.name))
            .map(t => [t.name, t.execution?.taskSupport ?? null]));
        report.task_support = support;
        for (const name of CATALOG) check(client.isToolTask(name), `the SDK does not treat ${name} as a task tool: ${show(support)}`);

        // 1. research (1.5 s): taskCreated at once, polled, result.
        const research = await runStream(client, 'research', { topic: 'MCP tasks', latency_ms: 1500 });
        check(research.types[0] === 'taskCreated', `first message ${research.types[0]} (${show(research.types)}): not a task`);
        check(research.task.status === 'working', `research created as ${research.task.status}`);
        check(research.task.ttl > 0 && research.task.pollInterval > 0, `ttl/pollInterval: ${show(research.task)}`);
        check(!research.error, `research stream error: ${research.error}`);
        check(research.statuses.at(-1) === 'completed', `research statuses ${show(research.statuses)}`);
        const findings = research.result?.structuredContent?.findings;
        check(findings?.length && research.result.isError !== true, `research result: ${show(research.result)}`);
        check(research.createdMs < ackLimitMs, `slow ack: ${research.createdMs} ms`);
        Object.assign(report, {
            research_ack_ms: research.createdMs, research_done_ms: research.doneMs,
            research_polls: research.statuses.length, research_findings: findings, research_task_id: research.task.taskId
        });
        const again = await client.experimental.tasks.getTaskResult(research.task.taskId, CallToolResultSchema);
        check(show(again.structuredContent) === show(research.result.structuredContent), 'tasks/result differs the second time');

        // 2. sentiment: a task completed by its first tasks/get.
        const sentiment = await runStream(client, 'sentiment', { text: 'great battery, awful screen' });
        check(sentiment.types[0] === 'taskCreated', `sentiment first message ${sentiment.types[0]}`);
        check(sentiment.statuses[0] === 'completed', `sentiment at its first tasks/get: ${show(sentiment.statuses)}`);
        check(sentiment.result?.structuredContent?.sentiment, `sentiment result: ${show(sentiment.result)}`);
        Object.assign(report, {
            sentiment_ack_ms: sentiment.createdMs, sentiment_created_status: sentiment.task.status,
            sentiment: sentiment.result.structuredContent.sentiment
        });

        // 3. research (20 s), cancelled as soon as it is created.
        let cancelled;
        const long = await runStream(client, 'research', { topic: 'cancel me', latency_ms: 20000 }, async task => {
            const started = performance.now();
            cancelled = await client.experimental.tasks.cancelTask(task.taskId);
            report.cancel_ms = since(started);
        });
        check(long.task?.status === 'working', `long research created as ${long.task?.status}`);
        check(cancelled?.status === 'cancelled', `tasks/cancel answered ${show(cancelled)}`);
        check(long.statuses.at(-1) === 'cancelled' && long.error && !long.result,
            `after cancel the stream saw ${show(long.types)} ${show(long.statuses)} ${long.error}`);
        report.cancel_stream_error = String(long.error.message);
        const got = await client.experimental.tasks.getTask(long.task.taskId);
        check(got.status === 'cancelled', `getTask after cancel: ${got.status}`);

        // 4. tasks/list.
        const listed = await client.experimental.tasks.listTasks();
        const ids = new Set(listed.tasks.map(t => t.taskId));
        for (const task of [research.task, sentiment.task, long.task]) check(ids.has(task.taskId), `tasks/list lacks ${task.taskId}`);
        report.listed_tasks = listed.tasks.length;
    } finally {
        await client.close();
    }
    report.ok = true;
}

const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const report = { script: 'ts_v1_tasks', ok: false };
try {
    if (!args[0] || args[0].startsWith('--')) throw new Error('usage: node ts_v1_tasks.mjs URL');
    await main(report, args[0], Number(option('--ack-limit-ms', 500)));
} catch (error) {
    report.error = String(error?.stack ?? error);
    console.error(`FAILED: ${error}`);
    process.exitCode = 1;
}
console.log(JSON.stringify(report));
