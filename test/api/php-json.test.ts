import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeOnce, PhpFloat, phpFloatString, phpJsonEncode, phpStringCast } from '../../src/api/php-json.js';

describe('phpJsonEncode (json_encode with JSON_HEX_TAG)', () => {
  it('writes no whitespace and keeps key order', () => {
    assert.equal(phpJsonEncode({ b: 1, a: [true, false, null], c: 'x' }), '{"b":1,"a":[true,false,null],"c":"x"}');
  });

  it('escapes slashes, quotes, backslashes and tags', () => {
    assert.equal(phpJsonEncode('a/b "q" \\ <b>&\''), '"a\\/b \\"q\\" \\\\ \\u003Cb\\u003E&\'"');
  });

  it('writes non-ASCII as lowercase \\u escapes, astral characters as surrogate pairs', () => {
    assert.equal(phpJsonEncode('é€ñ'), '"\\u00e9\\u20ac\\u00f1"');
    assert.equal(phpJsonEncode('😀'), '"\\ud83d\\ude00"');
    assert.equal(phpJsonEncode('\u2028'), '"\\u2028"');
  });

  it('escapes control characters as PHP does', () => {
    assert.equal(phpJsonEncode('\b\f\n\r\t'), '"\\b\\f\\n\\r\\t"');
    assert.equal(phpJsonEncode('\u0000\u0001\u001f\u007f'), '"\\u0000\\u0001\\u001f\u007f"');
  });

  it('escapes object keys like strings', () => {
    assert.equal(phpJsonEncode({ 'a/<b>': 1 }), '{"a\\/\\u003Cb\\u003E":1}');
  });

  it('keeps empty arrays as [] and empty objects as {}', () => {
    assert.equal(phpJsonEncode({ list: [], map: {} }), '{"list":[],"map":{}}');
  });

  it('writes undefined and holes as null', () => {
    assert.equal(phpJsonEncode({ a: undefined, b: null }), '{"a":null,"b":null}');
    assert.equal(phpJsonEncode([undefined, 1]), '[null,1]');
    assert.equal(phpJsonEncode(undefined), 'null');
  });

  it('writes integral numbers as PHP ints, with every digit', () => {
    assert.equal(phpJsonEncode(42), '42');
    assert.equal(phpJsonEncode(-0), '0');
    assert.equal(phpJsonEncode(2 ** 60), '1152921504606846976');
    assert.equal(phpJsonEncode(12345678901234567890n), '12345678901234567890');
  });

  it('writes an integral PhpFloat without ".0", as json_encode does without JSON_PRESERVE_ZERO_FRACTION', () => {
    assert.equal(phpJsonEncode(new PhpFloat(1)), '1');
    assert.equal(phpJsonEncode(new PhpFloat(0)), '0');
    assert.equal(phpJsonEncode(new PhpFloat(-0)), '-0');
    assert.equal(phpJsonEncode({ progress: new PhpFloat(0.25) }), '{"progress":0.25}');
  });

  it('writes other floats in the shortest round-trip form', () => {
    assert.equal(phpJsonEncode(0.1 + 0.2), '0.30000000000000004');
    assert.equal(phpJsonEncode(new PhpFloat(1.5)), '1.5');
    assert.equal(phpJsonEncode(-1.25), '-1.25');
    assert.equal(phpJsonEncode(0.0001), '0.0001');
  });

  it('switches to exponent form below 1e-4 and from 1e17', () => {
    assert.equal(phpJsonEncode(1e-7), '1.0e-7');
    assert.equal(phpJsonEncode(0.00001), '1.0e-5');
    assert.equal(phpJsonEncode(1.5e-7), '1.5e-7');
    assert.equal(phpJsonEncode(new PhpFloat(1e16)), '10000000000000000');
    assert.equal(phpJsonEncode(new PhpFloat(1e17)), '1.0e+17');
    assert.equal(phpJsonEncode(1e25), '1.0e+25');
    assert.equal(phpJsonEncode(2 ** 63), '9.223372036854776e+18');
    assert.equal(phpJsonEncode(-1.5e300), '-1.5e+300');
    assert.equal(phpJsonEncode(5e-324), '5.0e-324');
  });

  it('fails on NaN and infinities, as PHP does', () => {
    assert.throws(() => phpJsonEncode(Number.NaN), RangeError);
    assert.throws(() => phpJsonEncode({ a: Number.POSITIVE_INFINITY }), RangeError);
    assert.throws(() => phpJsonEncode(new PhpFloat(Number.NEGATIVE_INFINITY)), RangeError);
  });

  it('refuses values PHP has no counterpart for, and cycles', () => {
    assert.throws(() => phpJsonEncode(() => 1), TypeError);
    assert.throws(() => phpJsonEncode(new Date(0)), TypeError);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    assert.throws(() => phpJsonEncode(cycle), RangeError);
  });

  it('accepts objects without a prototype', () => {
    const bare = Object.create(null) as Record<string, unknown>;
    bare.k = 'v';
    assert.equal(phpJsonEncode(bare), '{"k":"v"}');
  });
});

describe('phpFloatString ((string) cast, precision 14)', () => {
  it('prints integral floats without a fraction', () => {
    assert.equal(phpFloatString(1), '1');
    assert.equal(phpFloatString(0), '0');
    assert.equal(phpFloatString(-0), '-0');
    assert.equal(phpFloatString(10000000000000), '10000000000000');
  });

  it('rounds to 14 significant digits', () => {
    assert.equal(phpFloatString(0.5), '0.5');
    assert.equal(phpFloatString(0.1 + 0.2), '0.3');
    assert.equal(phpFloatString(239234242.7123123), '239234242.71231');
    // biome-ignore lint/correctness/noPrecisionLoss: the literal is longer than a double on purpose; PHP rounds it to 14 digits
    assert.equal(phpFloatString(0.1234567890123456789), '0.12345678901235');
  });

  it('rounds exact ties to even, as zend_dtoa does, keeping its trailing-zero quirk', () => {
    assert.equal(phpFloatString(2 ** -21), '4.7683715820312E-7');
    assert.equal(phpFloatString(100000000000005), '1.0000000000000E+14');
    assert.equal(phpFloatString(100000000000001), '1.0E+14');
    assert.equal(phpFloatString(100000000000015), '1.0000000000002E+14');
  });

  it('uses upper-case exponent form from 1e14 and below 1e-4', () => {
    assert.equal(phpFloatString(1e25), '1.0E+25');
    assert.equal(phpFloatString(1e14), '1.0E+14');
    assert.equal(phpFloatString(999999999999999), '1.0E+15');
    assert.equal(phpFloatString(2.9e17), '2.9E+17');
    assert.equal(phpFloatString(0.0001), '0.0001');
    assert.equal(phpFloatString(0.00001), '1.0E-5');
    assert.equal(phpFloatString(5e-324), '4.9406564584125E-324');
  });

  it('spells infinities and NaN as PHP does', () => {
    assert.equal(phpFloatString(Number.POSITIVE_INFINITY), 'INF');
    assert.equal(phpFloatString(Number.NEGATIVE_INFINITY), '-INF');
    assert.equal(phpFloatString(Number.NaN), 'NAN');
  });
});

describe('phpStringCast', () => {
  it('casts scalars as PHP does', () => {
    assert.equal(phpStringCast(true), '1');
    assert.equal(phpStringCast(false), '');
    assert.equal(phpStringCast(12), '12');
    assert.equal(phpStringCast(1.5), '1.5');
    assert.equal(phpStringCast(new PhpFloat(1)), '1');
    assert.equal(phpStringCast(new PhpFloat(1e15)), '1.0E+15');
    assert.equal(phpStringCast(1e15), '1000000000000000');
    assert.equal(phpStringCast('x'), 'x');
  });
});

describe('encodeOnce (remembered encodings)', () => {
  const nested = (value: unknown, levels: number): unknown => {
    let out = value;
    for (let i = 0; i < levels; i++) out = [out];
    return out;
  };

  it('encodes a remembered object as it encodes a fresh copy, every time and wherever it sits', () => {
    const data = { id: 7, text: 'a/<b>', list: [1, new PhpFloat(0.5)], empty: [] };
    const expected = phpJsonEncode(structuredClone({ ...data, list: [1, 0.5] }));
    const kept = encodeOnce({ ...data });
    assert.equal(Object.isFrozen(kept), true);
    assert.equal(phpJsonEncode(kept), expected);
    assert.equal(phpJsonEncode(kept), expected);
    assert.equal(phpJsonEncode({ ocs: { data: { task: kept } } }), `{"ocs":{"data":{"task":${expected}}}}`);
    assert.equal(phpJsonEncode([kept, kept]), `[${expected},${expected}]`);
  });

  it('still fails past the depth limit when first encoded nearer the top', () => {
    const fresh = () => ({ inner: nested(1, 10) });
    // The deepest wrapping a fresh copy survives: the kept object must fail exactly where it fails.
    const encodes = (levels: number) => {
      try {
        phpJsonEncode(nested(fresh(), levels));
        return true;
      } catch {
        return false;
      }
    };
    let fits = 0;
    while (encodes(fits + 1)) fits++;
    assert.equal(fits, 501);
    const kept = encodeOnce(fresh());
    assert.equal(phpJsonEncode(kept), `{"inner":${'['.repeat(10)}1${']'.repeat(10)}}`);
    assert.doesNotThrow(() => phpJsonEncode(nested(kept, fits)));
    assert.throws(() => phpJsonEncode(nested(kept, fits + 1)), RangeError);
  });
});
