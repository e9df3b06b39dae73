import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { secretHash } from '../../src/auth/appapi.js';
import { buildConfig, ConfigError } from '../../src/config.js';
import { HttpWorker, providerPayload, SHAPE } from '../helpers/http-worker.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';
import { adminQuery, createTestSchema, type TestSchema } from '../helpers/store.js';
import { until } from '../helpers/until.js';

/**
 * Two nodes with file contents in the database (fileStorage = database), each with its own data
 * directory, on one PostgreSQL schema: nothing on disk is shared, yet either node serves what the
 * other stored. Several nodes exist only on PostgreSQL, so this file makes its own schema in both
 * passes of the suite, as cross-node.test.ts does.
 */

const V2 = '/ocs/v2.php/taskprocessing';
const MiB = 1024 * 1024;
const MAX_UPLOAD = 8 * MiB;
const TYPE = 'dbfiles:copy';
const PROVIDER = 'dbfiles-copy';
const CUSTOM_TYPE = {
  id: TYPE,
  name: 'Copy',
  description: 'Hands back a copy of a file',
  input_shape: [{ name: 'input', description: 'A file', shape_type: SHAPE.File }],
  output_shape: [{ name: 'output', description: 'The copy', shape_type: SHAPE.File }],
};

describe('file contents in the database: two nodes with separate data directories on one PostgreSQL schema', () => {
  let schema: TestSchema;
  let a: TestServer;
  let b: TestServer;
  let alice: TestUser;
  let worker: HttpWorker;

  const dav = (s: TestServer, method: string, path: string, init: RequestInit = {}) =>
    fetch(`${s.url}/remote.php/dav/files/alice/${path}`, { ...init, method, headers: { authorization: alice.auth, ...init.headers } });

  /** Chunk rows in the schema, read past the servers. */
  async function chunkRows(): Promise<number> {
    const { rows } = await adminQuery(`select count(*)::int as n from ${schema.name}.blob_chunks`);
    return rows[0].n as number;
  }

  before(async () => {
    schema = await createTestSchema();
    const config = { runnerConcurrency: 0, fileStorage: 'database' as const, maxUpload: MAX_UPLOAD, databaseUrl: schema.url };
    a = await startServer({ config });
    b = await startServer({ config });
    alice = await a.addUser('alice');
    await a.app.settings.set('rateLimitEnabled', false);
    const secret = 'dbfiles-secret-0123456789';
    await a.app.store.exapps.createExApp({
      appId: 'dbfiles',
      version: '1.0.0',
      secretHash: secretHash(secret),
      sealedSecret: null,
      baseUrl: null,
      enabled: true,
      createdAt: 0,
    });
    worker = new HttpWorker(b.url, 'dbfiles', secret);
    const reg = await worker.register(providerPayload({ id: PROVIDER, task_type: TYPE }), CUSTOM_TYPE);
    assert.equal(reg.status, 200, reg.text);
    // A learns of the registration made on B from the database, within its catalog's reload time.
    await until('A to know the type', async () => (await a.ocs('GET', `${V2}/tasktypes`, { auth: alice.auth })).json.ocs.data.types[TYPE] !== undefined);
  });
  after(async () => {
    worker?.close();
    await a?.close();
    await b?.close();
    await schema?.drop();
  });

  it('a file PUT through A is downloaded byte for byte through B; a replace on B and a delete on A are seen by the other', async () => {
    assert.notEqual(a.dir, b.dir);
    const bytes = randomBytes(2.5 * MiB + 7);
    const put = await dav(a, 'PUT', 'big.bin', { body: new Uint8Array(bytes) });
    assert.equal(put.status, 201, await put.text());

    const got = await dav(b, 'GET', 'big.bin');
    assert.equal(got.status, 200);
    assert.equal(got.headers.get('content-length'), String(bytes.length));
    assert.ok(Buffer.from(await got.arrayBuffer()).equals(bytes), 'the same bytes through B');

    const replace = await dav(b, 'PUT', 'big.bin', { body: 'second version' });
    assert.equal(replace.status, 204, await replace.text());
    const again = await dav(a, 'GET', 'big.bin');
    assert.equal(await again.text(), 'second version');
    // The first version's chunks went with the replace: one short chunk is left.
    assert.equal(await chunkRows(), 1);

    assert.equal((await dav(a, 'DELETE', 'big.bin')).status, 204);
    assert.equal((await dav(b, 'GET', 'big.bin')).status, 404);
    assert.equal(await chunkRows(), 0);
    // Nothing was written to either node's disk.
    assert.equal(existsSync(join(a.dir, 'files')), false);
    assert.equal(existsSync(join(b.dir, 'files')), false);
  });

  it('answers 413 to an upload over the limit, with or without Content-Length, and keeps no chunks', async () => {
    const tooBig = Buffer.alloc(MAX_UPLOAD + 1, 1);
    const withLength = await dav(a, 'PUT', 'too-big.bin', { body: new Uint8Array(tooBig) });
    assert.equal(withLength.status, 413);
    const chunked = await dav(b, 'PUT', 'too-big.bin', { body: new Blob([tooBig]).stream(), duplex: 'half' } as RequestInit);
    assert.equal(chunked.status, 413);
    assert.equal((await dav(a, 'GET', 'too-big.bin')).status, 404);
    assert.equal(await chunkRows(), 0);
  });

  it("a task's input file uploaded through A is read by a worker on B, and the output it uploads through B is downloaded through A", async () => {
    const input = randomBytes(1.5 * MiB);
    const put = await dav(a, 'PUT', 'input.bin', { body: new Uint8Array(input) });
    assert.equal(put.status, 201, await put.text());
    // OC-FileId is the id with the instance id appended, as Nextcloud sends it.
    const inputId = parseInt(put.headers.get('oc-fileid') ?? '', 10);
    const scheduled = await a.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body: { type: TYPE, appId: 'db-files', input: { input: inputId } } });
    assert.equal(scheduled.status, 200, scheduled.text);
    const id = scheduled.json.ocs.data.task.id as number;

    const next = await worker.next([PROVIDER], [TYPE]);
    assert.equal(next.status, 200, next.text);
    assert.equal(next.json.ocs.data.task.id, id);
    const file = await worker.inputFile(id, inputId);
    assert.equal(file.status, 200);
    assert.ok(file.bytes.equals(input), 'the worker on B reads the bytes stored through A');

    const output = Buffer.concat([file.bytes, Buffer.from(' (copied)')]);
    const up = await worker.upload(id, output, 'copy.bin');
    assert.equal(up.status, 201, up.text);
    const outputId = up.json.ocs.data.fileId as number;
    assert.equal((await worker.result(id, { output: outputId })).status, 200);

    const download = await fetch(`${a.url}${V2}/tasks/${id}/file/${outputId}`, { headers: { authorization: alice.auth } });
    assert.equal(download.status, 200);
    assert.ok(Buffer.from(await download.arrayBuffer()).equals(output), 'alice downloads the output through A');
  });
});

describe('the fileStorage setting', () => {
  it('is disk unless TASKPROC_FILE_STORAGE or --file-storage says database; the flag wins', () => {
    assert.equal(buildConfig({}, {}).fileStorage, 'disk');
    assert.equal(buildConfig({}, { TASKPROC_FILE_STORAGE: 'database' }).fileStorage, 'database');
    assert.equal(buildConfig({ 'file-storage': 'disk' }, { TASKPROC_FILE_STORAGE: 'database' }).fileStorage, 'disk');
  });

  it('refuses anything else, naming the setting and the choices', () => {
    assert.throws(
      () => buildConfig({}, { TASKPROC_FILE_STORAGE: 'db' }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(error.message, 'TASKPROC_FILE_STORAGE must be one of disk, database, got "db"');
        return true;
      },
    );
    assert.throws(() => buildConfig({ 'file-storage': 'Database' }, {}), { message: '--file-storage must be one of disk, database, got "Database"' });
  });
});
