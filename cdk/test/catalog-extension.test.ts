// Adding a [[tools]] entry to the catalog adds that tool's queue, DLQ, function, event source and
// alarms, with no change to the CDK code.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { grantsOf, ofType, refId, resolveJsonEnv, single, synth, toolToml, writeCatalog } from './helpers';

const REAL_CATALOG = path.resolve(__dirname, '../../workers/tools.toml');

describe('catalog-driven stack', () => {
  it('a new tool in the catalog gets its queue, DLQ, function, event source, alarms and outputs', () => {
    const count = (resources: Record<string, unknown>) => {
      const counts: Record<string, number> = {};
      for (const r of Object.values(resources) as { Type: string }[]) counts[r.Type] = (counts[r.Type] ?? 0) + 1;
      return counts;
    };
    const before = synth({ stackProps: { catalogPath: REAL_CATALOG } });
    const extended = writeCatalog(
      readFileSync(REAL_CATALOG, 'utf8') +
        toolToml({ name: 'web-search', timeout_s: 45, memory_mb: 512, batch_size: 2, max_concurrency: 7, max_receive_count: 6 }),
    );
    const after = synth({ stackProps: { catalogPath: extended } });

    const [b, a] = [count(before.resources), count(after.resources)];
    const added = Object.fromEntries(Object.keys(a).map((t) => [t, a[t]! - (b[t] ?? 0)]).filter(([, n]) => n !== 0));
    assert.deepEqual(added, {
      'AWS::SQS::Queue': 2, // work queue + DLQ
      'AWS::SQS::QueuePolicy': 2, // enforceSSL on both
      'AWS::Lambda::Function': 1,
      'AWS::Lambda::EventSourceMapping': 1,
      'AWS::IAM::Role': 1,
      'AWS::IAM::Policy': 1,
      'AWS::Logs::LogGroup': 1,
      'AWS::CloudWatch::Alarm': 4, // DLQ depth, age of oldest message, errors, throttles
    });

    const outputs = after.outputs;
    const queueId = refId(outputs['WorkQueueUrlWebSearch']?.Value)!;
    const dlqId = refId(outputs['DeadLetterQueueUrlWebSearch']?.Value)!;
    const queue = after.resources[queueId]!.Properties;
    assert.equal(queue['VisibilityTimeout'], 6 * (45 + 20));
    assert.deepEqual(queue['RedrivePolicy'], { deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] }, maxReceiveCount: 6 });

    const [fnId, fn] = single(
      ofType(after.resources, 'AWS::Lambda::Function').filter(([, f]) => f.Properties['Environment'].Variables.ASYNCTOOLS_TOOL === 'web-search'),
      'web-search worker',
    );
    assert.equal(fn.Properties['Timeout'], 45 + 20);
    assert.equal(fn.Properties['MemorySize'], 512);
    const [, mapping] = single(
      ofType(after.resources, 'AWS::Lambda::EventSourceMapping').filter(([, m]) => refId(m.Properties['FunctionName']) === fnId),
      'web-search event source',
    );
    assert.equal(mapping.Properties['BatchSize'], 2);
    assert.deepEqual(mapping.Properties['ScalingConfig'], { MaximumConcurrency: 7 });

    // The dispatcher, the sweeper and the MCP server know the new queue and may send to it.
    for (const key of ['DispatcherArn', 'SweeperArn', 'McpFunctionArn']) {
      const fnId = refId(outputs[key]?.Value)!;
      const env = resolveJsonEnv(after.resources[fnId]!.Properties['Environment'].Variables.ASYNCTOOLS_WORK_QUEUES);
      assert.equal(env['web-search'], `https://sqs/${queueId}`, key);
      assert.deepEqual(grantsOf(after, fnId)['WorkQueueUrlWebSearch'], ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'], key);
    }
  });

  it('a catalog with one tool gives a working stack with one worker', () => {
    const s = synth({ stackProps: { catalogPath: writeCatalog(`version = 1\n${toolToml({ name: 'solo' })}`) } });
    assert.equal(ofType(s.resources, 'AWS::Lambda::Function').length, 5, 'the worker, the dispatcher, the sweeper, the MCP server and its reply settler');
    assert.ok('WorkQueueUrlSolo' in s.outputs && 'DeadLetterQueueUrlSolo' in s.outputs);
  });
});
