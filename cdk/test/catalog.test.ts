// The catalog loader: the real catalog loads, and every bad value is refused with a message that
// names the file, the tool, the field and the limit.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { CatalogError, LIMITS, loadCatalog, parseCatalog, pascalCase } from '../lib/catalog';
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
  });

  it('turns names into PascalCase output keys', () => {
    assert.equal(pascalCase('synthetic'), 'Synthetic');
    assert.equal(pascalCase('web-search'), 'WebSearch');
    assert.equal(pascalCase('a2-b3'), 'A2B3');
  });

  it('accepts values at the limits', () => {
    for (const [field, { min, max }] of Object.entries(LIMITS)) {
      for (const value of [min, max]) {
        const catalog = parseCatalog(`version = 1\n${toolToml({ name: 'edge', [field]: value })}`, 'edge.toml');
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
    const e = refused(`${base}timeout_s = 10.5\nmemory_mb = "big"\nmax_receive_count = 3\n`);
    assert.match(e.message, /tool "x": timeout_s = 10\.5 is not an integer in 1\.\.=900/);
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
    const file = writeCatalog(`version = 1\n${toolToml({ name: 'slow', timeout_s: 901 })}`);
    assert.throws(
      () => synth({ stackProps: { catalogPath: file } }),
      (e: unknown) =>
        e instanceof CatalogError &&
        e.message.includes(file) &&
        e.message.includes('tool "slow": timeout_s = 901 is not an integer in 1..=900 (Lambda\'s maximum timeout)'),
    );
  });
});
