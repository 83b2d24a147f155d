// Template assertions for the contract with workers/ and the Rust CLI, and for the standards the
// stack promises (encryption, DLQs, visibility timeouts, own roles and log groups, alarms, outputs).
// The exact IAM grants of each function are in iam.test.ts.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { ToolSpec } from '../lib/catalog';
import { ContextError } from '../lib/context';
import { ofType, refId, type Resource, resolveJsonEnv, single, synth, type Synthesized, toolToml, writeCatalog } from './helpers';

let s: Synthesized;
let tools: readonly ToolSpec[];
before(() => {
  s = synth();
  tools = s.stack.catalog.tools;
});

const out = (key: string) => s.outputs[key]?.Value;
/** The resource an output's `{ Ref }` / `{ Fn::GetAtt }` names. */
const fromOutput = (key: string, from: Synthesized = s): [string, Resource] => {
  const id = refId(from.outputs[key]?.Value);
  assert.ok(id && from.resources[id], `output ${key} does not reference a resource: ${JSON.stringify(from.outputs[key])}`);
  return [id, from.resources[id]];
};
const functionWithEnv = (name: string, value: string) =>
  ofType(s.resources, 'AWS::Lambda::Function').filter(([, r]) => r.Properties['Environment']?.Variables?.[name] === value);
const workerOf = (tool: string): [string, Resource] => {
  const found = functionWithEnv('ASYNCTOOLS_TOOL', tool);
  return single(found, `worker function for ${tool}`);
};
const dispatcher = (from: Synthesized = s): [string, Resource] => fromOutput('DispatcherArn', from);
const sweeper = (from: Synthesized = s): [string, Resource] => fromOutput('SweeperArn', from);
/** ASYNCTOOLS_WORK_QUEUES / ASYNCTOOLS_REPLY_QUEUES as the functions see them (placeholder URLs). */
const urlsOf = (prefix: string, names: readonly { name: string; pascalName: string }[], from: Synthesized = s) =>
  Object.fromEntries(names.map((n) => [n.name, `https://sqs/${fromOutput(`${prefix}${n.pascalName}`, from)[0]}`]));
/** The default consumers: `default`, and `mcp` (the MCP server's, on by default). */
const DEFAULT_CONSUMERS = [{ name: 'default', pascalName: 'Default' }, { name: 'mcp', pascalName: 'Mcp' }];

const alarmsIn = (from: Synthesized) => ofType(from.resources, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
const alarms = () => alarmsIn(s);
const alarmsOn = (metric: string, dimension: string, id: string, from: Synthesized = s) =>
  alarmsIn(from).filter((a) => a['MetricName'] === metric && a['Dimensions']?.some((d: any) => d.Name === dimension && refId(d.Value) === id));

describe('task table', () => {
  it('has task_id as key, the three GSIs on created_at_ms, TTL, on-demand billing, PITR and encryption', () => {
    s.template.resourceCountIs('AWS::DynamoDB::Table', 1);
    const gsi = (IndexName: string, key: string) => ({
      IndexName,
      KeySchema: [
        { AttributeName: key, KeyType: 'HASH' },
        { AttributeName: 'created_at_ms', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'KEYS_ONLY' },
    });
    s.template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'task_id', KeyType: 'HASH' }],
      AttributeDefinitions: [
        { AttributeName: 'task_id', AttributeType: 'S' },
        { AttributeName: 'owner_conversation', AttributeType: 'S' },
        { AttributeName: 'created_at_ms', AttributeType: 'N' },
        { AttributeName: 'open_shard', AttributeType: 'S' },
        { AttributeName: 'undelivered_to', AttributeType: 'S' },
      ],
      GlobalSecondaryIndexes: [
        gsi('by_owner_conversation', 'owner_conversation'),
        gsi('open_tasks', 'open_shard'),
        gsi('undelivered', 'undelivered_to'),
      ],
      TimeToLiveSpecification: { AttributeName: 'expires_at', Enabled: true },
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
  });

  it('is retained with the stack, and deleted with a dev stack', () => {
    const [, table] = fromOutput('TaskTableName');
    assert.equal(table.DeletionPolicy, 'Retain');
    assert.equal(table.UpdateReplacePolicy, 'Retain');
    assert.equal(table.Properties['DeletionProtectionEnabled'], true);

    const dev = synth({ context: { dev: 'true' } });
    const [, devTable] = single(ofType(dev.resources, 'AWS::DynamoDB::Table'), 'table');
    assert.equal(devTable.DeletionPolicy, 'Delete');
    assert.equal(devTable.Properties['DeletionProtectionEnabled'], false);
    for (const [id, group] of ofType(dev.resources, 'AWS::Logs::LogGroup')) assert.equal(group.DeletionPolicy, 'Delete', id);
  });
});

describe('queues', () => {
  it('every queue is encrypted, refuses plain HTTP, and has a DLQ unless it is one', () => {
    const queues = ofType(s.resources, 'AWS::SQS::Queue');
    const dlqIds = new Set(queues.map(([, q]) => refId(q.Properties['RedrivePolicy']?.deadLetterTargetArn)).filter(Boolean));
    assert.equal(queues.length, 2 * (tools.length + 2), 'a queue and a DLQ per tool, and for the default and mcp consumers');
    for (const [id, queue] of queues) {
      assert.equal(queue.Properties['SqsManagedSseEnabled'], true, `${id} encrypted`);
      assert.ok(dlqIds.has(id) || queue.Properties['RedrivePolicy'], `${id} has a DLQ or is one`);
      const policies = ofType(s.resources, 'AWS::SQS::QueuePolicy').filter(([, p]) =>
        p.Properties['Queues'].some((q: unknown) => refId(q) === id),
      );
      assert.ok(
        policies.some(([, p]) =>
          p.Properties['PolicyDocument'].Statement.some(
            (st: any) => st.Effect === 'Deny' && st.Condition?.Bool?.['aws:SecureTransport'] === 'false',
          ),
        ),
        `${id} denies requests without TLS (enforceSSL)`,
      );
    }
  });

  it('each tool: DLQ after max_receive_count, visibility timeout = 6 x (timeout_s + 20)', () => {
    for (const tool of tools) {
      const [, queue] = fromOutput(`WorkQueueUrl${tool.pascalName}`);
      const [dlqId] = fromOutput(`DeadLetterQueueUrl${tool.pascalName}`);
      assert.deepEqual(queue.Properties['RedrivePolicy'], {
        deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] },
        maxReceiveCount: tool.maxReceiveCount,
      });
      assert.equal(queue.Properties['VisibilityTimeout'], 6 * (tool.timeoutS + 20), tool.name);
    }
  });

  it('a reply queue per consumer: visibility 30 s, DLQ after 10 receives, 4 days; DLQ keeps 14 days', () => {
    const [, reply] = fromOutput('ReplyQueueUrlDefault');
    const [dlqId, dlq] = fromOutput('ReplyDeadLetterQueueUrlDefault');
    assert.deepEqual(reply.Properties['RedrivePolicy'], { deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] }, maxReceiveCount: 10 });
    assert.equal(reply.Properties['VisibilityTimeout'], 30);
    assert.equal(reply.Properties['MessageRetentionPeriod'], 4 * 24 * 3600);
    assert.equal(dlq.Properties['MessageRetentionPeriod'], 14 * 24 * 3600);
  });

  it('a consumer with a principal: its queue policy lets exactly that principal consume that queue', () => {
    const principal = 'arn:aws:iam::123456789012:role/AgentRole';
    const two = synth({ context: { consumers: JSON.stringify({ default: null, agents: principal }) } });
    const allowsOn = (queueId: string) =>
      ofType(two.resources, 'AWS::SQS::QueuePolicy')
        .filter(([, p]) => p.Properties['Queues'].some((q: unknown) => refId(q) === queueId))
        .flatMap(([, p]) => p.Properties['PolicyDocument'].Statement)
        .filter((st: any) => st.Effect === 'Allow');
    const [agentsQueue] = fromOutput('ReplyQueueUrlAgents', two);
    assert.deepEqual(allowsOn(agentsQueue), [
      {
        Sid: 'AllowConsumerToReceive',
        Effect: 'Allow',
        Principal: { AWS: principal },
        Action: ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage'],
        Resource: { 'Fn::GetAtt': [agentsQueue, 'Arn'] },
      },
    ]);
    // Nothing for the principal anywhere else: not its DLQ, not the other consumer's queue.
    for (const key of ['ReplyDeadLetterQueueUrlAgents', 'ReplyQueueUrlDefault', 'ReplyDeadLetterQueueUrlDefault']) {
      assert.deepEqual(allowsOn(fromOutput(key, two)[0]), [], key);
    }
    assert.equal(ofType(two.resources, 'AWS::SQS::Queue').length, 2 * (tools.length + 3), 'default, agents and mcp');
  });
});

describe('functions', () => {
  it('each function: Rust on provided.al2023 (arm64), its own role and its own log group with retention', () => {
    const functions = ofType(s.resources, 'AWS::Lambda::Function');
    assert.equal(functions.length, tools.length + 4, 'a worker per tool, the dispatcher, the sweeper, the MCP server and its reply settler');
    const roles = new Set<string>();
    const logGroups = new Set<string>();
    for (const [id, fn] of functions) {
      assert.equal(fn.Properties['Runtime'], 'provided.al2023', id);
      assert.equal(fn.Properties['Handler'], 'bootstrap', id);
      assert.deepEqual(fn.Properties['Architectures'], ['arm64'], id);
      const role = refId(fn.Properties['Role'])!;
      const logGroup = refId(fn.Properties['LoggingConfig']?.LogGroup)!;
      assert.equal(s.resources[role]?.Type, 'AWS::IAM::Role', id);
      assert.equal(s.resources[logGroup]?.Type, 'AWS::Logs::LogGroup', id);
      assert.ok(s.resources[logGroup]!.Properties['RetentionInDays'] > 0, `${id} log retention`);
      roles.add(role);
      logGroups.add(logGroup);
    }
    assert.equal(roles.size, functions.length, 'no shared roles');
    assert.equal(logGroups.size, functions.length, 'no shared log groups');
    s.template.resourceCountIs('AWS::IAM::Role', functions.length);
  });

  it('each worker: timeout = timeout_s + 20, memory and environment from the catalog', () => {
    for (const tool of tools) {
      const [, fn] = workerOf(tool.name);
      assert.equal(fn.Properties['Timeout'], tool.timeoutS + 20, tool.name);
      assert.equal(fn.Properties['MemorySize'], tool.memoryMb);
      const env = fn.Properties['Environment'].Variables;
      assert.deepEqual(Object.keys(env).sort(), ['ASYNCTOOLS_REPLY_QUEUES', 'ASYNCTOOLS_TABLE', 'ASYNCTOOLS_TOOL', 'ASYNCTOOLS_WORK_QUEUE']);
      assert.deepEqual(env.ASYNCTOOLS_TABLE, { Ref: fromOutput('TaskTableName')[0] });
      assert.equal(env.ASYNCTOOLS_TOOL, tool.name);
      assert.deepEqual(env.ASYNCTOOLS_WORK_QUEUE, { Ref: fromOutput(`WorkQueueUrl${tool.pascalName}`)[0] });
      assert.deepEqual(resolveJsonEnv(env.ASYNCTOOLS_REPLY_QUEUES), urlsOf('ReplyQueueUrl', DEFAULT_CONSUMERS));
    }
  });

  it('a tool with timeout_s = 880 gets the Lambda maximum of 900 s', () => {
    const slow = synth({ stackProps: { catalogPath: writeCatalog(`version = 1\n${toolToml({ name: 'slow', timeout_s: 880 })}`) } });
    const [, fn] = single(
      ofType(slow.resources, 'AWS::Lambda::Function').filter(([, f]) => f.Properties['Environment'].Variables.ASYNCTOOLS_TOOL === 'slow'),
      'slow worker',
    );
    assert.equal(fn.Properties['Timeout'], 900);
    assert.equal(fromOutput('WorkQueueUrlSlow', slow)[1].Properties['VisibilityTimeout'], 6 * 900);
  });

  it('each worker reads its own queue: batch size, max concurrency, ReportBatchItemFailures', () => {
    const mappings = ofType(s.resources, 'AWS::Lambda::EventSourceMapping');
    assert.equal(mappings.length, tools.length + 1, 'a worker per tool, and the MCP reply settler (mcp.test.ts)');
    for (const tool of tools) {
      const [fnId] = workerOf(tool.name);
      const [queueId] = fromOutput(`WorkQueueUrl${tool.pascalName}`);
      const mine = mappings.filter(([, m]) => refId(m.Properties['FunctionName']) === fnId);
      assert.equal(mine.length, 1, tool.name);
      assert.deepEqual(mine[0]![1].Properties, {
        FunctionName: { Ref: fnId },
        EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
        BatchSize: tool.batchSize,
        ScalingConfig: { MaximumConcurrency: tool.maxConcurrency },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    }
  });

  it('-c taskIndexProjection=all keeps whole records in the indexes (a stack from before keys-only); anything else is refused', () => {
    const all = synth({ context: { taskIndexProjection: 'all' } });
    const [[, table]] = ofType(all.resources, 'AWS::DynamoDB::Table') as [[string, Resource]];
    const projections = table.Properties['GlobalSecondaryIndexes'].map((g: any) => g.Projection.ProjectionType);
    assert.deepEqual(projections, ['ALL', 'ALL', 'ALL']);
    assert.throws(
      () => synth({ context: { taskIndexProjection: 'include' } }),
      (e: unknown) => e instanceof ContextError && e.message.includes('"taskIndexProjection"') && e.message.includes('"include" is neither "keys" nor "all"'),
    );
  });

  it('-c ownerScope=role makes the role the owner for the dispatcher and the MCP server; anything else is refused', () => {
    const role = synth({ context: { ownerScope: 'role' } });
    const [, fn] = dispatcher(role);
    assert.equal(fn.Properties['Environment'].Variables.ASYNCTOOLS_OWNER_SCOPE, 'role');
    const mcp = ofType(role.resources, 'AWS::Lambda::Function').filter(([, f]) => f.Properties['Environment']?.Variables?.ASYNCTOOLS_MCP_CONSUMER === 'mcp');
    assert.equal(mcp.length, 1);
    assert.equal(mcp[0]![1].Properties['Environment'].Variables.ASYNCTOOLS_OWNER_SCOPE, 'role');
    assert.throws(
      () => synth({ context: { ownerScope: 'user' } }),
      (e: unknown) => e instanceof ContextError && e.message.includes('"ownerScope"') && e.message.includes('"user" is neither "session" nor "role"'),
    );
  });

  it('-c maxOpenTasks sets ASYNCTOOLS_MAX_OPEN_TASKS of the dispatcher and the MCP server (default 100, or off); anything else is refused', () => {
    const openTasksOf = (from: Synthesized) => {
      const mcp = single(
        ofType(from.resources, 'AWS::Lambda::Function').filter(([, f]) => f.Properties['Environment']?.Variables?.ASYNCTOOLS_MCP_CONSUMER === 'mcp'),
        'MCP server function',
      );
      return [dispatcher(from), mcp].map(([, fn]) => fn.Properties['Environment'].Variables.ASYNCTOOLS_MAX_OPEN_TASKS);
    };
    assert.deepEqual(openTasksOf(s), ['100', '100'], 'the default');
    for (const [value, expected] of [['off', 'off'], ['25', '25'], [25, '25'], ['1', '1'], [1000, '1000']] as const) {
      assert.deepEqual(openTasksOf(synth({ context: { maxOpenTasks: value } })), [expected, expected], String(value));
    }
    // Only the functions that take places read it.
    const holders = ofType(s.resources, 'AWS::Lambda::Function').filter(([, f]) => f.Properties['Environment']?.Variables?.ASYNCTOOLS_MAX_OPEN_TASKS !== undefined);
    assert.equal(holders.length, 2);
    for (const bad of ['0', '1001', 'lots', 0, 1001, 2.5, '-3', '', 'OFF', true]) {
      assert.throws(
        () => synth({ context: { maxOpenTasks: bad } }),
        (e: unknown) =>
          e instanceof ContextError &&
          e.message.includes('"maxOpenTasks"') &&
          e.message.includes(`${JSON.stringify(bad)} is neither "off" nor a whole number in 1..=1000`),
        String(bad),
      );
    }
  });

  it('dispatcher: environment (work and reply queues as JSON, TTL days), reserved concurrency 100, Function URL with AWS_IAM', () => {
    const [fnId, fn] = dispatcher();
    const env = fn.Properties['Environment'].Variables;
    assert.deepEqual(Object.keys(env).sort(), [
      'ASYNCTOOLS_MAX_OPEN_TASKS', 'ASYNCTOOLS_OWNER_SCOPE', 'ASYNCTOOLS_REPLY_QUEUES', 'ASYNCTOOLS_TABLE', 'ASYNCTOOLS_TASK_TTL_DAYS', 'ASYNCTOOLS_WORK_QUEUES',
    ]);
    assert.deepEqual(env.ASYNCTOOLS_TABLE, { Ref: fromOutput('TaskTableName')[0] });
    assert.equal(env.ASYNCTOOLS_TASK_TTL_DAYS, '7');
    assert.equal(env.ASYNCTOOLS_OWNER_SCOPE, 'session', 'each caller is their own owner by default');
    assert.equal(env.ASYNCTOOLS_MAX_OPEN_TASKS, '100', 'each principal has at most 100 open tasks by default');
    assert.deepEqual(resolveJsonEnv(env.ASYNCTOOLS_WORK_QUEUES), urlsOf('WorkQueueUrl', tools));
    assert.deepEqual(resolveJsonEnv(env.ASYNCTOOLS_REPLY_QUEUES), urlsOf('ReplyQueueUrl', DEFAULT_CONSUMERS));
    assert.equal(fn.Properties['ReservedConcurrentExecutions'], 100);

    const urls = ofType(s.resources, 'AWS::Lambda::Url').filter(([, u]) => refId(u.Properties['TargetFunctionArn']) === fnId);
    assert.equal(urls.length, 1);
    assert.equal(urls[0]![1].Properties['InvokeMode'], undefined, 'buffered (the MCP server streams, mcp.test.ts)');
    assert.equal(urls[0]![1].Properties['AuthType'], 'AWS_IAM');
    assert.deepEqual(urls[0]![1].Properties['TargetFunctionArn'], { 'Fn::GetAtt': [fnId, 'Arn'] });
    assert.equal(refId(out('DispatcherUrl')), urls[0]![0]);
  });

  it('dispatcher: reserved concurrency from -c dispatcherReservedConcurrency, refused outside 1..=1000', () => {
    for (const [value, expected] of [['250', 250], [1, 1], ['1000', 1000]] as const) {
      const [, fn] = dispatcher(synth({ context: { dispatcherReservedConcurrency: value } }));
      assert.equal(fn.Properties['ReservedConcurrentExecutions'], expected, String(value));
    }
    for (const bad of ['0', '1001', 'lots', '2.5', 7.5, '-3', '']) {
      assert.throws(
        () => synth({ context: { dispatcherReservedConcurrency: bad } }),
        (e: unknown) =>
          e instanceof ContextError && e.message.includes('"dispatcherReservedConcurrency"') && e.message.includes(`${JSON.stringify(bad)} is not an integer in 1..=1000`),
        String(bad),
      );
    }
  });

  it('sweeper: every minute by an EventBridge rule, reserved concurrency 1, 60 s, 256 MB, its environment', () => {
    const [fnId, fn] = sweeper();
    assert.equal(fn.Properties['ReservedConcurrentExecutions'], 1);
    assert.equal(fn.Properties['Timeout'], 60);
    assert.equal(fn.Properties['MemorySize'], 256);
    const env = fn.Properties['Environment'].Variables;
    assert.deepEqual(Object.keys(env).sort(), [
      'ASYNCTOOLS_REPLY_QUEUES', 'ASYNCTOOLS_STACK_NAME', 'ASYNCTOOLS_SWEEP_OLDER_THAN_S', 'ASYNCTOOLS_TABLE', 'ASYNCTOOLS_WORK_QUEUES',
    ]);
    assert.deepEqual(env.ASYNCTOOLS_TABLE, { Ref: fromOutput('TaskTableName')[0] });
    assert.equal(env.ASYNCTOOLS_SWEEP_OLDER_THAN_S, '60');
    assert.equal(env.ASYNCTOOLS_STACK_NAME, 'AsyncTools');
    assert.deepEqual(resolveJsonEnv(env.ASYNCTOOLS_WORK_QUEUES), urlsOf('WorkQueueUrl', tools));
    assert.deepEqual(resolveJsonEnv(env.ASYNCTOOLS_REPLY_QUEUES), urlsOf('ReplyQueueUrl', DEFAULT_CONSUMERS));

    const [ruleId, rule] = single(ofType(s.resources, 'AWS::Events::Rule'), 'EventBridge rule');
    assert.equal(rule.Properties['ScheduleExpression'], 'rate(1 minute)');
    assert.equal(rule.Properties['State'], 'ENABLED');
    assert.deepEqual(rule.Properties['Targets'].map((t: any) => t.Arn), [{ 'Fn::GetAtt': [fnId, 'Arn'] }]);
    // EventBridge may invoke it, from this rule only.
    const [, permission] = single(ofType(s.resources, 'AWS::Lambda::Permission'), 'Lambda permission');
    assert.deepEqual(permission.Properties, {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [fnId, 'Arn'] },
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [ruleId, 'Arn'] },
    });
    // A missed run is not retried: the next one comes a minute later.
    s.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: fnId },
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 60,
    });
  });
});

describe('operations', () => {
  it('alarm when any DLQ holds a message', () => {
    const dlqKeys = Object.keys(s.outputs).filter((k) => k.includes('DeadLetterQueueUrl'));
    assert.equal(dlqKeys.length, tools.length + 2, 'per tool, and for the default and mcp consumers');
    for (const key of dlqKeys) {
      const found = alarmsOn('ApproximateNumberOfMessagesVisible', 'QueueName', fromOutput(key)[0]);
      assert.equal(found.length, 1, key);
      assert.equal(found[0]!['Threshold'], 0);
      assert.equal(found[0]!['ComparisonOperator'], 'GreaterThanThreshold');
    }
  });

  it('alarm on the age of the oldest message of each work queue', () => {
    for (const tool of tools) {
      const found = alarmsOn('ApproximateAgeOfOldestMessage', 'QueueName', fromOutput(`WorkQueueUrl${tool.pascalName}`)[0]);
      assert.equal(found.length, 1, tool.name);
      assert.ok(found[0]!['Threshold'] >= 6 * (tool.timeoutS + 20), `${tool.name}: no alarm before a retry is even possible`);
    }
  });

  it('alarms on errors of every function and throttles of the dispatcher, MCP server and workers, all notifying the alarm topic', () => {
    // The sweeper (reserved concurrency 1, one run a minute) and the MCP reply settler (maximum
    // concurrency 2 on its event source) are throttled by design.
    const [sweeperId] = sweeper();
    const [settlerId] = functionWithEnv('ASYNCTOOLS_CONSUMER', 'mcp')[0]!;
    for (const [fnId] of ofType(s.resources, 'AWS::Lambda::Function')) {
      assert.equal(alarmsOn('Errors', 'FunctionName', fnId).length, 1, `${fnId} errors`);
      assert.equal(alarmsOn('Throttles', 'FunctionName', fnId).length, [sweeperId, settlerId].includes(fnId) ? 0 : 1, `${fnId} throttles`);
    }
    const topic = refId(out('AlarmTopicArn'));
    assert.equal(s.resources[topic!]?.Type, 'AWS::SNS::Topic');
    for (const alarm of alarms()) {
      assert.deepEqual(alarm['AlarmActions'], [{ Ref: topic }]);
      assert.deepEqual(alarm['OKActions'], [{ Ref: topic }]);
      const expected = alarm['MetricName'] === 'OldestOpenTaskAgeSeconds' ? 'breaching' : 'notBreaching';
      assert.equal(alarm['TreatMissingData'], expected, alarm['MetricName']);
    }
    assert.equal(alarms().length, 3 + 4 * tools.length + 2 + 3 + 3 + 1, 'dispatcher 3, per tool 4, per consumer 1 (default, mcp), sweeper 3, MCP server 3, reply settler 1');
  });

  it('dispatcher: alarm on any Function URL 5xx answer in 5 minutes', () => {
    const [fnId] = dispatcher();
    const [alarm] = alarmsOn('Url5xxCount', 'FunctionName', fnId);
    assert.deepEqual(
      {
        Namespace: alarm?.['Namespace'],
        Dimensions: alarm?.['Dimensions'],
        Statistic: alarm?.['Statistic'],
        Period: alarm?.['Period'],
        Threshold: alarm?.['Threshold'],
        ComparisonOperator: alarm?.['ComparisonOperator'],
        EvaluationPeriods: alarm?.['EvaluationPeriods'],
      },
      {
        Namespace: 'AWS/Lambda',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId } }],
        Statistic: 'Sum',
        Period: 300,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 1,
      },
    );
  });

  it('sweeper: alarm when the oldest open task passes 15 minutes, or the sweeper stops reporting', () => {
    const found = alarms().filter((a) => a['MetricName'] === 'OldestOpenTaskAgeSeconds');
    assert.equal(found.length, 1);
    const { AlarmActions, OKActions, AlarmDescription, ...alarm } = found[0]!;
    assert.ok(AlarmActions && OKActions && AlarmDescription);
    assert.deepEqual(alarm, {
      Namespace: 'AsyncTools',
      MetricName: 'OldestOpenTaskAgeSeconds',
      Dimensions: [{ Name: 'Stack', Value: 'AsyncTools' }],
      Statistic: 'Maximum',
      Period: 60,
      Threshold: 900,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      TreatMissingData: 'breaching',
    });
  });

  it('sweeper: alarm when some open task could not be repaired in 3 runs in a row', () => {
    const found = alarms().filter((a) => a['MetricName'] === 'UnfixableTasks');
    assert.equal(found.length, 1);
    const { AlarmActions, OKActions, AlarmDescription, ...alarm } = found[0]!;
    assert.ok(AlarmActions && OKActions);
    assert.ok(String(AlarmDescription).includes('tasks stuck'), AlarmDescription);
    assert.deepEqual(alarm, {
      Namespace: 'AsyncTools',
      MetricName: 'UnfixableTasks',
      Dimensions: [{ Name: 'Stack', Value: 'AsyncTools' }],
      Statistic: 'Maximum',
      Period: 60,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      TreatMissingData: 'notBreaching',
    });
  });

  it('dashboard with queue depth, task latency, error, reply queue and sweeper panels', () => {
    const dashboards = ofType(s.resources, 'AWS::CloudWatch::Dashboard');
    assert.equal(dashboards.length, 1);
    const body = JSON.stringify(dashboards[0]![1].Properties['DashboardBody']);
    for (const text of [
      'Queue depth', 'Task latency', 'Errors', 'Throttles', 'Dead-letter queues', 'ApproximateAgeOfOldestMessage', 'Duration',
      'replies to default waiting', 'replies to default DLQ', 'OldestOpenTaskAgeSeconds', 'RequeuedTasks', 'RepublishedTasks',
      'ResultTooLargeTasks', 'UnfixableTasks', 'Url5xxCount',
    ]) {
      assert.ok(body.includes(text), `dashboard shows ${text}`);
    }
    for (const tool of tools) assert.ok(body.includes(`${tool.name} waiting`), `dashboard has ${tool.name}`);
    assert.ok(!body.includes('results'), 'no results queue left on the dashboard');
  });
});

describe('outputs', () => {
  it('has exactly the keys the Rust CLI reads, plus Region and AlarmTopicArn', () => {
    const expected = [
      'TaskTableName', 'DispatcherUrl', 'DispatcherArn', 'SweeperArn', 'Consumers',
      ...tools.flatMap((t) => [`WorkQueueUrl${t.pascalName}`, `DeadLetterQueueUrl${t.pascalName}`]),
      'ReplyQueueUrlDefault', 'ReplyDeadLetterQueueUrlDefault', 'ReplyQueueUrlMcp', 'ReplyDeadLetterQueueUrlMcp',
      'McpUrl', 'McpFunctionArn',
      'Region', 'AlarmTopicArn',
    ];
    assert.deepEqual(Object.keys(s.outputs).sort(), expected.sort());
    assert.deepEqual(['WorkQueueUrlSentiment', 'WorkQueueUrlResearch', 'WorkQueueUrlSynthetic'].filter((k) => !(k in s.outputs)), []);
    assert.equal(s.stack.stackName, 'AsyncTools');
    assert.equal(s.outputs.Consumers?.Value, 'default,mcp');
  });

  it('a reply queue and its DLQ per consumer, named in PascalCase', () => {
    const three = synth({ context: { consumers: 'default, agents,batch-jobs' } });
    const keys = Object.keys(three.outputs).filter((k) => k.startsWith('Reply')).sort();
    assert.deepEqual(keys, [
      'ReplyDeadLetterQueueUrlAgents', 'ReplyDeadLetterQueueUrlBatchJobs', 'ReplyDeadLetterQueueUrlDefault', 'ReplyDeadLetterQueueUrlMcp',
      'ReplyQueueUrlAgents', 'ReplyQueueUrlBatchJobs', 'ReplyQueueUrlDefault', 'ReplyQueueUrlMcp',
    ]);
    assert.equal(three.outputs.Consumers?.Value, 'default,agents,batch-jobs,mcp', 'mcp is appended');
    const names = [
      { name: 'default', pascalName: 'Default' }, { name: 'agents', pascalName: 'Agents' }, { name: 'batch-jobs', pascalName: 'BatchJobs' },
      { name: 'mcp', pascalName: 'Mcp' },
    ];
    for (const [id, fn] of [dispatcher(three), sweeper(three)]) {
      assert.deepEqual(resolveJsonEnv(fn.Properties['Environment'].Variables.ASYNCTOOLS_REPLY_QUEUES), urlsOf('ReplyQueueUrl', names, three), id);
    }
    assert.equal(alarmsIn(three).length, 3 + 4 * tools.length + 4 + 3 + 3 + 1, 'per consumer 1 (4), sweeper 3');
  });

  it('each output holds the right kind of value', () => {
    assert.equal(fromOutput('TaskTableName')[1].Type, 'AWS::DynamoDB::Table');
    for (const key of ['DispatcherArn', 'SweeperArn']) {
      assert.equal(fromOutput(key)[1].Type, 'AWS::Lambda::Function');
      assert.deepEqual(out(key), { 'Fn::GetAtt': [fromOutput(key)[0], 'Arn'] });
    }
    assert.deepEqual(out('DispatcherUrl'), { 'Fn::GetAtt': [fromOutput('DispatcherUrl')[0], 'FunctionUrl'] });
    for (const key of Object.keys(s.outputs).filter((k) => k.includes('QueueUrl'))) {
      assert.equal(fromOutput(key)[1].Type, 'AWS::SQS::Queue', key);
      assert.ok((out(key) as { Ref?: string }).Ref, `${key} is the queue's Ref (its URL)`);
    }
  });
});
