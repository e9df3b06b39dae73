import { LoginThrottle } from '../../src/auth/login-throttle.js';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerWebdav } from '../../src/api/webdav/webdav-routes.js';
import { Authenticator } from '../../src/auth/authenticator.js';
import { hashPassword, randomToken, tokenHash } from '../../src/auth/passwords.js';
import { systemClock } from '../../src/core/clock.js';
import { MemoryRateLimiter } from '../../src/core/rate-limit.js';
import type { FileService } from '../../src/files/file-service.js';
import { BlobStore } from '../../src/files/blob-store.js';
import { LocalFileService } from '../../src/files/local-file-service.js';
import { basic, startServer, type TestServer } from '../helpers/server.js';
import { createTestStore, type TestStore } from '../helpers/store.js';

/**
 * The WebDAV routes on a Fastify root set up like api/server.ts's, over a test store, built here
 * so the tests can watch the file service (when did a PUT settle?) and make it fail. The root's
 * body limit is far below the upload limit: uploads must not be capped by it. The last suite goes
 * through createApp (startServer), to check the wiring and that the OCS routes are untouched.
 */
const BODY_LIMIT = 1024;
const MAX_UPLOAD = 64 * 1024;

interface DavUser {
  uid: string;
  password: string;
  /** Basic header with the app password. */
  auth: string;
  /** Basic header with the login password. */
  passwordAuth: string;
}

interface Dav {
  url: string;
  ts: TestStore;
  files: FileService;
  alice: DavUser;
  bob: DavUser;
  /** What the routes logged as unexpected errors. */
  logged: object[];
  /** Resolves when the next PUT reaching the file service has settled, however it ended. */
  nextPutSettled(): Promise<void>;
  close(): Promise<void>;
}

async function startDav(): Promise<Dav> {
  const ts = await createTestStore();
  const clock = systemClock;
  const authenticator = new Authenticator(ts.store.users, new LoginThrottle(new MemoryRateLimiter(clock)), clock);
  const logged: object[] = [];
  const log = { error: (o: object) => void logged.push(o) };
  // A root set up as api/server.ts sets it up: its catch-all parser buffers bodies under the API
  // body limit, which the WebDAV plugin must neither inherit nor disturb.
  const server: FastifyInstance = Fastify({ bodyLimit: BODY_LIMIT, logger: false });
  server.removeAllContentTypeParsers();
  server.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, _body, done) => done(null, undefined));
  server.post('/api-echo', async (req) => ({ body: req.body === undefined ? 'dropped' : 'kept' }));
  const local = new LocalFileService({ files: ts.store.files, users: ts.store.users, blobs: new BlobStore(ts.dir), clock, maxUpload: MAX_UPLOAD });
  let onPutSettled: (() => void) | undefined;
  const files: FileService = new Proxy(local, {
    get(target, prop, receiver) {
      if (prop === 'stat') {
        return async (owner: string, path: string) => {
          if (path === 'boom.txt') throw new Error('secret internals');
          return target.stat(owner, path);
        };
      }
      if (prop !== 'put') return Reflect.get(target, prop, receiver);
      return async (...args: Parameters<FileService['put']>) => {
        try {
          return await target.put(...args);
        } finally {
          onPutSettled?.();
        }
      };
    },
  });
  await registerWebdav(server, { files, authenticator, maxUpload: MAX_UPLOAD, log });
  await server.listen({ host: '127.0.0.1', port: 0 });
  const addr = server.server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;

  const addUser = async (uid: string): Promise<DavUser> => {
    const password = `pw-${uid}-${randomToken(8)}`;
    await ts.store.users.createUser({
      id: uid,
      displayName: uid,
      passwordHash: await hashPassword(password),
      isAdmin: false,
      isGuest: false,
      enabled: true,
      createdAt: 0,
    });
    const appPassword = randomToken(72);
    await ts.store.users.createAppPassword({ userId: uid, tokenHash: tokenHash(appPassword), name: 'test', createdAt: 0 });
    return { uid, password, auth: basic(uid, appPassword), passwordAuth: basic(uid, password) };
  };

  return {
    url,
    ts,
    files,
    logged,
    alice: await addUser('alice'),
    bob: await addUser('bob'),
    nextPutSettled: () => new Promise<void>((resolve) => (onPutSettled = resolve)),
    async close() {
      await server.close();
      await ts.cleanup();
    },
  };
}

interface Res {
  status: number;
  headers: Headers;
  text: string;
}

async function dav(
  d: Dav,
  method: string,
  path: string,
  opts: { auth?: string | null; body?: string | Uint8Array<ArrayBuffer>; headers?: Record<string, string> } = {},
): Promise<Res> {
  const headers: Record<string, string> = { ...opts.headers };
  const auth = opts.auth === undefined ? d.alice.auth : opts.auth;
  if (auth !== null) headers.authorization = auth;
  const res = await fetch(`${d.url}${path}`, { method, headers, body: opts.body });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/**
 * A request with the path sent exactly as written. fetch() would resolve `..` and `%2e%2e`
 * (the URL standard treats both as dot segments) before the server could see them.
 */
function rawRequest(d: Dav, method: string, path: string, auth: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${d.url}/`,
      { method, path, headers: { authorization: auth, ...(body !== undefined && { 'content-length': String(Buffer.byteLength(body)) }) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (s: string) => (text += s));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const sabreError = (exception: string, message: string) =>
  '<?xml version="1.0" encoding="utf-8"?>\n' +
  '<d:error xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns">\n' +
  `  <s:exception>${exception}</s:exception>\n` +
  `  <s:message>${message}</s:message>\n` +
  '</d:error>\n';

function assertSabre(res: Res | { status: number; text: string }, status: number, exception: string): void {
  assert.equal(res.status, status, res.text);
  assert.ok(res.text.includes(`<s:exception>${exception}</s:exception>`), res.text);
}

/** One `<d:response>` of a multistatus, by href. */
function responseFor(xml: string, href: string): string {
  const found = xml.split('<d:response>').find((r) => r.startsWith(`<d:href>${href}</d:href>`));
  assert.ok(found, `no response for ${href} in ${xml}`);
  return found;
}

function prop(response: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(response);
  return m?.[1];
}

/** Every blob file on disk under `<dataDir>/files` (temporaries included). */
async function diskFiles(dir: string): Promise<string[]> {
  const entries = await readdir(join(dir, 'files'), { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

const ALICE = '/remote.php/dav/files/alice';

describe('WebDAV /remote.php/dav/files', () => {
  let d: Dav;
  before(async () => {
    d = await startDav();
  });
  after(() => d.close());

  describe('PUT', () => {
    it('creates a file with 201 and says its id, padded as Nextcloud does, and its etag', async () => {
      const res = await dav(d, 'PUT', `${ALICE}/created.txt`, { body: 'hello', headers: { 'content-type': 'text/plain' } });
      assert.equal(res.status, 201, res.text);
      const fileId = res.headers.get('oc-fileid') ?? '';
      assert.match(fileId, /^\d{8}taskproc0$/);
      const stored = await d.files.stat('alice', 'created.txt');
      assert.equal(parseInt(fileId, 10), stored?.id);
      assert.equal(res.headers.get('etag'), `"${stored?.etag}"`);
      assert.equal(res.headers.get('oc-etag'), `"${stored?.etag}"`);
      assert.equal(stored?.size, 5);
      assert.equal(stored?.mime, 'text/plain');
    });

    it('replaces a file with 204, keeping its id and changing its etag', async () => {
      const first = await dav(d, 'PUT', `${ALICE}/replaced.txt`, { body: 'one' });
      const second = await dav(d, 'PUT', `${ALICE}/replaced.txt`, { body: 'two, longer' });
      assert.equal(first.status, 201);
      assert.equal(second.status, 204);
      assert.equal(second.headers.get('oc-fileid'), first.headers.get('oc-fileid'));
      assert.notEqual(second.headers.get('etag'), first.headers.get('etag'));
      const got = await dav(d, 'GET', `${ALICE}/replaced.txt`);
      assert.equal(got.text, 'two, longer');
    });

    it('accepts uploads far above the API body limit, streamed', async () => {
      const big = Buffer.alloc(BODY_LIMIT * 20, 7);
      const res = await dav(d, 'PUT', `${ALICE}/big.bin`, { body: big });
      assert.equal(res.status, 201, res.text);
      assert.equal((await d.files.stat('alice', 'big.bin'))?.size, big.length);
    });

    it('answers 409 when the parent folder is missing', async () => {
      const res = await dav(d, 'PUT', `${ALICE}/no-such-folder/a.txt`, { body: 'x' });
      assertSabre(res, 409, 'Sabre\\DAV\\Exception\\Conflict');
      assert.equal(res.headers.get('content-type'), 'application/xml; charset=utf-8');
    });

    it('answers 405 for a PUT onto a folder', async () => {
      assert.equal((await dav(d, 'MKCOL', `${ALICE}/put-onto`)).status, 201);
      const res = await dav(d, 'PUT', `${ALICE}/put-onto`, { body: 'x' });
      assertSabre(res, 405, 'Sabre\\DAV\\Exception\\MethodNotAllowed');
      assert.match(res.headers.get('allow') ?? '', /PROPFIND/);
    });

    it('answers 413 above the upload limit, with or without Content-Length, and stores nothing', async () => {
      const tooBig = Buffer.alloc(MAX_UPLOAD + 1, 1);
      const withLength = await dav(d, 'PUT', `${ALICE}/too-big.bin`, { body: tooBig });
      assertSabre(withLength, 413, 'OCA\\DAV\\Connector\\Sabre\\Exception\\EntityTooLarge');

      const settled = d.nextPutSettled();
      const chunked = await fetch(`${d.url}${ALICE}/too-big.bin`, {
        method: 'PUT',
        headers: { authorization: d.alice.auth },
        body: new Blob([tooBig]).stream(),
        duplex: 'half',
      } as RequestInit);
      await settled;
      assert.equal(chunked.status, 413);
      assert.equal(await d.files.stat('alice', 'too-big.bin'), undefined);
    });

    it('answers 507 when the upload would pass the quota', async () => {
      const carol = await d.ts.store.users.createUser({
        id: 'carol',
        displayName: 'c',
        passwordHash: null,
        isAdmin: false,
        isGuest: false,
        enabled: true,
        createdAt: 0,
        quotaBytes: 10,
      });
      const token = randomToken(72);
      await d.ts.store.users.createAppPassword({ userId: carol.id, tokenHash: tokenHash(token), name: 't', createdAt: 0 });
      const auth = basic('carol', token);
      assert.equal((await dav(d, 'PUT', '/remote.php/dav/files/carol/small.txt', { auth, body: '12345' })).status, 201);
      const res = await dav(d, 'PUT', '/remote.php/dav/files/carol/more.txt', { auth, body: '1234567' });
      assertSabre(res, 507, 'Sabre\\DAV\\Exception\\InsufficientStorage');
      assert.equal(await d.files.stat('carol', 'more.txt'), undefined);
    });

    it('stores nothing when the client goes away mid-upload', async () => {
      const before = await diskFiles(d.ts.dir);
      const settled = d.nextPutSettled();
      await new Promise<void>((resolve) => {
        const req = httpRequest(`${d.url}${ALICE}/aborted.bin`, { method: 'PUT', headers: { authorization: d.alice.auth, 'content-length': '10000' } });
        req.on('error', () => resolve());
        req.write(Buffer.alloc(100, 1), () => setImmediate(() => req.destroy()));
        req.on('close', () => resolve());
      });
      await settled;
      assert.equal(await d.files.stat('alice', 'aborted.bin'), undefined);
      assert.deepEqual(await diskFiles(d.ts.dir), before);
    });
  });

  describe('GET and HEAD', () => {
    it('GET streams the bytes back with type, length, etag, Last-Modified and the file id', async () => {
      const put = await dav(d, 'PUT', `${ALICE}/get.json`, { body: '{"a":1}', headers: { 'content-type': 'application/json' } });
      const res = await dav(d, 'GET', `${ALICE}/get.json`);
      assert.equal(res.status, 200);
      assert.equal(res.text, '{"a":1}');
      assert.equal(res.headers.get('content-type'), 'application/json');
      assert.equal(res.headers.get('content-length'), '7');
      assert.equal(res.headers.get('etag'), put.headers.get('etag'));
      assert.equal(res.headers.get('oc-fileid'), put.headers.get('oc-fileid'));
      assert.match(res.headers.get('last-modified') ?? '', /^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/);
      assert.match(res.headers.get('content-disposition') ?? '', /^attachment; /);
    });

    it('HEAD sends the same headers and no body', async () => {
      await dav(d, 'PUT', `${ALICE}/head.txt`, { body: 'twelve bytes' });
      const res = await dav(d, 'HEAD', `${ALICE}/head.txt`);
      assert.equal(res.status, 200);
      assert.equal(res.text, '');
      assert.equal(res.headers.get('content-length'), '12');
      assert.match(res.headers.get('etag') ?? '', /^"\w+"$/);
      assert.match(res.headers.get('oc-fileid') ?? '', /^\d{8}taskproc0$/);
    });

    it('answers 404 in Sabre form for a missing file', async () => {
      const res = await dav(d, 'GET', `${ALICE}/missing.txt`);
      assert.equal(res.status, 404);
      assert.equal(res.text, sabreError('Sabre\\DAV\\Exception\\NotFound', 'File with name missing.txt could not be located'));
    });

    it('refuses GET on a folder with 405 and answers HEAD on it with 200', async () => {
      await dav(d, 'MKCOL', `${ALICE}/get-folder`);
      assertSabre(await dav(d, 'GET', `${ALICE}/get-folder/`), 405, 'Sabre\\DAV\\Exception\\MethodNotAllowed');
      assert.equal((await dav(d, 'HEAD', `${ALICE}/get-folder/`)).status, 200);
    });
  });

  describe('PROPFIND', () => {
    before(async () => {
      await dav(d, 'MKCOL', `${ALICE}/docs`);
      await dav(d, 'MKCOL', `${ALICE}/docs/sub folder`);
      await dav(d, 'PUT', `${ALICE}/docs/a b.txt`, { body: 'abc', headers: { 'content-type': 'text/plain' } });
    });

    it('Depth 0 describes the file itself in Nextcloud multistatus form', async () => {
      const res = await dav(d, 'PROPFIND', `${ALICE}/docs/a%20b.txt`, { headers: { depth: '0' } });
      assert.equal(res.status, 207, res.text);
      assert.equal(res.headers.get('content-type'), 'application/xml; charset=utf-8');
      assert.ok(
        res.text.startsWith(
          '<?xml version="1.0"?>\n<d:multistatus xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns"><d:response>',
        ),
        res.text,
      );
      const stored = await d.files.stat('alice', 'docs/a b.txt');
      const r = responseFor(res.text, `${ALICE}/docs/a%20b.txt`);
      assert.equal(prop(r, 'oc:fileid'), String(stored?.id));
      assert.equal(prop(r, 'oc:id'), `${String(stored?.id).padStart(8, '0')}taskproc0`);
      assert.equal(prop(r, 'oc:size'), '3');
      assert.equal(prop(r, 'd:getcontentlength'), '3');
      assert.equal(prop(r, 'd:getcontenttype'), 'text/plain');
      assert.equal(prop(r, 'd:getetag'), `&quot;${stored?.etag}&quot;`);
      assert.equal(prop(r, 'd:displayname'), 'a b.txt');
      assert.match(r, /<d:resourcetype\/>/);
      assert.match(prop(r, 'd:getlastmodified') ?? '', /GMT$/);
      assert.match(r, /<d:status>HTTP\/1\.1 200 OK<\/d:status>/);
      assert.equal(res.text.split('<d:response>').length, 2);
    });

    it('Depth 1 (the default) lists the folder and its children; folder hrefs end with /', async () => {
      const res = await dav(d, 'PROPFIND', `${ALICE}/docs`);
      assert.equal(res.status, 207);
      const folder = responseFor(res.text, `${ALICE}/docs/`);
      assert.match(folder, /<d:resourcetype><d:collection\/><\/d:resourcetype>/);
      assert.equal(prop(folder, 'oc:fileid'), String((await d.files.stat('alice', 'docs'))?.id));
      assert.equal(prop(folder, 'oc:permissions'), 'RGDNVCK');
      assert.equal(prop(folder, 'd:getcontenttype'), undefined);
      const sub = responseFor(res.text, `${ALICE}/docs/sub%20folder/`);
      assert.match(sub, /<d:collection\/>/);
      const file = responseFor(res.text, `${ALICE}/docs/a%20b.txt`);
      assert.equal(prop(file, 'oc:permissions'), 'RGDNVW');
      assert.equal(res.text.split('<d:response>').length, 4);
    });

    it('answers the requested properties, and the unknown ones in a 404 propstat', async () => {
      const body =
        '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">' +
        '<d:prop><oc:fileid/><d:getcontenttype/><oc:favorite/><x:custom xmlns:x="urn:example"/></d:prop></d:propfind>';
      const res = await dav(d, 'PROPFIND', `${ALICE}/docs/`, { body, headers: { depth: '1', 'content-type': 'application/xml' } });
      assert.equal(res.status, 207, res.text);
      const folder = responseFor(res.text, `${ALICE}/docs/`);
      const [ok, missing] = folder.split('</d:propstat>');
      assert.match(ok ?? '', /<oc:fileid>\d+<\/oc:fileid>/);
      assert.doesNotMatch(ok ?? '', /getetag|getcontenttype/, 'only what was asked');
      // Folders have no content type: Sabre reports it as missing.
      assert.match(missing ?? '', /<d:getcontenttype\/><oc:favorite\/><x1:custom xmlns:x1="urn:example"\/><\/d:prop><d:status>HTTP\/1\.1 404 Not Found/);
      const file = responseFor(res.text, `${ALICE}/docs/a%20b.txt`);
      assert.match(file, /<d:getcontenttype>text\/plain<\/d:getcontenttype>/);
      assert.match(file, /<d:prop><oc:favorite\/><x1:custom xmlns:x1="urn:example"\/><\/d:prop><d:status>HTTP\/1\.1 404 Not Found/);
    });

    it('reads a body with a default namespace, and drops the 404 propstat for Prefer: return=minimal', async () => {
      const body = '<propfind xmlns="DAV:"><prop><getetag/><quota-used-bytes/></prop></propfind>';
      const res = await dav(d, 'PROPFIND', `${ALICE}/docs/a%20b.txt`, { body, headers: { depth: '0', prefer: 'return=minimal' } });
      assert.equal(res.status, 207);
      assert.match(res.text, /<d:getetag>&quot;\w+&quot;<\/d:getetag>/);
      assert.doesNotMatch(res.text, /404|quota/);
    });

    it('describes the root with the id the file service gives it', async () => {
      const res = await dav(d, 'PROPFIND', ALICE, { headers: { depth: '0' } });
      assert.equal(res.status, 207);
      const root = responseFor(res.text, `${ALICE}/`);
      assert.equal(prop(root, 'oc:fileid'), String((await d.files.stat('alice', ''))?.id));
      assert.match(root, /<d:collection\/>/);
    });

    it('answers Depth: infinity as Depth 1, as Nextcloud does', async () => {
      const r = await dav(d, 'PROPFIND', `${ALICE}/docs`, { headers: { depth: 'infinity' } });
      const one = await dav(d, 'PROPFIND', `${ALICE}/docs`, { headers: { depth: '1' } });
      assert.equal(r.status, 207);
      assert.equal(r.text.split('<d:response>').length, one.text.split('<d:response>').length);
    });

    it('answers 404 for a missing path and 400 for a body that is not a propfind', async () => {
      assertSabre(await dav(d, 'PROPFIND', `${ALICE}/nope`), 404, 'Sabre\\DAV\\Exception\\NotFound');
      assertSabre(await dav(d, 'PROPFIND', `${ALICE}/docs`, { body: '<d:lockinfo xmlns:d="DAV:"/>' }), 400, 'Sabre\\DAV\\Exception\\BadRequest');
    });
  });

  describe('MKCOL and DELETE', () => {
    it('MKCOL creates a folder (201), then 405 when it exists and 409 without a parent', async () => {
      const res = await dav(d, 'MKCOL', `${ALICE}/made`);
      assert.equal(res.status, 201);
      assert.match(res.headers.get('oc-fileid') ?? '', /^\d{8}taskproc0$/);
      assert.equal((await d.files.stat('alice', 'made'))?.isFolder, true);
      assertSabre(await dav(d, 'MKCOL', `${ALICE}/made`), 405, 'Sabre\\DAV\\Exception\\MethodNotAllowed');
      assertSabre(await dav(d, 'MKCOL', `${ALICE}/nowhere/made`), 409, 'Sabre\\DAV\\Exception\\Conflict');
    });

    it('MKCOL with a body is 415', async () => {
      const res = await dav(d, 'MKCOL', `${ALICE}/with-body`, { body: '<x/>', headers: { 'content-type': 'application/xml' } });
      assertSabre(res, 415, 'Sabre\\DAV\\Exception\\UnsupportedMediaType');
      assert.equal(await d.files.stat('alice', 'with-body'), undefined);
    });

    it('DELETE removes a folder with everything in it (204), then 404', async () => {
      await dav(d, 'MKCOL', `${ALICE}/trash`);
      await dav(d, 'MKCOL', `${ALICE}/trash/inner`);
      await dav(d, 'PUT', `${ALICE}/trash/inner/f.txt`, { body: 'x' });
      assert.equal((await dav(d, 'DELETE', `${ALICE}/trash`)).status, 204);
      assert.equal(await d.files.stat('alice', 'trash/inner/f.txt'), undefined);
      assert.equal((await dav(d, 'GET', `${ALICE}/trash/inner/f.txt`)).status, 404);
      assertSabre(await dav(d, 'DELETE', `${ALICE}/trash`), 404, 'Sabre\\DAV\\Exception\\NotFound');
    });

    it('DELETE of a file is 204', async () => {
      await dav(d, 'PUT', `${ALICE}/del.txt`, { body: 'x' });
      assert.equal((await dav(d, 'DELETE', `${ALICE}/del.txt`)).status, 204);
      assert.equal(await d.files.stat('alice', 'del.txt'), undefined);
    });
  });

  describe('the legacy /remote.php/webdav alias', () => {
    it("works on the caller's tree and answers with its own hrefs", async () => {
      const put = await dav(d, 'PUT', '/remote.php/webdav/legacy.txt', { body: 'old school' });
      assert.equal(put.status, 201);
      assert.equal((await d.files.stat('alice', 'legacy.txt'))?.size, 10);
      const res = await dav(d, 'PROPFIND', '/remote.php/webdav/', { headers: { depth: '1' } });
      assert.equal(res.status, 207);
      responseFor(res.text, '/remote.php/webdav/');
      const file = responseFor(res.text, '/remote.php/webdav/legacy.txt');
      assert.equal(prop(file, 'oc:fileid'), String(parseInt(put.headers.get('oc-fileid') ?? '', 10)));
      assert.equal((await dav(d, 'GET', '/remote.php/webdav/legacy.txt', { auth: d.bob.auth })).status, 404, "bob's tree, not alice's");
    });
  });

  describe('authentication and ownership', () => {
    it('accepts the login password as well as an app password', async () => {
      assert.equal((await dav(d, 'PUT', `${ALICE}/by-password.txt`, { auth: d.alice.passwordAuth, body: 'p' })).status, 201);
      assert.equal((await dav(d, 'PROPFIND', `${ALICE}/by-password.txt`, { auth: d.alice.auth })).status, 207);
    });

    it('answers 401 with a Basic challenge without credentials or with wrong ones', async () => {
      for (const auth of [null, basic('alice', 'wrong password')]) {
        const res = await dav(d, 'PROPFIND', `${ALICE}/`, { auth });
        assertSabre(res, 401, 'Sabre\\DAV\\Exception\\NotAuthenticated');
        assert.equal(res.headers.get('www-authenticate'), 'Basic realm="Nextcloud", charset="UTF-8"');
      }
      const put = await dav(d, 'PUT', `${ALICE}/anon.txt`, { auth: null, body: 'x' });
      assert.equal(put.status, 401);
      assert.equal(await d.files.stat('alice', 'anon.txt'), undefined);
    });

    it("refuses another user's tree with 403, the same for a user that does not exist, and writes nothing", async () => {
      const intoBob = await dav(d, 'PUT', '/remote.php/dav/files/bob/intruder.txt', { body: 'x' });
      const intoNobody = await dav(d, 'PUT', '/remote.php/dav/files/nobody/intruder.txt', { body: 'x' });
      assertSabre(intoBob, 403, 'Sabre\\DAV\\Exception\\Forbidden');
      assert.equal(intoNobody.status, 403);
      assert.equal(intoNobody.text, intoBob.text);
      assert.equal(await d.files.stat('bob', 'intruder.txt'), undefined);
      assert.equal(await d.files.stat('alice', 'intruder.txt'), undefined);
      assert.equal((await dav(d, 'PROPFIND', '/remote.php/dav/files/bob/', { headers: { depth: '0' } })).status, 403);
      // The user segment is compared exactly.
      assert.equal((await dav(d, 'PROPFIND', '/remote.php/dav/files/Alice/', { headers: { depth: '0' } })).status, 403);
    });

    it('OPTIONS answers the DAV classes and methods', async () => {
      const res = await dav(d, 'OPTIONS', `${ALICE}/`, { auth: null });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('dav'), '1, 3');
      assert.match(res.headers.get('allow') ?? '', /PUT/);
    });
  });

  describe('paths', () => {
    it('refuses .., %2e%2e and %2F.. with 400 and writes nothing anywhere', async () => {
      const beforeDisk = await diskFiles(d.ts.dir);
      const beforeRoot = (await d.files.list('alice', '')).map((f) => f.name);
      for (const path of [
        `${ALICE}/../bob/x.txt`,
        `${ALICE}/%2e%2e/bob/x.txt`,
        `${ALICE}/%2E%2E/%2e%2e/x.txt`,
        `${ALICE}/docs%2F..%2F..%2Fbob%2Fx.txt`,
        `${ALICE}/docs/%2F..%2Fx.txt`,
        '/remote.php/webdav/..%2Fx.txt',
        '/remote.php/webdav/%2e%2e/x.txt',
      ]) {
        const res = await rawRequest(d, 'PUT', path, d.alice.auth, 'payload');
        assertSabre(res, 400, 'Sabre\\DAV\\Exception\\BadRequest');
      }
      assert.deepEqual(await diskFiles(d.ts.dir), beforeDisk);
      assert.deepEqual(
        (await d.files.list('alice', '')).map((f) => f.name),
        beforeRoot,
      );
      assert.deepEqual(await d.files.list('bob', ''), []);
    });

    it('decodes each segment once: %252e%252e is a literal name, not ..', async () => {
      const res = await rawRequest(d, 'PUT', `${ALICE}/%252e%252e`, d.alice.auth, 'x');
      assert.equal(res.status, 201, res.text);
      assert.ok(await d.files.stat('alice', '%2e%2e'));
    });

    it('answers 400 for a malformed percent-encoding', async () => {
      // The router refuses the URL before any route runs, so the body is Fastify's, not Sabre's.
      const res = await rawRequest(d, 'PUT', `${ALICE}/bad%zzname`, d.alice.auth, 'x');
      assert.equal(res.status, 400);
      assert.equal(await d.files.stat('alice', 'bad%zzname'), undefined);
    });
  });

  describe('isolation from the other routes', () => {
    it("leaves the root's body parser and body limit to the other routes", async () => {
      const small = await fetch(`${d.url}/api-echo`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' });
      assert.deepEqual(await small.json(), { body: 'dropped' });
      const large = await fetch(`${d.url}/api-echo`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x'.repeat(BODY_LIMIT + 1) });
      assert.equal(large.status, 413);
    });

    it('answers methods it does not implement on DAV paths with 405', async () => {
      assertSabre(await dav(d, 'POST', `${ALICE}/x`, { body: 'x' }), 405, 'Sabre\\DAV\\Exception\\MethodNotAllowed');
    });
  });

  it('answers an unexpected error with a bare 500 and logs it', async () => {
    const res = await dav(d, 'GET', `${ALICE}/boom.txt`);
    assert.equal(res.text, sabreError('Sabre\\DAV\\Exception', 'Internal Server Error'));
    assert.equal(res.status, 500);
    assert.equal(d.logged.length, 1);
    d.logged.length = 0;
  });

  // Last: every failure above was an expected one (aborts included), so none reached the error log.
  it('logged no unexpected errors', () => {
    assert.deepEqual(d.logged, []);
  });
});

describe('WebDAV as the app mounts it', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ config: { bodyLimit: 1024, maxUpload: 1 << 20 } });
  });
  after(() => server.close());

  it('stores through /remote.php/dav above the API body limit and finds the id with PROPFIND', async () => {
    const alice = await server.addUser('alice');
    const body = new Uint8Array(Buffer.alloc(4096, 1));
    const put = await fetch(`${server.url}${ALICE}/via-app.bin`, { method: 'PUT', headers: { authorization: alice.auth }, body });
    assert.equal(put.status, 201, await put.text());
    const found = await fetch(`${server.url}${ALICE}/via-app.bin`, { method: 'PROPFIND', headers: { authorization: alice.auth, depth: '0' } });
    assert.equal(found.status, 207);
    assert.equal(prop(await found.text(), 'oc:fileid'), String(parseInt(put.headers.get('oc-fileid') ?? '', 10)));
  });

  it('leaves the OCS routes their envelope, parsers and body limit', async () => {
    const missing = await server.ocs('GET', '/ocs/v2.php/no/such/route');
    assert.equal(missing.status, 404);
    assert.ok(missing.json.ocs);
    const tooLarge = await server.ocs('POST', '/ocs/v2.php/taskprocessing/schedule', {
      auth: server.admin.auth,
      body: { input: { input: 'x'.repeat(2048) }, type: 'core:text2text', appId: 'test' },
    });
    assert.equal(tooLarge.status, 413);
    assert.ok(tooLarge.json.ocs);
  });
});
