// cdk-nag's AwsSolutions pack runs on every synth (lib/app.ts); a finding fails the synth.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Template } from 'aws-cdk-lib/assertions';
import { createApp } from '../lib/app';
import { allKindsCatalogToml, synth, writeCatalog } from './helpers';

/**
 * Every acknowledged cdk-nag rule, with the reason a security reviewer reads. Empty: the stack
 * fixes each finding instead (own roles and log groups, SSE, enforceSSL, DLQs, PITR, named GSIs).
 * The `lambda` and `http` tools' grants name one function or one secret: IAM5 flags only `*`,
 * and a secret name's `-??????` (its ARN's 6 random characters) is not one.
 */
const EXPECTED_ACKNOWLEDGEMENTS: { path: string; id: string }[] = [];
// e.g. { path: 'AsyncTools/Foo', id: 'AwsSolutions::AwsSolutions-IAM5' }

describe('cdk-nag AwsSolutionsChecks', () => {
  it('passes on the stack (MCP server and reply settler included), also as a dev stack, without the MCP server, and with consumers that have principals', () => {
    assert.doesNotThrow(() => synth());
    assert.doesNotThrow(() => synth({ context: { mcp: 'false', mcpReservedConcurrency: '5' } }));
    assert.doesNotThrow(() => synth({ context: { dev: 'true', alarmEmail: 'ops@example.com' } }));
    const consumers = { default: null, agents: 'arn:aws:iam::123456789012:role/AgentRole', ci: 'arn:aws:iam::210987654321:root' };
    assert.doesNotThrow(() => synth({ context: { consumers: JSON.stringify(consumers), dispatcherReservedConcurrency: '10' } }));
  });

  it('passes on a catalog with every kind of tool (builtin, lambda by name and by ARN, http with and without a secret), also with toolTargets', () => {
    const catalogPath = writeCatalog(allKindsCatalogToml());
    assert.doesNotThrow(() => synth({ stackProps: { catalogPath } }));
    const toolTargets = {
      'word-count': { function: 'arn:aws:lambda:eu-west-1:123456789012:function:word-count' },
      summarize: { function: 'summarizer' },
      geocode: { url: 'https://geo.internal.example.com/v2', auth_secret: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/geocode-AbCdEf' },
      weather: { auth_secret: 'prod/weather' },
    };
    assert.doesNotThrow(() => synth({ stackProps: { catalogPath }, context: { toolTargets: JSON.stringify(toolTargets) } }));
  });

  it('is really on: an unencrypted queue without a DLQ fails the synth', () => {
    const outdir = mkdtempSync(path.join(tmpdir(), 'asynctools-nag-'));
    try {
      const { stack } = createApp({ skipBundling: true, outdir });
      new sqs.Queue(stack, 'Careless', { encryption: sqs.QueueEncryption.UNENCRYPTED });
      assert.throws(() => Template.fromStack(stack), /Validation failed/);
      const report = JSON.parse(readFileSync(path.join(outdir, 'validation-report.json'), 'utf8'));
      const rules = report.pluginReports.flatMap((p: any) => p.violations.map((v: any) => v.ruleName)).sort();
      assert.deepEqual(rules, ['AwsSolutions-SQS2', 'AwsSolutions-SQS3', 'AwsSolutions-SQS4']);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });

  it('acknowledges only the listed rules, each with a reason (every kind of tool included)', () => {
    const { stack } = synth({ stackProps: { catalogPath: writeCatalog(allKindsCatalogToml()) } });
    const found = stack.node.findAll().flatMap((c) =>
      c.node.metadata
        .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        // The metadata holds { "<plugin>::<rule id>": reason }.
        .flatMap((m) => Object.entries(m.data as Record<string, string>))
        .map(([id, reason]) => ({ path: c.node.path, id, reason })),
    );
    for (const ack of found) assert.ok(ack.reason.length >= 40, `${ack.path} ${ack.id}: the reason must explain itself`);
    assert.deepEqual(found.map(({ path, id }) => ({ path, id })), EXPECTED_ACKNOWLEDGEMENTS);
  });
});
