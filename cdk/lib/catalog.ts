// Loads and validates the tool catalog (workers/tools.toml), the file the Rust workers read too.
// The limits below mirror the catalog's header comment; a value outside them is refused here, at
// synth time, instead of as a failed CloudFormation deployment (or a silently clamped setting).
import { readFileSync } from 'node:fs';
import { parse, TomlError } from 'smol-toml';

export const CATALOG_VERSION = 1;

/** One `[[tools]]` entry. Units are in the names: seconds (`_s`) and megabytes (`_mb`). */
export interface ToolSpec {
  readonly name: string;
  readonly description: string;
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
    if (problems.length > before) return;

    tools.push({
      name: name as string,
      description: description as string,
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
