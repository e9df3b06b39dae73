import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { buildConfig, ConfigError } from '../../src/config.js';
import { type HttpWorker, providerPayload, SHAPE } from '../helpers/http-worker.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';
import { adminQuery, TEST_DIALECT } from '../helpers/store.js';
import { until } from '../helpers/until.js';
import { chunked, requestBytes, WireConnection, type WireResponse } from '../helpers/wire-client.js';

/**
 * What a client sees when a request body is too large, cut short, malformed or sent in a form the
 * server does not expect, and what the connection is good for afterwards; plus the answers to
 * requests Node's parser or the router refuses. Through the real server, on the dialect
 * TASKPROC_TEST_DIALECT names; uploads with file contents on disk and in the database.
 */

const V1 = '/ocs/v1.php/taskprocessing';
const V2 = '/ocs/v2.php/taskprocessing';
const MiB = 1024 * 1024;
const MAX_UPLOAD = 4 * MiB;
const BODY_LIMIT = 1 * MiB;
/** Well past the kernel's socket buffers on loopback, so a server that stops reading is noticed by the writer. */
const HUGE = 16 * MiB;
const CAPABILITIES = '/ocs/v2.php/cloud/capabilities';
const TYPE = 'bodies:copy';
const PROVIDER = 'bodies-copy';
/** Hang guard for tests whose failure before the fix was no answer at all. */
const NO_HANG = { timeout: 60_000 };

describe('TASKPROC_LINGER_BYTES and TASKPROC_LINGER_SECONDS', () => {
  it('are 64 MiB and 5 s unless the environment or the flags say otherwise; the flag wins; 0 is allowed', () => {
    const defaults = buildConfig({}, {});
    assert.equal(defaults.lingerBytes, 64 * MiB);
    assert.equal(defaults.lingerSeconds, 5);
    const env = buildConfig({}, { TASKPROC_LINGER_BYTES: '0', TASKPROC_LINGER_SECONDS: '30' });
    assert.equal(env.lingerBytes, 0);
    assert.equal(env.lingerSeconds, 30);
    const flags = buildConfig({ 'linger-bytes': '1048576', 'linger-seconds': '0' }, { TASKPROC_LINGER_BYTES: '0', TASKPROC_LINGER_SECONDS: '30' });
    assert.equal(flags.lingerBytes, MiB);
    assert.equal(flags.lingerSeconds, 0);
  });

  it('refuses values that are not whole numbers in range, naming the setting', () => {
    assert.throws(
      () => buildConfig({}, { TASKPROC_LINGER_BYTES: '64M' }),
      (e: unknown) => e instanceof ConfigError && /TASKPROC_LINGER_BYTES/.test(e.message),
    );
    assert.throws(
      () => buildConfig({}, { TASKPROC_LINGER_SECONDS: '-1' }),
      (e: unknown) => e instanceof ConfigError && /TASKPROC_LINGER_SECONDS/.test(e.message),
    );
    assert.throws(() => buildConfig({ 'linger-seconds': '3601' }, {}), { message: '--linger-seconds must be between 0 and 3600, got 3601' });
  });
});

/** An ExApp known to the server, with a provider of a type that has a file output. */
async function exAppWorker(s: TestServer): Promise<HttpWorker> {
  const worker = await s.addExApp('bodies');
  const registered = await worker.register(providerPayload({ id: PROVIDER, task_type: TYPE }), {
    id: TYPE,
    name: 'Copy',
    description: 'Copies a file',
    input_shape: [{ name: 'input', description: 'Text', shape_type: SHAPE.Text }],
    output_shape: [{ name: 'output', description: 'A file', shape_type: SHAPE.File }],
  });
  assert.equal(registered.status, 200, registered.text);
  return worker;
}

/** A multipart body with one file part named `file`; `close: false` leaves out the closing boundary. */
function multipart(data: Buffer, opts: { close?: boolean } = {}): { type: string; body: Buffer } {
  const boundary = `----bodies${randomBytes(8).toString('hex')}`;
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="out.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    data,
    Buffer.from(opts.close === false ? '' : `\r\n--${boundary}--\r\n`),
  ]);
  return { type: `multipart/form-data; boundary=${boundary}`, body };
}

/** Blob files on disk (temp files included) and chunk rows in the database: what an upload may leave behind. */
async function storedBlobs(s: TestServer): Promise<{ files: number; chunks: number }> {
  const walk = async (dir: string): Promise<number> => {
    if (!existsSync(dir)) return 0;
    let n = 0;
    for (const entry of await readdir(dir, { withFileTypes: true })) n += entry.isDirectory() ? await walk(join(dir, entry.name)) : 1;
    return n;
  };
  const url = s.app.config.databaseUrl;
  let chunks: number;
  if (url === null) {
    const db = new Database(join(s.dir, 'taskproc.db'), { readonly: true });
    try {
      chunks = (db.prepare('select count(*) as n from blob_chunks').get() as { n: number }).n;
    } finally {
      db.close();
    }
  } else {
    const schema = new URL(url).searchParams.get('schema');
    chunks = Number((await adminQuery(`select count(*) as n from ${schema}.blob_chunks`)).rows[0].n);
  }
  return { files: await walk(join(s.dir, 'files')), chunks };
}

for (const fileStorage of ['disk', 'database'] as const) {
  describe(`${TEST_DIALECT}, file contents on ${fileStorage}: POST tasks_provider/{id}/file with a bad body`, () => {
    let s: TestServer;
    let alice: TestUser;
    let worker: HttpWorker;
    const uploadPath = (id: number) => `${V2}/tasks_provider/${id}/file?format=json`;

    before(async () => {
      s = await startServer({ config: { runnerConcurrency: 0, maxUpload: MAX_UPLOAD, fileStorage } });
      alice = await s.addUser('alice');
      await s.app.settings.set('rateLimitEnabled', false);
      worker = await exAppWorker(s);
    });
    after(async () => {
      worker.close();
      await s.close();
    });

    /** A task of alice's, claimed by the worker (so the worker may upload for it). */
    const claimed = async (): Promise<number> => {
      const r = await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body: { type: TYPE, appId: 'bodies', input: { input: 'x' } } });
      assert.equal(r.status, 200, r.text);
      const next = await worker.next([PROVIDER], [TYPE]);
      assert.equal(next.status, 200, next.text);
      return next.json.ocs.data.task.id as number;
    };
    const uploadHeaders = (type: string, extra: Record<string, string> = {}) => ({ ...worker.appApiHeaders(), 'Content-Type': type, ...extra });
    /** The server still works: a whole upload for `id` is stored and its id returned. */
    const uploadWorks = async (id: number) => {
      const ok = await worker.upload(id, Buffer.from('fine'));
      assert.equal(ok.status, 201, ok.text);
      assert.equal(typeof ok.json.ocs.data.fileId, 'number');
    };

    it('answers 400 in the envelope to a form without its closing boundary, keeps nothing, and the connection serves the next request', NO_HANG, async () => {
      const id = await claimed();
      const baseline = await storedBlobs(s);
      const form = multipart(randomBytes(300 * 1024), { close: false });
      const conn = await WireConnection.open(s.url);
      try {
        await conn.write(requestBytes('POST', uploadPath(id), uploadHeaders(form.type, { 'Content-Length': String(form.body.length) }), form.body));
        const r = await conn.response();
        assert.equal(r.status, 400, r.text);
        assert.equal(r.json.ocs.meta.statuscode, 400);
        assert.equal(r.json.ocs.data.message, 'The multipart body cannot be read: Unexpected end of form');
        assert.deepEqual(await storedBlobs(s), baseline);
        // The whole body was read: the connection is still good.
        await conn.write(requestBytes('GET', `${V2}/tasks_provider/next?format=json`, worker.appApiHeaders()));
        const next = await conn.response();
        assert.equal(next.status, 400, next.text);
        assert.equal(next.json.ocs.data.message, 'Missing parameter: providerIds');
      } finally {
        conn.destroy();
      }
      await uploadWorks(id);
    });

    it('answers 201 for a file part that ended whole before the form broke off, storing it once', NO_HANG, async () => {
      const id = await claimed();
      const data = randomBytes(100 * 1024);
      const whole = multipart(data);
      const boundary = /boundary=(.*)$/.exec(whole.type)?.[1] ?? '';
      // The file part and its delimiter, then a second part that never ends.
      const body = Buffer.concat([
        whole.body.subarray(0, whole.body.length - `--\r\n`.length),
        Buffer.from(`\r\nContent-Disposition: form-data; name="x"\r\n\r\nunfinis`),
      ]);
      assert.ok(body.includes(`--${boundary}\r\nContent-Disposition: form-data; name="x"`));
      const conn = await WireConnection.open(s.url);
      let fileId: number;
      try {
        await conn.write(requestBytes('POST', uploadPath(id), uploadHeaders(whole.type, { 'Content-Length': String(body.length) }), body));
        const r = await conn.response();
        assert.equal(r.status, 201, r.text);
        fileId = r.json.ocs.data.fileId as number;
      } finally {
        conn.destroy();
      }
      const done = await worker.result(id, { output: fileId });
      assert.equal(done.status, 200, done.text);
      const download = await fetch(`${s.url}${V2}/tasks/${id}/file/${fileId}`, { headers: { authorization: alice.auth } });
      assert.ok(Buffer.from(await download.arrayBuffer()).equals(data));
    });

    it('survives a client that goes away mid-part, keeps nothing, and answers the next request', NO_HANG, async () => {
      const id = await claimed();
      const baseline = await storedBlobs(s);
      const form = multipart(randomBytes(3 * MiB));
      const conn = await WireConnection.open(s.url);
      const sent = requestBytes(
        'POST',
        uploadPath(id),
        uploadHeaders(form.type, { 'Content-Length': String(form.body.length) }),
        form.body.subarray(0, 2.5 * MiB),
      );
      await conn.write(sent);
      // The server is storing the part (a temp file on disk, or its first 1 MiB row) when the client goes.
      await until('the upload to be under way', async () => {
        const now = await storedBlobs(s);
        return now.files > baseline.files || now.chunks > baseline.chunks;
      });
      conn.destroy();
      await until('the partial upload to be removed', async () => {
        const now = await storedBlobs(s);
        return now.files === baseline.files && now.chunks === baseline.chunks;
      });
      await uploadWorks(id);
    });

    for (const framing of ['with Content-Length', 'chunked'] as const) {
      it(`answers 413 in the envelope to a 6 MB file over the 4 MiB limit (${framing}) sent whole before reading, then closes cleanly`, NO_HANG, async () => {
        const id = await claimed();
        const baseline = await storedBlobs(s);
        const form = multipart(randomBytes(6_000_000));
        const conn = await WireConnection.open(s.url);
        try {
          const head: Record<string, string> = framing === 'chunked' ? { 'Transfer-Encoding': 'chunked' } : { 'Content-Length': String(form.body.length) };
          await conn.write(requestBytes('POST', uploadPath(id), uploadHeaders(form.type, head), framing === 'chunked' ? chunked(form.body) : form.body));
          const r = await conn.response();
          assert.equal(r.status, 413, r.text);
          assert.equal(r.json.ocs.meta.statuscode, 413);
          assert.equal(r.json.ocs.data.message, `The file is larger than the upload limit of ${MAX_UPLOAD} bytes`);
          assert.equal(r.headers.connection, 'close');
          assert.deepEqual(await storedBlobs(s), baseline);
          await conn.whenClosed;
          assert.equal(conn.error, undefined, 'closed without a reset');
        } finally {
          conn.destroy();
        }
        await uploadWorks(id);
      });
    }

    it('answers 413 through a client that waits for 100 Continue, as curl does', NO_HANG, async () => {
      const id = await claimed();
      const form = multipart(randomBytes(6_000_000));
      const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(`${s.url}${uploadPath(id)}`, {
          method: 'POST',
          headers: { ...uploadHeaders(form.type), 'content-length': String(form.body.length), expect: '100-continue' },
        });
        req.on('continue', () => req.end(form.body));
        req.on('response', (r) => {
          let body = '';
          r.on('data', (c) => (body += c));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
        });
        req.on('error', reject);
      });
      assert.equal(res.status, 413, res.body);
      assert.equal(JSON.parse(res.body).ocs.meta.statuscode, 413);
    });
  });
}

describe('multipart forms as parameters', () => {
  let s: TestServer;
  let alice: TestUser;
  before(async () => {
    s = await startServer({ config: { runnerConcurrency: 0 } });
    alice = await s.addUser('alice');
  });
  after(() => s.close());

  const post = (parts: string[], boundary = 'b0undary') => {
    const body = `${parts.map((p) => `--${boundary}\r\n${p}\r\n`).join('')}--${boundary}--\r\n`;
    return fetch(`${s.url}${V2}/schedule?format=json`, {
      method: 'POST',
      headers: { authorization: alice.auth, 'ocs-apirequest': 'true', 'content-type': `multipart/form-data; boundary=${boundary}` },
      body: Buffer.from(body, 'latin1'),
    });
  };

  it('reads a field with an empty name like any other, and keeps serving', NO_HANG, async () => {
    const r = await post(['Content-Disposition: form-data; name=""\r\n\r\nx', 'Content-Disposition: form-data; name="type"\r\n\r\nno:such']);
    assert.equal(r.status, 400);
    assert.equal(((await r.json()) as any).ocs.meta.statuscode, 400);
    assert.equal((await s.ocs('GET', CAPABILITIES)).status, 200);
  });

  it('answers 400 to a field whose charset decodes to text that is not Unicode', NO_HANG, async () => {
    // A lone high surrogate, in UTF-16LE.
    const r = await post(['Content-Disposition: form-data; name="type"\r\nContent-Type: text/plain; charset=utf-16le\r\n\r\n\x3d\xd8']);
    assert.equal(r.status, 400);
    assert.equal(((await r.json()) as any).ocs.data.message, 'The multipart body cannot be read: a field is not valid text');
  });
});

describe('bodies written whole before the answer is read (the lingering drain)', () => {
  let s: TestServer;
  let alice: TestUser;
  before(async () => {
    s = await startServer({ config: { runnerConcurrency: 0, bodyLimit: BODY_LIMIT, maxUpload: MAX_UPLOAD } });
    alice = await s.addUser('alice');
  });
  after(() => s.close());

  const hugeSchedule = () => Buffer.from(JSON.stringify({ type: 'core:text2text', appId: 'a', input: { input: 'x'.repeat(HUGE) } }));
  const scheduleHeaders = (body: Buffer, extra: Record<string, string> = {}) => ({
    Authorization: alice.auth,
    'OCS-APIRequest': 'true',
    'Content-Type': 'application/json',
    'Content-Length': String(body.length),
    ...extra,
  });

  it('schedule: a 16 MB body gets the 413 envelope, not a broken pipe, then the connection closes cleanly', async () => {
    const body = hugeSchedule();
    const conn = await WireConnection.open(s.url);
    try {
      await conn.write(requestBytes('POST', `${V2}/schedule?format=json`, scheduleHeaders(body), body));
      const r = await conn.response();
      assert.equal(r.status, 413, r.text);
      assert.equal(r.json.ocs.meta.statuscode, 413);
      assert.match(r.json.ocs.data.message, /larger than/);
      assert.equal(r.headers.connection, 'close');
      await conn.whenClosed;
      assert.equal(conn.error, undefined, 'closed without a reset');
    } finally {
      conn.destroy();
    }
  });

  it('schedule: the same with Connection: close (as urllib sends it) gets the 413 envelope, then the connection closes', async () => {
    const body = hugeSchedule();
    const conn = await WireConnection.open(s.url);
    try {
      await conn.write(requestBytes('POST', `${V2}/schedule?format=json`, scheduleHeaders(body, { Connection: 'close' }), body));
      const r = await conn.response();
      assert.equal(r.status, 413, r.text);
      assert.equal(r.json.ocs.meta.statuscode, 413);
      assert.equal(r.headers.connection, 'close');
      await conn.whenClosed;
      assert.equal(conn.error, undefined);
    } finally {
      conn.destroy();
    }
  });

  for (const framing of ['with Content-Length', 'chunked'] as const) {
    it(`WebDAV PUT: a 16 MB file over the 4 MiB limit (${framing}) gets Sabre's 413, not a broken pipe`, async () => {
      const data = randomBytes(HUGE);
      const conn = await WireConnection.open(s.url);
      try {
        const head: Record<string, string> = framing === 'chunked' ? { 'Transfer-Encoding': 'chunked' } : { 'Content-Length': String(data.length) };
        await conn.write(
          requestBytes('PUT', '/remote.php/dav/files/alice/huge.bin', { Authorization: alice.auth, ...head }, framing === 'chunked' ? chunked(data) : data),
        );
        const r = await conn.response();
        assert.equal(r.status, 413, r.text);
        assert.match(r.text, /<s:exception>OCA\\DAV\\Connector\\Sabre\\Exception\\EntityTooLarge<\/s:exception>/);
        await conn.whenClosed;
        assert.equal(conn.error, undefined, 'closed without a reset');
      } finally {
        conn.destroy();
      }
      const stat = await fetch(`${s.url}/remote.php/dav/files/alice/huge.bin`, { method: 'HEAD', headers: { authorization: alice.auth } });
      assert.equal(stat.status, 404);
    });
  }

  it('a 401 on a large upload is drained the same way: the client reads it after writing', async () => {
    const data = randomBytes(HUGE);
    const conn = await WireConnection.open(s.url);
    try {
      await conn.write(
        requestBytes('PUT', '/remote.php/dav/files/alice/x.bin', { Authorization: 'Basic bm9ib2R5Om5vcGU=', 'Content-Length': String(data.length) }, data),
      );
      const r = await conn.response();
      assert.equal(r.status, 401, r.text);
    } finally {
      conn.destroy();
    }
  });
});

describe('the lingering drain has bounds', () => {
  it('closes the connection once more than TASKPROC_LINGER_BYTES follow the answer, and keeps serving', async () => {
    const s = await startServer({ config: { runnerConcurrency: 0, bodyLimit: BODY_LIMIT, lingerBytes: MiB } });
    try {
      const body = Buffer.alloc(HUGE, 0x20);
      const conn = await WireConnection.open(s.url);
      conn.startReading();
      const written = conn.write(
        requestBytes(
          'POST',
          `${V2}/schedule?format=json`,
          { Authorization: s.admin.auth, 'Content-Type': 'application/json', 'Content-Length': String(body.length) },
          body,
        ),
      );
      await assert.rejects(written, (e: Error & { code?: string }) => e.code === 'EPIPE' || e.code === 'ECONNRESET');
      await conn.whenClosed;
      assert.equal((await s.ocs('GET', CAPABILITIES)).status, 200);
    } finally {
      await s.close();
    }
  });

  it('closes the connection TASKPROC_LINGER_SECONDS after the answer when the body stalls, having sent the answer', async () => {
    const s = await startServer({ config: { runnerConcurrency: 0, bodyLimit: BODY_LIMIT, lingerSeconds: 1 } });
    try {
      const conn = await WireConnection.open(s.url);
      // 2 MB of a declared 10 MB body: past the limit, so answered; then the client sends nothing more.
      await conn.write(
        requestBytes(
          'POST',
          `${V2}/schedule?format=json`,
          { Authorization: s.admin.auth, 'Content-Type': 'application/json', 'Content-Length': String(10 * MiB) },
          Buffer.alloc(2 * MiB, 0x20),
        ),
      );
      const r = await conn.response();
      assert.equal(r.status, 413);
      await conn.whenClosed;
      assert.equal((await s.ocs('GET', CAPABILITIES)).status, 200);
    } finally {
      await s.close();
    }
  });
});

describe('GET with a body', () => {
  let s: TestServer;
  let alice: TestUser;
  let worker: HttpWorker;
  before(async () => {
    s = await startServer({ config: { runnerConcurrency: 0, bodyLimit: BODY_LIMIT } });
    alice = await s.addUser('alice');
    await s.app.settings.set('rateLimitEnabled', false);
    worker = await exAppWorker(s);
  });
  after(async () => {
    worker.close();
    await s.close();
  });

  const schedule = async (): Promise<number> => {
    const r = await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body: { type: TYPE, appId: 'bodies', input: { input: 'x' } } });
    assert.equal(r.status, 200, r.text);
    return r.json.ocs.data.task.id as number;
  };
  const lists = JSON.stringify({ providerIds: [PROVIDER], taskTypeIds: [TYPE] });

  it('reads a chunked JSON body of GET tasks_provider/next, and the kept-alive connection answers the next request', async () => {
    const id = await schedule();
    const conn = await WireConnection.open(s.url);
    try {
      const headers = { ...worker.appApiHeaders(), 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' };
      await conn.write(requestBytes('GET', `${V2}/tasks_provider/next?format=json`, headers, chunked(Buffer.from(lists), 16)));
      const r = await conn.response();
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.ocs.data.task.id, id);
      await conn.write(requestBytes('GET', `${V2}/tasks_provider/next?format=json`, headers, chunked(Buffer.from(lists))));
      assert.equal((await conn.response()).status, 204);
    } finally {
      conn.destroy();
    }
  });

  it('answers 413 in the envelope to a chunked GET body over the limit, then closes the connection cleanly', NO_HANG, async () => {
    const conn = await WireConnection.open(s.url);
    try {
      const big = Buffer.from(JSON.stringify({ providerIds: [PROVIDER], taskTypeIds: [TYPE], pad: 'x'.repeat(2 * BODY_LIMIT) }));
      const headers = { ...worker.appApiHeaders(), 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' };
      await conn.write(requestBytes('GET', `${V2}/tasks_provider/next?format=json`, headers, chunked(big)));
      const r = await conn.response();
      assert.equal(r.status, 413, r.text);
      assert.equal(r.json.ocs.data.message, `The request body is larger than the limit of ${BODY_LIMIT} bytes`);
      assert.equal(r.headers.connection, 'close');
      await conn.whenClosed;
      assert.equal(conn.error, undefined, 'closed without a reset');
    } finally {
      conn.destroy();
    }
  });

  it("answers a GET whose body Node's http client sends without a length as a GET without a body, and the client's next request works", async () => {
    // http.request sends a GET body with neither Content-Length nor Transfer-Encoding: HTTP gives it
    // no length, so its bytes are a malformed next request, never a body. The GET is answered as it
    // came (no parameters), then the stray bytes get their 400 and the connection closes.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = (body?: string) =>
      new Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }>((resolve, reject) => {
        const headers = { ...worker.appApiHeaders(), 'content-type': 'application/json' };
        const req = http.request(`${s.url}${V2}/tasks_provider/next?format=json`, { method: 'GET', agent, headers }, (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
        });
        req.on('error', reject);
        if (body !== undefined) req.write(body);
        req.end();
      });
    try {
      const unframed = await get(lists);
      assert.equal(unframed.status, 400, unframed.text);
      assert.equal(JSON.parse(unframed.text).ocs.data.message, 'Missing parameter: providerIds');
      const next = await get();
      assert.equal(next.status, 400, next.text);
      assert.equal(JSON.parse(next.text).ocs.data.message, 'Missing parameter: providerIds');
    } finally {
      agent.destroy();
    }
  });
});

describe('requests the parser or the router refuses', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ config: { runnerConcurrency: 0 } });
  });
  after(() => s.close());

  /** Sends `bytes` on a fresh connection and reads the one answer; the server closes after it. */
  const refused = async (bytes: string | Buffer, opts: { head?: boolean } = {}): Promise<{ r: WireResponse; trailing: Buffer }> => {
    const conn = await WireConnection.open(s.url);
    try {
      await conn.write(bytes);
      const r = await conn.response(opts);
      return { r, trailing: await conn.rest() };
    } finally {
      conn.destroy();
    }
  };
  const xmlMeta = (text: string) => ({
    statuscode: Number(/<statuscode>(\d+)<\/statuscode>/.exec(text)?.[1]),
    message: /<message>([^<]*)<\/message>/.exec(text)?.[1],
  });

  for (const [target, version] of [
    [`${V2}/task/%E0%A4%A`, 2],
    [`${V1}/task/%zz`, 1],
  ] as const) {
    it(`answers an undecodable URL (${target}) with 400 in the v${version} envelope, JSON or XML as asked`, async () => {
      const json = await fetch(`${s.url}${target}?format=json`, { headers: { 'OCS-APIRequest': 'true' } });
      assert.equal(json.status, 400);
      const body = (await json.json()) as any;
      assert.equal(body.ocs.meta.statuscode, 400);
      assert.equal(body.ocs.meta.message, 'The URL cannot be decoded: it has a malformed percent-encoding or bytes that are not UTF-8');
      if (version === 1) assert.equal(body.ocs.meta.totalitems, '');
      const byAccept = await fetch(`${s.url}${target}`, { headers: { accept: 'application/json' } });
      assert.equal(((await byAccept.json()) as any).ocs.meta.statuscode, 400);
      const xml = await fetch(`${s.url}${target}`);
      assert.equal(xml.status, 400);
      assert.equal(xml.headers.get('content-type'), 'application/xml; charset=utf-8');
      assert.equal(xmlMeta(await xml.text()).statuscode, 400);
      const head = await refused(requestBytes('HEAD', `${target}?format=json`, { Connection: 'close' }), { head: true });
      assert.equal(head.r.status, 400);
      assert.equal(head.trailing.length, 0, 'no body after the answer to HEAD');
    });
  }

  it("answers an undecodable URL anywhere below /remote.php with Sabre's 400", async () => {
    for (const [method, path] of [
      ['PUT', '/remote.php/dav/files/admin/bad%zzname'],
      ['PROPFIND', '/remote.php/dav/%zz'],
    ]) {
      const r = await fetch(`${s.url}${path}`, { method, headers: { authorization: s.admin.auth }, body: 'x' });
      assert.equal(r.status, 400, `${method} ${path}`);
      assert.match(await r.text(), /<s:exception>Sabre\\DAV\\Exception\\BadRequest<\/s:exception>/);
    }
  });

  it('answers a request before the malformed one first, then the malformed one, in order', async () => {
    const conn = await WireConnection.open(s.url);
    try {
      await conn.write(Buffer.concat([requestBytes('GET', `${V2}/no/such/route?format=json`, {}), Buffer.from('GARBAGE\r\n\r\n')]));
      const first = await conn.response();
      assert.equal(first.status, 404);
      assert.equal(first.json.ocs.meta.statuscode, 404);
      const second = await conn.response();
      assert.equal(second.status, 400);
      assert.equal(second.json.ocs.meta.statuscode, 400);
      assert.equal(second.headers.connection, 'close');
    } finally {
      conn.destroy();
    }
  });

  it('answers a request whose handler has not begun its answer when the malformed bytes arrive, then the malformed one', async () => {
    const conn = await WireConnection.open(s.url);
    try {
      // The capabilities handler answers after an await: the parser refuses GARBAGE before it has begun.
      await conn.write(Buffer.concat([requestBytes('GET', '/ocs/v2.php/cloud/capabilities?format=json', {}), Buffer.from('GARBAGE\r\n\r\n')]));
      const first = await conn.response();
      assert.equal(first.status, 200);
      assert.equal(first.json.ocs.meta.statuscode, 200);
      const second = await conn.response();
      assert.equal(second.status, 400);
      assert.equal(second.headers.connection, 'close');
    } finally {
      conn.destroy();
    }
  });

  it('answers a URL segment longer than the router takes with 414 in the envelope', async () => {
    const r = await fetch(`${s.url}${V2}/task/${'1'.repeat(600)}?format=json`);
    assert.equal(r.status, 414);
    const body = (await r.json()) as any;
    assert.equal(body.ocs.meta.statuscode, 414);
    assert.equal(body.ocs.meta.message, 'A segment of the URL is longer than the server accepts');
  });

  it('answers an Expect it does not support with 417 in the envelope', async () => {
    const conn = await WireConnection.open(s.url);
    try {
      await conn.write(requestBytes('GET', `${V2}/tasktypes?format=json`, { Expect: '200-ok' }));
      const r = await conn.response();
      assert.equal(r.status, 417);
      assert.equal(r.json.ocs.meta.statuscode, 417);
      assert.equal(r.json.ocs.meta.message, 'The server supports no expectation but "Expect: 100-continue"');
      // Nothing of the connection was spoilt.
      await conn.write(requestBytes('GET', `${CAPABILITIES}?format=json`, {}));
      assert.equal((await conn.response()).status, 200);
    } finally {
      conn.destroy();
    }
  });

  it('answers a malformed request line with 400 in the XML v2 envelope and closes the connection', async () => {
    const { r } = await refused('GARBAGE\r\n\r\n');
    assert.equal(r.status, 400);
    assert.equal(r.headers['content-type'], 'application/xml; charset=utf-8');
    assert.equal(r.headers.connection, 'close');
    const meta = xmlMeta(r.text);
    assert.equal(meta.statuscode, 400);
    assert.match(meta.message ?? '', /^The request is not valid HTTP: /);
  });

  it('answers headers larger than the server accepts with 431 in the envelope the request line asks for', async () => {
    const { r } = await refused(requestBytes('GET', `${V1}/tasktypes?format=json`, { 'X-Big': 'a'.repeat(20_000) }));
    assert.equal(r.status, 431);
    assert.equal(r.json.ocs.meta.statuscode, 431);
    assert.equal(r.json.ocs.meta.message, 'The request headers are larger than the server accepts');
    assert.equal(r.json.ocs.meta.totalitems, '');
  });

  it('answers bad header syntax with 400 in the envelope Accept asks for', async () => {
    const { r } = await refused(requestBytes('GET', `${V2}/tasktypes`, { Accept: 'application/json', 'Bad Header': 'x' }));
    assert.equal(r.status, 400);
    assert.equal(r.json.ocs.meta.statuscode, 400);
    assert.match(r.json.ocs.meta.message, /^The request is not valid HTTP: /);
  });

  it('answers bad header syntax on a WebDAV path with a Sabre error', async () => {
    const { r } = await refused(requestBytes('PROPFIND', '/remote.php/dav/files/admin/', { 'Bad Header': 'x' }));
    assert.equal(r.status, 400);
    assert.match(r.text, /<s:exception>Sabre\\DAV\\Exception\\BadRequest<\/s:exception>/);
  });

  it('sends no body with the answer to a HEAD the parser refuses', async () => {
    const { r, trailing } = await refused(requestBytes('HEAD', `${V2}/tasktypes?format=json`, { 'Bad Header': 'x' }), { head: true });
    assert.equal(r.status, 400);
    assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(trailing.length, 0, 'no body after the answer to HEAD');
  });

  it('answers HEAD without a body whatever the answer, so a request pipelined after it is read right', async () => {
    const targets = [
      `${V2}/tasktypes?format=json`, // 401
      `${V1}/tasktypes`,
      `${V2}/no/such/route`, // 404
      '/ocs/v1.php/no/such/route',
      `${V2}/schedule`, // 405
      CAPABILITIES, // 200
      '/remote.php/dav/files/admin/x', // Sabre's 401
      `${V2}/task/%zz`, // undecodable
    ];
    for (const target of targets) {
      const conn = await WireConnection.open(s.url);
      try {
        await conn.write(Buffer.concat([requestBytes('HEAD', target, {}), requestBytes('GET', `${CAPABILITIES}?format=json`, {})]));
        const head = await conn.response({ head: true });
        assert.ok(head.status >= 200 && head.status < 500, `HEAD ${target}: ${head.status}`);
        const next = await conn.response();
        assert.equal(next.status, 200, `the GET after HEAD ${target}`);
        assert.equal(next.json.ocs.meta.statuscode, 200);
      } finally {
        conn.destroy();
      }
    }
  });

  it('answers normally afterwards', async () => {
    const r = await s.ocs('GET', CAPABILITIES);
    assert.equal(r.status, 200);
  });
});
