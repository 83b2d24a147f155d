// The limits the CDK app repeats by hand from the Rust workers agree with them. Each Rust value is
// read from its source as text (workers/src/limits.rs, catalog.rs, protocol.rs), so neither side can
// change alone: a renamed or reshaped Rust constant fails here, naming it.
//
// Covered (Rust = TypeScript):
//   limits.rs   WRITE_RESERVE_S          = tool-worker.ts WRITE_RESERVE_S, catalog.ts RECOVERY_S.writeReserveS (and the "20 s" in LIMITS.timeout_s.why)
//   catalog.rs  visibility_timeout_s()   6 * (timeout_s + WRITE_RESERVE_S) = tool-worker.ts VISIBILITY_TIMEOUT_FACTOR, catalog.ts RECOVERY_S.timeoutFactor
//   catalog.rs  TIMEOUT_S 1..=880        = catalog.ts LIMITS.timeout_s; its end + WRITE_RESERVE_S = mcp-server.ts MCP_TIMEOUT (Lambda's 900 s maximum)
//   catalog.rs  MEMORY_MB 128..=10240    = catalog.ts LIMITS.memory_mb
//   catalog.rs  BATCH_SIZE 1..=10        = catalog.ts LIMITS.batch_size (its max also <= limits.rs MAX_RECEIVE_BATCH)
//   catalog.rs  MAX_CONCURRENCY 2..=1000 = catalog.ts LIMITS.max_concurrency
//   catalog.rs  MAX_RECEIVE_COUNT 5..=100 = catalog.ts LIMITS.max_receive_count
//   catalog.rs  RECOVERY_S 5..=900, DEFAULT_RECOVERY_S 30 = catalog.ts RECOVERY_S.min/.max/.default
//               (and within limits.rs MIN_RECOVERY_MS..=MAX_RECOVERY_MS, the worker's lease bounds)
//   catalog.rs  check_tool's range fields = catalog.ts Object.keys(LIMITS) + recovery_s
//   catalog.rs  CATALOG_VERSION 1        = catalog.ts CATALOG_VERSION
//   catalog.rs  MAX_NAME_CHARS 32 and check_tool's characters = catalog.ts NAME_PATTERN (and its refusal's "1 to 32")
//   catalog.rs  MAX_URL_CHARS 2048       = catalog.ts MAX_URL_LENGTH
//   catalog.rs  HTTP_MAX_ATTEMPTS 1..=5, DEFAULT_HTTP_MAX_ATTEMPTS 3 = catalog.ts MAX_ATTEMPTS.min/.max/.default
//   limits.rs   MAX_CONSUMERS 50         = consumers.ts MAX_CONSUMERS
//   limits.rs   MAX_CONSUMER_NAME_CHARS 32 and protocol.rs check_consumer_name's characters = consumers.ts NAME_PATTERN
//               (and its refusal's "1 to 32")
//   limits.rs   DEFAULT_CONSUMER "default" = consumers.ts DEFAULT_CONSUMERS (its one name)
//   limits.rs   DEFAULT_TASK_TTL_DAYS 7  = dispatcher.ts TASK_TTL_DAYS (within 1..=MAX_TASK_TTL_DAYS)
//   limits.rs   DEFAULT_SWEEP_OLDER_THAN_S 60 = sweeper.ts SWEEP_OLDER_THAN_S
//   limits.rs   DEFAULT_MAX_OPEN_TASKS 100 = context.ts DEFAULT_MAX_OPEN_TASKS (the `maxOpenTasks` default)
//   limits.rs   MAX_OPEN_TASKS_LIMIT 1000 = context.ts MAX_OPEN_TASKS_LIMIT (the end of `maxOpenTasks`' range)
//   limits.rs   MAX_RECEIVE_BATCH 10     >= mcp-server.ts SETTLER_BATCH_SIZE (also within catalog.rs BATCH_SIZE)
//   catalog.rs  MAX_CONCURRENCY start 2  = mcp-server.ts SETTLER_MAX_CONCURRENCY (the event source minimum)
//   limits.rs   MAX_VISIBILITY_TIMEOUT_S >= every queue visibility the stack sets (work queues at their
//               largest timeout_s, mcp-server.ts SETTLER_VISIBILITY_TIMEOUT)
// A synthesized stack is checked against the Rust values as well: worker timeouts, work queue
// visibility timeouts, ASYNCTOOLS_TASK_TTL_DAYS, ASYNCTOOLS_SWEEP_OLDER_THAN_S, ASYNCTOOLS_MAX_OPEN_TASKS
// (the dispatcher's and the MCP server's), the settler's event source.
//
// Not covered, having no named Rust constant in these files: the Lambda function name and qualifier
// lengths (64, 128: literals in catalog.rs check_function) behind FUNCTION_NAME_PATTERN and
// FUNCTION_ARN_PATTERN, the secret name rule, the environment variable names and SWEEPER_METRICS.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { CATALOG_VERSION, LIMITS, loadCatalog, MAX_ATTEMPTS, MAX_URL_LENGTH, NAME_PATTERN as TOOL_NAME_PATTERN, parseCatalog, RECOVERY_S } from '../lib/catalog';
import { DEFAULT_CONSUMERS, MAX_CONSUMERS, NAME_PATTERN as CONSUMER_NAME_PATTERN, parseConsumers } from '../lib/consumers';
import { DEFAULT_MAX_OPEN_TASKS, MAX_OPEN_TASKS_LIMIT, parseMaxOpenTasks } from '../lib/context';
import { TASK_TTL_DAYS } from '../lib/dispatcher';
import { MCP_TIMEOUT, SETTLER_BATCH_SIZE, SETTLER_MAX_CONCURRENCY, SETTLER_VISIBILITY_TIMEOUT } from '../lib/mcp-server';
import { SWEEP_OLDER_THAN_S } from '../lib/sweeper';
import { VISIBILITY_TIMEOUT_FACTOR, WRITE_RESERVE_S } from '../lib/tool-worker';
import { ofType, outputId, refId, single, synth, toolToml } from './helpers';

const WORKERS_SRC = path.join(__dirname, '../../workers/src');
const REAL_CATALOG = path.join(__dirname, '../../workers/tools.toml');

// ---- A small reader of Rust constants ----------------------------------------------------------

interface RustFile {
  /** For messages: workers/src/<name>. */
  readonly name: string;
  readonly text: string;
}

function readRust(file: string): RustFile {
  return { name: `workers/src/${file}`, text: readFileSync(path.join(WORKERS_SRC, file), 'utf8') };
}

/** The one `[pub] const NAME: TYPE = VALUE;` of `file`: its type and value, as written. */
function rustConstDecl(file: RustFile, name: string): { type: string; value: string } {
  const pattern = new RegExp(`^[ \\t]*(?:pub(?:\\([^)]*\\))?[ \\t]+)?const[ \\t]+${name}[ \\t]*:([^=;]+)=([^;]+);`, 'gm');
  const found = [...file.text.matchAll(pattern)];
  if (found.length === 0) {
    throw new Error(`${file.name}: no \`const ${name}: TYPE = VALUE;\` (renamed or removed? update the CDK constant mirroring it and this test)`);
  }
  if (found.length > 1) throw new Error(`${file.name}: \`const ${name}\` is declared ${found.length} times`);
  const [, type, value] = found[0]!;
  return { type: type!.trim(), value: value!.trim() };
}

/**
 * An integer expression as Rust constants write them: `1000`, `1_000`, `24 * 3600 * 1000`,
 * `64 * 1024 + 1`. Digits, `_`, `*` and `+` only; anything else (another constant's name, a
 * suffix, a shift, parentheses) throws, naming `what`.
 */
function evalIntExpr(expr: string, what: string): number {
  if (!/^\d[\d_]*(?:\s*[*+]\s*\d[\d_]*)*$/.test(expr)) {
    throw new Error(`${what}: value \`${expr}\` is not an integer expression of digits, '_', '*' and '+'`);
  }
  const value = expr
    .split('+')
    .reduce((sum, term) => sum + term.split('*').reduce((product, factor) => product * Number(factor.trim().replaceAll('_', '')), 1), 0);
  if (!Number.isSafeInteger(value)) throw new Error(`${what}: value \`${expr}\` = ${value} is not a safe integer`);
  return value;
}

const INT_TYPE = /^[ui](?:8|16|32|64|128|size)$/;

/** `const NAME: u32 = 24 * 3600;` → 86400. */
function rustInt(file: RustFile, name: string): number {
  const { type, value } = rustConstDecl(file, name);
  if (!INT_TYPE.test(type)) throw new Error(`${file.name}: const ${name} has type \`${type}\`, not an integer type`);
  return evalIntExpr(value, `${file.name}: const ${name}`);
}

/** `const NAME: RangeInclusive<u32> = 1..=880;` → { start: 1, end: 880 }. */
function rustRange(file: RustFile, name: string): { start: number; end: number } {
  const { type, value } = rustConstDecl(file, name);
  const what = `${file.name}: const ${name}`;
  if (!/^RangeInclusive<[ui](?:8|16|32|64|128|size)>$/.test(type)) throw new Error(`${what} has type \`${type}\`, not RangeInclusive<integer>`);
  const bounds = value.split('..=');
  if (bounds.length !== 2) throw new Error(`${what}: value \`${value}\` is not START..=END`);
  return { start: evalIntExpr(bounds[0]!.trim(), `${what} (start)`), end: evalIntExpr(bounds[1]!.trim(), `${what} (end)`) };
}

/** `const NAME: &str = "text";` → text (no escapes). */
function rustStr(file: RustFile, name: string): string {
  const { type, value } = rustConstDecl(file, name);
  const literal = /^"([^"\\]*)"$/.exec(value);
  if (!/^&(?:'static\s+)?str$/.test(type) || !literal) throw new Error(`${file.name}: const ${name} is not a plain &str literal: \`${type} = ${value}\``);
  return literal[1]!;
}

/** The body of `fn NAME(...) ... { body }` (braces matched; Rust's format strings keep them balanced). */
function rustFnBody(file: RustFile, name: string): string {
  const head = new RegExp(`\\bfn[ \\t]+${name}[ \\t]*(?:<[^>]*>)?\\(`).exec(file.text);
  if (!head) throw new Error(`${file.name}: no \`fn ${name}\``);
  const open = file.text.indexOf('{', head.index);
  let depth = 0;
  for (let i = open; i < file.text.length; i++) {
    if (file.text[i] === '{') depth++;
    else if (file.text[i] === '}' && --depth === 0) return file.text.slice(open + 1, i);
  }
  throw new Error(`${file.name}: fn ${name} has unbalanced braces`);
}

/**
 * A name check of the shape `!name.is_empty() && name.len() <= MAX && name.chars().all(|c| ...)`:
 * the constant bounding the length, and the ASCII characters its predicate accepts.
 */
function rustNameRule(file: RustFile, fn: string): { maxConst: string; allowed: (c: string) => boolean } {
  const body = rustFnBody(file, fn);
  const what = `${file.name}: fn ${fn}`;
  const len = /!(\w+)\s*\.is_empty\(\)\s*&&\s*\1\s*\.len\(\)\s*<=\s*([A-Z][A-Z0-9_]*)/.exec(body);
  if (!len) throw new Error(`${what}: no \`!name.is_empty() && name.len() <= MAX_...\` (the name rule changed shape)`);
  const predicate = /\.chars\(\)\s*\.all\(\|c\|([^;]*)\);/.exec(body);
  if (!predicate) throw new Error(`${what}: no \`.chars().all(|c| ...)\` (the name rule changed shape)`);
  const tests = predicate[1]!.split('||').map((term): ((c: string) => boolean) => {
    const t = term.trim();
    const literal = /^c == '(.)'$/.exec(t);
    if (literal) return (c) => c === literal[1];
    const classes: Record<string, RegExp> = {
      'c.is_ascii_lowercase()': /^[a-z]$/,
      'c.is_ascii_uppercase()': /^[A-Z]$/,
      'c.is_ascii_digit()': /^[0-9]$/,
      'c.is_ascii_alphanumeric()': /^[A-Za-z0-9]$/,
    };
    const cls = classes[t];
    if (!cls) throw new Error(`${what}: unknown term \`${t}\` in its character rule`);
    return (c) => cls.test(c);
  });
  return { maxConst: len[2]!, allowed: (c) => tests.some((test) => test(c)) };
}

/** `pattern` accepts exactly the one-character names `allowed` accepts, and 1..=max of them. */
function assertSameNameRule(pattern: RegExp, max: number, allowed: (c: string) => boolean, what: string): void {
  const chars = [...Array.from({ length: 128 }, (_, i) => String.fromCharCode(i)), 'é', 'ß', 'ı', 'K', '\u{1F600}'];
  for (const c of chars) assert.equal(pattern.test(c), allowed(c), `${what}: ${JSON.stringify(c)}`);
  const ok = chars.find(allowed);
  assert.ok(ok !== undefined, `${what}: the Rust rule accepts no character`);
  assert.ok(pattern.test(ok.repeat(max)), `${what}: ${max} characters are allowed`);
  assert.ok(!pattern.test(ok.repeat(max + 1)), `${what}: ${max + 1} characters are not`);
  assert.ok(!pattern.test(''), `${what}: the empty name is not`);
}

const limits = readRust('limits.rs');
const catalog = readRust('catalog.rs');
const protocol = readRust('protocol.rs');

/** FACTOR of catalog.rs `visibility_timeout_s()`, which must read `FACTOR * (self.timeout_s + WRITE_RESERVE_S)`. */
function rustVisibilityFactor(): number {
  const body = rustFnBody(catalog, 'visibility_timeout_s').trim();
  const formula = /^(\d[\d_]*)\s*\*\s*\(\s*self\.timeout_s\s*\+\s*(?:crate::limits::)?WRITE_RESERVE_S\s*\)$/.exec(body);
  if (!formula) {
    throw new Error(`${catalog.name}: fn visibility_timeout_s is no longer FACTOR * (self.timeout_s + WRITE_RESERVE_S): \`${body}\` (update lib/tool-worker.ts, lib/catalog.ts and this test)`);
  }
  return evalIntExpr(formula[1]!, `${catalog.name}: fn visibility_timeout_s (its factor)`);
}

// ---- The checks --------------------------------------------------------------------------------

describe('the Rust constant reader', () => {
  it('evaluates the expressions Rust constants use', () => {
    const file: RustFile = {
      name: 'example.rs',
      text: [
        'pub const A: u32 = 1000;',
        'pub const B: usize = 1_000;',
        '    pub const C: u64 = 24 * 3600 * 1000;',
        'const D: usize = 64 * 1024 + 1;',
        'pub(crate) const E: RangeInclusive<u32> = 128..=10_240;',
        "pub const F: &'static str = \"default\";",
      ].join('\n'),
    };
    assert.equal(rustInt(file, 'A'), 1000);
    assert.equal(rustInt(file, 'B'), 1000);
    assert.equal(rustInt(file, 'C'), 86_400_000);
    assert.equal(rustInt(file, 'D'), 65_537);
    assert.deepEqual(rustRange(file, 'E'), { start: 128, end: 10_240 });
    assert.equal(rustStr(file, 'F'), 'default');
  });

  it('fails loudly, naming the constant, when it is missing or its value is not such an expression', () => {
    const file: RustFile = {
      name: 'example.rs',
      text: ['pub const ALIAS: u32 = OTHER;', 'pub const SHIFT: u32 = 1 << 3;', 'pub const SUFFIX: u32 = 5u32;', '/// pub const IN_A_COMMENT: u32 = 1;', 'pub const TWICE: u32 = 1;', 'pub const TWICE: u32 = 2;'].join('\n'),
    };
    assert.throws(() => rustInt(limits, 'NO_SUCH_LIMIT'), /workers\/src\/limits\.rs: no `const NO_SUCH_LIMIT: TYPE = VALUE;`/);
    assert.throws(() => rustInt(file, 'IN_A_COMMENT'), /no `const IN_A_COMMENT/);
    assert.throws(() => rustInt(file, 'ALIAS'), /const ALIAS: value `OTHER` is not an integer expression/);
    assert.throws(() => rustInt(file, 'SHIFT'), /const SHIFT: value `1 << 3` is not an integer expression/);
    assert.throws(() => rustInt(file, 'SUFFIX'), /const SUFFIX: value `5u32`/);
    assert.throws(() => rustInt(file, 'TWICE'), /const TWICE` is declared 2 times/);
    assert.throws(() => rustRange(file, 'ALIAS'), /const ALIAS has type `u32`, not RangeInclusive/);
  });
});

describe('constants shared with workers/src/limits.rs', () => {
  it('the write reserve: WRITE_RESERVE_S', () => {
    const rust = rustInt(limits, 'WRITE_RESERVE_S');
    assert.equal(WRITE_RESERVE_S, rust, 'lib/tool-worker.ts WRITE_RESERVE_S');
    assert.equal(RECOVERY_S.writeReserveS, rust, 'lib/catalog.ts RECOVERY_S.writeReserveS');
    assert.match(LIMITS.timeout_s.why, new RegExp(`\\b${rust} s write reserve`), 'lib/catalog.ts LIMITS.timeout_s.why');
  });

  it('consumers: MAX_CONSUMERS, DEFAULT_CONSUMER', () => {
    assert.equal(MAX_CONSUMERS, rustInt(limits, 'MAX_CONSUMERS'));
    assert.deepEqual(
      DEFAULT_CONSUMERS.map((c) => c.name),
      [rustStr(limits, 'DEFAULT_CONSUMER')],
    );
  });

  it('consumer names: MAX_CONSUMER_NAME_CHARS and protocol.rs check_consumer_name', () => {
    const rule = rustNameRule(protocol, 'check_consumer_name');
    assert.equal(rule.maxConst, 'MAX_CONSUMER_NAME_CHARS', 'check_consumer_name bounds the length with MAX_CONSUMER_NAME_CHARS');
    const max = rustInt(limits, 'MAX_CONSUMER_NAME_CHARS');
    assertSameNameRule(CONSUMER_NAME_PATTERN, max, rule.allowed, 'lib/consumers.ts NAME_PATTERN');
    assert.equal(parseConsumers('c'.repeat(max))[0]?.name, 'c'.repeat(max));
    assert.throws(() => parseConsumers('c'.repeat(max + 1)), new RegExp(`a name is 1 to ${max} lowercase letters`));
  });

  it('task TTL: DEFAULT_TASK_TTL_DAYS, within 1..=MAX_TASK_TTL_DAYS', () => {
    assert.equal(TASK_TTL_DAYS, rustInt(limits, 'DEFAULT_TASK_TTL_DAYS'), 'lib/dispatcher.ts TASK_TTL_DAYS');
    assert.ok(TASK_TTL_DAYS >= 1 && TASK_TTL_DAYS <= rustInt(limits, 'MAX_TASK_TTL_DAYS'));
  });

  it('sweeper: DEFAULT_SWEEP_OLDER_THAN_S', () => {
    assert.equal(SWEEP_OLDER_THAN_S, rustInt(limits, 'DEFAULT_SWEEP_OLDER_THAN_S'), 'lib/sweeper.ts SWEEP_OLDER_THAN_S');
  });

  it('open tasks: DEFAULT_MAX_OPEN_TASKS, MAX_OPEN_TASKS_LIMIT (and maxOpenTasks accepts exactly 1..=MAX_OPEN_TASKS_LIMIT)', () => {
    const limit = rustInt(limits, 'MAX_OPEN_TASKS_LIMIT');
    assert.equal(DEFAULT_MAX_OPEN_TASKS, rustInt(limits, 'DEFAULT_MAX_OPEN_TASKS'), 'lib/context.ts DEFAULT_MAX_OPEN_TASKS');
    assert.equal(MAX_OPEN_TASKS_LIMIT, limit, 'lib/context.ts MAX_OPEN_TASKS_LIMIT');
    assert.ok(DEFAULT_MAX_OPEN_TASKS >= 1 && DEFAULT_MAX_OPEN_TASKS <= limit);
    assert.equal(parseMaxOpenTasks(String(limit)), limit);
    assert.equal(parseMaxOpenTasks('1'), 1);
    assert.throws(() => parseMaxOpenTasks(String(limit + 1)), new RegExp(`in 1\\.\\.=${limit}`));
    assert.throws(() => parseMaxOpenTasks('0'), /maxOpenTasks/);
  });

  it('batches: the settler\'s and the catalog\'s batch sizes are at most MAX_RECEIVE_BATCH', () => {
    const max = rustInt(limits, 'MAX_RECEIVE_BATCH');
    assert.ok(SETTLER_BATCH_SIZE >= 1 && SETTLER_BATCH_SIZE <= max, `SETTLER_BATCH_SIZE ${SETTLER_BATCH_SIZE} outside 1..=${max}`);
    assert.ok(LIMITS.batch_size.max <= max, `LIMITS.batch_size.max ${LIMITS.batch_size.max} > ${max}`);
  });

  it('recovery: RECOVERY_S in seconds is within the worker\'s MIN_RECOVERY_MS..=MAX_RECOVERY_MS', () => {
    const [min, max] = [rustInt(limits, 'MIN_RECOVERY_MS'), rustInt(limits, 'MAX_RECOVERY_MS')];
    assert.ok(RECOVERY_S.min * 1000 >= min, `RECOVERY_S.min ${RECOVERY_S.min} s < ${min} ms`);
    assert.ok(RECOVERY_S.max * 1000 <= max, `RECOVERY_S.max ${RECOVERY_S.max} s > ${max} ms`);
  });

  it('visibility timeouts the stack sets stay within MAX_VISIBILITY_TIMEOUT_S', () => {
    const max = rustInt(limits, 'MAX_VISIBILITY_TIMEOUT_S');
    const largestWork = VISIBILITY_TIMEOUT_FACTOR * (LIMITS.timeout_s.max + WRITE_RESERVE_S);
    assert.ok(largestWork <= max, `work queue visibility ${largestWork} s > ${max} s`);
    assert.ok(SETTLER_VISIBILITY_TIMEOUT.toSeconds() <= max, `settler visibility ${SETTLER_VISIBILITY_TIMEOUT.toSeconds()} s > ${max} s`);
  });
});

describe('constants shared with workers/src/catalog.rs', () => {
  it('CATALOG_VERSION', () => {
    assert.equal(CATALOG_VERSION, rustInt(catalog, 'CATALOG_VERSION'));
  });

  it('the range fields: the same fields as check_tool, with the same ranges', () => {
    // check_tool's table: ("timeout_s", tool.timeout_s, &TIMEOUT_S, ...).
    const rows = [...rustFnBody(catalog, 'check_tool').matchAll(/\(\s*"(\w+)",\s*tool\.\1,\s*&([A-Z][A-Z0-9_]*),/g)];
    const rustFields = new Map(rows.map(([, field, constant]) => [field!, constant!]));
    assert.ok(rustFields.size >= 5, `workers/src/catalog.rs check_tool: found only ${rustFields.size} range rows (it changed shape)`);
    assert.deepEqual([...rustFields.keys()].sort(), [...Object.keys(LIMITS), 'recovery_s'].sort());
    for (const [field, { min, max }] of Object.entries(LIMITS)) {
      const { start, end } = rustRange(catalog, rustFields.get(field)!);
      assert.deepEqual({ min, max }, { min: start, max: end }, `LIMITS.${field} = ${rustFields.get(field)}`);
    }
    const recovery = rustRange(catalog, rustFields.get('recovery_s')!);
    assert.deepEqual({ min: RECOVERY_S.min, max: RECOVERY_S.max }, { min: recovery.start, max: recovery.end }, 'RECOVERY_S');
    assert.equal(RECOVERY_S.default, rustInt(catalog, 'DEFAULT_RECOVERY_S'), 'RECOVERY_S.default');
  });

  it('TIMEOUT_S: its end plus the write reserve is Lambda\'s maximum (MCP_TIMEOUT)', () => {
    assert.equal(rustRange(catalog, 'TIMEOUT_S').end + rustInt(limits, 'WRITE_RESERVE_S'), MCP_TIMEOUT.toSeconds());
  });

  it('BATCH_SIZE and MAX_CONCURRENCY bound the settler\'s event source (the concurrency at the minimum)', () => {
    const batch = rustRange(catalog, 'BATCH_SIZE');
    assert.ok(SETTLER_BATCH_SIZE >= batch.start && SETTLER_BATCH_SIZE <= batch.end, `SETTLER_BATCH_SIZE ${SETTLER_BATCH_SIZE}`);
    assert.equal(SETTLER_MAX_CONCURRENCY, rustRange(catalog, 'MAX_CONCURRENCY').start, 'SETTLER_MAX_CONCURRENCY');
  });

  it('the work queue visibility timeout: visibility_timeout_s() = FACTOR * (timeout_s + WRITE_RESERVE_S)', () => {
    const factor = rustVisibilityFactor();
    assert.equal(VISIBILITY_TIMEOUT_FACTOR, factor, 'lib/tool-worker.ts VISIBILITY_TIMEOUT_FACTOR');
    assert.equal(RECOVERY_S.timeoutFactor, factor, 'lib/catalog.ts RECOVERY_S.timeoutFactor');
  });

  it('tool names: MAX_NAME_CHARS and check_tool\'s characters', () => {
    const rule = rustNameRule(catalog, 'check_tool');
    assert.equal(rule.maxConst, 'MAX_NAME_CHARS', 'check_tool bounds the length with MAX_NAME_CHARS');
    const max = rustInt(catalog, 'MAX_NAME_CHARS');
    assertSameNameRule(TOOL_NAME_PATTERN, max, rule.allowed, 'lib/catalog.ts NAME_PATTERN');
    assert.equal(parseCatalog(`version = 1\n${toolToml({ name: 't'.repeat(max) })}`, 'edge.toml').tools[0]?.name, 't'.repeat(max));
    assert.throws(() => parseCatalog(`version = 1\n${toolToml({ name: 't'.repeat(max + 1) })}`, 'bad.toml'), new RegExp(`use 1 to ${max} lowercase letters`));
  });

  it('http tools: MAX_URL_CHARS, HTTP_MAX_ATTEMPTS, DEFAULT_HTTP_MAX_ATTEMPTS', () => {
    assert.equal(MAX_URL_LENGTH, rustInt(catalog, 'MAX_URL_CHARS'), 'MAX_URL_LENGTH');
    const attempts = rustRange(catalog, 'HTTP_MAX_ATTEMPTS');
    assert.deepEqual({ min: MAX_ATTEMPTS.min, max: MAX_ATTEMPTS.max }, { min: attempts.start, max: attempts.end }, 'MAX_ATTEMPTS');
    assert.equal(MAX_ATTEMPTS.default, rustInt(catalog, 'DEFAULT_HTTP_MAX_ATTEMPTS'), 'MAX_ATTEMPTS.default');
  });
});

describe('the synthesized stack uses the Rust values', () => {
  const s = synth();
  const functions = ofType(s.resources, 'AWS::Lambda::Function');
  const withEnv = (name: string, value?: string) =>
    single(
      functions.filter(([, f]) => {
        const v = f.Properties['Environment']?.Variables?.[name];
        return value === undefined ? v !== undefined : v === value;
      }),
      `function with ${name}${value === undefined ? '' : `=${value}`}`,
    );
  const writeReserveS = rustInt(limits, 'WRITE_RESERVE_S');
  const factor = rustVisibilityFactor();

  it('each tool: worker timeout = timeout_s + WRITE_RESERVE_S, work queue visibility = visibility_timeout_s()', () => {
    const maxVisibility = rustInt(limits, 'MAX_VISIBILITY_TIMEOUT_S');
    for (const tool of loadCatalog(REAL_CATALOG).tools) {
      const [, fn] = withEnv('ASYNCTOOLS_TOOL', tool.name);
      assert.equal(fn.Properties['Timeout'], tool.timeoutS + writeReserveS, tool.name);
      const visibility = s.resources[outputId(s, `WorkQueueUrl${tool.pascalName}`)]!.Properties['VisibilityTimeout'];
      assert.equal(visibility, factor * (tool.timeoutS + writeReserveS), tool.name);
      assert.ok(visibility <= maxVisibility, `${tool.name}: ${visibility} > ${maxVisibility}`);
    }
  });

  it('ASYNCTOOLS_TASK_TTL_DAYS = DEFAULT_TASK_TTL_DAYS, ASYNCTOOLS_SWEEP_OLDER_THAN_S = DEFAULT_SWEEP_OLDER_THAN_S', () => {
    const [, dispatcher] = single(
      functions.filter(([id]) => id === refId(s.outputs['DispatcherArn']?.Value)),
      'dispatcher function',
    );
    assert.equal(dispatcher.Properties['Environment'].Variables.ASYNCTOOLS_TASK_TTL_DAYS, String(rustInt(limits, 'DEFAULT_TASK_TTL_DAYS')));
    const [, sweeper] = withEnv('ASYNCTOOLS_SWEEP_OLDER_THAN_S');
    assert.equal(sweeper.Properties['Environment'].Variables.ASYNCTOOLS_SWEEP_OLDER_THAN_S, String(rustInt(limits, 'DEFAULT_SWEEP_OLDER_THAN_S')));
  });

  it('ASYNCTOOLS_MAX_OPEN_TASKS = DEFAULT_MAX_OPEN_TASKS on the dispatcher and the MCP server', () => {
    const expected = String(rustInt(limits, 'DEFAULT_MAX_OPEN_TASKS'));
    for (const key of ['DispatcherArn', 'McpFunctionArn']) {
      const fn = s.resources[outputId(s, key)]!;
      assert.equal(fn.Properties['Environment'].Variables.ASYNCTOOLS_MAX_OPEN_TASKS, expected, key);
    }
  });

  it('the settler\'s event source: batch within MAX_RECEIVE_BATCH, concurrency at MAX_CONCURRENCY\'s minimum', () => {
    const [settlerId] = withEnv('ASYNCTOOLS_CONSUMER', 'mcp');
    const [, mapping] = single(
      ofType(s.resources, 'AWS::Lambda::EventSourceMapping').filter(([, m]) => refId(m.Properties['FunctionName']) === settlerId),
      'settler event source',
    );
    assert.ok(mapping.Properties['BatchSize'] <= rustInt(limits, 'MAX_RECEIVE_BATCH'), `BatchSize ${mapping.Properties['BatchSize']}`);
    assert.equal(mapping.Properties['ScalingConfig'].MaximumConcurrency, rustRange(catalog, 'MAX_CONCURRENCY').start);
  });
});
