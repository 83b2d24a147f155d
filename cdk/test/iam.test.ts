// Walks every policy document in the template (identity policies, trust policies, queue, topic and
// key policies) and fails on `Action: "*"`, on managed policies, and on any `*` in a resource that
// is not on the allow-list below. Then checks the exact grants of each kind of function.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  ALL_KINDS,
  allKindsCatalogToml,
  grantsOf,
  ofType,
  outputId,
  type Resource,
  roleStatements,
  stackArn,
  synth,
  type Synthesized,
  workerOf,
  writeCatalog,
} from './helpers';

/**
 * The only places a `*` resource is allowed, each because the AWS API has nothing narrower.
 * Keyed by the resource type holding the policy.
 */
const STAR_RESOURCE_ALLOWED: Record<string, string> = {
  // In a KMS key policy, Resource "*" means "this key"; a key policy cannot name any other resource.
  'AWS::KMS::Key': 'key policy: "*" is the key itself',
};

/**
 * The one `?` wildcard allowed in a resource: the 6 random characters Secrets Manager appends to a
 * secret's name in its ARN (`...:secret:<name>-??????`), which make a name's ARN the one secret.
 */
const SECRET_SUFFIX = /:secret:[A-Za-z0-9/_+=.@-]+-\?{6}$/;

interface Statement {
  Effect: string;
  Action?: string | string[];
  NotAction?: unknown;
  Resource?: unknown;
  NotResource?: unknown;
  Principal?: unknown;
}

/** Every policy document (any object with a `Statement` list) inside a resource's properties. */
function policyDocuments(value: unknown, found: { Statement: Statement[] }[] = []): { Statement: Statement[] }[] {
  if (Array.isArray(value)) value.forEach((v) => policyDocuments(v, found));
  else if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    if (Array.isArray(obj['Statement'])) found.push(obj as { Statement: Statement[] });
    else Object.values(obj).forEach((v) => policyDocuments(v, found));
  }
  return found;
}

/** All string leaves of a value (through Fn::Join, Fn::Sub, arrays...). */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

/** The problems with the policies in a set of resources; empty when all is well. */
export function policyProblems(resources: Record<string, Resource>): { problems: string[]; statements: number } {
  const problems: string[] = [];
  let statements = 0;
  for (const [id, resource] of Object.entries(resources)) {
    if (resource.Type === 'AWS::IAM::ManagedPolicy') problems.push(`${id}: a managed policy`);
    if (resource.Properties?.['ManagedPolicyArns']) problems.push(`${id}: attaches managed policies ${JSON.stringify(resource.Properties['ManagedPolicyArns'])}`);
    for (const doc of policyDocuments(resource.Properties)) {
      for (const st of doc.Statement) {
        statements++;
        const where = `${id} (${resource.Type}) ${JSON.stringify(st).slice(0, 160)}`;
        if ([st.Action].flat().includes('*')) problems.push(`${where}: Action "*"`);
        if (st.Effect === 'Allow' && st.NotAction) problems.push(`${where}: Allow with NotAction`);
        if (st.Effect === 'Allow' && st.NotResource) problems.push(`${where}: Allow with NotResource`);
        if (st.Effect === 'Allow' && strings(st.Principal).includes('*')) problems.push(`${where}: Allow to Principal "*"`);
        const wildcard = strings(st.Resource).some((r) => r.includes('*'));
        if (wildcard && !(resource.Type in STAR_RESOURCE_ALLOWED)) problems.push(`${where}: "*" in Resource`);
        // `?` matches one character: allowed only as a Secrets Manager ARN's random suffix.
        if (strings(st.Resource).some((r) => r.includes('?') && !SECRET_SUFFIX.test(r))) problems.push(`${where}: "?" in Resource`);
      }
    }
  }
  return { problems, statements };
}

describe('IAM policies', () => {
  it('no Action "*", no managed policy, no "*" resource off the allow-list', () => {
    const { resources } = synth();
    const { problems, statements } = policyProblems(resources);
    assert.deepEqual(problems, []);
    // Guard against a walker that finds nothing: roles, their policies and resource policies.
    assert.ok(statements >= 20, `only ${statements} statements found`);
  });

  it('the walker itself catches each kind of violation', () => {
    const bad = (Type: string, Properties: Record<string, unknown>): Record<string, Resource> => ({ X: { Type, Properties } });
    const doc = (st: Partial<Statement>) => ({ PolicyDocument: { Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::b/k', ...st }] } });
    assert.match(policyProblems(bad('AWS::IAM::Policy', doc({ Action: ['sqs:SendMessage', '*'] }))).problems[0] ?? '', /Action "\*"/);
    assert.match(policyProblems(bad('AWS::IAM::Policy', doc({ Resource: '*' }))).problems[0] ?? '', /"\*" in Resource/);
    assert.match(
      policyProblems(bad('AWS::IAM::Policy', doc({ Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['T', 'Arn'] }, '/index/*']] } }))).problems[0] ?? '',
      /"\*" in Resource/,
    );
    assert.match(policyProblems(bad('AWS::IAM::Role', { ManagedPolicyArns: ['arn:aws:iam::aws:policy/AdministratorAccess'] })).problems[0] ?? '', /managed policies/);
    assert.match(policyProblems(bad('AWS::IAM::ManagedPolicy', {})).problems[0] ?? '', /a managed policy/);
    assert.match(policyProblems(bad('AWS::SQS::QueuePolicy', doc({ Principal: { AWS: '*' } }))).problems[0] ?? '', /Principal "\*"/);
    assert.deepEqual(policyProblems(bad('AWS::KMS::Key', { KeyPolicy: { Statement: [{ Effect: 'Allow', Action: 'kms:Decrypt', Resource: '*' }] } })).problems, []);
    assert.match(policyProblems(bad('AWS::IAM::Policy', doc({ Resource: 'arn:aws:lambda:eu-west-1:123456789012:function:word-count?' }))).problems[0] ?? '', /"\?" in Resource/);
    assert.match(policyProblems(bad('AWS::IAM::Policy', doc({ Resource: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:a?b-??????' }))).problems[0] ?? '', /"\?" in Resource/);
    assert.match(policyProblems(bad('AWS::IAM::Policy', doc({ Resource: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:a-?????' }))).problems[0] ?? '', /"\?" in Resource/);
    assert.deepEqual(policyProblems(bad('AWS::IAM::Policy', doc({ Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':secretsmanager:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':secret:prod/geocode-??????']] } }))).problems, []);
  });
});

// Exact action sets, as the AWS grants render them.
const ITEMS = ['dynamodb:GetItem', 'dynamodb:PutItem'];
// A claim, a delivered mark, or an open-task place taken or given back, without a read first
// (workers/aws/src/dynamo.rs, dynamo/side_items.rs).
const ITEMS_UPDATE = [...ITEMS, 'dynamodb:UpdateItem'];
// (Sorted, as grantsOf returns them.)
// The indexes hold keys: whoever lists reads the records by id.
const ITEMS_UPDATE_LISTED = ['dynamodb:BatchGetItem', ...ITEMS_UPDATE];
const QUERY = ['dynamodb:Query'];
const SEND = ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'];
// ChangeMessageVisibility: the worker's heartbeat keeps a running task's message hidden with it.
const CONSUME = ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage'];
const LOGS = ['logs:CreateLogStream', 'logs:PutLogEvents'];

describe('exact grants of each function', () => {
  // Two consumers, one with an outside principal: grants must cover every reply queue.
  let s: Synthesized;
  before(() => {
    s = synth({ context: { consumers: '{"default": null, "agents": "arn:aws:iam::123456789012:role/AgentRole"}' } });
  });
  const fnWithEnv = (name: string, value?: string) =>
    ofType(s.resources, 'AWS::Lambda::Function').filter(([, f]) => {
      const v = f.Properties['Environment'].Variables[name];
      return value === undefined ? v !== undefined : v === value;
    });
  const keys = (prefix: string) => Object.keys(s.outputs).filter((k) => k.startsWith(prefix));
  const each = (outputPrefix: string, actions: string[]) => Object.fromEntries(keys(outputPrefix).map((k) => [k, actions]));

  it('worker: items on the table, consume its own queue, send to every reply queue, its logs', () => {
    const tools = s.stack.catalog.tools;
    assert.equal(fnWithEnv('ASYNCTOOLS_TOOL').length, tools.length);
    for (const tool of tools) {
      const [[fnId]] = fnWithEnv('ASYNCTOOLS_TOOL', tool.name) as [[string, Resource]];
      const grants = grantsOf(s, fnId);
      assert.ok(grants[`WorkQueueUrl${tool.pascalName}`]?.includes('sqs:ChangeMessageVisibility'), 'the heartbeat needs ChangeMessageVisibility');
      assert.deepEqual(grants, {
        TaskTableName: ITEMS_UPDATE,
        [`WorkQueueUrl${tool.pascalName}`]: CONSUME,
        ...each('ReplyQueueUrl', SEND),
        'own log group': LOGS,
      });
    }
  });

  it('dispatcher: items, Query on by_owner_conversation and undelivered, send to every work and reply queue', () => {
    assert.deepEqual(grantsOf(s, outputId(s, 'DispatcherArn')), {
      TaskTableName: ITEMS_UPDATE_LISTED,
      'TaskTableName/index/by_owner_conversation': QUERY,
      'TaskTableName/index/undelivered': QUERY,
      ...each('WorkQueueUrl', SEND),
      ...each('ReplyQueueUrl', SEND),
      'own log group': LOGS,
    });
  });

  it('sweeper: items (UpdateItem too), Query on open_tasks only, send to every work and reply queue', () => {
    const grants = grantsOf(s, outputId(s, 'SweeperArn'));
    // UpdateItem: a result the sweeper republishes (its worker died) gives the owner's open-task
    // place back with an UpdateItem on `open#<owner>`; without it AWS refuses that write and the
    // place stays taken until the dispatcher takes it back at the owner's limit. (It had no
    // UpdateItem before the open-task limit: it never claims or marks delivered.)
    assert.ok(grants['TaskTableName']?.includes('dynamodb:UpdateItem'), 'the sweeper gives open-task places back');
    assert.deepEqual(grants, {
      TaskTableName: ITEMS_UPDATE_LISTED,
      'TaskTableName/index/open_tasks': QUERY,
      ...each('WorkQueueUrl', SEND),
      ...each('ReplyQueueUrl', SEND),
      'own log group': LOGS,
    });
  });

  it('MCP server: exactly the dispatcher\'s grants (it runs the dispatcher\'s code)', () => {
    const mcp = grantsOf(s, outputId(s, 'McpFunctionArn'));
    assert.deepEqual(mcp, grantsOf(s, outputId(s, 'DispatcherArn')));
    assert.deepEqual(mcp, {
      TaskTableName: ITEMS_UPDATE_LISTED,
      'TaskTableName/index/by_owner_conversation': QUERY,
      'TaskTableName/index/undelivered': QUERY,
      ...each('WorkQueueUrl', SEND),
      ...each('ReplyQueueUrl', SEND),
      'own log group': LOGS,
    });
    assert.ok('ReplyQueueUrlMcp' in mcp && 'ReplyQueueUrlAgents' in mcp, 'sends to every consumer, its own included');
  });

  it('MCP reply settler: reads items of the table, consumes the mcp reply queue (nothing else, not its DLQ), its logs', () => {
    const [[fnId]] = fnWithEnv('ASYNCTOOLS_CONSUMER', 'mcp') as [[string, Resource]];
    assert.deepEqual(grantsOf(s, fnId), {
      TaskTableName: ['dynamodb:GetItem'],
      ReplyQueueUrlMcp: CONSUME,
      'own log group': LOGS,
    });
  });

  it('BatchGetItem only beside Query; nowhere ConditionCheckItem, a dynamodb wildcard, or Query on the base table', () => {
    const table = JSON.stringify({ 'Fn::GetAtt': [outputId(s, 'TaskTableName'), 'Arn'] });
    const dynamoStatements = Object.entries(s.resources)
      .flatMap(([id, r]) => policyDocuments(r.Properties).flatMap((doc) => doc.Statement.map((st) => ({ policy: id, st }))))
      .filter(({ st }) => [st.Action].flat().some((a) => String(a).startsWith('dynamodb:')));
    assert.ok(dynamoStatements.length >= 3, 'found the DynamoDB statements');
    for (const { policy, st } of dynamoStatements) {
      const actions = [st.Action].flat().map(String);
      assert.ok(!actions.includes('dynamodb:ConditionCheckItem'), `ConditionCheckItem in ${JSON.stringify(st)}`);
      assert.ok(!actions.some((a) => a.includes('*')), `wildcard action in ${JSON.stringify(st)}`);
      if (actions.includes('dynamodb:Query')) {
        assert.ok(![st.Resource].flat().some((r) => JSON.stringify(r) === table), `Query on the base table: ${JSON.stringify(st)}`);
      }
      if (actions.includes('dynamodb:BatchGetItem')) {
        const queries = dynamoStatements.some(({ policy: p, st: other }) => p === policy && [other.Action].flat().includes('dynamodb:Query'));
        assert.ok(queries, `BatchGetItem without Query in ${policy}`);
      }
    }
  });
});

describe('exact grants of lambda and http tool workers', () => {
  // Every kind, and two consumers: the extra grant comes on top of a builtin worker's.
  let s: Synthesized;
  before(() => {
    s = synth({ stackProps: { catalogPath: writeCatalog(allKindsCatalogToml()) }, context: { consumers: 'default,agents' } });
  });
  const builtinGrants = (tool: string) => ({
    TaskTableName: ITEMS_UPDATE,
    [`WorkQueueUrl${s.stack.tools.find((t) => t.name === tool)!.pascalName}`]: CONSUME,
    ReplyQueueUrlDefault: SEND,
    ReplyQueueUrlAgents: SEND,
    ReplyQueueUrlMcp: SEND,
    'own log group': LOGS,
  });
  const isTargetAction = (action: unknown) => /^(lambda|secretsmanager):/.test(String(action));
  /** The Lambda and Secrets Manager actions a function's role is allowed, by resource. */
  const targetGrants = (fnId: string) =>
    Object.fromEntries(
      Object.entries(grantsOf(s, fnId))
        .map(([resource, actions]) => [resource, actions.filter(isTargetAction)] as const)
        .filter(([, actions]) => actions.length > 0),
    );

  it('the IAM walker covers the new roles and finds nothing wrong', () => {
    const { problems, statements } = policyProblems(s.resources);
    assert.deepEqual(problems, []);
    const all = Object.values(s.resources).flatMap((r) => policyDocuments(r.Properties)).flatMap((d) => d.Statement);
    assert.ok(statements === all.length && statements >= 30, `${statements} statements`);
    const targets = all.filter((st) => [st.Action].flat().some(isTargetAction));
    // word-count and summarize invoke, geocode reads its secret; nothing else (the sweeper's
    // EventBridge permission is a resource, AWS::Lambda::Permission, not a policy statement).
    assert.equal(targets.length, 3, JSON.stringify(targets));
  });

  it('lambda tool by name: exactly one extra statement, lambda:InvokeFunction on that function in the stack\'s account and region', () => {
    const [fnId] = workerOf(s, 'word-count');
    assert.deepEqual(grantsOf(s, fnId), {
      ...builtinGrants('word-count'),
      [JSON.stringify(stackArn('lambda', `function:${ALL_KINDS.wordCountFunction}`))]: ['lambda:InvokeFunction'],
    });
  });

  it('lambda tool by qualified ARN: lambda:InvokeFunction on exactly that ARN (no :*)', () => {
    const [fnId] = workerOf(s, 'summarize');
    assert.deepEqual(grantsOf(s, fnId), {
      ...builtinGrants('summarize'),
      [JSON.stringify(ALL_KINDS.summarizeFunction)]: ['lambda:InvokeFunction'],
    });
  });

  it('one statement per extra grant: one action on one resource', () => {
    for (const tool of ['word-count', 'summarize', 'geocode']) {
      const [fnId] = workerOf(s, tool);
      const extra = (roleStatements(s, fnId) as Statement[]).filter((st) => [st.Action].flat().some(isTargetAction));
      assert.equal(extra.length, 1, tool);
      assert.equal([extra[0]!.Action].flat().length, 1, tool);
      assert.equal([extra[0]!.Resource].flat().length, 1, tool);
    }
  });

  it('http tool with a secret: exactly secretsmanager:GetSecretValue on that secret (<name>-??????)', () => {
    const [fnId] = workerOf(s, 'geocode');
    assert.deepEqual(grantsOf(s, fnId), {
      ...builtinGrants('geocode'),
      [JSON.stringify(stackArn('secretsmanager', `secret:${ALL_KINDS.geocodeSecret}-??????`))]: ['secretsmanager:GetSecretValue'],
    });
  });

  it('http tool without a secret and builtin workers: no Lambda or Secrets Manager action, just a builtin worker\'s grants', () => {
    for (const tool of ['weather', 'echo']) {
      const [fnId] = workerOf(s, tool);
      assert.deepEqual(targetGrants(fnId), {}, tool);
      assert.deepEqual(grantsOf(s, fnId), builtinGrants(tool), tool);
    }
  });

  it('the dispatcher, the sweeper, the MCP server and its reply settler: no Lambda or Secrets Manager action', () => {
    const settler = ofType(s.resources, 'AWS::Lambda::Function').find(([, f]) => f.Properties['Environment'].Variables.ASYNCTOOLS_CONSUMER === 'mcp')![0];
    for (const fnId of [outputId(s, 'DispatcherArn'), outputId(s, 'SweeperArn'), outputId(s, 'McpFunctionArn'), settler]) {
      assert.deepEqual(targetGrants(fnId), {}, fnId);
    }
  });
});
