// Loads and validates the tool catalog (workers/tools.toml), the file the Rust workers read too.
// The limits below mirror the catalog's header comment; a value outside them is refused here, at
// synth time, instead of as a failed CloudFormation deployment (or a silently clamped setting).
import { readFileSync } from 'node:fs';
import { parse, TomlError } from 'smol-toml';

export const CATALOG_VERSION = 1;

/**
 * How a tool runs. `builtin`: code in the Rust worker binary (the default when `kind` is absent).
 * `lambda`: the worker invokes an existing Lambda function (`function`). `http`: the worker calls an
 * existing HTTPS endpoint (`url`, optionally `auth_secret`, `max_attempts`). Every kind gets the
 * same queue, DLQ, worker function and alarms.
 */
export const TOOL_KINDS = ['builtin', 'lambda', 'http'] as const;
export type ToolKind = (typeof TOOL_KINDS)[number];

/** One `[[tools]]` entry. Units are in the names: seconds (`_s`) and megabytes (`_mb`). */
export interface ToolSpec {
  readonly name: string;
  readonly description: string;
  readonly kind: ToolKind;
  /**
   * kind = "lambda": the function to invoke, a name (in the stack's account and region) or an ARN
   * (optionally qualified by a version or alias). The catalog's value, unless the stage's
   * `toolTargets` context overrides it (see lib/tool-targets.ts). Undefined for other kinds.
   */
  readonly function?: string;
  /** kind = "http": the endpoint (https://, or http:// on a loopback host). Undefined for other kinds. */
  readonly url?: string;
  /** kind = "http", optional: the Secrets Manager secret (name or ARN) holding the endpoint's credential. */
  readonly authSecret?: string;
  /** kind = "http": attempts per call, 1..=5 (default 3). Undefined for other kinds. */
  readonly maxAttempts?: number;
  readonly timeoutS: number;
  readonly memoryMb: number;
  readonly batchSize: number;
  readonly maxConcurrency: number;
  readonly maxReceiveCount: number;
  /**
   * How long a crashed worker's tasks wait before another worker takes them over: the worker
   * shortens each received message's visibility to this and renews it with a heartbeat.
   */
  readonly recoveryS: number;
  /** The name in PascalCase (`web-search` → `WebSearch`): construct ids and output keys. */
  readonly pascalName: string;
}

export interface Catalog {
  readonly path: string;
  readonly version: number;
  readonly tools: readonly ToolSpec[];
}

/** Inclusive integer limits of the required fields, keyed by the TOML field name. */
export const LIMITS = {
  // The worker function's timeout is timeout_s + WRITE_RESERVE_S (20 s), and Lambda's maximum is 900.
  timeout_s: { min: 1, max: 880, why: "Lambda's maximum timeout less the worker's 20 s write reserve" },
  memory_mb: { min: 128, max: 10240, why: "Lambda's memory range" },
  batch_size: { min: 1, max: 10, why: 'SQS event source on a standard queue without a batching window' },
  max_concurrency: { min: 2, max: 1000, why: 'SQS event source maximum concurrency' },
  max_receive_count: { min: 5, max: 100, why: 'deliveries before a message moves to the DLQ; AWS advises at least 5 for SQS event sources' },
} as const;
type IntField = keyof typeof LIMITS;

/** The optional `recovery_s`: its limits, its default, and its bound relative to timeout_s. */
export const RECOVERY_S = {
  min: 5,
  max: 900,
  default: 30,
  /** recovery_s must be <= the work queue's visibility timeout: this x (timeout_s + the write reserve). */
  timeoutFactor: 6,
  writeReserveS: 20,
  why: "how long a crashed worker's tasks wait before another worker takes them over",
} as const;

export const NAME_PATTERN = /^[a-z0-9-]{1,32}$/;

/** `function`: a Lambda function name (in the stack's account and region)... */
export const FUNCTION_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** ...or a function ARN, with an optional qualifier (a version or an alias). */
export const FUNCTION_ARN_PATTERN = /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]{1,128})?$/;
/** `auth_secret`: a Secrets Manager secret name (in the stack's account and region)... */
export const SECRET_NAME_PATTERN = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
/** ...or a secret ARN, given in full (with the 6 characters Secrets Manager appends to the name). */
export const SECRET_ARN_PATTERN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;
/** `url`: at most this many characters. */
export const MAX_URL_LENGTH = 2048;
/** `url`: the hosts http:// is allowed for (local testing); any other host needs https://. */
export const LOOPBACK_HOSTS: readonly string[] = ['127.0.0.1', 'localhost', '[::1]'];
/** The optional `max_attempts` of an `http` tool. */
export const MAX_ATTEMPTS = { min: 1, max: 5, default: 3, why: 'attempts of one HTTP call, the first included' } as const;

/**
 * The keys that belong to one kind only, and that kind. A key on another kind is a problem (it
 * would be silently ignored otherwise, and a tool that looks like it calls a service would not).
 */
export const KIND_ONLY_KEYS = {
  function: 'lambda',
  url: 'http',
  auth_secret: 'http',
  max_attempts: 'http',
} as const satisfies Record<string, ToolKind>;
type KindOnlyKey = keyof typeof KIND_ONLY_KEYS;

/** A catalog the stack refuses; the message lists every problem, each with file, tool and field. */
export class CatalogError extends Error {
  constructor(
    readonly path: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid tool catalog ${path}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'CatalogError';
  }
}

/** `web-search` → `WebSearch`, `synthetic` → `Synthetic`. */
export function pascalCase(name: string): string {
  return name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

export function loadCatalog(path: string): Catalog {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CatalogError(path, [`cannot read the file: ${(e as Error).message}`]);
  }
  return parseCatalog(text, path);
}

export function parseCatalog(text: string, path: string): Catalog {
  let doc: Record<string, unknown>;
  try {
    // Integers as BigInt so that `timeout_s = 10.0` (a float, which the Rust reader refuses) is
    // told apart from `timeout_s = 10`.
    doc = parse(text, { integersAsBigInt: true, unsafeKeyBehaviour: 'throw' }) as Record<string, unknown>;
  } catch (e) {
    const detail = e instanceof TomlError ? `line ${e.line}, column ${e.column}: ${e.message.split('\n')[0]}` : String(e);
    throw new CatalogError(path, [`not valid TOML (${detail})`]);
  }

  const problems: string[] = [];
  const version = doc['version'];
  if (version !== BigInt(CATALOG_VERSION)) {
    problems.push(`version = ${show(version)}: this stack reads catalog version ${CATALOG_VERSION}`);
  }
  const rawTools = doc['tools'];
  if (!Array.isArray(rawTools) || rawTools.length === 0) {
    problems.push('no [[tools]] entries: the catalog must declare at least one tool');
    throw new CatalogError(path, problems);
  }

  // Unknown keys are ignored on purpose: the Rust side may add keys the stack has no use for.
  // `input_schema` (the tool's argument schema, for MCP clients) is only checked for its shape.
  const tools: ToolSpec[] = [];
  rawTools.forEach((raw: unknown, index: number) => {
    const entry = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
    const label = typeof entry['name'] === 'string' ? `tool "${entry['name']}"` : `tools[${index}]`;
    const before = problems.length;

    const name = entry['name'];
    if (typeof name !== 'string' || !NAME_PATTERN.test(name) || pascalCase(name) === '') {
      problems.push(`${label}: name = ${show(name)}: use 1 to 32 lowercase letters, digits and '-'`);
    }
    const description = entry['description'];
    if (typeof description !== 'string' || description.trim() === '') {
      problems.push(`${label}: description = ${show(description)}: must be a non-empty string`);
    }
    const ints = {} as Record<IntField, number>;
    for (const field of Object.keys(LIMITS) as IntField[]) {
      const { min, max, why } = LIMITS[field];
      const value = entry[field];
      if (typeof value !== 'bigint' || value < BigInt(min) || value > BigInt(max)) {
        const what = value === undefined ? 'is missing' : `= ${show(value)} is not an integer in ${min}..=${max}`;
        problems.push(`${label}: ${field} ${what} (${why})`);
      } else {
        ints[field] = Number(value);
      }
    }
    const recoveryS = checkRecovery(entry['recovery_s'], ints.timeout_s, label, problems);
    checkInputSchema(entry['input_schema'], label, problems);
    const target = checkKind(entry, label, problems);
    if (problems.length > before || target === undefined) return;

    tools.push({
      name: name as string,
      description: description as string,
      ...target,
      timeoutS: ints.timeout_s,
      memoryMb: ints.memory_mb,
      batchSize: ints.batch_size,
      maxConcurrency: ints.max_concurrency,
      maxReceiveCount: ints.max_receive_count,
      recoveryS,
      pascalName: pascalCase(name as string),
    });
  });

  // Names become construct ids and CloudFormation output keys in PascalCase, so `a-b` and `a--b`
  // (both `AB`) would collide even though the names differ.
  const seen = new Map<string, string>();
  for (const tool of tools) {
    const other = seen.get(tool.pascalName);
    if (other === tool.name) problems.push(`tool "${tool.name}": name is declared twice; names must be unique`);
    else if (other !== undefined) {
      problems.push(`tool "${tool.name}": name maps to the same output key (${tool.pascalName}) as tool "${other}"`);
    }
    seen.set(tool.pascalName, tool.name);
  }

  if (problems.length > 0) throw new CatalogError(path, problems);
  return { path, version: CATALOG_VERSION, tools };
}

/** What `kind` decides, as ToolSpec fields. */
type KindFields = Pick<ToolSpec, 'kind' | 'function' | 'url' | 'authSecret' | 'maxAttempts'>;

/**
 * `kind` and the keys that belong to one kind (`function`, `url`, `auth_secret`, `max_attempts`).
 * Pushes a problem per mistake and returns undefined when there is any.
 */
function checkKind(entry: Record<string, unknown>, label: string, problems: string[]): KindFields | undefined {
  const before = problems.length;
  const rawKind = entry['kind'] ?? 'builtin';
  const kind = TOOL_KINDS.find((k) => k === rawKind);
  if (kind === undefined) {
    problems.push(`${label}: kind = ${show(rawKind)} is not one of ${TOOL_KINDS.map((k) => `"${k}"`).join(', ')}`);
  }
  // A key of another kind is one problem; its value is not checked as well. With an unknown kind,
  // the values present are still checked.
  const present = (key: KindOnlyKey): boolean => {
    if (entry[key] === undefined) return false;
    if (kind !== undefined && KIND_ONLY_KEYS[key] !== kind) {
      problems.push(`${label}: ${key} is only for kind = "${KIND_ONLY_KEYS[key]}" (this tool is kind = "${kind}")`);
      return false;
    }
    return true;
  };
  const check = (key: KindOnlyKey, problem: (value: unknown) => string | undefined): void => {
    if (!present(key)) return;
    const p = problem(entry[key]);
    if (p !== undefined) problems.push(`${label}: ${p}`);
  };
  check('function', functionProblem);
  check('url', urlProblem);
  check('auth_secret', authSecretProblem);
  check('max_attempts', (value) => {
    const { min, max, why } = MAX_ATTEMPTS;
    return typeof value !== 'bigint' || value < BigInt(min) || value > BigInt(max)
      ? `max_attempts = ${show(value)} is not an integer in ${min}..=${max} (${why})`
      : undefined;
  });
  if (kind === 'lambda' && entry['function'] === undefined) {
    problems.push(`${label}: function is missing (kind = "lambda" invokes a Lambda function: its name or ARN)`);
  }
  if (kind === 'http' && entry['url'] === undefined) {
    problems.push(`${label}: url is missing (kind = "http" calls an endpoint: its https:// URL)`);
  }
  if (kind === undefined || problems.length > before) return undefined;

  switch (kind) {
    case 'builtin':
      return { kind };
    case 'lambda':
      return { kind, function: entry['function'] as string };
    case 'http':
      return {
        kind,
        url: entry['url'] as string,
        ...(entry['auth_secret'] === undefined ? {} : { authSecret: entry['auth_secret'] as string }),
        maxAttempts: entry['max_attempts'] === undefined ? MAX_ATTEMPTS.default : Number(entry['max_attempts']),
      };
  }
}

/**
 * Why `value` is not a valid `function` (a problem starting with the key), or undefined. Shared
 * with the `toolTargets` context, which takes the same values.
 */
export function functionProblem(value: unknown): string | undefined {
  if (typeof value === 'string' && (FUNCTION_NAME_PATTERN.test(value) || FUNCTION_ARN_PATTERN.test(value))) return undefined;
  return (
    `function = ${show(value)} is not a Lambda function name (1 to 64 letters, digits, '-' and '_') ` +
    'or function ARN (arn:aws:lambda:<region>:<account>:function:<name>, optionally :<version or alias>)'
  );
}

/** Why `value` is not a valid `url`, or undefined. */
export function urlProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return `url = ${show(value)} is not a string`;
  // Not echoed: the point is that it is too long.
  if (value.length > MAX_URL_LENGTH) return `url is ${value.length} characters long; at most ${MAX_URL_LENGTH}`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `url = ${show(value)} is not a URL`;
  }
  // Credentials in the URL would sit in the worker's environment in plain text.
  if (url.username !== '' || url.password !== '') {
    return 'url must not carry credentials (user:password@): use auth_secret';
  }
  const loopback = LOOPBACK_HOSTS.includes(url.hostname);
  if (url.hostname === '' || !(url.protocol === 'https:' || (url.protocol === 'http:' && loopback))) {
    return `url = ${show(value)} must be https://<host>... (http:// only for a loopback host: ${LOOPBACK_HOSTS.join(', ')})`;
  }
  return undefined;
}

/** Why `value` is not a valid `auth_secret`, or undefined. */
export function authSecretProblem(value: unknown): string | undefined {
  if (typeof value === 'string' && (SECRET_NAME_PATTERN.test(value) || SECRET_ARN_PATTERN.test(value))) return undefined;
  return (
    `auth_secret = ${show(value)} is not a Secrets Manager secret name (1 to 512 of letters, digits and /_+=.@-) ` +
    'or secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>)'
  );
}

/** `recovery_s`, or its default; pushes a problem (and returns NaN) when it is out of bounds. */
function checkRecovery(value: unknown, timeoutS: number | undefined, label: string, problems: string[]): number {
  const { min, max, why, timeoutFactor, writeReserveS } = RECOVERY_S;
  if (value !== undefined && (typeof value !== 'bigint' || value < BigInt(min) || value > BigInt(max))) {
    problems.push(`${label}: recovery_s = ${show(value)} is not an integer in ${min}..=${max} (${why})`);
    return Number.NaN;
  }
  const recoveryS = value === undefined ? RECOVERY_S.default : Number(value);
  // Only when timeout_s itself is valid: one problem per mistake.
  const visibilityS = timeoutS === undefined ? undefined : timeoutFactor * (timeoutS + writeReserveS);
  if (visibilityS !== undefined && recoveryS > visibilityS) {
    const which = value === undefined ? `recovery_s (default ${recoveryS})` : `recovery_s = ${recoveryS}`;
    problems.push(`${label}: ${which} is longer than the work queue's visibility timeout (${visibilityS} s)`);
  }
  return recoveryS;
}

/**
 * The optional `input_schema`: a JSON Schema for the tool's arguments, written as TOML tables. The
 * stack checks only what makes it a schema of arguments (a table with `type = "object"`, as the
 * Rust reader does); its contents, and its size bound, are workers/src/catalog.rs's to check.
 */
function checkInputSchema(value: unknown, label: string, problems: string[]): void {
  if (value === undefined) return;
  if (!isTable(value)) {
    problems.push(`${label}: input_schema = ${show(value)} is not a table (a JSON Schema with input_schema.type = "object", e.g. [tools.input_schema])`);
    return;
  }
  if (value['type'] !== 'object') {
    problems.push(`${label}: input_schema.type = ${show(value['type'])} must be "object" (tool arguments are a JSON object)`);
  }
}

/** A TOML table: smol-toml gives tables a null prototype; arrays and dates are objects too. */
function isTable(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype;
}

function show(value: unknown): string {
  if (value === undefined) return '(missing)';
  if (typeof value === 'bigint') return value.toString();
  // Integers inside arrays and tables are BigInts too, which JSON.stringify refuses.
  return JSON.stringify(value, (_, v: unknown) => (typeof v === 'bigint' ? Number(v) : v)) ?? String(value);
}
