// Shared by the tests: synthesize the app exactly as bin/app.ts builds it, minus the Rust builds.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after } from 'node:test';
import { Template } from 'aws-cdk-lib/assertions';
import { createApp, type CreateAppOptions } from '../lib/app';
import type { AsyncToolsStack } from '../lib/asynctools-stack';

// CDK's built-in template validator adds seconds per synth; `make test` runs it once on the CLI synth.
process.env['CDK_VALIDATION'] ??= 'false';

const scratch = mkdtempSync(path.join(tmpdir(), 'asynctools-cdk-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

export type Resource = { Type: string; Properties: Record<string, any>; DeletionPolicy?: string; UpdateReplacePolicy?: string };

export interface Synthesized {
  readonly stack: AsyncToolsStack;
  readonly template: Template;
  readonly resources: Record<string, Resource>;
  readonly outputs: Record<string, { Value: unknown }>;
}

let counter = 0;

/** Synthesizes with bundling skipped and cdk-nag on (a finding throws here). */
export function synth(options: CreateAppOptions = {}): Synthesized {
  const outdir = path.join(scratch, `cdk.out-${counter++}`);
  const { stack } = createApp({ skipBundling: true, outdir, ...options });
  const template = Template.fromStack(stack);
  const json = template.toJSON() as { Resources: Record<string, Resource>; Outputs: Record<string, { Value: unknown }> };
  return { stack, template, resources: json.Resources, outputs: json.Outputs };
}

/** Writes a catalog file for one test and returns its path. */
export function writeCatalog(text: string): string {
  const file = path.join(scratch, `tools-${counter++}.toml`);
  writeFileSync(file, text);
  return file;
}

/** A `[[tools]]` entry in TOML, with valid defaults for the fields not given. */
export function toolToml(fields: Record<string, string | number>): string {
  const all = {
    description: 'a test tool',
    timeout_s: 30,
    memory_mb: 256,
    batch_size: 5,
    max_concurrency: 5,
    max_receive_count: 5,
    ...fields,
  };
  const lines = Object.entries(all).map(([k, v]) => `${k} = ${typeof v === 'string' ? JSON.stringify(v) : v}`);
  return `\n[[tools]]\n${lines.join('\n')}\n`;
}

export function ofType(resources: Record<string, Resource>, type: string): [string, Resource][] {
  return Object.entries(resources).filter(([, r]) => r.Type === type);
}

/** The logical id a `{ Ref }` or `{ Fn::GetAtt }` points at. */
export function refId(value: unknown): string | undefined {
  const v = value as { Ref?: string; 'Fn::GetAtt'?: [string, string] } | undefined;
  return v?.Ref ?? v?.['Fn::GetAtt']?.[0];
}

/** The one element of a list; fails the test if there are none or several. */
export function single<T>(list: readonly T[], what: string): T {
  if (list.length !== 1) throw new Error(`expected exactly one ${what}, found ${list.length}`);
  return list[0]!;
}

/** The value of an output's `{ Ref }` / `{ Fn::GetAtt }`: the logical id it names. */
export function outputId(s: Synthesized, key: string): string {
  const id = refId(s.outputs[key]?.Value);
  if (!id || !s.resources[id]) throw new Error(`output ${key} does not reference a resource: ${JSON.stringify(s.outputs[key])}`);
  return id;
}

/**
 * A `{ Fn::Join }` environment value (Stack.toJsonString) resolved with `https://sqs/<logical id>`
 * for each queue Ref, and parsed as the function will parse it.
 */
export function resolveJsonEnv(value: unknown): Record<string, string> {
  const [sep, parts] = (value as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
  return JSON.parse(parts.map((p) => (typeof p === 'string' ? p : `https://sqs/${refId(p)}`)).join(sep));
}

/** Every statement of the identity policies attached to a function's role. */
export function roleStatements(s: Synthesized, fnId: string): any[] {
  const role = refId(s.resources[fnId]!.Properties['Role']);
  return ofType(s.resources, 'AWS::IAM::Policy')
    .filter(([, p]) => p.Properties['Roles'].some((r: unknown) => refId(r) === role))
    .flatMap(([, p]) => p.Properties['PolicyDocument'].Statement);
}

/**
 * What a function may do, as { resource label: sorted actions }. Resources are labelled by the
 * output naming them (`TaskTableName`, `WorkQueueUrlSentiment`, `ReplyQueueUrlDefault`...), GSIs as
 * `TaskTableName/index/<name>`, the function's own log group as `own log group`; anything else
 * keeps its JSON, so an unexpected grant shows up in the diff.
 */
export function grantsOf(s: Synthesized, fnId: string): Record<string, string[]> {
  const labels = new Map<string, string>();
  for (const key of Object.keys(s.outputs)) {
    const id = refId(s.outputs[key]?.Value);
    if (id) labels.set(JSON.stringify({ 'Fn::GetAtt': [id, 'Arn'] }), key);
  }
  const table = JSON.stringify({ 'Fn::GetAtt': [outputId(s, 'TaskTableName'), 'Arn'] });
  const logGroup = refId(s.resources[fnId]!.Properties['LoggingConfig']?.LogGroup);
  labels.set(JSON.stringify({ 'Fn::GetAtt': [logGroup, 'Arn'] }), 'own log group');
  const label = (resource: unknown): string => {
    const json = JSON.stringify(resource);
    const join = (resource as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
    if (join && join[0] === '' && join[1].length === 2 && JSON.stringify(join[1][0]) === table) return `TaskTableName${String(join[1][1])}`;
    return labels.get(json) ?? json;
  };
  const grants: Record<string, string[]> = {};
  for (const st of roleStatements(s, fnId)) {
    if (st.Effect !== 'Allow') continue;
    for (const resource of [st.Resource].flat()) {
      const key = label(resource);
      grants[key] = [...new Set([...(grants[key] ?? []), ...[st.Action].flat()])].sort();
    }
  }
  return grants;
}

/**
 * A catalog with every kind of tool: a builtin (`echo`), a lambda tool by name (`word-count`) and
 * by qualified ARN (`summarize`), an http tool with an auth secret (`geocode`) and one without
 * (`weather`).
 */
export const ALL_KINDS = {
  wordCountFunction: 'word-count',
  summarizeFunction: 'arn:aws:lambda:eu-west-1:123456789012:function:summarizer:prod',
  geocodeUrl: 'https://geo.example.com/lookup',
  geocodeSecret: 'geocode/api-key',
  weatherUrl: 'https://weather.example.com/v1/now?units=metric',
} as const;

export function allKindsCatalogToml(): string {
  return [
    'version = 1',
    toolToml({ name: 'echo', kind: 'builtin' }),
    toolToml({ name: 'word-count', kind: 'lambda', function: ALL_KINDS.wordCountFunction, memory_mb: 128, batch_size: 1, max_concurrency: 10 }),
    toolToml({ name: 'summarize', kind: 'lambda', function: ALL_KINDS.summarizeFunction, timeout_s: 120 }),
    toolToml({ name: 'geocode', kind: 'http', url: ALL_KINDS.geocodeUrl, auth_secret: ALL_KINDS.geocodeSecret, max_attempts: 3 }),
    toolToml({ name: 'weather', kind: 'http', url: ALL_KINDS.weatherUrl }),
  ].join('');
}

/** `arn:${Partition}:<service>:${Region}:${Account}:<resource>` as Stack.formatArn renders it. */
export function stackArn(service: string, resource: string): unknown {
  return {
    'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:${service}:`, { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:${resource}`]],
  };
}

/** The worker function of a tool (by its ASYNCTOOLS_TOOL). */
export function workerOf(s: Synthesized, tool: string): [string, Resource] {
  return single(
    ofType(s.resources, 'AWS::Lambda::Function').filter(([, f]) => f.Properties['Environment']?.Variables?.ASYNCTOOLS_TOOL === tool),
    `worker function of ${tool}`,
  );
}
