// The catalog loader: the real catalog loads, and every bad value is refused with a message that
// names the file, the tool, the field and the limit.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { CatalogError, LIMITS, loadCatalog, parseCatalog, pascalCase, RECOVERY_S } from '../lib/catalog';
import { synth, toolToml, writeCatalog } from './helpers';

const REAL_CATALOG = path.resolve(__dirname, '../../workers/tools.toml');

function refused(text: string): CatalogError {
  const file = writeCatalog(text);
  try {
    loadCatalog(file);
  } catch (e) {
    assert.ok(e instanceof CatalogError, `expected a CatalogError, got ${String(e)}`);
    assert.match(e.message, new RegExp(`invalid tool catalog ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    return e;
  }
  assert.fail(`catalog was accepted:\n${text}`);
}

describe('tool catalog', () => {
  it('loads workers/tools.toml', () => {
    const catalog = loadCatalog(REAL_CATALOG);
    assert.deepEqual(
      catalog.tools.map((t) => t.name),
      ['sentiment', 'research', 'synthetic'],
    );
    const research = catalog.tools.find((t) => t.name === 'research');
    assert.equal(research?.timeoutS, 120);
    assert.equal(research?.pascalName, 'Research');
    for (const tool of catalog.tools) assert.ok(tool.maxReceiveCount >= 5 && tool.recoveryS >= 5, tool.name);
  });

  it('turns names into PascalCase output keys', () => {
    assert.equal(pascalCase('synthetic'), 'Synthetic');
    assert.equal(pascalCase('web-search'), 'WebSearch');
    assert.equal(pascalCase('a2-b3'), 'A2B3');
  });

  it('accepts values at the limits', () => {
    for (const [field, { min, max }] of Object.entries(LIMITS)) {
      for (const value of [min, max]) {
        // recovery_s = 5 so that timeout_s = 1 is not refused for the default recovery_s (30 > 6 x 1).
        const catalog = parseCatalog(`version = 1\n${toolToml({ name: 'edge', recovery_s: 5, [field]: value })}`, 'edge.toml');
        assert.equal(catalog.tools.length, 1, `${field} = ${value}`);
      }
    }
  });

  for (const [field, { min, max }] of Object.entries(LIMITS)) {
    it(`refuses ${field} outside ${min}..=${max}`, () => {
      for (const value of [min - 1, max + 1]) {
        const e = refused(`version = 1\n${toolToml({ name: 'bad-tool', [field]: value })}`);
        assert.match(e.message, new RegExp(`tool "bad-tool": ${field} = ${value} is not an integer in ${min}\\.\\.=${max}`));
      }
    });
  }

  it('refuses a float, a string and a missing field', () => {
    const base = 'version = 1\n[[tools]]\nname = "x"\ndescription = "d"\nbatch_size = 1\nmax_concurrency = 2\n';
    const e = refused(`${base}timeout_s = 10.5\nmemory_mb = "big"\nmax_receive_count = 5\n`);
    assert.match(e.message, /tool "x": timeout_s = 10\.5 is not an integer in 1\.\.=880/);
    assert.match(e.message, /tool "x": memory_mb = "big" is not an integer/);
    const missing = refused(`${base}timeout_s = 5\nmemory_mb = 128\n`);
    assert.match(missing.message, /tool "x": max_receive_count is missing/);
  });

  it('refuses bad names, duplicates and names that collide as output keys', () => {
    assert.match(refused(`version = 1\n${toolToml({ name: 'Web_Search' })}`).message, /tool "Web_Search": name = "Web_Search": use 1 to 32 lowercase/);
    assert.match(refused(`version = 1\n${toolToml({ name: 'x'.repeat(33) })}`).message, /name = "x{33}"/);
    assert.match(refused(`version = 1\n${toolToml({ name: 'a' })}${toolToml({ name: 'a' })}`).message, /tool "a": name is declared twice/);
    assert.match(refused(`version = 1\n${toolToml({ name: 'a-b' })}${toolToml({ name: 'a--b' })}`).message, /tool "a--b": name maps to the same output key \(AB\) as tool "a-b"/);
  });

  it('refuses a wrong version, no tools and broken TOML', () => {
    assert.match(refused(`version = 2\n${toolToml({ name: 'a' })}`).message, /version = 2: this stack reads catalog version 1/);
    assert.match(refused('version = 1\n').message, /no \[\[tools\]\] entries/);
    assert.match(refused('version = 1\n[[tools]\n').message, /not valid TOML \(line 2/);
    assert.match(refused('').message, /version = \(missing\)/);
  });

  it('lists every problem at once', () => {
    const e = refused(`version = 1\n${toolToml({ name: 'a', batch_size: 11, memory_mb: 64 })}${toolToml({ name: 'b', timeout_s: 0 })}`);
    assert.equal(e.problems.length, 3, e.message);
  });

  it('makes the stack refuse an invalid catalog, naming file, tool, field and limit', () => {
    const file = writeCatalog(`version = 1\n${toolToml({ name: 'slow', timeout_s: 881 })}`);
    assert.throws(
      () => synth({ stackProps: { catalogPath: file } }),
      (e: unknown) =>
        e instanceof CatalogError &&
        e.message.includes(file) &&
        e.message.includes('tool "slow": timeout_s = 881 is not an integer in 1..=880 (Lambda\'s maximum timeout less the worker\'s 20 s write reserve)'),
    );
  });

  it('refuses max_receive_count 3 (AWS advises at least 5) and timeout_s 881 (881 + 20 > 900)', () => {
    assert.match(
      refused(`version = 1\n${toolToml({ name: 'flaky', max_receive_count: 3 })}`).message,
      /tool "flaky": max_receive_count = 3 is not an integer in 5\.\.=100 \(.*AWS advises at least 5/,
    );
    assert.match(refused(`version = 1\n${toolToml({ name: 'slow', timeout_s: 881 })}`).message, /tool "slow": timeout_s = 881 is not an integer in 1\.\.=880/);
  });

  describe('input_schema', () => {
    const withSchema = (schema: string, fields: Record<string, number> = {}) => `version = 1\n${toolToml({ name: 's', ...fields })}${schema}`;
    const SCHEMA = [
      '[tools.input_schema]',
      'type = "object"',
      'required = ["q"]',
      'additionalProperties = false',
      '[tools.input_schema.properties.q]',
      'type = "string"',
      'maxLength = 9',
      "pattern = '\\S'",
      '',
    ].join('\n');

    it('is optional, and accepted as a table with type = "object" whatever else it holds', () => {
      assert.equal(parseCatalog(withSchema(''), 's.toml').tools.length, 1);
      assert.equal(parseCatalog(withSchema(SCHEMA), 's.toml').tools[0]?.name, 's');
      assert.equal(parseCatalog(withSchema('input_schema = { type = "object", minProperties = 1 }\n'), 's.toml').tools.length, 1, 'an inline table');
      // A schema on one tool of several: [tools.input_schema] belongs to the [[tools]] entry above it.
      const two = parseCatalog(`version = 1\n${toolToml({ name: 'a' })}${SCHEMA}${toolToml({ name: 'b' })}`, 'two.toml');
      assert.deepEqual(two.tools.map((t) => t.name), ['a', 'b']);
    });

    it('refuses a type other than "object", or none, naming the tool and input_schema.type', () => {
      for (const [type, shown] of [['"array"', '"array"'], ['"Object"', '"Object"'], ['1', '1'], ['["object"]', '["object"]']] as const) {
        assert.match(
          refused(withSchema(`[tools.input_schema]\ntype = ${type}\n`)).message,
          new RegExp(`tool "s": input_schema\\.type = ${shown.replace(/[[\]]/g, '\\$&')} must be "object" \\(tool arguments are a JSON object\\)`),
          type,
        );
      }
      assert.match(refused(withSchema('[tools.input_schema]\nrequired = ["q"]\n')).message, /tool "s": input_schema\.type = \(missing\) must be "object"/);
    });

    it('refuses an input_schema that is not a table, naming the tool and input_schema.type', () => {
      for (const [value, shown] of [['"object"', '"object"'], ['[1, 2]', '[1,2]'], ['1979-05-27', '"1979-05-27"'], ['true', 'true']] as const) {
        const message = refused(withSchema(`input_schema = ${value}\n`)).message;
        assert.ok(message.includes(`tool "s": input_schema = ${shown} is not a table`), message);
        assert.ok(message.includes('input_schema.type = "object"'), message);
      }
    });

    it('is listed with the tool\'s other problems, and fails the synth', () => {
      const e = refused(withSchema('[tools.input_schema]\ntype = "array"\n', { batch_size: 11 }));
      assert.equal(e.problems.length, 2, e.message);
      const file = writeCatalog(withSchema('[tools.input_schema]\ntype = "string"\n'));
      assert.throws(() => synth({ stackProps: { catalogPath: file } }), (err: unknown) => err instanceof CatalogError && err.message.includes('input_schema.type = "string"'));
    });

    it('leaves other unknown keys ignored, as before', () => {
      const catalog = parseCatalog(withSchema(`future_key = "x"\n[tools.future_table]\nanything = [1, 2]\n`), 'f.toml');
      assert.equal(catalog.tools.length, 1);
    });
  });

  describe('recovery_s', () => {
    const one = (fields: Record<string, number>) => `version = 1\n${toolToml({ name: 'r', ...fields })}`;

    it('defaults to 30, and is read when given', () => {
      assert.equal(RECOVERY_S.default, 30);
      assert.equal(parseCatalog(one({}), 'r.toml').tools[0]?.recoveryS, 30);
      assert.equal(parseCatalog(one({ recovery_s: 5 }), 'r.toml').tools[0]?.recoveryS, 5);
      assert.equal(parseCatalog(one({ timeout_s: 150, recovery_s: 900 }), 'r.toml').tools[0]?.recoveryS, 900);
    });

    it('refuses 4, 901 and a float, naming file, tool and field', () => {
      for (const [value, shown] of [[4, '4'], [901, '901']] as const) {
        assert.match(
          refused(one({ timeout_s: 200, recovery_s: value })).message,
          new RegExp(`tool "r": recovery_s = ${shown} is not an integer in 5\\.\\.=900 \\(how long a crashed worker's tasks wait`),
        );
      }
      assert.match(refused(`${one({})}recovery_s = 30.5\n`).message, /tool "r": recovery_s = 30\.5 is not an integer in 5\.\.=900/);
    });

    it('must fit in the work queue visibility timeout, 6 x (timeout_s + 20), as the Rust reader says', () => {
      assert.equal(parseCatalog(one({ timeout_s: 1, recovery_s: 126 }), 'r.toml').tools[0]?.recoveryS, 126);
      assert.match(
        refused(one({ timeout_s: 1, recovery_s: 127 })).message,
        /tool "r": recovery_s = 127 is longer than the work queue's visibility timeout \(126 s\)/,
      );
      assert.equal(parseCatalog(one({ timeout_s: 1 }), 'r.toml').tools[0]?.recoveryS, 30);
    });
  });
});
