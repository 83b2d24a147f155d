// The MCP front door (issue 11): the MCP server behind a streaming Function URL, its reply settler
// on the `mcp` consumer's queue, the `mcp` and `mcpReservedConcurrency` context keys, alarms and
// outputs. The exact IAM grants of both functions are in iam.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { Stage } from 'aws-cdk-lib';
import { ContextError } from '../lib/context';
import { OTHER_VARIABLES_BYTES } from '../lib/env-size';
import { ofType, outputId, refId, type Resource, resolveJsonEnv, single, synth, type Synthesized } from './helpers';

const REPO = path.resolve(__dirname, '../..');

let s: Synthesized;
before(() => {
  s = synth();
});

const resource = (id: string, from: Synthesized = s): Resource => from.resources[id]!;
const mcpServer = (from: Synthesized = s): [string, Resource] => {
  const id = outputId(from, 'McpFunctionArn');
  return [id, resource(id, from)];
};
const settlers = (from: Synthesized = s) =>
  ofType(from.resources, 'AWS::Lambda::Function').filter(([, f]) => f.Properties['Environment'].Variables.ASYNCTOOLS_CONSUMER !== undefined);
const settler = (from: Synthesized = s): [string, Resource] => single(settlers(from), 'reply settler');
const env = (fn: Resource): Record<string, any> => fn.Properties['Environment'].Variables;
const alarmsOn = (metric: string, dimension: string, id: string, from: Synthesized = s) =>
  ofType(from.resources, 'AWS::CloudWatch::Alarm')
    .map(([, a]) => a.Properties)
    .filter((a) => a['MetricName'] === metric && a['Dimensions']?.some((d: any) => d.Name === dimension && refId(d.Value) === id));
/** The source directory of a function's code asset (bundling skipped: the Rust package it builds from). */
const codeSource = (fnId: string, from: Synthesized = s): string => {
  const outdir = Stage.of(from.stack)!.outdir;
  const assets = JSON.parse(readFileSync(path.join(outdir, `${from.stack.artifactId}.assets.json`), 'utf8'));
  const key: string = resource(fnId, from).Properties['Code'].S3Key;
  return assets.files[key.replace(/\.zip$/, '')].source.path;
};
/** Everything the MCP server brings: its functions, URL, event source, and the `mcp` consumer. */
const mcpFootprint = (from: Synthesized) => ({
  outputs: Object.keys(from.outputs).filter((k) => /Mcp/.test(k)).sort(),
  consumers: from.outputs['Consumers']?.Value,
  urls: ofType(from.resources, 'AWS::Lambda::Url').length,
  functions: ofType(from.resources, 'AWS::Lambda::Function').length,
  mappings: ofType(from.resources, 'AWS::Lambda::EventSourceMapping').length,
  dashboardMentionsMcp: JSON.stringify(single(ofType(from.resources, 'AWS::CloudWatch::Dashboard'), 'dashboard')[1].Properties).includes('MCP server'),
});

describe('MCP server function', () => {
  it('has a Function URL with AWS_IAM auth and response streaming', () => {
    const [fnId] = mcpServer();
    const [urlId, url] = single(
      ofType(s.resources, 'AWS::Lambda::Url').filter(([, u]) => refId(u.Properties['TargetFunctionArn']) === fnId),
      'MCP Function URL',
    );
    assert.deepEqual(url.Properties, {
      AuthType: 'AWS_IAM',
      InvokeMode: 'RESPONSE_STREAM',
      TargetFunctionArn: { 'Fn::GetAtt': [fnId, 'Arn'] },
    });
    // AWS_IAM: no resource-based permission opens it to anyone (callers need their own IAM allow).
    const permissions = ofType(s.resources, 'AWS::Lambda::Permission').filter(([, p]) => refId(p.Properties['FunctionName']) === fnId);
    assert.deepEqual(permissions, []);
    assert.deepEqual(s.outputs['McpUrl']?.Value, { 'Fn::Join': ['', [{ 'Fn::GetAtt': [urlId, 'FunctionUrl'] }, 'mcp']] });
    assert.deepEqual(s.outputs['McpFunctionArn']?.Value, { 'Fn::GetAtt': [fnId, 'Arn'] });
  });

  it('timeout 900 s, 256 MB, arm64, reserved concurrency 50, built from mcp/', () => {
    const [fnId, fn] = mcpServer();
    assert.equal(fn.Properties['Timeout'], 900);
    assert.equal(fn.Properties['MemorySize'], 256);
    assert.deepEqual(fn.Properties['Architectures'], ['arm64']);
    assert.equal(fn.Properties['Runtime'], 'provided.al2023');
    assert.equal(fn.Properties['ReservedConcurrentExecutions'], 50);
    assert.equal(codeSource(fnId), path.join(REPO, 'mcp'));
  });

  it('environment: exactly the dispatcher\'s six variables, the consumer and the maximum wait (timeout - 30 s)', () => {
    const [, fn] = mcpServer();
    const vars = env(fn);
    assert.deepEqual(Object.keys(vars).sort(), [
      'ASYNCTOOLS_MAX_OPEN_TASKS', 'ASYNCTOOLS_MCP_CONSUMER', 'ASYNCTOOLS_MCP_MAX_WAIT_S', 'ASYNCTOOLS_OWNER_SCOPE', 'ASYNCTOOLS_REPLY_QUEUES', 'ASYNCTOOLS_TABLE', 'ASYNCTOOLS_TASK_TTL_DAYS', 'ASYNCTOOLS_WORK_QUEUES',
    ]);
    assert.deepEqual(vars['ASYNCTOOLS_TABLE'], { Ref: outputId(s, 'TaskTableName') });
    assert.equal(vars['ASYNCTOOLS_TASK_TTL_DAYS'], '7');
    assert.equal(vars['ASYNCTOOLS_MCP_CONSUMER'], 'mcp');
    assert.equal(vars['ASYNCTOOLS_MCP_MAX_WAIT_S'], String(fn.Properties['Timeout'] - 30));
    assert.equal(vars['ASYNCTOOLS_MCP_MAX_WAIT_S'], '870');
    // The same queue maps as the dispatcher's, with every tool and every consumer (mcp included).
    const dispatcher = env(resource(outputId(s, 'DispatcherArn')));
    assert.equal(vars['ASYNCTOOLS_MAX_OPEN_TASKS'], '100');
    for (const key of ['ASYNCTOOLS_TABLE', 'ASYNCTOOLS_TASK_TTL_DAYS', 'ASYNCTOOLS_OWNER_SCOPE', 'ASYNCTOOLS_MAX_OPEN_TASKS']) assert.deepEqual(vars[key], dispatcher[key], key);
    for (const key of ['ASYNCTOOLS_WORK_QUEUES', 'ASYNCTOOLS_REPLY_QUEUES']) assert.deepEqual(resolveJsonEnv(vars[key]), resolveJsonEnv(dispatcher[key]), key);
    assert.deepEqual(Object.keys(resolveJsonEnv(vars['ASYNCTOOLS_WORK_QUEUES'])), s.stack.catalog.tools.map((t) => t.name));
    assert.deepEqual(resolveJsonEnv(vars['ASYNCTOOLS_REPLY_QUEUES']), {
      default: `https://sqs/${outputId(s, 'ReplyQueueUrlDefault')}`,
      mcp: `https://sqs/${outputId(s, 'ReplyQueueUrlMcp')}`,
    });
  });

  it('its variables besides the two queue maps fit the bound the environment size check assumes', () => {
    const [, fn] = mcpServer();
    const others = Object.entries(env(fn)).filter(([k]) => !['ASYNCTOOLS_WORK_QUEUES', 'ASYNCTOOLS_REPLY_QUEUES'].includes(k));
    // The table name is a token here: count DynamoDB's maximum, 255.
    const bytes = others.reduce((sum, [k, v]) => sum + k.length + (typeof v === 'string' ? v.length : 255), 0);
    assert.ok(bytes <= OTHER_VARIABLES_BYTES, `${bytes} bytes`);
  });

  it('reserved concurrency from -c mcpReservedConcurrency, independent of the dispatcher\'s', () => {
    for (const [value, expected] of [['10', 10], [1, 1], ['1000', 1000]] as const) {
      const other = synth({ context: { mcpReservedConcurrency: value } });
      assert.equal(mcpServer(other)[1].Properties['ReservedConcurrentExecutions'], expected, String(value));
      assert.equal(resource(outputId(other, 'DispatcherArn'), other).Properties['ReservedConcurrentExecutions'], 100);
    }
  });

  it('refuses a bad mcpReservedConcurrency, naming the key and the value', () => {
    for (const bad of ['0', '1001', 'lots', '2.5', 7.5, '-3', '']) {
      assert.throws(
        () => synth({ context: { mcpReservedConcurrency: bad } }),
        (e: unknown) =>
          e instanceof ContextError &&
          e.message === `invalid context "mcpReservedConcurrency": ${JSON.stringify(bad)} is not an integer in 1..=1000`,
        String(bad),
      );
    }
  });

  it('alarms: errors, throttles and Function URL 5xx', () => {
    const [fnId] = mcpServer();
    for (const metric of ['Errors', 'Throttles', 'Url5xxCount']) {
      const [alarm] = alarmsOn(metric, 'FunctionName', fnId);
      assert.ok(alarm, metric);
      assert.equal(alarmsOn(metric, 'FunctionName', fnId).length, 1, metric);
      assert.equal(alarm['Namespace'], 'AWS/Lambda');
      assert.equal(alarm['Threshold'], 1);
      assert.equal(alarm['Period'], 300);
      assert.equal(alarm['ComparisonOperator'], 'GreaterThanOrEqualToThreshold');
    }
  });
});

describe('MCP reply settler', () => {
  it('timeout 30 s, 128 MB, no reserved concurrency, environment: the table and consumer mcp, built from workers/hosts/', () => {
    const [fnId, fn] = settler();
    assert.equal(fn.Properties['Timeout'], 30);
    assert.equal(fn.Properties['MemorySize'], 128);
    assert.deepEqual(fn.Properties['Architectures'], ['arm64']);
    assert.equal(fn.Properties['ReservedConcurrentExecutions'], undefined);
    assert.deepEqual(env(fn), { ASYNCTOOLS_TABLE: { Ref: outputId(s, 'TaskTableName') }, ASYNCTOOLS_CONSUMER: 'mcp' });
    assert.equal(codeSource(fnId), path.join(REPO, 'workers', 'hosts'));
  });

  it('reads the mcp reply queue: batch 10, maximum concurrency 2, ReportBatchItemFailures', () => {
    const [fnId] = settler();
    const [, mapping] = single(
      ofType(s.resources, 'AWS::Lambda::EventSourceMapping').filter(([, m]) => refId(m.Properties['FunctionName']) === fnId),
      'settler event source',
    );
    assert.deepEqual(mapping.Properties, {
      FunctionName: { Ref: fnId },
      EventSourceArn: { 'Fn::GetAtt': [outputId(s, 'ReplyQueueUrlMcp'), 'Arn'] },
      BatchSize: 10,
      ScalingConfig: { MaximumConcurrency: 2 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('the mcp reply queue\'s visibility timeout is at least the settler\'s timeout (AWS requires it), 6 x as AWS advises', () => {
    const [, fn] = settler();
    const timeout: number = fn.Properties['Timeout'];
    const queue = resource(outputId(s, 'ReplyQueueUrlMcp')).Properties;
    assert.ok(queue['VisibilityTimeout'] >= timeout, `${queue['VisibilityTimeout']} < ${timeout}`);
    assert.equal(queue['VisibilityTimeout'], 6 * timeout);
    // Its DLQ and receive limit are every reply queue's; other consumers keep 30 s.
    assert.deepEqual(queue['RedrivePolicy'], { deadLetterTargetArn: { 'Fn::GetAtt': [outputId(s, 'ReplyDeadLetterQueueUrlMcp'), 'Arn'] }, maxReceiveCount: 10 });
    assert.equal(resource(outputId(s, 'ReplyQueueUrlDefault')).Properties['VisibilityTimeout'], 30);
  });

  it('alarms: its errors, and the mcp reply queue\'s DLQ (alarmed like every consumer\'s)', () => {
    const [fnId] = settler();
    assert.equal(alarmsOn('Errors', 'FunctionName', fnId).length, 1);
    const [dlqAlarm] = alarmsOn('ApproximateNumberOfMessagesVisible', 'QueueName', outputId(s, 'ReplyDeadLetterQueueUrlMcp'));
    assert.ok(dlqAlarm, 'the mcp reply DLQ has an alarm');
    assert.equal(dlqAlarm['Threshold'], 0);
    assert.equal(dlqAlarm['ComparisonOperator'], 'GreaterThanThreshold');
    assert.deepEqual(dlqAlarm['AlarmActions'], [{ Ref: outputId(s, 'AlarmTopicArn') }]);
  });
});

describe('the mcp context flag and the mcp consumer', () => {
  it('is on by default: consumer mcp is appended, with its reply queue, DLQ and outputs, and the dashboard shows the server', () => {
    assert.deepEqual(mcpFootprint(s), {
      outputs: ['McpFunctionArn', 'McpUrl', 'ReplyDeadLetterQueueUrlMcp', 'ReplyQueueUrlMcp'],
      consumers: 'default,mcp',
      urls: 2,
      functions: s.stack.catalog.tools.length + 4,
      mappings: s.stack.catalog.tools.length + 1,
      dashboardMentionsMcp: true,
    });
    assert.equal(synth({ context: { mcp: 'true' } }).outputs['Consumers']?.Value, 'default,mcp');
  });

  it('-c mcp=false leaves out the MCP server, its settler, the mcp consumer and the outputs', () => {
    for (const value of ['false', false]) {
      const off = synth({ context: { mcp: value } });
      assert.deepEqual(mcpFootprint(off), {
        outputs: [],
        consumers: 'default',
        urls: 1,
        functions: off.stack.catalog.tools.length + 2,
        mappings: off.stack.catalog.tools.length,
        dashboardMentionsMcp: false,
      }, String(value));
      assert.deepEqual(settlers(off), []);
    }
  });

  it('does not add a second mcp when consumers already names it, wherever it is in the list', () => {
    for (const consumers of ['default,mcp', 'mcp,default', '{"default": null, "mcp": null}']) {
      const named = synth({ context: { consumers } });
      assert.equal(named.outputs['Consumers']?.Value, consumers.startsWith('mcp') ? 'mcp,default' : 'default,mcp', consumers);
      assert.equal(ofType(named.resources, 'AWS::SQS::Queue').length, 2 * (named.stack.catalog.tools.length + 2), consumers);
      assert.equal(refId(single(ofType(named.resources, 'AWS::Lambda::EventSourceMapping').filter(([, m]) => refId(m.Properties['FunctionName']) === settler(named)[0]), 'mapping')[1].Properties['EventSourceArn']), outputId(named, 'ReplyQueueUrlMcp'));
    }
  });

  it('with -c mcp=false, a consumer named mcp is an ordinary consumer (30 s visibility, no settler)', () => {
    const plain = synth({ context: { mcp: 'false', consumers: 'default,mcp' } });
    assert.equal(plain.outputs['Consumers']?.Value, 'default,mcp');
    assert.equal(resource(outputId(plain, 'ReplyQueueUrlMcp'), plain).Properties['VisibilityTimeout'], 30);
    assert.deepEqual(settlers(plain), []);
    assert.ok(!('McpUrl' in plain.outputs));
  });

  it('refuses a principal on the mcp consumer while the MCP server reads its queue', () => {
    assert.throws(
      () => synth({ context: { consumers: '{"default": null, "mcp": "arn:aws:iam::123456789012:role/AgentRole"}' } }),
      (e: unknown) => e instanceof ContextError && /^invalid context "consumers": consumer "mcp" is the MCP server's .*-c mcp=false/.test(e.message),
    );
    const allowed = synth({ context: { mcp: 'false', consumers: '{"default": null, "mcp": "arn:aws:iam::123456789012:role/AgentRole"}' } });
    assert.ok('ReplyQueueUrlMcp' in allowed.outputs);
  });

  it('refuses a value that is not true or false, naming the key', () => {
    for (const bad of ['yes', 'off', '0', 1, '']) {
      assert.throws(
        () => synth({ context: { mcp: bad } }),
        (e: unknown) => e instanceof ContextError && e.message === `invalid context "mcp": ${JSON.stringify(bad)} is not true or false`,
        String(bad),
      );
    }
  });

  it('mcpManifestPath chooses the Rust package the MCP server is built from', () => {
    const other = synth({ stackProps: { mcpManifestPath: '../workers/hosts/Cargo.toml' } });
    assert.equal(codeSource(mcpServer(other)[0], other), path.join(REPO, 'workers', 'hosts'));
  });
});
