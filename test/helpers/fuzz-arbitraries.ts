import fc from 'fast-check';
import { DAV_METHODS } from '../../src/api/webdav/dav-errors.js';
import type { RawRequest } from './fuzz-http.js';
import {
  ALL_PARAMS,
  fillPath,
  flatFields,
  type FuzzCase,
  type FuzzWorld,
  multipart,
  nested,
  OCS_API,
  OCS_ROUTES,
  type OcsRouteInfo,
  pct,
  phpForm,
  realIds,
  rightAuth,
  ROUTE_PARAMS,
  routeKey,
  validParams,
} from './fuzz-routes.js';

type Headers = [string, string | Buffer][];

/**
 * Random requests for fast-check: any OCS route with odd methods, ids, parameters in the query and
 * the body, bodies of every kind, headers and credentials; and WebDAV requests with odd paths.
 */

/** Strings that have broken parsers: escapes, brackets, NUL, surrogates, direction marks, odd numbers. */
const NASTY_STRINGS = [
  '',
  ' ',
  '0',
  '-0',
  '1e3',
  '1e999',
  '0x10',
  '+1',
  '.5',
  '5.',
  'NAN',
  'INF',
  '99999999999999999999',
  '-9223372036854775809',
  'true',
  'false',
  'null',
  '[]',
  '{}',
  'a[b]',
  ']',
  '[',
  '%',
  '%zz',
  '%00',
  '%2e%2e',
  '+',
  '&',
  '=',
  '..',
  '/',
  '\\',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff',
  '\ufeff',
  '\uffff',
  '\u202e',
  '\u200b',
  'e\u0301',
  '💩',
  '\r\n',
  '<x>',
  '&amp;',
  ']]>',
  '__proto__',
  'constructor',
  'prototype',
  '@attributes',
  'core:text2text',
  'fuzz',
  'alice',
];

const charUnit = fc.constantFrom(
  ...['\u0000', '\ud800', '\udfff', '\uffff', '\u202e', '\u200b', 'é', 'e\u0301', '💩'],
  ...['<', '&', '[', ']', '%', '+', '=', '"', '\\', '/', ' ', 'a', '0', '.'],
);

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

const key = fc.oneof(
  { arbitrary: fc.constantFrom(...ALL_PARAMS, 'input', 'output', 'number', 'choice', 'texts', '0', '1'), weight: 3 },
  { arbitrary: oddString, weight: 1 },
);

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
  const name = fc.oneof({ arbitrary: fc.constantFrom(...own, 'format'), weight: 3 }, { arbitrary: key, weight: 1 });
  const odd = fc.dictionary(name, paramValue, { maxKeys: 3 });
  return fc.tuple(base, odd).map(([a, b]) => ({ ...a, ...b }));
}

/**
 * A header value of any bytes but CR and LF, which would end the header line there and smuggle
 * the rest in as other headers or a second request (the corpus sends such lines on purpose).
 */
const headerBytes = (s: string) => Buffer.from(s.replace(/[\r\n]/g, ' '));

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
      arbitrary: oddString.map(
        (s) =>
          [
            ['EX-APP-ID', headerBytes(s)],
            ['EX-APP-VERSION', '1.0.0'],
            ['AUTHORIZATION-APP-API', b64(`${s}:${w.exAppSecret}`)],
          ] as [string, string | Buffer][],
      ),
      weight: 1,
    },
    { arbitrary: oddString.map((s) => one(`Basic ${b64(`${s}:${s}`)}`)), weight: 1 },
    { arbitrary: oddString.map((s) => one(headerBytes(`Bearer ${s}`))), weight: 1 },
    {
      arbitrary: fc.constantFrom(one('Basic !!!'), one(`Basic ${b64('nocolon')}`), one('Basic'), one('Bearer'), one(`Basic ${b64(':')}`)),
      weight: 1,
    },
    { arbitrary: fc.constant([['Cookie', `taskproc_anon=${w.anonCookie}`]] as [string, string | Buffer][]), weight: 1 },
  );
}

const ODD_IDS = ['-1', '0', '1e999', '0x10', '99999999999999999999', '%00', '1.5', '%2e%2e', '%252e', 'abc', '%F0%9F%92%A9', '%20'];

const realIdsOf = (w: FuzzWorld) => [w.ids.scheduled, ...w.ids.claimed, w.ids.finished, w.ids.bob, w.ids.withFile, w.fileId].map(String);

const idArb = (w: FuzzWorld) =>
  fc.oneof(
    { arbitrary: fc.constantFrom(...realIdsOf(w)), weight: 4 },
    { arbitrary: fc.constantFrom(...ODD_IDS), weight: 2 },
    { arbitrary: oddString.map(pct), weight: 1 },
  );

const SEGMENTS = ['fuzz.txt', 'dir', 'a%20b', '..', '.', '%2e%2e', '%2f', '%00', '%252e', 'a%2fb', '%C3%A4', '%F0%9F%92%A9', '', '%zz', '~'];
const segment = fc.oneof({ arbitrary: fc.constantFrom(...SEGMENTS), weight: 3 }, { arbitrary: oddString.map(pct), weight: 1 });
const ODD_PREFIXES = ['', '/ocs/v1.php', '/ocs/v2.php', '/ocs/v2.php/taskprocessing', '/ocs/v3.php', '/index.php', '/status.php', '/remote.php'];

type BodyKind = 'none' | 'json' | 'json-raw' | 'form' | 'multipart' | 'other';

const ODD_TYPES = [
  ...['text/plain', 'application/xml', 'application/octet-stream', 'application/json; charset=utf-16'],
  ...['multipart/form-data', 'application/jsonx', ''],
];
const ODD_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'PROPFIND'];
const ODD_ACCEPTS = ['application/json', 'application/xml', '*/*', 'text/html, application/json;q=0.1', ',,;'];
/** `&`, `=`, `[` and `]` stay as they are in a raw query, so it breaks into odd names and values. */
const rawQueryOf = (s: string) => pct(s).replace(/%(26|3D|5B|5D)/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));

/** A random request to a random OCS route: method, version, ids, parameters in the query and body, headers, credentials. */
export function ocsRequestArbitrary(w: FuzzWorld): fc.Arbitrary<FuzzCase> {
  return fc.constantFrom(...OCS_ROUTES).chain((route) =>
    fc
      .record({
        method: fc.oneof({ arbitrary: fc.constant(route.method), weight: 10 }, { arbitrary: fc.constantFrom(...ODD_METHODS), weight: 1 }),
        version: fc.constantFrom(1, 2),
        ids: fc.array(fc.oneof({ arbitrary: fc.constantFrom(...realIds(w, route)), weight: 2 }, { arbitrary: idArb(w), weight: 1 }), {
          minLength: 2,
          maxLength: 2,
        }),
        query: fc.oneof(paramsFor(w, route), fc.constant({})),
        rawQuery: fc.option(fc.string({ unit: charUnit, maxLength: 20 }), { freq: 5 }),
        format: fc.constantFrom('json', 'xml', undefined, 'XML', ''),
        accept: fc.option(fc.constantFrom(...ODD_ACCEPTS), { freq: 3 }),
        bodyKind: fc.constantFrom<BodyKind>('none', 'json', 'json', 'json-raw', 'form', 'multipart', 'other'),
        body: paramsFor(w, route),
        rawBody: fc.oneof(
          oddString,
          oddValue.map((v) => JSON.stringify(v) ?? 'undefined'),
        ),
        // A chunked body now and then (what Node's http client sends for a body without a length).
        chunked: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
        contentType: fc.constantFrom(...ODD_TYPES),
        auth: authFor(w, route),
        ocsApi: fc.boolean(),
        // Now and then a path no route has: below the OCS entry points, or anywhere else.
        elsewhere: fc.option(fc.tuple(fc.constantFrom(...ODD_PREFIXES), fc.array(segment, { maxLength: 3 })), { freq: 12 }),
      })
      .map((r): FuzzCase => {
        const path = r.elsewhere
          ? `${r.elsewhere[0]}${r.elsewhere[1].map((x) => `/${x}`).join('')}` || '/'
          : `/ocs/v${r.version}.php${fillPath(route.path, r.ids)}`;
        const query = { ...r.query, ...(r.format !== undefined && { format: r.format }) };
        const qs = [phpForm(query), r.rawQuery === null ? '' : rawQueryOf(r.rawQuery)].filter((s) => s !== '').join('&');
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
            // The upload route gets a file part too, the others fields only.
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
      method: fc.oneof(
        { arbitrary: fc.constantFrom(...DAV_METHODS), weight: 6 },
        { arbitrary: fc.constantFrom('POST', 'PATCH', 'LOCK', 'MOVE', 'COPY', 'PROPPATCH'), weight: 1 },
      ),
      legacy: fc.boolean(),
      user: fc.constantFrom(...DAV_USERS),
      segments: fc.array(segment, { maxLength: 4 }),
      trailingSlash: fc.boolean(),
      auth: fc.oneof(
        { arbitrary: fc.constant<Headers>([['Authorization', w.alice]]), weight: 6 },
        { arbitrary: fc.constantFrom<Headers>([], ...[w.bob, 'Basic !!!', w.aliceBearer].map((v): Headers => [['Authorization', v]])), weight: 2 },
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
      const request: RawRequest = { method: r.method, target, headers };
      if (r.body !== undefined) {
        request.body = r.body;
        if (r.chunked) request.framing = 'chunked';
      }
      return { name: 'random WebDAV', request };
    });
}
