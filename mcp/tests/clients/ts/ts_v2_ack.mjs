// Acknowledge-now ("ack") mode from the TypeScript SDK v2 (`@modelcontextprotocol/client`), no tasks.
//
// Usage: node ts_v2_ack.mjs URL [--negotiation legacy|auto] [--ack-limit-ms 500]
// (from mcp/tests/clients/ts after `npm ci`). The SDK's default handshake is `legacy` (initialize,
// one MCP session = one conversation); `--negotiation auto` probes server/discover first.
//
// Checks, against docs/mcp.md: tools/list has the catalog tools and task_results,
// task_status, task_cancel (catalog descriptions mention asynchronous); `research` {latency_ms: 1500}
// is acknowledged at once (structuredContent {taskId, status: working, tool, conversation}, text
// "research is running asynchronously as task <id>." naming task_results); `sentiment` answers
// inline (structuredContent.sentiment); task_results {wait_s: 10} returns the research result exactly
// once, a second task_results {wait_s: 0} nothing; bad input (unknown task id, wait_s -1 / 61) is an
// isError result; a finished result piggybacks on the next call as an "[asynctools] " block and in
// _meta["io.asynctools/results"], and task_results does not return it again.
// Any failed check exits 1. The last line printed is one JSON object of measurements.

import { isDeepStrictEqual } from 'node:util';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

const CATALOG = ['sentiment', 'research', 'synthetic'];
const RESULTS_TOOLS = ['task_results', 'task_status', 'task_cancel'];
const SENTIMENTS = new Set(['positive', 'negative', 'mixed', 'neutral']);
const UNKNOWN_TASK = '01JZZZZZZZZZZZZZZZZZZZZZZZ';

function check(condition, message) {
    if (!condition) throw new Error(`check failed: ${message}`);
}
const texts = result => (result.content ?? []).filter(b => b.type === 'text').map(b => b.text);
const show = value => JSON.stringify(value);

async function timed(promise) {
    const started = performance.now();
    const value = await promise;
    return [value, Math.round((performance.now() - started) * 100) / 100];
}

function checkAck(result, tool) {
    check(result.isError !== true, `${tool} ack is an error: ${show(result)}`);
    const sc = result.structuredContent ?? {};
    check(typeof sc.taskId === 'string' && sc.taskId, `${tool} ack has no structuredContent.taskId: ${show(result)}`);
    check(sc.status === 'working', `${tool} ack status ${sc.status}`);
    check(sc.tool === tool, `${tool} ack names tool ${sc.tool}`);
    check(typeof sc.conversation === 'string' && sc.conversation, `${tool} ack has no conversation: ${show(sc)}`);
    const first = texts(result)[0] ?? '';
    check(first.startsWith(`${tool} is running asynchronously as task ${sc.taskId}.`), `${tool} ack text: ${first}`);
    check(first.includes('task_results'), `${tool} ack text does not name task_results: ${first}`);
    check(first.toLowerCase().includes('guess'), `${tool} ack text does not say not to guess: ${first}`);
    return sc;
}

function checkInlineSentiment(result) {
    check(result.isError !== true, `sentiment failed: ${show(result)}`);
    const sc = result.structuredContent;
    check(sc && typeof sc === 'object', `sentiment has no structuredContent: ${show(result)}`);
    check(!('taskId' in sc), `sentiment was acknowledged, not answered inline (loaded machine?): ${show(sc)}`);
    check(SENTIMENTS.has(sc.sentiment), `sentiment result: ${show(sc)}`);
    check(isDeepStrictEqual(JSON.parse(texts(result)[0]), sc), `sentiment content[0].text is not its structuredContent: ${show(result)}`);
    return sc;
}

function checkResults(result, label) {
    check(result.isError !== true, `${label}: task_results failed: ${show(result)}`);
    const sc = result.structuredContent ?? {};
    check(Array.isArray(sc.results) && Array.isArray(sc.pending), `${label}: results/pending: ${show(sc)}`);
    check(typeof sc.conversation === 'string', `${label}: no conversation`);
    check(texts(result).length === sc.results.length + 1, `${label}: not one text block per result plus a summary`);
    for (const entry of sc.results) {
        check(['completed', 'failed', 'cancelled'].includes(entry.status), `${label}: entry ${show(entry)}`);
        check(texts(result).some(t => t.includes(entry.taskId)), `${label}: no text block names ${entry.taskId}`);
    }
    return sc;
}

async function expectToolError(client, name, args, report, key) {
    let result;
    try {
        result = await client.callTool({ name, arguments: args });
    } catch (error) {
        throw new Error(`${name} ${show(args)} threw ${error} (contract: an isError result)`);
    }
    check(result.isError === true, `${name} ${show(args)} is not an isError result: ${show(result)}`);
    report.bad_input[key] = (texts(result)[0] ?? '').slice(0, 160);
}

async function main(report, url, negotiation, ackLimitMs) {
    const client = new Client({ name: 'asynctools-ts-v2-ack', version: '1.0.0' },
        negotiation === 'legacy' ? {} : { versionNegotiation: { mode: negotiation } });
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    try {
        report.protocol_version = client.getNegotiatedProtocolVersion();
        const { tools } = await client.listTools();
        const byName = Object.fromEntries(tools.map(t => [t.name, t]));
        for (const name of [...CATALOG, ...RESULTS_TOOLS]) check(byName[name], `tools/list lacks ${name}`);
        for (const name of CATALOG) {
            check((byName[name].description ?? '').toLowerCase().includes('asynchronous'),
                `${name}'s description does not mention asynchronous`);
        }
        report.tools = Object.keys(byName).sort();

        const leftover = checkResults(await client.callTool({ name: 'task_results', arguments: { wait_s: 0 } }), 'start');
        report.leftover_results_at_start = leftover.results.length;
        if (negotiation === 'legacy') check(leftover.results.length === 0, `fresh session has results: ${show(leftover)}`);

        // 1. research: acknowledged at once.
        let research;
        [research, report.research_ack_ms] = await timed(
            client.callTool({ name: 'research', arguments: { topic: 'MCP tasks', latency_ms: 1500 } }));
        const ack = checkAck(research, 'research');
        report.conversation = ack.conversation;
        check(report.research_ack_ms < ackLimitMs, `slow ack: ${report.research_ack_ms} ms`);

        // 2. sentiment: inline.
        let sentiment;
        [sentiment, report.sentiment_ms] = await timed(
            client.callTool({ name: 'sentiment', arguments: { text: 'great battery, awful screen' } }));
        report.sentiment = checkInlineSentiment(sentiment).sentiment;
        check(texts(sentiment).length === 1, `sentiment carried extra blocks: ${show(texts(sentiment))}`);

        // 3. task_results: the research result, exactly once.
        let got;
        [got, report.task_results_wait_ms] = await timed(
            client.callTool({ name: 'task_results', arguments: { wait_s: 10 } }));
        got = checkResults(got, 'task_results wait_s 10');
        check(show(got.results.map(e => e.taskId)) === show([ack.taskId]), `task_results returned ${show(got.results)}`);
        const entry = got.results[0];
        check(entry.status === 'completed' && entry.tool === 'research', `research entry ${show(entry)}`);
        check(entry.result?.findings?.length, `research result has no findings: ${show(entry)}`);
        check(got.conversation === ack.conversation, `conversation ${got.conversation} != ${ack.conversation}`);
        report.research_findings = entry.result.findings;
        const again = checkResults(await client.callTool({ name: 'task_results', arguments: { wait_s: 0 } }), 'again');
        check(again.results.length === 0, `a second task_results returned ${show(again.results)}`);

        // 4. bad input.
        await expectToolError(client, 'task_status', { task_id: UNKNOWN_TASK }, report, 'task_status_unknown');
        await expectToolError(client, 'task_results', { wait_s: -1 }, report, 'wait_s_-1');
        await expectToolError(client, 'task_results', { wait_s: 61 }, report, 'wait_s_61');

        // 5. piggyback.
        const short = checkAck(await client.callTool({ name: 'research', arguments: { topic: 'piggyback', latency_ms: 300 } }),
            'research');
        await new Promise(resolve => setTimeout(resolve, 1000));
        const carrier = await client.callTool({ name: 'sentiment', arguments: { text: 'fine' } });
        checkInlineSentiment(carrier);
        const extra = texts(carrier).slice(1).filter(t => t.startsWith('[asynctools] '));
        check(texts(carrier).length === 2 && extra.length === 1, `no single [asynctools] block: ${show(texts(carrier))}`);
        check(extra[0].includes('research') && extra[0].includes(short.taskId), `piggyback block: ${extra[0]}`);
        const meta = carrier._meta?.['io.asynctools/results'];
        check(Array.isArray(meta) && show(meta.map(m => m.taskId)) === show([short.taskId]), `_meta results: ${show(meta)}`);
        report.piggyback_block = extra[0].slice(0, 200);
        const after = checkResults(await client.callTool({ name: 'task_results', arguments: { wait_s: 0 } }), 'after');
        check(after.results.length === 0, `task_results after piggyback returned ${show(after.results)}`);
    } finally {
        await client.close();
    }
    report.ok = true;
}

const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const report = { script: 'ts_v2_ack', ok: false, bad_input: {} };
report.negotiation = option('--negotiation', 'legacy');
try {
    if (!args[0] || args[0].startsWith('--')) throw new Error('usage: node ts_v2_ack.mjs URL [--negotiation legacy|auto]');
    await main(report, args[0], report.negotiation, Number(option('--ack-limit-ms', 500)));
} catch (error) {
    report.error = String(error?.stack ?? error);
    console.error(`FAILED: ${error}`);
    process.exitCode = 1;
}
console.log(JSON.stringify(report));
