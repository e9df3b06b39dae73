import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  arrayParam,
  boolParam,
  cachedQueryParser,
  floatParam,
  intParam,
  mergeParams,
  parsePhpQuery,
  phpIntCast,
  stringListParam,
  stringParam,
} from '../../src/api/php-params.js';
import { DomainError } from '../../src/core/errors.js';

function badRequest(message: string) {
  return (err: unknown) => err instanceof DomainError && err.code === 'bad_request' && err.message === message;
}

describe('parsePhpQuery', () => {
  it('decodes scalars, lists and maps as PHP does', () => {
    assert.deepEqual(parsePhpQuery('a=1&b[]=x&b[]=y&c[0]=p&c[1]=q&d[k]=v'), {
      a: '1',
      b: ['x', 'y'],
      c: ['p', 'q'],
      d: { k: 'v' },
    });
  });

  it('keeps arrays whose keys are not 0..n-1 in order as objects', () => {
    assert.deepEqual(parsePhpQuery('c[1]=q&c[0]=p'), { c: { 1: 'q', 0: 'p' } });
    assert.deepEqual(parsePhpQuery('c[0]=p&c[2]=q'), { c: { 0: 'p', 2: 'q' } });
    assert.deepEqual(parsePhpQuery('c[00]=p'), { c: { '00': 'p' } });
  });

  it('appends after the highest integer key', () => {
    assert.deepEqual(parsePhpQuery('a[5]=x&a[]=y'), { a: { 5: 'x', 6: 'y' } });
    assert.deepEqual(parsePhpQuery('a[k]=x&a[]=y'), { a: { k: 'x', 0: 'y' } });
  });

  it('nests brackets', () => {
    assert.deepEqual(parsePhpQuery('a[b][c]=1&a[b][d][]=2'), { a: { b: { c: '1', d: ['2'] } } });
  });

  it('decodes + and percent escapes, and tolerates malformed ones', () => {
    assert.deepEqual(parsePhpQuery('q=a+b%20c&r=%zz%4&s=%E2%82%AC&t=100%'), { q: 'a b c', r: '%zz%4', s: '€', t: '100%' });
    assert.deepEqual(parsePhpQuery('a%5B0%5D=x'), { a: ['x'] });
    assert.deepEqual(parsePhpQuery('bad=%FF'), { bad: '\ufffd' });
    assert.deepEqual(parsePhpQuery('raw=é'), { raw: 'é' });
  });

  it('gives a bare key the empty string and skips empty pairs and names', () => {
    assert.deepEqual(parsePhpQuery('x&&y=&=z&[a]=1'), { x: '', y: '' });
  });

  it('rewrites names as PHP does', () => {
    assert.deepEqual(parsePhpQuery(' a.b c=1'), { a_b_c: '1' });
    assert.deepEqual(parsePhpQuery('a[b.c=1'), { a_b_c: '1' });
    assert.deepEqual(parsePhpQuery('a[b]x=1'), { a: { b: '1' } });
    assert.deepEqual(parsePhpQuery('a[b][c=1'), { a: { b: '1' } });
    assert.deepEqual(parsePhpQuery('a%00b=1'), { a: '1' });
  });

  it('lets later values win, scalars and arrays replacing each other', () => {
    assert.deepEqual(parsePhpQuery('a=1&a=2'), { a: '2' });
    assert.deepEqual(parsePhpQuery('a=1&a[]=2'), { a: ['2'] });
    assert.deepEqual(parsePhpQuery('a[]=1&a=2'), { a: '2' });
  });

  it('stops after 1000 variables', () => {
    const qs = Array.from({ length: 1005 }, (_, i) => `v${i}=${i}`).join('&');
    const out = parsePhpQuery(qs);
    assert.equal(Object.keys(out).length, 1000);
    assert.equal(out.v999, '999');
    assert.equal(out.v1000, undefined);
  });

  it('drops a variable nested deeper than 64 levels, as PHP does', () => {
    assert.ok(parsePhpQuery(`a${'[x]'.repeat(64)}=1`).a);
    assert.deepEqual(parsePhpQuery(`keep=1&a=0&a${'[x]'.repeat(65)}=1`), { keep: '1' });
  });

  it('ignores prototype-polluting names', () => {
    const attempts = [
      '__proto__[polluted]=1',
      '__proto__.polluted=1',
      'a[__proto__][polluted]=1',
      'constructor[prototype][polluted]=1',
      'a[constructor][prototype][polluted]=1',
      'prototype=1',
      '__proto__=1',
    ];
    for (const qs of attempts) {
      const out = parsePhpQuery(`${qs}&ok=1`);
      assert.equal(Object.getPrototypeOf(out), Object.prototype, qs);
      assert.equal(({} as Record<string, unknown>).polluted, undefined, qs);
      assert.equal((out as Record<string, unknown>).polluted, undefined, qs);
      assert.equal(Object.hasOwn(out, '__proto__'), false, qs);
      assert.equal(out.ok, '1', qs);
    }
    assert.deepEqual(parsePhpQuery('a[__proto__][x]=1&a[y]=2'), { a: { y: '2' } });
  });

  it('never throws on odd input', () => {
    for (const qs of ['', '&', '=', '%', '[', ']', '[[]]', 'a[[[', 'a]]]=1', '%%%', '\uD800=\uDC00']) {
      assert.doesNotThrow(() => parsePhpQuery(qs), qs);
    }
  });
});

describe('mergeParams', () => {
  it('lets the body override the query and route placeholders override both', () => {
    assert.deepEqual(mergeParams({ a: 'q', b: 'q', id: 'q' }, { b: 'body', id: 'body' }, { id: '7' }), { a: 'q', b: 'body', id: '7' });
  });

  it('ignores bodies that are not objects', () => {
    assert.deepEqual(mergeParams({ a: '1' }, ['x'], {}), { a: '1' });
    assert.deepEqual(mergeParams({ a: '1' }, 'text', {}), { a: '1' });
    assert.deepEqual(mergeParams({ a: '1' }, undefined, {}), { a: '1' });
  });

  it('drops prototype-polluting keys from a JSON body', () => {
    const out = mergeParams({}, JSON.parse('{"__proto__":{"polluted":1},"ok":1}'), {});
    assert.deepEqual(out, { ok: 1 });
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

describe('intParam', () => {
  it('accepts integers and integer strings', () => {
    assert.equal(intParam({ n: 5 }, 'n'), 5);
    assert.equal(intParam({ n: '-12' }, 'n'), -12);
    assert.equal(intParam({ n: ' 7 ' }, 'n'), 7);
  });

  it('uses the default when absent or null, and throws without one', () => {
    assert.equal(intParam({}, 'n', 3), 3);
    assert.equal(intParam({ n: null }, 'n', 3), 3);
    assert.throws(() => intParam({}, 'n'), badRequest('Missing parameter: n'));
  });

  it('refuses other values, naming the parameter', () => {
    for (const n of ['12abc', '1.5', 1.5, true, [], {}, '']) {
      assert.throws(() => intParam({ n }, 'n'), badRequest('Parameter "n" must be an integer'), String(n));
    }
  });
});

describe('floatParam', () => {
  it('accepts numbers and PHP numeric strings', () => {
    assert.equal(floatParam({ p: 0.5 }, 'p'), 0.5);
    assert.equal(floatParam({ p: '.5' }, 'p'), 0.5);
    assert.equal(floatParam({ p: '1e-1' }, 'p'), 0.1);
    assert.equal(floatParam({ p: '1' }, 'p'), 1);
  });

  it('refuses other values and throws when a required one is absent', () => {
    assert.throws(() => floatParam({ p: 'abc' }, 'p'), badRequest('Parameter "p" must be a number'));
    assert.throws(() => floatParam({ p: true }, 'p'), badRequest('Parameter "p" must be a number'));
    assert.throws(() => floatParam({}, 'progress'), badRequest('Missing parameter: progress'));
    assert.equal(floatParam({}, 'p', 0), 0);
  });
});

describe('boolParam', () => {
  it('follows the Dispatcher: "false" is false, then PHP truthiness', () => {
    const cases: [unknown, boolean][] = [
      ['false', false],
      ['0', false],
      ['', false],
      [0, false],
      [false, false],
      [[], false],
      [{}, false],
      ['1', true],
      ['true', true],
      ['no', true],
      [true, true],
      [2, true],
      [['x'], true],
    ];
    for (const [value, expected] of cases) assert.equal(boolParam({ b: value }, 'b', !expected), expected, JSON.stringify(value));
  });

  it('uses the default when absent or null', () => {
    assert.equal(boolParam({}, 'b', true), true);
    assert.equal(boolParam({ b: null }, 'b', false), false);
  });
});

describe('stringParam', () => {
  it('returns strings and converts numbers and booleans as PHP does', () => {
    assert.equal(stringParam({ s: 'x' }, 's'), 'x');
    assert.equal(stringParam({ s: 12 }, 's'), '12');
    assert.equal(stringParam({ s: 1.5 }, 's'), '1.5');
    assert.equal(stringParam({ s: true }, 's'), '1');
  });

  it('throws a missing required one, with or without the explicit option', () => {
    assert.throws(() => stringParam({}, 'type'), badRequest('Missing parameter: type'));
    assert.throws(() => stringParam({ type: null }, 'type', { required: true }), badRequest('Missing parameter: type'));
  });

  it('supplies the default or null when absent', () => {
    assert.equal(stringParam({}, 'customId', { default: '' }), '');
    assert.equal(stringParam({ customId: null }, 'customId', { default: '' }), '');
    assert.equal(stringParam({}, 'webhookUri', { nullable: true }), null);
  });

  it('refuses arrays and objects', () => {
    assert.throws(() => stringParam({ s: ['x'] }, 's'), badRequest('Parameter "s" must be a string'));
    assert.throws(() => stringParam({ s: {} }, 's', { nullable: true }), badRequest('Parameter "s" must be a string'));
  });
});

describe('arrayParam', () => {
  it('accepts arrays and objects', () => {
    assert.deepEqual(arrayParam({ input: { a: 1 } }, 'input', { required: true }), { a: 1 });
    assert.deepEqual(arrayParam({ input: [] }, 'input', { required: true }), []);
  });

  it('throws a missing required one and returns null for an optional one', () => {
    assert.throws(() => arrayParam({}, 'input', { required: true }), badRequest('Missing parameter: input'));
    assert.equal(arrayParam({}, 'output'), null);
  });

  it('refuses strings and other scalars', () => {
    assert.throws(() => arrayParam({ input: 'x' }, 'input', { required: true }), badRequest('Parameter "input" must be an array'));
    assert.throws(() => arrayParam({ input: 1 }, 'input'), badRequest('Parameter "input" must be an array'));
  });
});

describe('stringListParam', () => {
  it('accepts lists, PHP arrays with other keys, and single strings', () => {
    assert.deepEqual(stringListParam({ ids: ['a', 'b'] }, 'ids'), ['a', 'b']);
    assert.deepEqual(stringListParam({ ids: { 3: 'a', k: 'b' } }, 'ids'), ['a', 'b']);
    assert.deepEqual(stringListParam({ ids: 'a' }, 'ids'), ['a']);
    assert.deepEqual(stringListParam({ ids: [1] }, 'ids'), ['1']);
  });

  it('refuses other items and throws when absent', () => {
    assert.throws(() => stringListParam({ ids: [['a']] }, 'ids'), badRequest('Parameter "ids" must be a list of strings'));
    assert.throws(() => stringListParam({ ids: 5 }, 'ids'), badRequest('Parameter "ids" must be a list of strings'));
    assert.throws(() => stringListParam({}, 'providerIds'), badRequest('Missing parameter: providerIds'));
  });
});

describe('phpIntCast', () => {
  it('casts as PHP (int) does', () => {
    const cases: [string, number][] = [
      ['42', 42],
      ['-3', -3],
      ['12abc', 12],
      ['abc', 0],
      ['', 0],
      ['  7', 7],
      ['1e3', 1000],
      ['12.9', 12],
      ['-0', 0],
      ['0x1A', 0],
      ['99999999999999999999999', 2 ** 63],
      ['1e999', 0],
    ];
    for (const [raw, expected] of cases) assert.equal(phpIntCast(raw), expected, raw);
  });
});

describe('cachedQueryParser', () => {
  const strings = ['format=json', 'format=json', 'a=1&b=2&a=3', 'x', '', 'a%5B0%5D=p&a%5B1%5D=q', 'a[]=p&a[]=q', 'n.a me=1', 'q=%E2%82%AC+1'];

  it('answers as parsePhpQuery does, the first time and the next', () => {
    const parse = cachedQueryParser();
    for (const qs of [...strings, ...strings]) assert.deepEqual(parse(qs), parsePhpQuery(qs), qs);
  });

  it('shares only flat answers, frozen; arrays are parsed afresh every time', () => {
    const parse = cachedQueryParser();
    const flat = parse('format=json&customId=x');
    assert.equal(parse('format=json&customId=x'), flat);
    assert.equal(Object.isFrozen(flat), true);
    for (const qs of ['a[]=p', 'a%5B%5D=p']) {
      const first = parse(qs) as { a: string[] };
      first.a.push('changed');
      assert.deepEqual(parse(qs), { a: ['p'] }, qs);
    }
  });

  it('answers right past its size, and keeps no long query string', () => {
    const parse = cachedQueryParser();
    for (let i = 0; i < 1000; i++) assert.deepEqual(parse(`id=${i}`), { id: String(i) });
    const long = `x=${'y'.repeat(300)}`;
    assert.notEqual(parse(long), parse(long), 'a long query string is not kept');
    assert.deepEqual(parse(long), parsePhpQuery(long));
  });
});
