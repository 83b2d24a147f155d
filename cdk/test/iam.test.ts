// Walks every policy document in the template (identity policies, trust policies, queue, topic and
// key policies) and fails on `Action: "*"`, on managed policies, and on any `*` in a resource that
// is not on the allow-list below.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Resource, synth } from './helpers';

/**
 * The only places a `*` resource is allowed, each because the AWS API has nothing narrower.
 * Keyed by the resource type holding the policy.
 */
const STAR_RESOURCE_ALLOWED: Record<string, string> = {
  // In a KMS key policy, Resource "*" means "this key"; a key policy cannot name any other resource.
  'AWS::KMS::Key': 'key policy: "*" is the key itself',
};

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
  });
});
