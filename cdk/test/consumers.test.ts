// The `consumers` context: names (a list or a JSON object with principals), and every refusal
// naming the context key and the bad entry.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_CONSUMERS, parseConsumers } from '../lib/consumers';
import { ContextError } from '../lib/context';
import { checkEnvironmentSize } from '../lib/env-size';
import { synth } from './helpers';

const ROLE = 'arn:aws:iam::123456789012:role/AgentRole';

function refused(value: unknown, pattern: RegExp): void {
  assert.throws(
    () => parseConsumers(value),
    (e: unknown) => e instanceof ContextError && e.message.startsWith('invalid context "consumers": ') && pattern.test(e.message),
    `${JSON.stringify(value)} should be refused with ${pattern}`,
  );
}

describe('consumers context', () => {
  it('defaults to one consumer, "default", without a principal', () => {
    assert.deepEqual(parseConsumers(undefined), [{ name: 'default', pascalName: 'Default' }]);
  });

  it('reads a comma-separated list (spaces allowed), in order', () => {
    assert.deepEqual(parseConsumers('default, agents,batch-jobs'), [
      { name: 'default', pascalName: 'Default' },
      { name: 'agents', pascalName: 'Agents' },
      { name: 'batch-jobs', pascalName: 'BatchJobs' },
    ]);
    assert.deepEqual(parseConsumers(['a', 'b']).map((c) => c.name), ['a', 'b'], 'a list from cdk.json');
  });

  it('reads a JSON object of name → principal ARN or null (as text from -c, or parsed from cdk.json)', () => {
    const expected = [
      { name: 'default', pascalName: 'Default' },
      { name: 'agents', principalArn: ROLE, pascalName: 'Agents' },
    ];
    assert.deepEqual(parseConsumers(`{"default": null, "agents": "${ROLE}"}`), expected);
    assert.deepEqual(parseConsumers({ default: null, agents: ROLE }), expected);
    for (const arn of ['arn:aws:iam::123456789012:user/ci/bot', 'arn:aws:iam::123456789012:root', 'arn:aws-us-gov:iam::123456789012:role/path/R_1']) {
      assert.equal(parseConsumers({ x: arn })[0]?.principalArn, arn);
    }
  });

  it('refuses a bad name, naming it', () => {
    refused('default,Agents', /consumer "Agents": a name is 1 to 32 lowercase letters, digits and '-'/);
    refused('agents_1', /consumer "agents_1"/);
    refused('x'.repeat(33), /consumer "x{33}"/);
    refused('a,,b', /consumer "": a name is/);
    refused('-', /consumer "-": a name is/);
    refused({ 'has space': null }, /consumer "has space"/);
  });

  it('refuses a duplicate, and names that collide as output keys', () => {
    refused('default,agents,default', /consumer "default" is listed twice/);
    refused('a-b,a--b', /consumer "a--b" maps to the same output key \(AB\) as "a-b"/);
  });

  it(`refuses more than ${MAX_CONSUMERS}, and none`, () => {
    const names = (n: number) => Array.from({ length: n }, (_, i) => `c${i}`).join(',');
    assert.equal(parseConsumers(names(MAX_CONSUMERS)).length, MAX_CONSUMERS);
    refused(names(MAX_CONSUMERS + 1), /51 consumers; at most 50/);
    refused({}, /no consumer names/);
  });

  it('refuses a principal that is not an IAM role, user or root ARN, naming the consumer', () => {
    for (const bad of ['*', 'arn:aws:iam::123456789012:role/*', 'arn:aws:iam::12345:role/R', 'arn:aws:sqs:eu-west-1:123456789012:q', 'AgentRole', 42, '']) {
      refused({ agents: bad }, /consumer "agents": principal .* is not an IAM role, user or root ARN/);
    }
  });

  it('refuses broken JSON and values of the wrong shape', () => {
    refused('{"default": null', /not valid JSON/);
    refused(42, /give names separated by commas, or a JSON object/);
    refused([1, 2], /give names separated by commas/);
  });

  it('refuses, at synth, more consumers than the functions\' 4 KB environment can name', () => {
    const names = (n: number) => Array.from({ length: n }, (_, i) => `consumer-${i}`).join(',');
    assert.doesNotThrow(() => checkEnvironmentSize(['sentiment', 'research', 'synthetic'], names(15).split(',')));
    // The MCP server's consumer `mcp` counts: it is appended before the check.
    assert.throws(
      () => synth({ context: { consumers: names(MAX_CONSUMERS) } }),
      (e: unknown) =>
        e instanceof ContextError &&
        /invalid context "consumers": 51 consumers and 3 tools: the dispatcher's, the sweeper's and the MCP server's queue URLs could take \d+ bytes of environment, more than Lambda's 4096; use fewer consumers/.test(e.message),
    );
    assert.throws(
      () => synth({ context: { consumers: names(MAX_CONSUMERS), mcp: 'false' } }),
      (e: unknown) =>
        e instanceof ContextError &&
        /invalid context "consumers": 50 consumers and 3 tools: the dispatcher's and the sweeper's queue URLs could take \d+ bytes/.test(e.message),
    );
  });

  it('makes the synth fail with the same message', () => {
    assert.throws(() => synth({ context: { consumers: 'default,Bad' } }), /invalid context "consumers": consumer "Bad"/);
  });
});
