// Tool kinds (issue 12): `lambda` and `http` tools get exactly a builtin tool's resources, plus the
// variables naming their target and the one grant it needs; the `toolTargets` context overrides
// the catalog's targets per stage. The exact grants of every worker are in iam.test.ts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { CDK_ROOT } from '../lib/asynctools-stack';
import { ContextError } from '../lib/context';
import { MAX_QUEUE_URL_LENGTH, OTHER_VARIABLES_BYTES } from '../lib/env-size';
import { applyToolTargets, parseToolTargets } from '../lib/tool-targets';
import {
  ALL_KINDS,
  allKindsCatalogToml,
  grantsOf,
  ofType,
  refId,
  type Resource,
  single,
  stackArn,
  synth,
  type Synthesized,
  toolToml,
  workerOf,
  writeCatalog,
} from './helpers';

const BASE_VARIABLES = ['ASYNCTOOLS_REPLY_QUEUES', 'ASYNCTOOLS_TABLE', 'ASYNCTOOLS_TOOL', 'ASYNCTOOLS_WORK_QUEUE'];
const TARGET_VARIABLES = ['ASYNCTOOLS_TOOL_FUNCTION', 'ASYNCTOOLS_TOOL_URL', 'ASYNCTOOLS_TOOL_AUTH_SECRET'];
const TARGET_ACTIONS = ['lambda:InvokeFunction', 'secretsmanager:GetSecretValue'];

const env = (s: Synthesized, tool: string): Record<string, unknown> => workerOf(s, tool)[1].Properties['Environment'].Variables;
/** The worker's variables beyond the four every worker has. */
const targetEnv = (s: Synthesized, tool: string) =>
  Object.fromEntries(Object.entries(env(s, tool)).filter(([k]) => !BASE_VARIABLES.includes(k)));
/** The grants beyond a builtin worker's (table, own queue, reply queues, logs). */
const extraGrants = (s: Synthesized, tool: string) => {
  const grants = grantsOf(s, workerOf(s, tool)[0]);
  return Object.fromEntries(Object.entries(grants).filter(([, actions]) => actions.some((a) => TARGET_ACTIONS.includes(a))));
};
/** How grantsOf labels a resource that no output names: its JSON. */
const label = (arn: unknown) => JSON.stringify(arn);

const countByType = (resources: Record<string, Resource>) => {
  const counts: Record<string, number> = {};
  for (const r of Object.values(resources)) counts[r.Type] = (counts[r.Type] ?? 0) + 1;
  return counts;
};

let all: Synthesized;
before(() => {
  all = synth({ stackProps: { catalogPath: writeCatalog(allKindsCatalogToml()) } });
});

describe('tool kinds in the stack', () => {
  it('each lambda and http tool adds exactly what a builtin tool adds: queue, DLQ, worker, event source, alarms', () => {
    const builtinOnly = synth({ stackProps: { catalogPath: writeCatalog(`version = 1\n${toolToml({ name: 'echo', kind: 'builtin' })}`) } });
    const [b, a] = [countByType(builtinOnly.resources), countByType(all.resources)];
    const added = Object.fromEntries(Object.keys(a).map((t) => [t, a[t]! - (b[t] ?? 0)]).filter(([, n]) => n !== 0));
    const tools = 4; // word-count, summarize, geocode, weather
    assert.deepEqual(added, {
      'AWS::SQS::Queue': 2 * tools, // work queue + DLQ
      'AWS::SQS::QueuePolicy': 2 * tools, // enforceSSL on both
      'AWS::Lambda::Function': tools,
      'AWS::Lambda::EventSourceMapping': tools,
      'AWS::IAM::Role': tools,
      'AWS::IAM::Policy': tools, // the extra grant joins the role's one policy
      'AWS::Logs::LogGroup': tools,
      'AWS::CloudWatch::Alarm': 4 * tools, // DLQ depth, age of oldest message, errors, throttles
    });

    // Each tool's own: outputs, worker and its event source on its queue, its four alarms.
    for (const tool of all.stack.tools) {
      const queueId = refId(all.outputs[`WorkQueueUrl${tool.pascalName}`]?.Value)!;
      const dlqId = refId(all.outputs[`DeadLetterQueueUrl${tool.pascalName}`]?.Value)!;
      assert.ok(all.resources[queueId] && all.resources[dlqId], tool.name);
      const [fnId, fn] = workerOf(all, tool.name);
      assert.equal(fn.Properties['Timeout'], tool.timeoutS + 20, tool.name);
      assert.equal(fn.Properties['MemorySize'], tool.memoryMb, tool.name);
      const [, mapping] = single(ofType(all.resources, 'AWS::Lambda::EventSourceMapping').filter(([, m]) => refId(m.Properties['FunctionName']) === fnId), `${tool.name} event source`);
      assert.deepEqual(mapping.Properties['EventSourceArn'], { 'Fn::GetAtt': [queueId, 'Arn'] });
      const on = (id: string) =>
        ofType(all.resources, 'AWS::CloudWatch::Alarm').filter(([, al]) => al.Properties['Dimensions']?.some((d: any) => refId(d.Value) === id)).length;
      assert.equal(on(queueId) + on(dlqId) + on(fnId), 4, `${tool.name} alarms`);
    }
  });

  it('a tool\'s resources are the same whatever its kind, but for its target variables and its one grant', () => {
    const variants: Record<string, Record<string, string | number>> = {
      builtin: {},
      'lambda by name': { kind: 'lambda', function: 'word-count' },
      'lambda by qualified ARN': { kind: 'lambda', function: ALL_KINDS.summarizeFunction },
      'http with a secret': { kind: 'http', url: ALL_KINDS.geocodeUrl, auth_secret: ALL_KINDS.geocodeSecret, max_attempts: 5 },
      'http without a secret': { kind: 'http', url: ALL_KINDS.weatherUrl },
    };
    const normalized = (fields: Record<string, string | number>) => {
      const s = synth({ stackProps: { catalogPath: writeCatalog(`version = 1\n${toolToml({ name: 't', ...fields })}`) } });
      const resources = structuredClone(s.resources);
      const vars = workerOf({ ...s, resources }, 't')[1].Properties['Environment'].Variables;
      const removedVariables = TARGET_VARIABLES.filter((k) => k in vars);
      for (const k of removedVariables) delete vars[k];
      let removedStatements = 0;
      for (const [, policy] of ofType(resources, 'AWS::IAM::Policy')) {
        const doc = policy.Properties['PolicyDocument'];
        const kept = doc.Statement.filter((st: any) => ![st.Action].flat().some((a: string) => TARGET_ACTIONS.includes(a)));
        removedStatements += doc.Statement.length - kept.length;
        doc.Statement = kept;
      }
      return { resources, outputs: s.outputs, removedVariables, removedStatements };
    };
    const builtin = normalized(variants['builtin']!);
    const expected: Record<string, [string[], number]> = {
      builtin: [[], 0],
      'lambda by name': [['ASYNCTOOLS_TOOL_FUNCTION'], 1],
      'lambda by qualified ARN': [['ASYNCTOOLS_TOOL_FUNCTION'], 1],
      'http with a secret': [['ASYNCTOOLS_TOOL_URL', 'ASYNCTOOLS_TOOL_AUTH_SECRET'], 1],
      'http without a secret': [['ASYNCTOOLS_TOOL_URL'], 0],
    };
    for (const [what, fields] of Object.entries(variants)) {
      const other = what === 'builtin' ? builtin : normalized(fields);
      assert.deepEqual([other.removedVariables, other.removedStatements], expected[what], what);
      assert.deepEqual(other.resources, builtin.resources, what);
      assert.deepEqual(other.outputs, builtin.outputs, what);
    }
  });

  it('worker environments: the target of each kind, as given, and nothing else new', () => {
    const expected: Record<string, Record<string, string>> = {
      echo: {},
      'word-count': { ASYNCTOOLS_TOOL_FUNCTION: ALL_KINDS.wordCountFunction },
      summarize: { ASYNCTOOLS_TOOL_FUNCTION: ALL_KINDS.summarizeFunction },
      geocode: { ASYNCTOOLS_TOOL_URL: ALL_KINDS.geocodeUrl, ASYNCTOOLS_TOOL_AUTH_SECRET: ALL_KINDS.geocodeSecret },
      weather: { ASYNCTOOLS_TOOL_URL: ALL_KINDS.weatherUrl },
    };
    for (const [tool, target] of Object.entries(expected)) {
      assert.deepEqual(Object.keys(env(all, tool)).sort(), [...BASE_VARIABLES, ...Object.keys(target)].sort(), tool);
      assert.deepEqual(targetEnv(all, tool), target, tool);
      assert.equal(env(all, tool)['ASYNCTOOLS_TOOL'], tool);
    }
  });

  it('the dispatcher, the sweeper and the MCP server get nothing new', () => {
    const builtins = synth();
    for (const key of ['DispatcherArn', 'SweeperArn', 'McpFunctionArn']) {
      const vars = (s: Synthesized) => Object.keys(s.resources[refId(s.outputs[key]?.Value)!]!.Properties['Environment'].Variables).sort();
      assert.deepEqual(vars(all), vars(builtins), key);
      const actions = (s: Synthesized) => [...new Set(Object.values(grantsOf(s, refId(s.outputs[key]?.Value)!)).flat())].sort();
      assert.deepEqual(actions(all), actions(builtins), key);
    }
  });

  it('the worker\'s variables besides the reply queue map and its target fit the bound the environment size check assumes', () => {
    // Each at its maximum: a tool name (32), a table name (DynamoDB's 255; a token here), a queue URL
    // (lib/env-size.ts's bound; a token here).
    const maximum: Record<string, number> = { ASYNCTOOLS_TOOL: 32, ASYNCTOOLS_TABLE: 255, ASYNCTOOLS_WORK_QUEUE: MAX_QUEUE_URL_LENGTH };
    for (const tool of all.stack.tools) {
      const others = Object.keys(env(all, tool.name)).filter((k) => k !== 'ASYNCTOOLS_REPLY_QUEUES' && !TARGET_VARIABLES.includes(k));
      assert.deepEqual(others.sort(), Object.keys(maximum).sort(), tool.name);
      const bytes = others.reduce((sum, k) => sum + k.length + maximum[k]!, 0);
      assert.ok(bytes <= OTHER_VARIABLES_BYTES, `${tool.name}: ${bytes} bytes`);
    }
  });

  it('a 2048-character URL deploys with the default consumers, and is refused with too many, naming the tool and url', () => {
    const url = `https://geo.example.com/${'p'.repeat(2048 - 'https://geo.example.com/'.length)}`;
    const targets = JSON.stringify({ geocode: { url } });
    const catalogPath = writeCatalog(allKindsCatalogToml());
    assert.equal(targetEnv(synth({ stackProps: { catalogPath }, context: { toolTargets: targets } }), 'geocode')['ASYNCTOOLS_TOOL_URL'], url);
    const consumers = Array.from({ length: 15 }, (_, i) => `consumer-${i}`).join(',');
    // Fits the dispatcher's environment (no error without the long URL)...
    assert.doesNotThrow(() => synth({ stackProps: { catalogPath }, context: { consumers } }));
    // ...but not the geocode worker's.
    assert.throws(
      () => synth({ stackProps: { catalogPath }, context: { consumers, toolTargets: targets } }),
      (e: unknown) =>
        e instanceof ContextError &&
        /^invalid context "consumers": 16 consumers and tool "geocode": the worker's reply queue URLs and its url \(2048 characters\) and auth_secret \(15 characters\) could take \d+ bytes of environment, more than Lambda's 4096; use fewer consumers or a shorter url$/.test(
          e.message,
        ),
    );
  });
});

describe('toolTargets context', () => {
  const catalogPath = () => writeCatalog(allKindsCatalogToml());
  const FN_ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:word-count:prod';
  const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/geocode-AbCdEf';

  it('overrides land in the environment and the grants (JSON text from -c, or an object)', () => {
    const targets = {
      'word-count': { function: FN_ARN },
      summarize: { function: 'summarizer-staging' },
      geocode: { url: 'https://geo.internal.example.com/v2', auth_secret: SECRET_ARN },
      weather: { auth_secret: 'prod/weather' },
    };
    for (const toolTargets of [JSON.stringify(targets), targets]) {
      const s = synth({ stackProps: { catalogPath: catalogPath() }, context: { toolTargets } });
      assert.deepEqual(targetEnv(s, 'word-count'), { ASYNCTOOLS_TOOL_FUNCTION: FN_ARN });
      assert.deepEqual(extraGrants(s, 'word-count'), { [label(FN_ARN)]: ['lambda:InvokeFunction'] });
      assert.deepEqual(targetEnv(s, 'summarize'), { ASYNCTOOLS_TOOL_FUNCTION: 'summarizer-staging' });
      assert.deepEqual(extraGrants(s, 'summarize'), { [label(stackArn('lambda', 'function:summarizer-staging'))]: ['lambda:InvokeFunction'] });
      assert.deepEqual(targetEnv(s, 'geocode'), { ASYNCTOOLS_TOOL_URL: 'https://geo.internal.example.com/v2', ASYNCTOOLS_TOOL_AUTH_SECRET: SECRET_ARN });
      assert.deepEqual(extraGrants(s, 'geocode'), { [label(SECRET_ARN)]: ['secretsmanager:GetSecretValue'] });
      // A stage may add a secret the catalog does not have; the URL stays the catalog's.
      assert.deepEqual(targetEnv(s, 'weather'), { ASYNCTOOLS_TOOL_URL: ALL_KINDS.weatherUrl, ASYNCTOOLS_TOOL_AUTH_SECRET: 'prod/weather' });
      assert.deepEqual(extraGrants(s, 'weather'), { [label(stackArn('secretsmanager', 'secret:prod/weather-??????'))]: ['secretsmanager:GetSecretValue'] });
      assert.deepEqual(targetEnv(s, 'echo'), {});
      // The catalog as loaded keeps its defaults; stack.tools is what the workers call.
      assert.equal(s.stack.catalog.tools.find((t) => t.name === 'word-count')?.function, 'word-count');
      assert.equal(s.stack.tools.find((t) => t.name === 'word-count')?.function, FN_ARN);
    }
  });

  it('a tool not named keeps the catalog\'s target; no context or {} changes nothing', () => {
    const s = synth({ stackProps: { catalogPath: catalogPath() }, context: { toolTargets: '{"geocode": {"url": "https://geo.internal.example.com/v2"}}' } });
    assert.deepEqual(targetEnv(s, 'word-count'), { ASYNCTOOLS_TOOL_FUNCTION: 'word-count' });
    assert.deepEqual(targetEnv(s, 'geocode'), { ASYNCTOOLS_TOOL_URL: 'https://geo.internal.example.com/v2', ASYNCTOOLS_TOOL_AUTH_SECRET: ALL_KINDS.geocodeSecret });
    assert.deepEqual(parseToolTargets(undefined), new Map());
    assert.deepEqual(parseToolTargets('{}'), new Map());
    const tools = all.stack.catalog.tools;
    assert.deepEqual(applyToolTargets(tools, new Map()), tools);
  });

  const refusedBy = (value: unknown, pattern: RegExp) =>
    assert.throws(
      () => synth({ stackProps: { catalogPath: catalogPath() }, context: { toolTargets: value } }),
      (e: unknown) => e instanceof ContextError && e.message.startsWith('invalid context "toolTargets": ') && pattern.test(e.message),
      `${JSON.stringify(value)} should be refused with ${pattern}`,
    );

  it('refuses bad values with the catalog\'s rules, naming the tool and the key', () => {
    refusedBy({ 'word-count': { function: 'word count' } }, /tool "word-count": function = "word count" is not a Lambda function name/);
    refusedBy({ 'word-count': { function: 'word-count:prod' } }, /tool "word-count": function = "word-count:prod" is not/);
    refusedBy({ 'word-count': { function: 42 } }, /tool "word-count": function = 42 is not/);
    refusedBy({ geocode: { url: 'http://geo.internal.example.com' } }, /tool "geocode": url = "http:\/\/geo\.internal\.example\.com" must be https:\/\//);
    refusedBy({ geocode: { url: 'ftp://geo.example.com' } }, /tool "geocode": url = "ftp:\/\/geo\.example\.com" must be https:\/\//);
    refusedBy({ geocode: { url: `https://x.example.com/${'p'.repeat(2048)}` } }, /tool "geocode": url is 2070 characters long; at most 2048/);
    refusedBy({ geocode: { auth_secret: 'prod geocode' } }, /tool "geocode": auth_secret = "prod geocode" is not a Secrets Manager secret name/);
    refusedBy({ geocode: { auth_secret: null } }, /tool "geocode": auth_secret = null is not a Secrets Manager secret name/);
    // Accepted from the loopback, as in the catalog (local testing).
    assert.doesNotThrow(() => parseToolTargets({ geocode: { url: 'http://127.0.0.1:8080/x' } }));
  });

  it('refuses unknown tools, keys the tool\'s kind does not take, and keys that are not per stage', () => {
    refusedBy({ 'word-counter': { function: 'f' } }, /tool "word-counter" is not in the tool catalog \(echo, word-count, summarize, geocode, weather\)/);
    refusedBy({ echo: { url: 'https://x.example.com' } }, /tool "echo": url is only for kind = "http" \(this tool is kind = "builtin"\)/);
    refusedBy({ geocode: { function: 'f' } }, /tool "geocode": function is only for kind = "lambda" \(this tool is kind = "http"\)/);
    refusedBy({ 'word-count': { url: 'https://x.example.com' } }, /tool "word-count": url is only for kind = "http" \(this tool is kind = "lambda"\)/);
    refusedBy({ 'word-count': { auth_secret: 's' } }, /tool "word-count": auth_secret is only for kind = "http" \(this tool is kind = "lambda"\)/);
    refusedBy({ geocode: { max_attempts: 2 } }, /tool "geocode": "max_attempts" cannot be set per stage \(only "function", "url", "auth_secret"\)/);
    refusedBy({ geocode: { URL: 'https://x.example.com' } }, /tool "geocode": "URL" cannot be set per stage/);
  });

  it('refuses a value that is not a JSON object of objects', () => {
    refusedBy('{"geocode": ', /not valid JSON/);
    refusedBy('geocode=https://x.example.com', /not valid JSON/);
    for (const value of ['[]', '"x"', '3', 'null', ['geocode'], 7, true]) {
      refusedBy(value, /is not a JSON object of tool name → \{"function" \| "url" \| "auth_secret": \.\.\.\}/);
    }
    for (const bad of ['https://x.example.com', null, ['url'], 3]) {
      refusedBy({ geocode: bad }, new RegExp(`tool "geocode": ${JSON.stringify(JSON.stringify(bad)).slice(1, -1).replace(/[[\]]/g, '\\$&')} is not an object of "function", "url", "auth_secret"`));
    }
  });
});

describe('a template with every kind', () => {
  // The CLI synth in `make test` lints the real catalog's template; this lints one with every kind.
  const venvBin = process.env['VENV_BIN'] ?? path.resolve(CDK_ROOT, '../.venv/bin');
  const cfnLint = path.join(venvBin, 'cfn-lint');
  it('passes cfn-lint (as `make lint-template` runs it)', { skip: existsSync(cfnLint) ? false : `no cfn-lint at ${cfnLint}` }, () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'asynctools-cfn-lint-'));
    try {
      const file = path.join(dir, 'AsyncTools.template.json');
      writeFileSync(file, JSON.stringify(all.template.toJSON(), null, 1));
      const run = spawnSync(cfnLint, ['--non-zero-exit-code', 'warning', '--ignore-checks', 'W3005', '--', file], { encoding: 'utf8' });
      assert.equal(run.status, 0, `cfn-lint:\n${run.stdout}${run.stderr}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the example catalog (docs/examples/tools.toml)', () => {
  it('synthesizes: word-count may invoke exactly its function, slugify gets its URL and no grant', () => {
    const s = synth({ stackProps: { catalogPath: path.resolve(CDK_ROOT, '../docs/examples/tools.toml') } });
    assert.deepEqual(targetEnv(s, 'word-count'), { ASYNCTOOLS_TOOL_FUNCTION: 'word-count-lambda' });
    assert.deepEqual(targetEnv(s, 'slugify'), { ASYNCTOOLS_TOOL_URL: 'http://127.0.0.1:9112/slugify' });
    const grants = extraGrants(s, 'word-count');
    assert.deepEqual(Object.values(grants), [['lambda:InvokeFunction']]);
    assert.match(Object.keys(grants)[0] ?? '', /:function:word-count-lambda/);
    assert.deepEqual(extraGrants(s, 'slugify'), {});
    assert.deepEqual(extraGrants(s, 'sentiment'), {});
  });
});
