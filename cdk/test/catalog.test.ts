// The catalog loader: the real catalog loads, and every bad value is refused with a message that
// names the file, the tool, the field and the limit.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { CatalogError, LIMITS, loadCatalog, MAX_URL_LENGTH, parseCatalog, pascalCase, RECOVERY_S } from '../lib/catalog';
import { allKindsCatalogToml, synth, toolToml, writeCatalog } from './helpers';

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
    // No `kind` in the real catalog: all builtin, with no target.
    for (const tool of catalog.tools) {
      assert.equal(tool.kind, 'builtin', tool.name);
      assert.deepEqual([tool.function, tool.url, tool.authSecret, tool.maxAttempts], [undefined, undefined, undefined, undefined], tool.name);
    }
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

  describe('kind', () => {
    type Fields = Record<string, string | number>;
    const one = (fields: Fields) => `version = 1\n${toolToml({ name: 'k', ...fields })}`;
    const parsed = (fields: Fields) => {
      const tools = parseCatalog(one(fields), 'k.toml').tools;
      assert.equal(tools.length, 1, JSON.stringify(fields));
      return tools[0]!;
    };
    /** The problems of a refused catalog with one tool `k`. */
    const problems = (fields: Fields) => refused(one(fields)).problems;
    /** Refused with exactly one problem, which names tool "k" and the key, and matches `pattern`. */
    const refusedOnce = (fields: Fields, key: string, pattern: RegExp) => {
      const found = problems(fields);
      assert.equal(found.length, 1, `${JSON.stringify(fields)}: ${found.join(' | ')}`);
      assert.ok(found[0]!.startsWith(`tool "k": ${key} `), found[0]);
      assert.match(found[0]!, pattern, JSON.stringify(fields));
    };
    const ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:word-count';
    const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/geocode-AbCdEf';

    it('defaults to builtin; builtin takes no target', () => {
      assert.deepEqual(
        { ...parsed({}) },
        { ...parsed({ kind: 'builtin' }) },
        'kind = "builtin" is the same as no kind',
      );
      const tool = parsed({ kind: 'builtin' });
      assert.equal(tool.kind, 'builtin');
      assert.ok(!('function' in tool) && !('url' in tool) && !('authSecret' in tool) && !('maxAttempts' in tool), JSON.stringify(tool));
    });

    it('refuses an unknown kind, naming the tool and kind', () => {
      for (const kind of ['grpc', 'Lambda', 'HTTP', '']) {
        refusedOnce({ kind }, 'kind', new RegExp(`kind = "${kind}" is not one of "builtin", "lambda", "http"`));
      }
      refusedOnce({ kind: 1 }, 'kind', /kind = 1 is not one of/);
      // The values present are still checked.
      assert.deepEqual(problems({ kind: 'grpc', url: 'ftp://x' }).map((p) => p.split(' ').slice(0, 3).join(' ')), ['tool "k": kind', 'tool "k": url']);
    });

    describe('lambda: function', () => {
      it('accepts a name, an ARN, and an ARN qualified by a version or an alias, as given', () => {
        for (const fn of [
          'word-count', 'a', 'Fn_1', 'x'.repeat(64),
          ARN, `${ARN}:prod`, `${ARN}:7`, `${ARN}:$LATEST`, `${ARN}:${'q'.repeat(128)}`,
          'arn:aws-cn:lambda:cn-north-1:123456789012:function:f', 'arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f:live',
        ]) {
          const tool = parsed({ kind: 'lambda', function: fn });
          assert.deepEqual([tool.kind, tool.function, tool.url, tool.authSecret, tool.maxAttempts], ['lambda', fn, undefined, undefined, undefined], fn);
        }
      });

      it('refuses bad names and ARNs, naming the tool and function', () => {
        for (const fn of [
          'word count', 'x'.repeat(65), '', 'word-count:prod', 'wörd', 'a/b',
          `${ARN}:`, `${ARN}:${'q'.repeat(129)}`, `${ARN}:a.b`, ARN.replace('123456789012', '12345'), ARN.replace('lambda', 's3'),
          ARN.replace('eu-west-1', 'EU-WEST-1'), `${ARN}:prod:extra`, 'arn:aws:lambda:eu-west-1:123456789012:layer:x', '123456789012:function:x',
        ]) {
          refusedOnce({ kind: 'lambda', function: fn }, 'function', /is not a Lambda function name \(1 to 64 letters, digits, '-' and '_'\) or function ARN/);
        }
        refusedOnce({ kind: 'lambda', function: 5 }, 'function', /function = 5 is not a Lambda function name/);
      });

      it('is required', () => {
        refusedOnce({ kind: 'lambda' }, 'function', /function is missing \(kind = "lambda" invokes a Lambda function: its name or ARN\)/);
      });
    });

    describe('http: url, auth_secret, max_attempts', () => {
      it('accepts https:// on any host and http:// on a loopback host, as given', () => {
        const long = `https://geo.example.com/${'p'.repeat(MAX_URL_LENGTH - 'https://geo.example.com/'.length)}`;
        assert.equal(long.length, MAX_URL_LENGTH);
        for (const url of [
          'https://geo.example.com/lookup', 'https://geo.example.com:8443/v2?key=value#frag', 'https://10.0.0.7/x', 'HTTPS://Geo.Example.com',
          'http://127.0.0.1:8080/tool', 'http://localhost/tool', 'http://[::1]:9000/', 'http://LOCALHOST:1', long,
        ]) {
          const tool = parsed({ kind: 'http', url });
          assert.deepEqual([tool.kind, tool.url, tool.function, tool.authSecret, tool.maxAttempts], ['http', url, undefined, undefined, 3], url);
        }
      });

      it('refuses plain http:// off loopback, other schemes, non-URLs and more than 2048 characters, naming the tool and url', () => {
        for (const url of ['http://geo.example.com/lookup', 'http://127.0.0.2/', 'http://localhost.example.com/', 'http://10.0.0.7/', 'ftp://geo.example.com/x', 'file:///etc/passwd', 'ws://localhost/']) {
          refusedOnce({ kind: 'http', url }, 'url', /url = ".*" must be https:\/\/<host>\.\.\. \(http:\/\/ only for a loopback host: 127\.0\.0\.1, localhost, \[::1\]\)/);
        }
        for (const url of ['geo.example.com/lookup', 'https://', '', 'https://exa mple.com/']) {
          refusedOnce({ kind: 'http', url }, 'url', /url = ".*" is not a URL/);
        }
        for (const url of ['https://user:pw@geo.example.com/x', 'https://user@geo.example.com/x']) {
          refusedOnce({ kind: 'http', url }, 'url', /url must not carry credentials \(user:password@\): use auth_secret/);
        }
        refusedOnce({ kind: 'http', url: `https://geo.example.com/${'p'.repeat(MAX_URL_LENGTH)}` }, 'url', /url is 2072 characters long; at most 2048/);
        refusedOnce({ kind: 'http', url: 443 }, 'url', /url = 443 is not a string/);
        refusedOnce({ kind: 'http' }, 'url', /url is missing \(kind = "http" calls an endpoint: its https:\/\/ URL\)/);
      });

      it('auth_secret: a secret name or a full secret ARN', () => {
        for (const secret of ['geocode/api-key', 'a', 'prod/geo_code+1=.@-x', 's'.repeat(512), SECRET_ARN, 'arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:x-AbCdEf']) {
          assert.equal(parsed({ kind: 'http', url: 'https://geo.example.com', auth_secret: secret }).authSecret, secret, secret);
        }
        for (const secret of ['', 'has space', 's'.repeat(513), 'prod:geocode', SECRET_ARN.replace('123456789012', '123'), SECRET_ARN.replace('secret:', 'secrets:'), 'arn:aws:ssm:eu-west-1:123456789012:parameter/x']) {
          refusedOnce({ kind: 'http', url: 'https://geo.example.com', auth_secret: secret }, 'auth_secret', /auth_secret = ".*" is not a Secrets Manager secret name \(1 to 512 .*\) or secret ARN/);
        }
        refusedOnce({ kind: 'http', url: 'https://geo.example.com', auth_secret: 7 }, 'auth_secret', /auth_secret = 7 is not a Secrets Manager secret name/);
      });

      it('max_attempts: an integer in 1..=5, default 3', () => {
        const http = { kind: 'http', url: 'https://geo.example.com' };
        assert.equal(parsed(http).maxAttempts, 3);
        for (const n of [1, 2, 5]) assert.equal(parsed({ ...http, max_attempts: n }).maxAttempts, n);
        for (const [value, shown] of [[0, '0'], [6, '6'], [-1, '-1'], ['3', '"3"']] as const) {
          refusedOnce({ ...http, max_attempts: value }, 'max_attempts', new RegExp(`max_attempts = ${shown} is not an integer in 1\\.\\.=5 \\(attempts of one HTTP call`));
        }
        const float = refused(`${one(http)}max_attempts = 2.5\n`).problems;
        assert.deepEqual(float, ['tool "k": max_attempts = 2.5 is not an integer in 1..=5 (attempts of one HTTP call, the first included)']);
      });
    });

    it('refuses each key on a kind that does not take it, naming the tool, the key and both kinds', () => {
      const cases: [Fields, string, string, string][] = [
        [{ function: 'f' }, 'function', 'lambda', 'builtin'],
        [{ kind: 'builtin', url: 'https://x.example.com' }, 'url', 'http', 'builtin'],
        [{ auth_secret: 's' }, 'auth_secret', 'http', 'builtin'],
        [{ max_attempts: 3 }, 'max_attempts', 'http', 'builtin'],
        [{ kind: 'lambda', function: 'f', url: 'https://x.example.com' }, 'url', 'http', 'lambda'],
        [{ kind: 'lambda', function: 'f', auth_secret: 's' }, 'auth_secret', 'http', 'lambda'],
        [{ kind: 'lambda', function: 'f', max_attempts: 2 }, 'max_attempts', 'http', 'lambda'],
        [{ kind: 'http', url: 'https://x.example.com', function: 'f' }, 'function', 'lambda', 'http'],
      ];
      for (const [fields, key, owner, kind] of cases) {
        refusedOnce(fields, key, new RegExp(`^tool "k": ${key} is only for kind = "${owner}" \\(this tool is kind = "${kind}"\\)$`));
      }
      // Not checked as a value as well: one problem per mistake, even for a bad value.
      refusedOnce({ function: 'not a name' }, 'function', /is only for kind = "lambda"/);
    });

    it('lists kind problems with the others, for every tool', () => {
      const e = refused(
        `version = 1\n${toolToml({ name: 'a', kind: 'lambda', batch_size: 11 })}${toolToml({ name: 'b', kind: 'http', url: 'http://x.example.com', max_attempts: 9 })}`,
      );
      assert.deepEqual(e.problems.map((p) => p.split(' ').slice(0, 3).join(' ')), [
        'tool "a": batch_size', 'tool "a": function', 'tool "b": url', 'tool "b": max_attempts',
      ]);
    });

    it('reads a catalog of every kind, and the stack refuses a bad one naming file, tool and key', () => {
      const catalog = parseCatalog(allKindsCatalogToml(), 'all.toml');
      assert.deepEqual(catalog.tools.map((t) => [t.name, t.kind]), [
        ['echo', 'builtin'], ['word-count', 'lambda'], ['summarize', 'lambda'], ['geocode', 'http'], ['weather', 'http'],
      ]);
      const file = writeCatalog(one({ kind: 'http', url: 'http://geo.example.com' }));
      assert.throws(() => synth({ stackProps: { catalogPath: file } }), (e: unknown) => e instanceof CatalogError && e.message.includes(file) && e.message.includes('tool "k": url = "http://geo.example.com" must be https://'));
    });
  });
});
