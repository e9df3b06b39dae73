/**
 * PHP value encoding: `json_encode($v, JSON_HEX_TAG)` as Nextcloud's OCS responses use it, and
 * PHP's `(string)` cast of scalars, which the XML form and string parameters need.
 *
 * JS has one number type and PHP two. A JS number with an integral value is a PHP int; wrap a
 * value in `PhpFloat` where upstream holds a float (task progress), so it prints as PHP prints
 * floats. Non-integral JS numbers are floats anyway.
 */

/** Marks a number that upstream holds as a PHP float. */
export class PhpFloat {
  constructor(readonly value: number) {}
}

// PHP ints are 64-bit; an integral double outside that range can only be a PHP float.
const PHP_INT_LIMIT = 2 ** 63;
// json_encode's default depth; deeper data (or a cycle) makes it fail.
const MAX_DEPTH = 512;

/**
 * `json_encode($value, JSON_HEX_TAG)` byte for byte: no whitespace, `/` as `\/`, every non-ASCII
 * UTF-16 unit as a lowercase `\uxxxx`, `<` `>` as `\u003C` `\u003E`. Arrays become JSON arrays and
 * plain objects JSON objects (`{}` when empty); `undefined` becomes `null`. Throws where PHP fails:
 * NaN or an infinite number, nesting deeper than 512, and values PHP has no counterpart for.
 */
export function phpJsonEncode(value: unknown): string {
  return encode(value, 0);
}

/** The JSON of values marked with encodeOnce, and the depth it was encoded at; null until first encoded. */
const remembered = new WeakMap<object, { json: string; depth: number } | null>();

/**
 * Marks an object (frozen here) whose JSON the encoder keeps after the first encoding and reuses.
 * For values that never change and are encoded again and again: a cached task's JSON form, which
 * every GET of that task encodes (its encoding was the largest piece of our own work on a cache
 * hit). The caller vouches that nothing below `value` changes either.
 */
export function encodeOnce<T extends object>(value: T): T {
  remembered.set(Object.freeze(value), null);
  return value;
}

function encode(value: unknown, depth: number): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'string':
      return encodeString(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'number':
      return isPhpInt(value) ? phpIntString(value) : phpFloatJson(value);
    case 'object':
      break;
    default:
      throw new TypeError(`json_encode: cannot encode a ${typeof value}`);
  }
  if (value instanceof PhpFloat) return phpFloatJson(value.value);
  if (depth >= MAX_DEPTH) throw new RangeError('json_encode: maximum depth exceeded');
  // Built by concatenation over Object.keys, not Object.entries and join: this runs for every
  // answer, and the arrays those allocate were half of a task's encoding time (its envelope:
  // 5.1 → 2.5 µs, by hand).
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + encode(value[i], depth + 1);
    return `${out}]`;
  }
  if (!isPlainObject(value)) throw new TypeError('json_encode: only arrays and plain objects can be encoded');
  const known = remembered.get(value);
  if (known === undefined) return encodeObject(value, depth);
  // An encoding that fitted under MAX_DEPTH at one depth fits at any shallower one.
  if (known !== null && depth <= known.depth) return known.json;
  const json = encodeObject(value, depth);
  if (known === null) remembered.set(value, { json: flat(json), depth });
  return json;
}

/**
 * The same text as one flat string. Built by `+=`, a string is a tree of the pieces it was made
 * of (V8's cons strings): a task's 0.8 kB of JSON kept that way held 4 kB of heap. Reading a
 * character makes V8 flatten the tree in place, and the pieces become garbage.
 */
function flat(text: string): string {
  text.charCodeAt(0);
  return text;
}

function encodeObject(value: Record<string, unknown>, depth: number): string {
  const keys = Object.keys(value);
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    out += `${(i === 0 ? '' : ',') + encodeString(k)}:${encode(value[k], depth + 1)}`;
  }
  return `${out}}`;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

// PHP reads UTF-8 and escapes by code point, giving surrogate pairs for astral characters: the
// same units a JS string holds, so escaping unit by unit matches. A lone surrogate (possible in JS,
// never in valid UTF-8: JSON.parse makes one of a "\ud800" escape, and stored input keeps it) has
// no UTF-8 form, so json_encode would fail on the whole answer; it is written as \ufffd instead,
// as JSON_INVALID_UTF8_SUBSTITUTE does. Written as itself, PHP's json_decode, serde_json and
// System.Text.Json would refuse the whole answer (say, a user's task list) for one bad string.
const NEEDS_ESCAPE = /[\u0000-\u001f"\\/<>\u0080-\uffff]/g;
const SHORT_ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '/': '\\/',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  // JSON_HEX_TAG writes these two in upper case, unlike every other \u escape.
  '<': '\\u003C',
  '>': '\\u003E',
};

/** The same class without the g flag: test() with g would carry lastIndex from call to call. */
const HAS_ESCAPE = new RegExp(NEEDS_ESCAPE.source);

function encodeString(s: string): string {
  // Most strings (keys, statuses, ids) need no escape: skip building a replacement.
  return HAS_ESCAPE.test(s) ? `"${s.replace(NEEDS_ESCAPE, escapeChar)}"` : `"${s}"`;
}

function escapeChar(ch: string, offset: number, s: string): string {
  const short = SHORT_ESCAPES[ch];
  if (short !== undefined) return short;
  const unit = ch.charCodeAt(0);
  if (unit >= 0xd800 && unit <= 0xdfff && isLoneSurrogate(unit, offset, s)) return '\\ufffd';
  return `\\u${unit.toString(16).padStart(4, '0')}`;
}

/** Whether the surrogate `unit` at `i` in `s` lacks its partner (charCodeAt past either end is NaN). */
function isLoneSurrogate(unit: number, i: number, s: string): boolean {
  if (unit <= 0xdbff) {
    const next = s.charCodeAt(i + 1);
    return !(next >= 0xdc00 && next <= 0xdfff);
  }
  const prev = s.charCodeAt(i - 1);
  return !(prev >= 0xd800 && prev <= 0xdbff);
}

function isPhpInt(n: number): boolean {
  return Number.isInteger(n) && n >= -PHP_INT_LIMIT && n < PHP_INT_LIMIT;
}

function phpIntString(n: number): string {
  // Past 2^53 String() switches to exponent form; PHP prints every digit of the int.
  return Number.isSafeInteger(n) ? String(n) : BigInt(n).toString();
}

function phpFloatJson(n: number): string {
  if (!Number.isFinite(n)) throw new RangeError('json_encode: Inf and NaN cannot be JSON encoded');
  // Without JSON_PRESERVE_ZERO_FRACTION (upstream BaseResponse passes only JSON_HEX_TAG),
  // an integral float has no ".0": 1.0 encodes as 1.
  const abs = Math.abs(n);
  // Where both print fixed notation (1e-4 <= |n| < 1e17) JS's String() writes the same shortest
  // digits in the same places as zend_gcvt; a task's progress takes this path.
  if (abs >= 1e-4 && abs < 1e17) return String(n);
  return gcvt(n, shortestDigits(abs), SHORTEST_NDIGIT, 'e');
}

/**
 * PHP's `(string)$float` (precision=14, the php.ini default): `1.0` → "1", `0.5` → "0.5",
 * `1e25` → "1.0E+25", `0.1 + 0.2` → "0.3"; INF, -INF and NAN as PHP spells them.
 */
export function phpFloatString(n: number): string {
  if (Number.isNaN(n)) return 'NAN';
  if (!Number.isFinite(n)) return n > 0 ? 'INF' : '-INF';
  return gcvt(n, roundedDigits(Math.abs(n), CAST_PRECISION), CAST_PRECISION, 'E');
}

/** PHP's `(string)` cast of a scalar: true → "1", false → "", ints in full, floats as phpFloatString. */
export function phpStringCast(value: string | number | bigint | boolean | PhpFloat): string {
  if (value instanceof PhpFloat) return phpFloatString(value.value);
  switch (typeof value) {
    case 'string':
      return value;
    case 'boolean':
      return value ? '1' : '';
    case 'bigint':
      return value.toString();
    default:
      return isPhpInt(value) ? phpIntString(value) : phpFloatString(value);
  }
}

// json_encode uses serialize_precision=-1: zend_dtoa mode 0 (shortest round trip) with ndigit 17.
const SHORTEST_NDIGIT = 17;
// The (string) cast uses precision=14: zend_dtoa mode 2, 14 significant digits.
const CAST_PRECISION = 14;

/** Significant digits (no trailing zeros) and point position: value = 0.DIGITS × 10^decpt. */
interface Digits {
  digits: string;
  decpt: number;
}

/**
 * zend_gcvt's choice of notation, kept in one place: exponent form when the point would sit more
 * than 3 places left of the first digit (x < 1e-4) or past the last of `ndigit` digits, which is
 * x >= 1e17 for json_encode and x >= 1e14 for the string cast. So 0.0001 stays fixed and 0.00001
 * is "1.0e-5".
 */
function usesExponent(decpt: number, ndigit: number): boolean {
  return decpt < 0 ? decpt < -3 : decpt > ndigit;
}

function gcvt(value: number, { digits, decpt }: Digits, ndigit: number, expChar: 'e' | 'E'): string {
  // zend_dtoa reports the sign bit, so -0.0 prints as "-0".
  const sign = value < 0 || Object.is(value, -0) ? '-' : '';
  if (usesExponent(decpt, ndigit)) {
    const exp = decpt - 1;
    const mantissa = `${digits[0]}.${digits.slice(1) || '0'}`;
    return `${sign}${mantissa}${expChar}${exp < 0 ? '-' : '+'}${Math.abs(exp)}`;
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
  const whole = digits.slice(0, decpt).padEnd(decpt, '0');
  const fraction = digits.slice(decpt);
  return `${sign}${whole}${fraction ? `.${fraction}` : ''}`;
}

// ECMAScript's shortest round-trip digits are the ones dtoa mode 0 produces (closest on ties).
function shortestDigits(abs: number): Digits {
  if (abs === 0) return { digits: '0', decpt: 1 };
  const [mantissa = '0', exp = '0'] = abs.toExponential().split('e');
  return { digits: mantissa.replace('.', ''), decpt: Number(exp) + 1 };
}

// dtoa mode 2 rounds the exact binary value half-to-even; toPrecision rounds ties up, so the exact
// decimal expansion is computed instead (ties occur, e.g. 2^-21 at 14 digits).
function roundedDigits(abs: number, precision: number): Digits {
  if (abs === 0) return { digits: '0', decpt: 1 };
  const exact = exactDigits(abs);
  if (exact.digits.length <= precision) return exact;
  let head = BigInt(exact.digits.slice(0, precision));
  const rest = exact.digits.slice(precision);
  // Trailing zeros are stripped, so a rest of exactly "5" is a tie.
  const up = rest[0]! > '5' || (rest[0] === '5' && (rest.length > 1 || (head & 1n) === 1n));
  if (up) head += 1n;
  const text = head.toString();
  // zend_dtoa settles an exact tie on an integer below 1e15 in its "small integer" branch, which
  // keeps trailing zeros when it rounds down: (string)100000000000005.0 is "1.0000000000000E+14".
  const keepZeros = !up && rest === '5' && Number.isInteger(abs) && abs < 1e15;
  return { digits: keepZeros ? text : text.replace(/0+$/, ''), decpt: exact.decpt + (text.length - precision) };
}

function exactDigits(abs: number): Digits {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, abs);
  const hi = view.getUint32(0);
  const biased = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(view.getUint32(4));
  let exp2 = -1074;
  if (biased !== 0) {
    mantissa |= 1n << 52n;
    exp2 = biased - 1075;
  }
  // abs = mantissa × 2^exp2 = text × 10^-scale
  const text = exp2 >= 0 ? (mantissa << BigInt(exp2)).toString() : (mantissa * 5n ** BigInt(-exp2)).toString();
  const scale = exp2 >= 0 ? 0 : -exp2;
  return { digits: text.replace(/0+$/, ''), decpt: text.length - scale };
}
