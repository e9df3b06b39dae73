import fc from 'fast-check';
import { appApiRoutes } from '../../src/api/routes/appapi-routes.js';
import { capabilitiesRoutes } from '../../src/api/routes/capabilities-routes.js';
import { consumerRoutes } from '../../src/api/routes/consumer-routes.js';
import { providerRoutes } from '../../src/api/routes/provider-routes.js';
import { userRoutes } from '../../src/api/routes/user-routes.js';
import { DAV_METHODS } from '../../src/api/webdav/dav-errors.js';
import { type AnswerStats, answerProblems } from './answer-shape.js';
import { encodeRequest, FuzzConnection, header, type RawOutcome, type RawRequest, type RawResponse } from './fuzz-http.js';

/**
 * Requests for fuzzing the server: every OCS route as the route files declare it, every WebDAV
 * method, and the values, bodies and headers that have broken servers like this one. Values are
 * built from what a test server holds (`FuzzWorld`), so that authenticated handlers are reached
 * with real users, ExApps, tasks and files and not only refused at the door.
 */

export interface OcsRouteInfo {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  auth: string;
}

// The route factories only close over their dependencies; building the list calls no handler.
const NO_DEPS = {} as never;

/** Every OCS route (below /ocs/v1.php and /ocs/v2.php), from the route files. */
export const OCS_ROUTES: readonly OcsRouteInfo[] = [
  ...userRoutes(NO_DEPS),
  ...appApiRoutes(NO_DEPS),
  ...capabilitiesRoutes(),
  ...providerRoutes(NO_DEPS),
  ...consumerRoutes(NO_DEPS),
].map(({ method, path, auth }) => ({ method, path, auth }));

const USER_SCHEDULE = ['input', 'type', 'appId', 'customId', 'webhookUri', 'webhookMethod', 'includeWatermark'];
const RESULT = ['output', 'errorMessage', 'userFacingErrorMessage'];
const CLAIM = ['providerIds', 'taskTypeIds', 'wait'];

/**
 * The parameters each route's handler reads (besides `format`, which every route reads). A route
 * missing here fails the fuzz test, so a new route cannot go unfuzzed.
 */
export const ROUTE_PARAMS: Readonly<Record<string, readonly string[]>> = {
  'GET /taskprocessing/tasktypes': [],
  'POST /taskprocessing/schedule': USER_SCHEDULE,
  'GET /taskprocessing/task/:id': ['id'],
  'POST /taskprocessing/task/:id': ['id'],
  'DELETE /taskprocessing/task/:id': ['id'],
  'GET /taskprocessing/tasks/app/:appId': ['appId', 'customId'],
  'GET /taskprocessing/tasks': ['taskType', 'customId'],
  'POST /taskprocessing/tasks/:taskId/cancel': ['taskId'],
  'GET /taskprocessing/tasks/:taskId/file/:fileId': ['taskId', 'fileId'],
  'GET /taskprocessing/task/:id/file/:fileId': ['id', 'fileId'],
  'POST /taskprocessing/task/:id/cancel': ['id'],
  'GET /taskprocessing/queue_stats': ['taskTypeIds'],
  'POST /apps/app_api/api/v1/ai_provider/task_processing': ['provider', 'customTaskType'],
  'GET /apps/app_api/api/v1/ai_provider/task_processing': ['name'],
  'DELETE /apps/app_api/api/v1/ai_provider/task_processing': ['name'],
  'GET /cloud/capabilities': [],
  'GET /taskprocessing/tasks_provider/next': CLAIM,
  'GET /taskprocessing/tasks_provider/next_batch': [...CLAIM, 'numberOfTasks'],
  'GET /taskprocessing/tasks_provider/:taskId/file/:fileId': ['taskId', 'fileId'],
  'POST /taskprocessing/tasks_provider/:taskId/file': ['taskId'],
  'POST /taskprocessing/tasks_provider/:taskId/progress': ['taskId', 'progress'],
  'POST /taskprocessing/tasks_provider/:taskId/result': ['taskId', ...RESULT],
  'POST /taskprocessing/tasks_provider/:taskId/stream-result': ['taskId', 'output'],
  'GET /taskprocessing/task/:id/progress': ['id', 'progress'],
  'POST /taskprocessing/task/:id/result': ['id', ...RESULT],
  'GET /apps/taskproc/api/v1/tasks/:id/partial': ['id'],
  'GET /apps/taskproc/api/v1/openapi': [],
  'GET /taskprocessing/tasks_consumer/tasktypes': [],
  'POST /taskprocessing/tasks_consumer/schedule': USER_SCHEDULE,
  'GET /taskprocessing/tasks_consumer/task/:id': ['id'],
  'DELETE /taskprocessing/tasks_consumer/task/:id': ['id'],
  'POST /taskprocessing/tasks_consumer/tasks/:taskId/cancel': ['taskId'],
};

export const routeKey = (r: OcsRouteInfo): string => `${r.method} ${r.path}`;

const ALL_PARAMS = [...new Set(['format', ...Object.values(ROUTE_PARAMS).flat(), 'numberOfTasks', 'name'])];

/** What the fuzz needs to know about the server it talks to. */
export interface FuzzWorld {
  port: number;
  /** Authorization header values. */
  alice: string;
  aliceBearer: string;
  alicePassword: string;
  bob: string;
  admin: string;
  guest: string;
  /** AppAPI headers of the fuzz ExApp, acting for `user` (none: no user context). */
  exApp(user?: string): [string, string][];
  exAppId: string;
  exAppSecret: string;
  /** The ExApp's provider and its custom task type (Number, Text, Enum, File and list slots). */
  provider: string;
  taskType: string;
  /** Tasks: alice's (scheduled for the ExApp, claimed by it, finished by the runner), bob's. */
  ids: { scheduled: number; claimed: number[]; finished: number; bob: number; withFile: number };
  /** A file of alice's, referenced by the `withFile` task. */
  fileId: number;
  /** A valid anonymous session cookie value. */
  anonCookie: string;
}

/** One request to send, and whether the client stops writing after `cutAfter` bytes (then no answer is owed). */
export interface FuzzCase {
  name: string;
  request: RawRequest;
  cutAfter?: number;
}

// ---------------------------------------------------------------------------------------------
// Encodings

/** Percent-encodes the UTF-8 bytes of `s` (a lone surrogate becomes U+FFFD, as any UTF-8 encoder does). */
export function pct(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-_.~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** PHP-style form encoding (`a[b][0]=x`), the inverse of parse_str for what it can express. */
export function phpForm(params: Record<string, unknown>): string {
  const pairs: string[] = [];
  const walk = (name: string, value: unknown, depth: number): void => {
    if (value === null || value === undefined) pairs.push(name);
    else if (typeof value === 'object' && depth < 2000) {
      for (const [k, v] of Object.entries(value as object)) walk(`${name}[${pct(k)}]`, v, depth + 1);
    } else pairs.push(`${name}=${pct(String(value))}`);
  };
  for (const [k, v] of Object.entries(params)) walk(pct(k), v, 0);
  return pairs.join('&');
}

/** A multipart/form-data body of PHP-named fields (what forms and nc_py_api's uploads send). */
export function multipart(boundary: string, fields: [string, string][], file?: { name: string; data: string }): string {
  let out = '';
  for (const [name, value] of fields) out += `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  if (file) {
    out += `--${boundary}\r\nContent-Disposition: form-data; name="${file.name}"; filename="f.txt"\r\nContent-Type: text/plain\r\n\r\n${file.data}\r\n`;
  }
  return `${out}--${boundary}--\r\n`;
}

/** Nested arrays (or objects under `a`) `depth` levels deep, built without recursion. */
export function nested(depth: number, kind: 'array' | 'object' = 'array'): unknown {
  let v: unknown = 'bottom';
  for (let i = 0; i < depth; i++) v = kind === 'array' ? [v] : { a: v };
  return v;
}

/** The same as JSON text, for depths JSON.stringify cannot reach. */
export function nestedJson(depth: number, kind: 'array' | 'object' = 'array'): string {
  return kind === 'array' ? `${'['.repeat(depth)}1${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

function flatFields(params: Record<string, unknown>): [string, string][] {
  return phpForm(params)
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      const dec = (s: string) => Buffer.from(s.replace(/%([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
      return eq < 0 ? [dec(p), ''] : [dec(p.slice(0, eq)), dec(p.slice(eq + 1))];
    });
}

// ---------------------------------------------------------------------------------------------
// Sending and checking

const ANSWER_MS = 15_000;

/** A plain request that must work on any connection the server has kept open. */
const FOLLOW_UP: RawRequest = { method: 'GET', target: '/ocs/v2.php/cloud/capabilities?format=json', headers: [['OCS-APIRequest', 'true']] };

function outcomeText(o: Exclude<RawOutcome, { kind: 'answer' }>): string {
  return o.kind === 'timeout'
    ? `no answer within ${ANSWER_MS} ms (received ${JSON.stringify(o.received)})`
    : `the connection was dropped without an answer (${o.reason}; received ${JSON.stringify(o.received)})`;
}

/**
 * Sends one case on a fresh connection and returns what is wrong with the outcome: no answer, an
 * answer a client cannot rely on, or a connection left unusable (the next request on it must be
 * answered unless the server said `Connection: close`).
 */
export async function exchange(port: number, c: FuzzCase, stats: AnswerStats): Promise<string[]> {
  const conn = await FuzzConnection.open(port);
  const host = `127.0.0.1:${port}`;
  const { method, target } = c.request;
  try {
    const bytes = encodeRequest(c.request, host);
    if (c.cutAfter !== undefined) {
      conn.write(bytes.subarray(0, c.cutAfter));
      conn.endWriting();
      const outcome = await conn.next(method, ANSWER_MS);
      if (outcome.kind === 'answer') return answerProblems(method, target, outcome.response, stats);
      // A client that stopped mid-request is owed nothing, but the connection must not be left hanging.
      return outcome.kind === 'timeout' ? [outcomeText(outcome)] : [];
    }
    conn.write(bytes);
    const outcome = await conn.next(method, ANSWER_MS);
    if (outcome.kind !== 'answer') return [outcomeText(outcome)];
    const problems = answerProblems(method, target, outcome.response, stats);
    if (/\bclose\b/i.test(header(outcome.response, 'connection') ?? '')) return problems;
    conn.write(encodeRequest(FOLLOW_UP, host));
    const next = await conn.next('GET', ANSWER_MS);
    if (next.kind !== 'answer') {
      problems.push(`after HTTP ${outcome.response.status} without Connection: close, the next request on the connection: ${outcomeText(next)}`);
    } else if (next.response.status !== 200 || !next.response.body.toString('utf8').startsWith('{"ocs":')) {
      problems.push(`the next request on the connection got HTTP ${next.response.status}: ${next.response.body.toString('utf8').slice(0, 120)}`);
    }
    return problems;
  } finally {
    conn.destroy();
  }
}

/** Sends one request on a fresh connection and returns its answer (for requests fetch cannot make: GET with a body). */
export async function sendRaw(port: number, request: RawRequest): Promise<RawResponse> {
  const conn = await FuzzConnection.open(port);
  try {
    conn.write(encodeRequest(request, `127.0.0.1:${port}`));
    const outcome = await conn.next(request.method, ANSWER_MS);
    if (outcome.kind !== 'answer') throw new Error(outcomeText(outcome));
    return outcome.response;
  } finally {
    conn.destroy();
  }
}

/**
 * Errors nothing handled, while the server runs in this process: in production each would stop
 * the server (an `error` event nobody listens to, a rejected promise nobody awaits). Listening
 * here records them, so the case that caused one fails, instead of the process dying.
 */
export class CrashWatch {
  readonly errors: string[] = [];
  private readonly record = (err: unknown) => {
    this.errors.push(err instanceof Error ? (err.stack ?? err.message) : String(err));
  };

  start(): void {
    process.on('uncaughtException', this.record);
    process.on('unhandledRejection', this.record);
  }

  stop(): void {
    process.off('uncaughtException', this.record);
    process.off('unhandledRejection', this.record);
  }

  /** What was recorded since `mark` (a previous `errors.length`). */
  since(mark: number): string[] {
    return this.errors.slice(mark).map((e) => `the server threw and nothing caught it: ${e.split('\n').slice(0, 4).join(' / ')}`);
  }
}

/** A short printable description of a request, for failure messages. */
export function describeRequest(r: RawRequest): string {
  const show = (b: string | Buffer, n: number) => JSON.stringify(Buffer.from(b).subarray(0, n).toString('latin1'));
  const headers = (r.headers ?? []).map(([k, v]) => `${k}: ${show(v, 60)}`).join('; ');
  return `${r.method} ${show(r.target, 160)} [${headers}]${r.body === undefined ? '' : ` body ${Buffer.from(r.body).length} B ${show(r.body, 120)}`}${r.framing === 'chunked' ? ' (chunked)' : ''}`;
}

// ---------------------------------------------------------------------------------------------
// Shared pieces of requests

export const OCS_API = ['OCS-APIRequest', 'true'] as [string, string];

/** The caller a route wants: the right credentials for its auth mode. */
export function rightAuth(w: FuzzWorld, route: OcsRouteInfo): [string, string][] {
  switch (route.auth) {
    case 'admin':
      return [['Authorization', w.admin]];
    case 'exapp':
    case 'appapi':
      return route.path.includes('tasks_consumer') ? w.exApp('alice') : w.exApp();
    case 'public':
      return [];
    default:
      return [['Authorization', w.alice]];
  }
}

/** Valid values for every parameter, so that one wrong value at a time reaches its check. */
export function validParams(w: FuzzWorld): Record<string, unknown> {
  return {
    input: { input: 'fuzz', number: 3, choice: 'a', texts: ['x'] },
    type: w.taskType,
    appId: 'fuzz',
    customId: 'fuzz',
    includeWatermark: true,
    taskType: w.taskType,
    taskTypeIds: [w.taskType],
    providerIds: [w.provider],
    numberOfTasks: 1,
    wait: 0,
    progress: 0.5,
    output: { output: 'done' },
    name: w.provider,
  };
}

/** A route's path with its placeholders filled in order. */
export function fillPath(path: string, ids: string[]): string {
  let i = 0;
  return path.replace(/:[A-Za-z]+/g, () => ids[i++ % ids.length] ?? '0');
}

/** Real ids first for the route's caller, so deep handlers are reached. */
export function realIds(w: FuzzWorld, route: OcsRouteInfo): string[] {
  if (route.path.includes('/file/')) return [String(w.ids.withFile), String(w.fileId)];
  if (route.path.includes('tasks_provider') || route.path.endsWith('/progress') || route.path.endsWith('/result')) {
    return [String(w.ids.claimed[0] ?? w.ids.scheduled)];
  }
  return [String(w.ids.finished)];
}

// ---------------------------------------------------------------------------------------------
// Wrong types for every parameter of every route

/** Values of every type but the expected one, and the extremes of the expected ones. */
export const WRONG_VALUES: readonly [string, unknown][] = [
  ['a list', ['x', ['y']]],
  ['a map', { a: { b: 'c' } }],
  ['a huge number', 1e308],
  ['a negative number', -1],
  ['a fraction', 0.5],
  ['true', true],
  ['false', false],
  ['null', null],
  ['an empty string', ''],
  ['a string with NUL', 'a\u0000b'],
  ['a lone surrogate', '\ud800x\udfff'],
  ['odd Unicode', '\u202e\u200b\ufeff\uffff💩e\u0301'],
  ['a numeric string past float range', '1e999'],
  ['a hex string', '0x10'],
  ['a 20-digit string', '99999999999999999999'],
  ['a long string', 'x'.repeat(70_000)],
  ['a list nested 70 deep', nested(70)],
  ['a map nested 600 deep', nested(600, 'object')],
  ['a list of 5000 items', Array.from({ length: 5000 }, (_, i) => i)],
];

/** For each route, each parameter it reads, each wrong value: one request, encodings and formats rotating. */
export function wrongTypeCases(w: FuzzWorld): FuzzCase[] {
  const cases: FuzzCase[] = [];
  let n = 0;
  for (const route of OCS_ROUTES) {
    const names = ROUTE_PARAMS[routeKey(route)] ?? [];
    for (const name of [...names, 'format']) {
      for (const [label, value] of WRONG_VALUES) {
        n++;
        const version = n % 2 === 0 ? 1 : 2;
        const format = n % 3 === 0 ? 'xml' : 'json';
        const params = { ...validParams(w), [name]: value };
        if (name !== 'format') params.format = format;
        const path = `/ocs/v${version}.php${fillPath(route.path, realIds(w, route))}`;
        const headers: [string, string][] = [OCS_API, ...rightAuth(w, route)];
        // GETs take parameters from the query or a JSON body (which nc_py_api sends on GET too).
        const size = JSON.stringify(value)?.length ?? 0;
        // Large values go in a body: a query string that long would only meet the header size limit.
        const ways = route.method === 'GET' ? (['query', 'json'] as const) : (['json', 'form', 'query', 'multipart'] as const);
        const picked = ways[n % ways.length] ?? 'json';
        const via = picked === 'query' && size > 4000 ? 'json' : picked;
        let request: RawRequest;
        if (via === 'query') {
          request = { method: route.method, target: `${path}?${phpForm(params)}`, headers };
        } else if (via === 'json') {
          request = { method: route.method, target: path, headers: [...headers, ['Content-Type', 'application/json']], body: JSON.stringify(params) };
        } else if (via === 'form') {
          request = { method: route.method, target: path, headers: [...headers, ['Content-Type', 'application/x-www-form-urlencoded']], body: phpForm(params) };
        } else {
          const boundary = 'fuzzboundary';
          request = {
            method: route.method,
            target: path,
            headers: [...headers, ['Content-Type', `multipart/form-data; boundary=${boundary}`]],
            body: multipart(boundary, flatFields(params)),
          };
        }
        cases.push({ name: `${routeKey(route)}: ${name} as ${label} (${via}, v${version})`, request });
      }
    }
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Random requests

/** Strings that have broken parsers: escapes, brackets, NUL, surrogates, direction marks, numbers PHP reads oddly. */
const NASTY_STRINGS = [
  '', ' ', '0', '-0', '1e3', '1e999', '0x10', '+1', '.5', '5.', 'NAN', 'INF', '99999999999999999999', '-9223372036854775809',
  'true', 'false', 'null', '[]', '{}', 'a[b]', ']', '[', '%', '%zz', '%00', '%2e%2e', '+', '&', '=', '..', '/', '\\',
  '\u0000', 'a\u0000b', '\ud800', '\udfff', '\ufeff', '\uffff', '\u202e', '\u200b', 'e\u0301', '💩', '\r\n', '<x>', '&amp;', ']]>',
  '__proto__', 'constructor', 'prototype', '@attributes', 'core:text2text', 'fuzz', 'alice',
];

const charUnit = fc.constantFrom('\u0000', '\ud800', '\udfff', '\uffff', '\u202e', '\u200b', 'é', 'e\u0301', '💩', '<', '&', '[', ']', '%', '+', '=', '"', '\\', '/', ' ', 'a', '0', '.');

export const oddString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...NASTY_STRINGS), weight: 4 },
  { arbitrary: fc.string({ unit: charUnit, maxLength: 12 }), weight: 3 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 16 }), weight: 2 },
  { arbitrary: fc.string({ maxLength: 8 }), weight: 1 },
);

const oddNumber = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, 1, -1, 0.5, 1e308, 2 ** 53 + 1, 2 ** 63, -(2 ** 63), 1e-7),
);

const big = fc.oneof(
  fc.constantFrom(63, 64, 65, 511, 512, 513, 3000).chain((depth) => fc.constantFrom(nested(depth), nested(depth, 'object'))),
  fc.constantFrom(255, 256, 4001, 65_536).map((n) => 'x'.repeat(n)),
);

const key = fc.oneof({ arbitrary: fc.constantFrom(...ALL_PARAMS, 'input', 'output', 'number', 'choice', 'texts', '0', '1'), weight: 3 }, { arbitrary: oddString, weight: 1 });

/** Any JSON-able value: odd leaves, small lists and maps, now and then something huge or deep. */
export const oddValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 3 },
    { arbitrary: oddString, weight: 4 },
    { arbitrary: oddNumber, weight: 2 },
    { arbitrary: fc.constantFrom(true, false, null), weight: 1 },
    { arbitrary: fc.array(tie('value'), { maxLength: 3 }), weight: 2 },
    { arbitrary: fc.dictionary(key, tie('value'), { maxKeys: 3 }), weight: 2 },
  ),
})).value;

const paramValue = fc.oneof({ arbitrary: oddValue, weight: 20 }, { arbitrary: big, weight: 1 });

function paramsFor(w: FuzzWorld, route: OcsRouteInfo): fc.Arbitrary<Record<string, unknown>> {
  const own = ROUTE_PARAMS[routeKey(route)] ?? [];
  const valid = validParams(w);
  // Mostly valid values with a few odd ones, so checks past the first are reached too.
  const base = fc.subarray([...own]).map((names) => Object.fromEntries(names.filter((n) => n in valid).map((n) => [n, valid[n]])));
  const odd = fc.dictionary(fc.oneof({ arbitrary: fc.constantFrom(...own, 'format'), weight: 3 }, { arbitrary: key, weight: 1 }), paramValue, { maxKeys: 3 });
  return fc.tuple(base, odd).map(([a, b]) => ({ ...a, ...b }));
}

/** Credentials: mostly the right ones for the route, then every other kind of caller and garbage. */
function authFor(w: FuzzWorld, route: OcsRouteInfo): fc.Arbitrary<[string, string | Buffer][]> {
  const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
  const one = (value: string | Buffer): [string, string | Buffer][] => [['Authorization', value]];
  return fc.oneof(
    { arbitrary: fc.constant(rightAuth(w, route)), weight: 8 },
    { arbitrary: fc.constant([] as [string, string | Buffer][]), weight: 1 },
    { arbitrary: fc.constantFrom(one(w.alice), one(w.aliceBearer), one(w.bob), one(w.admin), one(w.guest)), weight: 2 },
    { arbitrary: fc.constantFrom(w.exApp(), w.exApp('alice'), w.exApp('bob'), w.exApp('nobody')), weight: 2 },
    {
      arbitrary: oddString.map((s) => [
        ['EX-APP-ID', Buffer.from(s)],
        ['EX-APP-VERSION', '1.0.0'],
        ['AUTHORIZATION-APP-API', b64(`${s}:${w.exAppSecret}`)],
      ] as [string, string | Buffer][]),
      weight: 1,
    },
    { arbitrary: oddString.map((s) => one(`Basic ${b64(`${s}:${s}`)}`)), weight: 1 },
    { arbitrary: oddString.map((s) => one(Buffer.from(`Bearer ${s}`))), weight: 1 },
    { arbitrary: fc.constantFrom(one('Basic !!!'), one(`Basic ${b64('nocolon')}`), one('Basic'), one('Bearer'), one(`Basic ${b64(':')}`)), weight: 1 },
    { arbitrary: fc.constant([['Cookie', `taskproc_anon=${w.anonCookie}`]] as [string, string | Buffer][]), weight: 1 },
  );
}

const idArb = (w: FuzzWorld) =>
  fc.oneof(
    { arbitrary: fc.constantFrom(...[w.ids.scheduled, ...w.ids.claimed, w.ids.finished, w.ids.bob, w.ids.withFile, w.fileId].map(String)), weight: 4 },
    { arbitrary: fc.constantFrom('-1', '0', '1e999', '0x10', '99999999999999999999', '%00', '1.5', '%2e%2e', '%252e', 'abc', '%F0%9F%92%A9', '%20'), weight: 2 },
    { arbitrary: oddString.map(pct), weight: 1 },
  );

type BodyKind = 'none' | 'json' | 'json-raw' | 'form' | 'multipart' | 'other';

const ODD_TYPES = ['text/plain', 'application/xml', 'application/octet-stream', 'application/json; charset=utf-16', 'multipart/form-data', 'application/jsonx', ''];

/** A random request to a random OCS route: method, version, ids, parameters in the query and body, headers, credentials. */
export function ocsRequestArbitrary(w: FuzzWorld): fc.Arbitrary<FuzzCase> {
  return fc.constantFrom(...OCS_ROUTES).chain((route) =>
    fc
      .record({
        method: fc.oneof({ arbitrary: fc.constant(route.method), weight: 10 }, { arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'PROPFIND'), weight: 1 }),
        version: fc.constantFrom(1, 2),
        ids: fc.array(fc.oneof({ arbitrary: fc.constantFrom(...realIds(w, route)), weight: 2 }, { arbitrary: idArb(w), weight: 1 }), { minLength: 2, maxLength: 2 }),
        query: fc.oneof(paramsFor(w, route), fc.constant({})),
        rawQuery: fc.option(fc.string({ unit: charUnit, maxLength: 20 }), { freq: 5 }),
        format: fc.constantFrom('json', 'xml', undefined, 'XML', ''),
        accept: fc.option(fc.constantFrom('application/json', 'application/xml', '*/*', 'text/html, application/json;q=0.1', ',,;'), { freq: 3 }),
        bodyKind: fc.constantFrom<BodyKind>('none', 'json', 'json', 'json-raw', 'form', 'multipart', 'other'),
        body: paramsFor(w, route),
        rawBody: fc.oneof(oddString, oddValue.map((v) => JSON.stringify(v) ?? 'undefined')),
        // A chunked body now and then (what Node's http client sends for a body without a length).
        chunked: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
        contentType: fc.constantFrom(...ODD_TYPES),
        auth: authFor(w, route),
        ocsApi: fc.boolean(),
      })
      .map((r): FuzzCase => {
        const path = `/ocs/v${r.version}.php${fillPath(route.path, r.ids)}`;
        const query = { ...r.query, ...(r.format !== undefined && { format: r.format }) };
        const qs = [phpForm(query), r.rawQuery === null ? '' : pct(r.rawQuery).replace(/%(26|3D|5B|5D)/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)))]
          .filter((s) => s !== '')
          .join('&');
        const headers: [string, string | Buffer][] = [...r.auth];
        if (r.ocsApi) headers.push(OCS_API);
        if (r.accept !== null) headers.push(['Accept', r.accept]);
        const request: RawRequest = { method: r.method, target: qs === '' ? path : `${path}?${qs}`, headers };
        const boundary = 'fuzzboundary';
        switch (r.bodyKind) {
          case 'json':
            headers.push(['Content-Type', 'application/json']);
            request.body = JSON.stringify(r.body);
            break;
          case 'json-raw':
            headers.push(['Content-Type', 'application/json']);
            request.body = r.rawBody;
            break;
          case 'form':
            headers.push(['Content-Type', 'application/x-www-form-urlencoded']);
            request.body = phpForm(r.body);
            break;
          case 'multipart':
            headers.push(['Content-Type', `multipart/form-data; boundary=${boundary}`]);
            request.body = multipart(boundary, flatFields(r.body), route.path.endsWith('/file') ? { name: 'file', data: 'fuzz' } : undefined);
            break;
          case 'other':
            if (r.contentType !== '') headers.push(['Content-Type', r.contentType]);
            request.body = r.rawBody;
            break;
        }
        if (r.chunked && request.body !== undefined) request.framing = 'chunked';
        return { name: 'random', request };
      }),
  );
}

const DAV_USERS = ['alice', 'bob', 'nobody', 'ALICE', '%61lice', '..', '%2e%2e', 'al%2fice', 'al%00ice'];
const segment = fc.oneof(
  { arbitrary: fc.constantFrom('fuzz.txt', 'dir', 'a%20b', '..', '.', '%2e%2e', '%2f', '%00', '%252e', 'a%2fb', '%C3%A4', '%F0%9F%92%A9', '', '%zz', '~', '.htaccess'), weight: 3 },
  { arbitrary: oddString.map(pct), weight: 1 },
);
const PROPFIND_BODIES = [
  '',
  '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:allprop/></d:propfind>',
  '<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/><oc:fileid xmlns:oc="http://owncloud.org/ns"/></d:prop></d:propfind>',
  '<d:propfind xmlns:d="DAV:"><d:propname/></d:propfind>',
  '<d:propfind><x:prop/></d:propfind>',
  '<propfind xmlns="DAV:"><prop><getcontentlength/></prop>',
  '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><d:propfind xmlns:d="DAV:">&e;</d:propfind>',
  'not xml at all \u0000',
];

/** A random WebDAV request: method, user, path segments, headers and a small body. */
export function davRequestArbitrary(w: FuzzWorld): fc.Arbitrary<FuzzCase> {
  return fc
    .record({
      method: fc.oneof({ arbitrary: fc.constantFrom(...DAV_METHODS), weight: 6 }, { arbitrary: fc.constantFrom('POST', 'PATCH', 'LOCK', 'MOVE', 'COPY', 'PROPPATCH'), weight: 1 }),
      legacy: fc.boolean(),
      user: fc.constantFrom(...DAV_USERS),
      segments: fc.array(segment, { maxLength: 4 }),
      trailingSlash: fc.boolean(),
      auth: fc.oneof(
        { arbitrary: fc.constant([['Authorization', w.alice]] as [string, string | Buffer][]), weight: 6 },
        { arbitrary: fc.constantFrom([], [['Authorization', w.bob]], [['Authorization', 'Basic !!!']], [['Authorization', w.aliceBearer]]) as fc.Arbitrary<[string, string | Buffer][]>, weight: 2 },
      ),
      depth: fc.option(fc.constantFrom('0', '1', 'infinity', 'Infinity', '2', '-1', ''), { freq: 2 }),
      contentType: fc.option(fc.constantFrom(...ODD_TYPES), { freq: 2 }),
      body: fc.oneof(fc.constantFrom(...PROPFIND_BODIES), oddString, fc.constant(undefined)),
      chunked: fc.boolean(),
    })
    .map((r): FuzzCase => {
      const base = r.legacy ? '/remote.php/webdav' : `/remote.php/dav/files/${r.user}`;
      const target = `${base}/${r.segments.join('/')}${r.trailingSlash && r.segments.length > 0 ? '/' : ''}`;
      const headers: [string, string | Buffer][] = [...r.auth];
      if (r.depth !== null) headers.push(['Depth', r.depth]);
      if (r.contentType !== null && r.contentType !== '') headers.push(['Content-Type', r.contentType]);
      return { name: 'random WebDAV', request: { method: r.method, target, headers, ...(r.body !== undefined && { body: r.body }), ...(r.chunked && r.body !== undefined && { framing: 'chunked' }) } };
    });
}
