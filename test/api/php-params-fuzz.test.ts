import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { chooseFormat } from '../../src/api/ocs.js';
import {
  arrayParam,
  boolParam,
  cachedQueryParser,
  floatParam,
  intParam,
  mergeParams,
  type Params,
  parsePhpQuery,
  phpIntCast,
  stringListParam,
  stringParam,
} from '../../src/api/php-params.js';
import { parseBody } from '../../src/api/request-body.js';
import { DomainError } from '../../src/core/errors.js';
import { oddString, oddValue } from '../helpers/fuzz-arbitraries.js';
import { nested, nestedJson, phpForm } from '../helpers/fuzz-routes.js';

/**
 * Properties of the parameter decoders, for any input: they return what their contract says or
 * throw a DomainError('bad_request') (a 400 with a message), never anything else, which would be
 * a 500. Seeded and bounded; the HTTP-level fuzzing is in fuzz.test.ts.
 */

const SEED = 18_08_2026;
const RUNS = { seed: SEED, numRuns: 2000 };

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

/** Query strings built from the pieces that matter to PHP's decoding. */
const queryString = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        ...['a', 'b[]', 'c[x]', 'd[0][1]', '[', ']', '[]', 'e[', 'f]', 'g[h', 'a.b', 'a b', '__proto__[x]', 'x[constructor]'],
        ...['=', '&', '%', '%zz', '%00', '%5B', '%5D', '+', '%2B', '1e3'],
      ),
      oddString,
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(''));

/** The deepest nesting of arrays and objects in a value (a scalar is 0), and whether a forbidden key occurs. */
function shape(value: unknown): { depth: number; forbidden: boolean; leaves: number; nonString: boolean } {
  if (typeof value !== 'object' || value === null) return { depth: 0, forbidden: false, leaves: 1, nonString: typeof value !== 'string' };
  let depth = 0;
  let forbidden = false;
  let leaves = 0;
  let nonString = false;
  for (const [k, v] of Object.entries(value)) {
    const s = shape(v);
    depth = Math.max(depth, s.depth);
    forbidden ||= s.forbidden || FORBIDDEN.has(k);
    leaves += s.leaves;
    nonString ||= s.nonString;
  }
  return { depth: depth + 1, forbidden, leaves, nonString };
}

/** Runs `read` and says how it ended: a value, or a 400 in the making. Anything else fails the property. */
function outcome<T>(read: () => T): { value: T } | { refused: string } {
  try {
    return { value: read() };
  } catch (err) {
    assert.ok(err instanceof DomainError, `not a DomainError: ${String(err)}`);
    assert.equal(err.code, 'bad_request');
    assert.ok(err.message.length > 0);
    return { refused: err.message };
  }
}

describe('parsePhpQuery', () => {
  it('never throws, and gives strings in plain objects and lists at most 64 levels deep, without prototype keys', () => {
    fc.assert(
      fc.property(queryString, (qs) => {
        const parsed = parsePhpQuery(qs);
        assert.equal(Object.getPrototypeOf(parsed), Object.prototype);
        const s = shape(parsed);
        assert.ok(s.depth <= 65, `nested ${s.depth} levels`);
        assert.equal(s.forbidden, false);
        assert.equal(s.nonString, false);
      }),
      RUNS,
    );
  });

  it('keeps at most 1000 variables and drops names nested deeper than 64 levels', () => {
    assert.ok(shape(parsePhpQuery(Array.from({ length: 5000 }, (_, i) => `v${i}=1`).join('&'))).leaves <= 1000);
    assert.deepEqual(parsePhpQuery(`a${'[b]'.repeat(10_000)}=x&c=1`), { c: '1' });
    assert.equal(shape(parsePhpQuery(`a${'[b]'.repeat(64)}=x`)).depth, 65);
  });

  it('reads back what PHP-style form encoding wrote, for lists and maps of strings', () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9_]{0,5}$/).filter((n) => !FORBIDDEN.has(n));
    const leaf = fc.string({ unit: 'binary', maxLength: 8 });
    const value = fc.oneof(leaf, fc.array(leaf, { minLength: 1, maxLength: 3 }), fc.dictionary(name, leaf, { minKeys: 1, maxKeys: 3 }));
    fc.assert(
      fc.property(fc.dictionary(name, value, { maxKeys: 5 }), (params) => {
        // Keys that look like list indexes are PHP's integer keys, and an object keyed 0..n-1 reads back as a list.
        const listLike = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).every((key, i) => key === String(i));
        const expected = JSON.parse(JSON.stringify(params), (k, v) => (k !== '' && listLike(v) ? Object.values(v) : v));
        assert.deepEqual(parsePhpQuery(phpForm(params)), expected);
      }),
      RUNS,
    );
  });

  it('answers a cached query string as it parsed it the first time', () => {
    const parse = cachedQueryParser();
    fc.assert(
      fc.property(queryString, (qs) => {
        const first = parse(qs);
        assert.deepEqual(parse(qs), first);
        assert.deepEqual(first, parsePhpQuery(qs));
      }),
      RUNS,
    );
  });
});

describe('mergeParams', () => {
  it('lets route placeholders win, never carries prototype keys, and refuses only values nested too deep', () => {
    const params = fc.dictionary(fc.oneof(oddString, fc.constantFrom('id', 'format', '__proto__', 'constructor')), oddValue, { maxKeys: 5 });
    const routeParams = fc.dictionary(fc.constantFrom('id', 'taskId'), oddString, { maxKeys: 2 });
    fc.assert(
      fc.property(params, fc.oneof(oddValue, params), routeParams, (query, body, route) => {
        const result = outcome(() => mergeParams(query, body, route));
        if ('refused' in result) {
          assert.match(result.refused, /^Parameter ".*" is nested deeper than 64 levels$/s);
          return;
        }
        for (const [k, v] of Object.entries(route)) if (!FORBIDDEN.has(k)) assert.equal(result.value[k], v);
        for (const k of FORBIDDEN) assert.equal(Object.hasOwn(result.value, k), false);
      }),
      RUNS,
    );
  });

  it('takes a body value 64 levels deep and refuses one 65 levels or 100 000 levels deep, naming it', () => {
    assert.deepEqual(mergeParams({}, { output: nested(64) }, {}), { output: nested(64) });
    for (const deep of [nested(65), nested(65, 'object'), JSON.parse(nestedJson(100_000)), JSON.parse(nestedJson(40_000, 'object'))]) {
      const result = outcome(() => mergeParams({}, { input: 'x', output: deep }, {}));
      assert.deepEqual(result, { refused: 'Parameter "output" is nested deeper than 64 levels' });
    }
  });
});

describe('typed parameter readers', () => {
  const anyParams = fc.record({ p: fc.oneof(oddValue, fc.constant(undefined)) });

  it('return their type or refuse with a 400, for any value', () => {
    fc.assert(
      fc.property(anyParams, (raw) => {
        const params = raw as Params;
        const int = outcome(() => intParam(params, 'p', 7));
        if ('value' in int) assert.ok(Number.isSafeInteger(int.value));
        const float = outcome(() => floatParam(params, 'p', 0.5));
        if ('value' in float) assert.ok(Number.isFinite(float.value));
        assert.equal(typeof boolParam(params, 'p', true), 'boolean');
        const str = outcome(() => stringParam(params, 'p', { nullable: true }));
        if ('value' in str) assert.ok(str.value === null || typeof str.value === 'string');
        const arr = outcome(() => arrayParam(params, 'p'));
        if ('value' in arr) assert.ok(arr.value === null || typeof arr.value === 'object');
        const list = outcome(() => stringListParam(params, 'p'));
        if ('value' in list) assert.ok(list.value.every((s) => typeof s === 'string'));
      }),
      RUNS,
    );
  });

  it("cast any route placeholder to a whole number within PHP's 64-bit range", () => {
    fc.assert(
      fc.property(fc.oneof(oddString, fc.double().map(String), fc.bigInt().map(String)), (raw) => {
        const n = phpIntCast(raw);
        assert.ok(Number.isInteger(n) && Math.abs(n) <= 2 ** 63 && !Object.is(n, -0), `${JSON.stringify(raw)} → ${n}`);
      }),
      RUNS,
    );
  });
});

describe('body and format decoding', () => {
  it('decodes any body text under any content type, or refuses it with a 400', () => {
    const type = fc.constantFrom(...['application/json', 'APPLICATION/JSON; charset=utf-8', 'application/x-www-form-urlencoded', 'text/plain', ''], undefined);
    const deep = fc.constantFrom(nestedJson(100_000), `{"a":${nestedJson(50_000, 'object')}}`, '\ufeff{}', '{"a":');
    const text = fc.oneof(
      oddString,
      oddValue.map((v) => JSON.stringify(v) ?? ''),
      deep,
    );
    fc.assert(
      fc.property(type, text, (t, body) => {
        outcome(() => parseBody(t, body));
      }),
      RUNS,
    );
  });

  it('picks JSON or XML for any format parameter and Accept header', () => {
    fc.assert(
      fc.property(oddValue, fc.option(oddString), (format, accept) => {
        assert.ok(['json', 'xml'].includes(chooseFormat(format, accept ?? undefined)));
      }),
      RUNS,
    );
  });
});
