// Template assertions for the contract with workers/ and the Rust CLI, and for the standards the
// stack promises (encryption, DLQs, visibility timeouts, own roles and log groups, alarms, outputs).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import type { ToolSpec } from '../lib/catalog';
import { ofType, refId, type Resource, single, synth, type Synthesized } from './helpers';

let s: Synthesized;
let tools: readonly ToolSpec[];
before(() => {
  s = synth();
  tools = s.stack.catalog.tools;
});

const out = (key: string) => s.outputs[key]?.Value;
/** The resource an output's `{ Ref }` / `{ Fn::GetAtt }` names. */
const fromOutput = (key: string): [string, Resource] => {
  const id = refId(out(key));
  assert.ok(id && s.resources[id], `output ${key} does not reference a resource: ${JSON.stringify(out(key))}`);
  return [id, s.resources[id]];
};
const functionWithEnv = (name: string, value: string) =>
  ofType(s.resources, 'AWS::Lambda::Function').filter(([, r]) => r.Properties['Environment']?.Variables?.[name] === value);
const workerOf = (tool: string): [string, Resource] => {
  const found = functionWithEnv('ASYNCTOOLS_TOOL', tool);
  return single(found, `worker function for ${tool}`);
};
const dispatcher = (): [string, Resource] => fromOutput('DispatcherArn');

describe('task table', () => {
  it('has task_id as key, the by_conversation GSI, TTL, on-demand billing, PITR and encryption', () => {
    s.template.resourceCountIs('AWS::DynamoDB::Table', 1);
    s.template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'task_id', KeyType: 'HASH' }],
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: 'task_id', AttributeType: 'S' },
        { AttributeName: 'conversation_id', AttributeType: 'S' },
        { AttributeName: 'created_at_ms', AttributeType: 'N' },
      ]),
      GlobalSecondaryIndexes: [
        {
          IndexName: 'by_conversation',
          KeySchema: [
            { AttributeName: 'conversation_id', KeyType: 'HASH' },
            { AttributeName: 'created_at_ms', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
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
    assert.equal(queues.length, 2 * (tools.length + 1), 'a queue and a DLQ per tool, and for the results');
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

  it('each tool: DLQ after max_receive_count, visibility timeout >= 6 x timeout_s', () => {
    for (const tool of tools) {
      const [, queue] = fromOutput(`WorkQueueUrl${tool.pascalName}`);
      const [dlqId] = fromOutput(`DeadLetterQueueUrl${tool.pascalName}`);
      assert.deepEqual(queue.Properties['RedrivePolicy'], {
        deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] },
        maxReceiveCount: tool.maxReceiveCount,
      });
      const visibility = queue.Properties['VisibilityTimeout'];
      assert.ok(visibility >= 6 * tool.timeoutS, `${tool.name}: visibility ${visibility} < 6 x ${tool.timeoutS}`);
    }
  });

  it('results queue has its own DLQ, and survives watchers peeking at other conversations', () => {
    const [, results] = fromOutput('ResultsQueueUrl');
    const [dlqId] = fromOutput('ResultsDeadLetterQueueUrl');
    // As `asynctools local up` creates it (workers/src/aws/provision.rs): each look by a watcher of
    // another conversation counts as a receive, so a low count would dead-letter live results.
    assert.deepEqual(results.Properties['RedrivePolicy'], {
      deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] },
      maxReceiveCount: 1000,
    });
    assert.equal(results.Properties['VisibilityTimeout'], 30);
  });
});

describe('functions', () => {
  it('each function: Rust on provided.al2023 (arm64), its own role and its own log group with retention', () => {
    const functions = ofType(s.resources, 'AWS::Lambda::Function');
    assert.equal(functions.length, tools.length + 1);
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

  it('each worker: timeout, memory and environment from the catalog', () => {
    for (const tool of tools) {
      const [, fn] = workerOf(tool.name);
      assert.equal(fn.Properties['Timeout'], tool.timeoutS);
      assert.equal(fn.Properties['MemorySize'], tool.memoryMb);
      const [tableId] = fromOutput('TaskTableName');
      const [resultsId] = fromOutput('ResultsQueueUrl');
      const [queueId] = fromOutput(`WorkQueueUrl${tool.pascalName}`);
      assert.deepEqual(fn.Properties['Environment'].Variables, {
        ASYNCTOOLS_TABLE: { Ref: tableId },
        ASYNCTOOLS_RESULTS_QUEUE: { Ref: resultsId },
        ASYNCTOOLS_TOOL: tool.name,
        ASYNCTOOLS_WORK_QUEUE: { Ref: queueId },
      });
    }
  });

  it('each worker reads its own queue: batch size, max concurrency, ReportBatchItemFailures', () => {
    const mappings = ofType(s.resources, 'AWS::Lambda::EventSourceMapping');
    assert.equal(mappings.length, tools.length);
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

  it('dispatcher: environment with every work queue as JSON, TTL days, Function URL with AWS_IAM', () => {
    const [fnId, fn] = dispatcher();
    const env = fn.Properties['Environment'].Variables;
    assert.deepEqual(env.ASYNCTOOLS_TABLE, { Ref: fromOutput('TaskTableName')[0] });
    assert.deepEqual(env.ASYNCTOOLS_RESULTS_QUEUE, { Ref: fromOutput('ResultsQueueUrl')[0] });
    assert.equal(env.ASYNCTOOLS_TASK_TTL_DAYS, '7');
    // Resolve the Fn::Join with placeholder URLs and parse it as CloudFormation will produce it.
    const [sep, parts] = env.ASYNCTOOLS_WORK_QUEUES['Fn::Join'] as [string, unknown[]];
    const json = parts.map((p) => (typeof p === 'string' ? p : `https://sqs/${refId(p)}`)).join(sep);
    assert.deepEqual(
      JSON.parse(json),
      Object.fromEntries(tools.map((t) => [t.name, `https://sqs/${fromOutput(`WorkQueueUrl${t.pascalName}`)[0]}`])),
    );

    const urls = ofType(s.resources, 'AWS::Lambda::Url');
    assert.equal(urls.length, 1);
    assert.equal(urls[0]![1].Properties['AuthType'], 'AWS_IAM');
    assert.deepEqual(urls[0]![1].Properties['TargetFunctionArn'], { 'Fn::GetAtt': [fnId, 'Arn'] });
    assert.equal(refId(out('DispatcherUrl')), urls[0]![0]);
  });
});

describe('permissions (what each function may do)', () => {
  const statementsOf = (fnId: string): any[] => {
    const role = refId(s.resources[fnId]!.Properties['Role']);
    return ofType(s.resources, 'AWS::IAM::Policy')
      .filter(([, p]) => p.Properties['Roles'].some((r: unknown) => refId(r) === role))
      .flatMap(([, p]) => p.Properties['PolicyDocument'].Statement);
  };
  const actionsOn = (statements: any[], resource: unknown): string[] =>
    statements
      .filter((st) => [st.Resource].flat().some((r: unknown) => JSON.stringify(r) === JSON.stringify(resource)))
      .flatMap((st) => [st.Action].flat())
      .sort();
  const arn = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });

  it('worker: items on the table (no query), consume its own queue, send results, write its logs', () => {
    const [tableId] = fromOutput('TaskTableName');
    const [resultsId] = fromOutput('ResultsQueueUrl');
    for (const tool of tools) {
      const [fnId, fn] = workerOf(tool.name);
      const statements = statementsOf(fnId);
      assert.deepEqual(actionsOn(statements, arn(tableId)), ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']);
      assert.deepEqual(actionsOn(statements, arn(fromOutput(`WorkQueueUrl${tool.pascalName}`)[0])), [
        'sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage',
      ]);
      assert.deepEqual(actionsOn(statements, arn(resultsId)), ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage']);
      assert.deepEqual(actionsOn(statements, arn(refId(fn.Properties['LoggingConfig'].LogGroup)!)), ['logs:CreateLogStream', 'logs:PutLogEvents']);
      // Nothing else: no other queue, no index, no other log group.
      assert.equal(statements.flatMap((st) => [st.Resource].flat()).length, 4, `${tool.name}: ${JSON.stringify(statements)}`);
    }
  });

  it('dispatcher: items and query on the table, query on the named GSI, send to every work queue and results', () => {
    const [fnId] = dispatcher();
    const [tableId] = fromOutput('TaskTableName');
    const statements = statementsOf(fnId);
    assert.deepEqual(actionsOn(statements, arn(tableId)), [
      'dynamodb:ConditionCheckItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem',
    ]);
    assert.deepEqual(actionsOn(statements, { 'Fn::Join': ['', [arn(tableId), '/index/by_conversation']] }), ['dynamodb:Query']);
    for (const key of [...tools.map((t) => `WorkQueueUrl${t.pascalName}`), 'ResultsQueueUrl']) {
      assert.ok(actionsOn(statements, arn(fromOutput(key)[0])).includes('sqs:SendMessage'), key);
    }
    assert.ok(!JSON.stringify(statements).includes('sqs:ReceiveMessage'), 'the dispatcher consumes no queue');
  });
});

describe('operations', () => {
  const alarms = () => ofType(s.resources, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
  const alarmsOn = (metric: string, dimension: string, id: string) =>
    alarms().filter((a) => a['MetricName'] === metric && a['Dimensions']?.some((d: any) => d.Name === dimension && refId(d.Value) === id));

  it('alarm when any DLQ holds a message', () => {
    const dlqKeys = [...tools.map((t) => `DeadLetterQueueUrl${t.pascalName}`), 'ResultsDeadLetterQueueUrl'];
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
      assert.ok(found[0]!['Threshold'] >= 6 * tool.timeoutS, `${tool.name}: no alarm before a retry is even possible`);
    }
  });

  it('alarms on errors and throttles of every function, all notifying the alarm topic', () => {
    for (const [fnId] of ofType(s.resources, 'AWS::Lambda::Function')) {
      assert.equal(alarmsOn('Errors', 'FunctionName', fnId).length, 1, `${fnId} errors`);
      assert.equal(alarmsOn('Throttles', 'FunctionName', fnId).length, 1, `${fnId} throttles`);
    }
    const topic = refId(out('AlarmTopicArn'));
    assert.equal(s.resources[topic!]?.Type, 'AWS::SNS::Topic');
    for (const alarm of alarms()) {
      assert.deepEqual(alarm['AlarmActions'], [{ Ref: topic }]);
      assert.equal(alarm['TreatMissingData'], 'notBreaching');
    }
    assert.equal(alarms().length, 2 + 4 * tools.length + 1, 'dispatcher 2, per tool 4, results DLQ 1');
  });

  it('dashboard with queue depth, task latency and error panels', () => {
    const dashboards = ofType(s.resources, 'AWS::CloudWatch::Dashboard');
    assert.equal(dashboards.length, 1);
    const body = JSON.stringify(dashboards[0]![1].Properties['DashboardBody']);
    for (const text of ['Queue depth', 'Task latency', 'Errors', 'Throttles', 'Dead-letter queues', 'ApproximateAgeOfOldestMessage', 'Duration']) {
      assert.ok(body.includes(text), `dashboard shows ${text}`);
    }
    for (const tool of tools) assert.ok(body.includes(`${tool.name} waiting`), `dashboard has ${tool.name}`);
  });
});

describe('outputs', () => {
  it('has exactly the keys the Rust CLI reads, plus Region and AlarmTopicArn', () => {
    const expected = [
      'TaskTableName', 'ResultsQueueUrl', 'ResultsDeadLetterQueueUrl', 'DispatcherUrl', 'DispatcherArn',
      ...tools.flatMap((t) => [`WorkQueueUrl${t.pascalName}`, `DeadLetterQueueUrl${t.pascalName}`]),
      'Region', 'AlarmTopicArn',
    ];
    assert.deepEqual(Object.keys(s.outputs).sort(), expected.sort());
    assert.deepEqual(['WorkQueueUrlSentiment', 'WorkQueueUrlResearch', 'WorkQueueUrlSynthetic'].filter((k) => !(k in s.outputs)), []);
    assert.equal(s.stack.stackName, 'AsyncTools');
  });

  it('each output holds the right kind of value', () => {
    assert.equal(fromOutput('TaskTableName')[1].Type, 'AWS::DynamoDB::Table');
    assert.equal(fromOutput('DispatcherArn')[1].Type, 'AWS::Lambda::Function');
    assert.deepEqual(out('DispatcherArn'), { 'Fn::GetAtt': [fromOutput('DispatcherArn')[0], 'Arn'] });
    assert.deepEqual(out('DispatcherUrl'), { 'Fn::GetAtt': [fromOutput('DispatcherUrl')[0], 'FunctionUrl'] });
    for (const key of Object.keys(s.outputs).filter((k) => k.includes('QueueUrl'))) {
      assert.equal(fromOutput(key)[1].Type, 'AWS::SQS::Queue', key);
      assert.ok((out(key) as { Ref?: string }).Ref, `${key} is the queue's Ref (its URL)`);
    }
  });
});
