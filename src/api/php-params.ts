import { DomainError, missingParameter } from '../core/errors.js';
import { isPlainObject, phpStringCast } from './php-json.js';

/**
 * Request parameters as Nextcloud's Request hands them to controllers (API.md §3.4): PHP's query
 * string decoding, the merge order, and typed reads that answer 400 instead of PHP's TypeError.
 */

export type Params = Record<string, unknown>;

// php.ini defaults max_input_vars and max_input_nesting_level.
const MAX_INPUT_VARS = 1000;
const MAX_NESTING = 64;
// Keys that would reach Object.prototype once the result is a plain object.
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** A PHP array while it is built: insertion order kept, integer keys canonical, like a HashTable. */
class PhpArray {
  readonly entries = new Map<string, PhpValue>();
  private nextIndex = 0;

  set(key: string, value: PhpValue): void {
    if (CANONICAL_INT.test(key)) this.nextIndex = Math.max(this.nextIndex, Number(key) + 1);
    this.entries.set(key, value);
  }

  append(value: PhpValue): void {
    this.set(String(this.nextIndex), value);
  }

  /** The array stored at `key` (null: a new one appended), replacing a scalar there as PHP does. */
  child(key: string | null): PhpArray {
    const existing = key === null ? undefined : this.entries.get(key);
    if (existing instanceof PhpArray) return existing;
    const created = new PhpArray();
    if (key === null) this.append(created);
    else this.set(key, created);
    return created;
  }
}

type PhpValue = string | PhpArray;

// zend_symtable turns "12" and "-3" into integer keys, but not "012", "+1" or "-0".
const CANONICAL_INT = /^(?:0|-?[1-9][0-9]{0,14})$/;

/**
 * PHP's parse_str / $_GET decoding of a query string (without the leading `?`):
 * `a=1&b[]=x&b[]=y&c[0]=p&d[k]=v` → `{a: '1', b: ['x', 'y'], c: ['p'], d: {k: 'v'}}`.
 * A nested array whose keys are 0..n-1 in order is returned as a JS array, any other as an object.
 * `+` is a space, malformed `%` escapes stay as they are, a bare `x` is `''`. In a name's base,
 * spaces and dots become `_`; an unclosed `[` becomes `_` too. At most 1000 variables and 64
 * bracket levels, as PHP's defaults; names using `__proto__`, `constructor` or `prototype` are
 * dropped. Never throws.
 */
export function parsePhpQuery(qs: string): Params {
  const root = new PhpArray();
  let count = 0;
  for (const pair of qs.split('&')) {
    if (pair === '') continue;
    if (++count > MAX_INPUT_VARS) break;
    const eq = pair.indexOf('=');
    // The name is a C string upstream: it ends at the first NUL byte.
    const name = urlDecode(eq < 0 ? pair : pair.slice(0, eq)).split('\0')[0] ?? '';
    registerVariable(root, name, eq < 0 ? '' : urlDecode(pair.slice(eq + 1)));
  }
  const out: Params = {};
  for (const [key, value] of root.entries) out[key] = toPlain(value);
  return out;
}

/** How many distinct query strings cachedQueryParser keeps, and the longest it keeps. */
const QUERY_CACHE_MAX = 256;
const QUERY_CACHE_KEY_MAX = 256;

/**
 * parsePhpQuery for URL query strings, remembering the last few hundred: clients send the same
 * few over and over (`format=json`), and parsing one took about 1 µs of every GET. Only flat
 * ones are kept (every value a string, no arrays), so a frozen object shared between requests is
 * safe. Past QUERY_CACHE_MAX the cache starts over, so odd query strings cost only a parse.
 */
export function cachedQueryParser(): (qs: string) => Params {
  const cache = new Map<string, Params>();
  return (qs) => {
    const known = cache.get(qs);
    if (known !== undefined) return known;
    const parsed = parsePhpQuery(qs);
    if (qs.length > QUERY_CACHE_KEY_MAX || !Object.values(parsed).every((v) => typeof v === 'string')) return parsed;
    if (cache.size >= QUERY_CACHE_MAX) cache.clear();
    cache.set(qs, Object.freeze(parsed));
    return parsed;
  };
}

/** php_register_variable_ex: split `base[i1][i2]…` and store the value at that path. */
function registerVariable(root: PhpArray, rawName: string, value: string): void {
  const name = rawName.replace(/^ +/, '');
  const open = name.indexOf('[');
  let base = (open < 0 ? name : name.slice(0, open)).replace(/[ .]/g, '_');
  if (base === '') return;
  if (open < 0) {
    if (!FORBIDDEN_KEYS.has(base)) root.set(base, value);
    return;
  }
  // null stands for `[]`, an append.
  const indexes: (string | null)[] = [];
  let pos = open;
  for (;;) {
    if (indexes.length + 1 > MAX_NESTING) {
      root.entries.delete(base);
      return;
    }
    const close = name.indexOf(']', pos + 1);
    if (close < 0) {
      if (indexes.length > 0) break;
      // Not an index after all: the `[` and what follows become part of the plain name.
      base = `${base}_${name.slice(pos + 1).replace(/[ .[]/g, '_')}`;
      break;
    }
    const index = name.slice(pos + 1, close);
    indexes.push(index === '' ? null : index);
    // Anything after a `]` other than another `[` is ignored.
    if (name[close + 1] !== '[') break;
    pos = close + 1;
  }
  if ([base, ...indexes].some((k) => k !== null && FORBIDDEN_KEYS.has(k))) return;
  if (indexes.length === 0) {
    root.set(base, value);
    return;
  }
  let target = root.child(base);
  for (const index of indexes.slice(0, -1)) target = target.child(index);
  const last = indexes[indexes.length - 1] ?? null;
  if (last === null) target.append(value);
  else target.set(last, value);
}

function toPlain(value: PhpValue): unknown {
  if (typeof value === 'string') return value;
  const keys = [...value.entries.keys()];
  if (keys.every((k, i) => k === String(i))) return [...value.entries.values()].map(toPlain);
  const out: Record<string, unknown> = {};
  for (const [key, item] of value.entries) out[key] = toPlain(item);
  return out;
}

/** PHP urldecode: `+` is a space, `%XX` a byte, anything malformed kept; bytes read as UTF-8. */
function urlDecode(s: string): string {
  if (!/[%+]/.test(s)) return s;
  const chunks: Buffer[] = [];
  let plainStart = 0;
  const flush = (end: number) => {
    if (end > plainStart) chunks.push(Buffer.from(s.slice(plainStart, end), 'utf8'));
  };
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === '+') {
      flush(i);
      chunks.push(Buffer.from([0x20]));
      plainStart = i + 1;
    } else if (ch === '%' && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      flush(i);
      chunks.push(Buffer.from([parseInt(s.slice(i + 1, i + 3), 16)]));
      i += 2;
      plainStart = i + 1;
    }
  }
  flush(s.length);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Query, then body (when it is a JSON object or form fields), then route placeholders; later
 * sources win, as in Request's array_merge. A body value nested deeper than a form value can be
 * (64 levels) is refused: handlers store some values as they are (a worker's partial output), and
 * one too deep to encode would make every later answer that carries it fail.
 * @throws DomainError `bad_request` naming the parameter nested too deep.
 */
export function mergeParams(query: Params, body: unknown, route: Params): Params {
  const out: Params = {};
  for (const source of [query, isPlainObject(body) ? body : {}, route]) {
    for (const [key, value] of Object.entries(source)) {
      if (FORBIDDEN_KEYS.has(key)) continue;
      if (source === body && nestedDeeperThan(value, MAX_NESTING)) {
        throw new DomainError('bad_request', `Parameter "${key}" is nested deeper than ${MAX_NESTING} levels`);
      }
      out[key] = value;
    }
  }
  return out;
}

/**
 * Whether arrays and objects nest more than `limit` levels inside `value` (a scalar is level 0).
 * Iterative and stopping at the first path too deep: JSON.parse builds 100 000 levels happily,
 * and a recursive walk (or JSON.stringify) of them overflows the stack.
 */
function nestedDeeperThan(value: unknown, limit: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const stack: [object, number][] = [[value, 1]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [node, depth] = top;
    if (depth > limit) return true;
    for (const child of Object.values(node)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}

// Request::getParam uses isset(): a null value counts as absent and gets the default.
function read(params: Params, name: string): unknown {
  return Object.hasOwn(params, name) ? (params[name] ?? undefined) : undefined;
}

function wrongType(name: string, what: string): DomainError {
  return new DomainError('bad_request', `Parameter "${name}" must be ${what}`);
}

const INT_STRING = /^[ \t\n\r\v\f]*[+-]?\d+[ \t\n\r\v\f]*$/;
const NUMERIC_STRING = /^[ \t\n\r\v\f]*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?[ \t\n\r\v\f]*$/;

/** An integer, given as a number or an integer string. Stricter than PHP's settype on purpose. */
export function intParam(params: Params, name: string, defaultValue?: number): number {
  const value = read(params, name);
  if (value === undefined) {
    if (defaultValue === undefined) throw missingParameter(name);
    return defaultValue;
  }
  const n = typeof value === 'string' && INT_STRING.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw wrongType(name, 'an integer');
  return n;
}

/** A finite number, given as a number or a PHP numeric string ("1.5", ".5", "1e3"). */
export function floatParam(params: Params, name: string, defaultValue?: number): number {
  const value = read(params, name);
  if (value === undefined) {
    if (defaultValue === undefined) throw missingParameter(name);
    return defaultValue;
  }
  const n = typeof value === 'string' && NUMERIC_STRING.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw wrongType(name, 'a number');
  return n;
}

/**
 * The Dispatcher's bool conversion: the string "false" is false, otherwise PHP truthiness
 * ("0", "", 0, empty arrays are false). Absent or null gives the default.
 */
export function boolParam(params: Params, name: string, defaultValue: boolean): boolean {
  const value = read(params, name);
  if (value === undefined) return defaultValue;
  if (value === 'false') return false;
  if (typeof value === 'string') return value !== '' && value !== '0';
  if (typeof value === 'number') return value !== 0;
  if (Array.isArray(value)) return value.length > 0;
  if (isPlainObject(value)) return Object.keys(value).length > 0;
  return Boolean(value);
}

/**
 * A string parameter. Numbers and booleans are converted as PHP's coercive typing does
 * (12 → "12", true → "1"); arrays are refused. `{ required: true }` (the default) throws
 * `Missing parameter: <name>` when absent; `{ default }` and `{ nullable: true }` supply a value.
 */
export function stringParam(params: Params, name: string, opts: { nullable: true; default?: string | null }): string | null;
export function stringParam(params: Params, name: string, opts?: { required: true } | { default: string }): string;
export function stringParam(
  params: Params,
  name: string,
  opts: { required?: true; nullable?: true; default?: string | null } = { required: true },
): string | null {
  const value = read(params, name);
  if (value === undefined) {
    if (opts.default !== undefined) return opts.default;
    if (opts.nullable) return null;
    throw missingParameter(name);
  }
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return phpStringCast(value);
  throw wrongType(name, 'a string');
}

/** A PHP array parameter: a JSON array or object, or a PHP-style `name[…]` query parameter. */
export function arrayParam(params: Params, name: string, opts: { required: true }): unknown[] | Params;
export function arrayParam(params: Params, name: string, opts?: { required?: false }): unknown[] | Params | null;
export function arrayParam(params: Params, name: string, opts: { required?: boolean } = {}): unknown[] | Params | null {
  const value = read(params, name);
  if (value === undefined) {
    if (opts.required) throw missingParameter(name);
    return null;
  }
  if (Array.isArray(value) || isPlainObject(value)) return value;
  throw wrongType(name, 'an array');
}

/**
 * A required list of strings (`providerIds`, `taskTypeIds`): an array, or a PHP array with other
 * keys (its values are taken), or a single string meaning a one-element list. Numbers are
 * converted to strings.
 */
export function stringListParam(params: Params, name: string): string[] {
  const value = read(params, name);
  if (value === undefined) throw missingParameter(name);
  if (typeof value === 'string') return [value];
  const items = Array.isArray(value) ? value : isPlainObject(value) ? Object.values(value) : undefined;
  if (items === undefined) throw wrongType(name, 'a list of strings');
  return items.map((item) => {
    if (typeof item === 'string' || typeof item === 'number') return phpStringCast(item);
    throw wrongType(name, 'a list of strings');
  });
}

/**
 * PHP's `(int)` cast of a route placeholder: the leading numeric part, truncated ("12abc" → 12,
 * "1e3" → 1000, "-3" → -3), 0 when there is none ("abc"), saturating at the 64-bit limits.
 */
export function phpIntCast(raw: string): number {
  const match = /^[ \t\n\r\v\f]*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(raw);
  if (!match) return 0;
  const n = Number(match[0].trim());
  if (!Number.isFinite(n)) return 0;
  const limit = 2 ** 63;
  // + 0 turns the -0 of "-0" into 0.
  return Math.trunc(Math.max(-limit, Math.min(limit, n))) + 0;
}

// PHP is_numeric for strings, as parameters arrive from query strings and forms.
const NUMERIC = /^[ \t\n\r\v\f]*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?[ \t\n\r\v\f]*$/;

/**
 * A numeric parameter as a number: NaN when it is not one, so the service's range check names
 * the allowed range in its message. Absent (or null) gives `fallback`, or is missing.
 */
export function numberOrNaN(p: Params, name: string, fallback?: number): number {
  const raw = p[name];
  if (raw === undefined || raw === null) {
    if (fallback === undefined) throw missingParameter(name);
    return fallback;
  }
  if (typeof raw === 'number') return raw;
  return typeof raw === 'string' && NUMERIC.test(raw) ? Number(raw) : Number.NaN;
}
