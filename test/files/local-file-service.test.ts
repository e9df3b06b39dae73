import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { DomainError, type ErrorCode } from '../../src/core/errors.js';
import { FILES_DENIED_MESSAGE } from '../../src/core/file-access.js';
import { BlobStore } from '../../src/files/blob-store.js';
import { LocalFileService } from '../../src/files/local-file-service.js';
import { ManualClock } from '../helpers/clock.js';
import { createTestStore, type TestStore } from '../helpers/store.js';

const MAX_UPLOAD = 1000;
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
const WAV = Buffer.concat([Buffer.from('RIFF'), Buffer.from([36, 0, 0, 0]), Buffer.from('WAVEfmt ')]);

interface Setup extends TestStore {
  files: LocalFileService;
  clock: ManualClock;
}

async function setup(t: TestContext, opts: { quota?: number } = {}): Promise<Setup> {
  const s = await createTestStore();
  t.after(s.cleanup);
  const clock = new ManualClock();
  const base = { displayName: 'A', passwordHash: null, isAdmin: false, isGuest: false, enabled: true, createdAt: 1 };
  await s.store.users.createUser({ id: 'alice', ...base, quotaBytes: opts.quota ?? null });
  await s.store.users.createUser({ id: 'bob', ...base });
  const files = new LocalFileService({ files: s.store.files, users: s.store.users, blobs: new BlobStore(s.dir), clock, maxUpload: MAX_UPLOAD });
  return { ...s, files, clock };
}

/** A request body as the HTTP layer hands it over. */
const body = (data: string | Buffer): Readable => Readable.from([Buffer.from(data)]);

/** A body that sends `before` bytes and then fails (a client that disconnects mid-upload), or just stops. */
function brokenBody(before: number, error?: Error): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(Buffer.alloc(before, 1));
      } else {
        this.destroy(error);
      }
    },
  });
}

async function contents(files: LocalFileService, id: number): Promise<string> {
  const opened = await files.open(id);
  assert.ok(opened, `file ${id} opens`);
  return (await opened.buffer()).toString();
}

/** Blobs on disk (files named by a storage key), and leftover temp files. */
async function disk(dir: string): Promise<{ blobs: string[]; temps: string[] }> {
  const root = join(dir, 'files');
  if (!existsSync(root)) return { blobs: [], temps: [] };
  const entries = (await readdir(root, { recursive: true })).map(String);
  const blobs = entries.filter((p) => /^[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f]{32}$/.test(p));
  const temps = entries.filter((p) => p.startsWith('tmp/'));
  return { blobs, temps };
}

function domainError(code: ErrorCode, message?: string | RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof DomainError, String(error));
    assert.equal(error.code, code);
    if (typeof message === 'string') assert.equal(error.message, message);
    else if (message) assert.match(error.message, message);
    return true;
  };
}

describe('LocalFileService', () => {
  describe('put', () => {
    it('creates a file, then replaces it in place: same id, new etag and contents', async (t) => {
      const { files, clock, dir } = await setup(t);
      const first = await files.put('alice', '/notes.txt', body('hello'), { expectedSize: 5 });
      assert.equal(first.created, true);
      assert.equal(first.file.path, 'notes.txt');
      assert.equal(first.file.name, 'notes.txt');
      assert.equal(first.file.owner, 'alice');
      assert.equal(first.file.size, 5);
      assert.equal(first.file.mime, 'text/plain');
      assert.equal(first.file.sha256, createHash('sha256').update('hello').digest('hex'));
      assert.match(first.file.etag, /^[0-9a-f]{13}$/);
      assert.equal(first.file.taskId, null);
      assert.equal(await contents(files, first.file.id), 'hello');

      clock.advance(5000);
      const second = await files.put('alice', 'notes.txt', body('goodbye!'), {});
      assert.equal(second.created, false);
      assert.equal(second.file.id, first.file.id);
      assert.notEqual(second.file.etag, first.file.etag);
      assert.equal(second.file.size, 8);
      assert.equal(second.file.createdAt, first.file.createdAt);
      assert.equal(second.file.updatedAt, first.file.updatedAt + 5);
      assert.equal(await contents(files, first.file.id), 'goodbye!');
      assert.deepEqual(await files.stat('alice', 'notes.txt'), second.file);
      // The old contents are gone from disk.
      assert.equal((await disk(dir)).blobs.length, 1);
    });

    it('takes the given type without parameters, or guesses it from the name', async (t) => {
      const { files } = await setup(t);
      assert.equal((await files.put('alice', 'a.bin', body('x'), { mime: 'Text/Plain; charset=utf-8' })).file.mime, 'text/plain');
      assert.equal((await files.put('alice', 'b.png', body('x'), { mime: 'application/octet-stream' })).file.mime, 'image/png');
      assert.equal((await files.put('alice', 'c.mp3', body('x'), { mime: '' })).file.mime, 'audio/mpeg');
      assert.equal((await files.put('alice', 'noext', body('x'), {})).file.mime, 'application/octet-stream');
    });

    it('streams large bodies in many chunks and hashes them whole', async (t) => {
      const { store, dir } = await setup(t);
      const files = new LocalFileService({
        files: store.files,
        users: store.users,
        blobs: new BlobStore(dir),
        clock: new ManualClock(),
        maxUpload: 64 * 1024 * 1024,
      });
      const chunk = Buffer.alloc(64 * 1024, 7);
      const hash = createHash('sha256');
      for (let i = 0; i < 128; i++) hash.update(chunk);
      const big = Readable.from(
        (function* () {
          for (let i = 0; i < 128; i++) yield chunk;
        })(),
      );
      const { file } = await files.put('alice', 'big.raw', big, {});
      assert.equal(file.size, 128 * chunk.length);
      assert.equal(file.sha256, hash.digest('hex'));
      const opened = await files.open(file.id);
      let read = 0;
      for await (const part of opened!.stream()) read += (part as Buffer).length;
      assert.equal(read, file.size);
    });

    it('refuses a missing parent folder or a file as parent with 409, before reading the body', async (t) => {
      const { files, dir } = await setup(t);
      const unread = body('data');
      await assert.rejects(files.put('alice', 'x/y.txt', unread, {}), domainError('conflict', 'The parent folder "x" does not exist'));
      assert.equal(unread.readableEnded, false);
      await files.put('alice', 'f.txt', body('data'), {});
      await assert.rejects(files.put('alice', 'f.txt/g', body('data'), {}), domainError('conflict', '"f.txt" is not a folder'));
      assert.equal((await disk(dir)).blobs.length, 1);
    });

    it('refuses to replace a folder or the root with a file (405)', async (t) => {
      const { files } = await setup(t);
      await files.mkdir('alice', 'docs');
      await assert.rejects(files.put('alice', 'docs', body('x'), {}), domainError('method_not_allowed', '"docs" is a folder; a file cannot replace it'));
      await assert.rejects(files.put('alice', '/', body('x'), {}), domainError('method_not_allowed'));
      assert.equal((await files.stat('alice', 'docs'))?.isFolder, true);
    });

    it('refuses bad paths with 400', async (t) => {
      const { files } = await setup(t);
      await assert.rejects(files.put('alice', '../escape.txt', body('x'), {}), domainError('bad_request', '".." is not allowed in a path'));
      await assert.rejects(files.put('alice', 'a\\b', body('x'), {}), domainError('bad_request'));
      await assert.rejects(files.mkdir('alice', 'a/./b'), domainError('bad_request'));
    });

    it('refuses an upload over the limit with 413: by its declared size before writing, or while streaming', async (t) => {
      const { files, dir } = await setup(t);
      const declared = body('x');
      await assert.rejects(
        files.put('alice', 'big', declared, { expectedSize: MAX_UPLOAD + 1 }),
        domainError('body_too_large', `The file is larger than the upload limit of ${MAX_UPLOAD} bytes`),
      );
      assert.equal(declared.readableEnded, false);
      assert.deepEqual(await disk(dir), { blobs: [], temps: [] });

      // An endless body: the upload is cut off at the limit, not read to the end.
      const undeclared = Readable.from(
        (function* () {
          for (;;) yield Buffer.alloc(600);
        })(),
      );
      await assert.rejects(files.put('alice', 'big', undeclared, {}), domainError('body_too_large'));
      // Left to the caller, who may still answer 413 on the same connection.
      assert.equal(undeclared.destroyed, false);
      undeclared.destroy();
      assert.deepEqual(await disk(dir), { blobs: [], temps: [] });
      assert.equal(await files.stat('alice', 'big'), undefined);

      assert.equal((await files.put('alice', 'exact', body(Buffer.alloc(MAX_UPLOAD)), {})).file.size, MAX_UPLOAD);
    });

    it('keeps nothing of a body that fails or stops midway', async (t) => {
      const { files, dir } = await setup(t);
      await assert.rejects(files.put('alice', 'cut.bin', brokenBody(100, new Error('client went away')), {}), { message: 'client went away' });
      await assert.rejects(files.put('alice', 'cut.bin', brokenBody(100), {}), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
      assert.equal(await files.stat('alice', 'cut.bin'), undefined);
      assert.deepEqual(await disk(dir), { blobs: [], temps: [] });
      // A replace that fails keeps the old contents.
      const { file } = await files.put('alice', 'keep.txt', body('old'), {});
      await assert.rejects(files.put('alice', 'keep.txt', brokenBody(10, new Error('gone')), {}), { message: 'gone' });
      assert.equal(await contents(files, file.id), 'old');
      assert.equal((await disk(dir)).blobs.length, 1);
    });

    it('enforces the quota (507) before writing by the declared size and after by the real size', async (t) => {
      const { files, dir } = await setup(t, { quota: 100 });
      await files.put('alice', 'a', body(Buffer.alloc(60)), {});
      const declared = body(Buffer.alloc(50));
      await assert.rejects(
        files.put('alice', 'b', declared, { expectedSize: 50 }),
        domainError('insufficient_storage', 'Not enough free space: 50 bytes needed, 40 available'),
      );
      assert.equal(declared.readableEnded, false, 'refused before reading the body');
      // No size given, or a wrong one: caught once the contents are in, and thrown away.
      await assert.rejects(files.put('alice', 'b', body(Buffer.alloc(50)), {}), domainError('insufficient_storage'));
      await assert.rejects(files.put('alice', 'b', body(Buffer.alloc(50)), { expectedSize: 10 }), domainError('insufficient_storage'));
      assert.equal(await files.stat('alice', 'b'), undefined);
      assert.deepEqual(await disk(dir).then((d) => [d.blobs.length, d.temps.length]), [1, 0]);
      // A replace only needs room for the difference.
      assert.equal((await files.put('alice', 'a', body(Buffer.alloc(100)), { expectedSize: 100 })).file.size, 100);
      await assert.rejects(
        files.put('alice', 'a', body(Buffer.alloc(101)), {}),
        domainError('insufficient_storage', 'Not enough free space: 101 bytes needed, 100 available'),
      );
      // Other users and task outputs are not counted.
      await files.put('bob', 'b', body(Buffer.alloc(500)), {});
      await files.storeTaskOutput({ id: 1, userId: 'alice' }, { data: Buffer.alloc(500) });
      await files.delete('alice', 'a');
      await files.put('alice', 'c', body(Buffer.alloc(100)), {});
    });

    it('lets only what fits of racing uploads in, and removes the contents of the others', async (t) => {
      const { files, dir } = await setup(t, { quota: 100 });
      // Started together, they pass the early check by declared size (nothing is stored yet): the commit decides.
      const outcomes = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) => files.put('alice', `r${i}`, body(Buffer.alloc(30, i)), { expectedSize: 30 })),
      );
      const refused = outcomes.filter((o) => o.status === 'rejected');
      for (const o of refused) domainError('insufficient_storage', /^Not enough free space: 30 bytes needed, \d+ available$/)(o.reason);
      assert.equal(refused.length, 7);
      assert.equal(
        (await files.list('alice', '')).reduce((sum, f) => sum + f.size, 0),
        90,
      );
      assert.deepEqual(await disk(dir).then((d) => [d.blobs.length, d.temps.length]), [3, 0]);
      // The 10 bytes left are there to take.
      assert.equal((await files.put('alice', 'last', body(Buffer.alloc(10)), {})).file.size, 10);
    });
  });

  describe('folders', () => {
    it('nests folders and lists children by name', async (t) => {
      const { files } = await setup(t);
      const docs = await files.mkdir('alice', 'docs');
      assert.equal(docs.isFolder, true);
      assert.equal(docs.mime, 'httpd/unix-directory');
      assert.equal(docs.sha256, null);
      assert.match(docs.etag, /^[0-9a-f]{13}$/);
      await files.mkdir('alice', 'docs/2026/');
      await files.put('alice', 'docs/2026/b.txt', body('b'), {});
      await files.put('alice', 'docs/2026/a.txt', body('a'), {});
      await files.put('alice', 'docs/top.md', body('t'), {});
      assert.deepEqual(
        (await files.list('alice', 'docs/2026')).map((f) => f.path),
        ['docs/2026/a.txt', 'docs/2026/b.txt'],
      );
      assert.deepEqual(
        (await files.list('alice', '/docs/')).map((f) => f.name),
        ['2026', 'top.md'],
      );
      assert.deepEqual(
        (await files.list('alice', '')).map((f) => f.name),
        ['docs'],
      );
      assert.deepEqual(await files.list('bob', ''), []);
      assert.equal((await files.stat('alice', 'docs/2026/a.txt'))?.size, 1);
      assert.equal(await files.stat('bob', 'docs'), undefined);
    });

    it('has a root folder that always exists', async (t) => {
      const { files } = await setup(t);
      const root = await files.stat('carol', '/');
      assert.equal(root?.isFolder, true);
      assert.equal(root?.path, '');
      assert.deepEqual(await files.stat('carol', ''), root);
    });

    it('lists a missing folder as 404 and a file as 409', async (t) => {
      const { files } = await setup(t);
      await files.put('alice', 'f.txt', body('x'), {});
      await assert.rejects(files.list('alice', 'nope'), domainError('not_found', 'File with name nope could not be located'));
      await assert.rejects(files.list('alice', 'f.txt'), domainError('conflict', '"f.txt" is not a folder'));
    });

    it('refuses mkdir on an existing path (405) and under a missing parent (409)', async (t) => {
      const { files } = await setup(t);
      await files.mkdir('alice', 'a');
      await files.put('alice', 'a/f.txt', body('x'), {});
      const exists = domainError('method_not_allowed', 'The resource you tried to create already exists');
      await assert.rejects(files.mkdir('alice', 'a'), exists);
      await assert.rejects(files.mkdir('alice', 'a/f.txt'), exists);
      await assert.rejects(files.mkdir('alice', ''), exists);
      await assert.rejects(files.mkdir('alice', 'x/y'), domainError('conflict', 'The parent folder "x" does not exist'));
      await assert.rejects(files.mkdir('alice', 'a/f.txt/z'), domainError('conflict', '"a/f.txt" is not a folder'));
      await files.mkdir('bob', 'a');
    });
  });

  describe('delete', () => {
    it('deletes a folder with everything below it, contents included', async (t) => {
      const { files, dir } = await setup(t);
      await files.mkdir('alice', 'a');
      await files.mkdir('alice', 'a/b');
      const inner = await files.put('alice', 'a/b/one.txt', body('1'), {});
      await files.put('alice', 'a/two.txt', body('2'), {});
      const sibling = await files.put('alice', 'ab.txt', body('3'), {});
      await files.mkdir('bob', 'a');
      await files.put('bob', 'a/bobs.txt', body('4'), {});
      assert.equal((await disk(dir)).blobs.length, 4);

      await files.delete('alice', '/a/');
      assert.equal(await files.stat('alice', 'a'), undefined);
      assert.equal(await files.stat('alice', 'a/b/one.txt'), undefined);
      assert.equal(await files.open(inner.file.id), undefined);
      assert.equal(await contents(files, sibling.file.id), '3');
      assert.ok(await files.stat('bob', 'a/bobs.txt'));
      assert.equal((await disk(dir)).blobs.length, 2);
    });

    it('deletes a single file; a missing path is 404 and the root is refused', async (t) => {
      const { files, dir } = await setup(t);
      await files.put('alice', 'f.txt', body('x'), {});
      await files.delete('alice', 'f.txt');
      assert.deepEqual(await disk(dir).then((d) => d.blobs), []);
      await assert.rejects(files.delete('alice', 'f.txt'), domainError('not_found', 'File with name f.txt could not be located'));
      await assert.rejects(files.delete('alice', '/'), domainError('forbidden'));
    });
  });

  describe('open', () => {
    it('opens files by id for anyone, not folders or missing ids', async (t) => {
      const { files } = await setup(t);
      const folder = await files.mkdir('alice', 'd');
      const { file } = await files.put('alice', 'd/f.txt', body('contents'), {});
      const opened = await files.open(file.id);
      assert.deepEqual(opened?.file, file);
      assert.equal((await opened!.buffer()).toString(), 'contents');
      // Each stream() is a fresh stream from the start.
      const again: Buffer[] = [];
      for await (const part of opened!.stream()) again.push(part as Buffer);
      assert.equal(Buffer.concat(again).toString(), 'contents');
      assert.equal(await files.open(folder.id), undefined);
      assert.equal(await files.open(file.id + 1000), undefined);
    });
  });

  describe('checkReadable', () => {
    it('gives the four outcomes with upstream messages', async (t) => {
      const { files } = await setup(t);
      const folder = await files.mkdir('alice', 'd');
      const own = (await files.put('alice', 'd/own.txt', body('x'), {})).file;
      const bobs = (await files.put('bob', 'b.txt', body('x'), {})).file;
      await files.checkReadable([own.id], 'alice');
      await files.checkReadable([], 'alice');
      await assert.rejects(files.checkReadable([own.id, 424242], 'alice'), domainError('validation_failed', 'Could not find file 424242'));
      await assert.rejects(files.checkReadable([folder.id], 'alice'), domainError('validation_failed', `File with id "${folder.id}" is not a file`));
      await assert.rejects(files.checkReadable([bobs.id], 'alice'), domainError('file_access_denied', FILES_DENIED_MESSAGE));
      // In the order given, each id through all checks.
      await assert.rejects(files.checkReadable([bobs.id, 424242], 'alice'), domainError('file_access_denied'));
    });

    it("lets a task's user, and only that user, use its output files", async (t) => {
      const { files } = await setup(t);
      const output = await files.storeTaskOutput({ id: 7, userId: 'alice' }, { data: PNG });
      const ownerless = await files.storeTaskOutput({ id: 8, userId: null }, { data: PNG });
      await files.checkReadable([output.id], 'alice');
      await assert.rejects(files.checkReadable([output.id], 'bob'), domainError('file_access_denied', FILES_DENIED_MESSAGE));
      await assert.rejects(files.checkReadable([ownerless.id], 'alice'), domainError('file_access_denied'));
    });
  });

  describe('task outputs', () => {
    it('stores outputs under generated names with sniffed types, owned by the task user', async (t) => {
      const { files } = await setup(t);
      const png = await files.storeTaskOutput({ id: 12, userId: 'alice' }, { data: PNG });
      assert.equal(png.name, '12-1.png');
      assert.equal(png.mime, 'image/png');
      assert.equal(png.owner, 'alice');
      assert.equal(png.path, null);
      assert.equal(png.taskId, 12);
      assert.equal(png.size, PNG.length);
      const wav = await files.storeTaskOutput({ id: 12, userId: 'alice' }, { data: new Uint8Array(WAV) });
      assert.deepEqual([wav.name, wav.mime], ['12-2.wav', 'audio/wav']);
      const unknown = await files.storeTaskOutput({ id: 12, userId: 'alice' }, { data: Buffer.from('plain words') });
      assert.deepEqual([unknown.name, unknown.mime], ['12-3', 'application/octet-stream']);
      const named = await files.storeTaskOutput({ id: 12, userId: 'alice' }, { data: Buffer.from('plain words'), name: 'notes.txt' });
      assert.deepEqual([named.name, named.mime], ['notes.txt', 'text/plain']);
      const given = await files.storeTaskOutput({ id: 13, userId: null }, { data: Readable.from([PNG]), mime: 'image/x-custom' });
      assert.deepEqual([given.name, given.mime, given.owner], ['13-1', 'image/x-custom', null]);
      assert.deepEqual(await contents(files, png.id), PNG.toString());
      // Outputs live in no tree.
      assert.deepEqual(await files.list('alice', ''), []);
    });

    it('refuses outputs over the limit and bad names, leaving nothing behind', async (t) => {
      const { files, dir } = await setup(t);
      await assert.rejects(files.storeTaskOutput({ id: 1, userId: 'alice' }, { data: Buffer.alloc(MAX_UPLOAD + 1) }), domainError('body_too_large'));
      const stream = Readable.from([Buffer.alloc(MAX_UPLOAD), Buffer.alloc(1)]);
      await assert.rejects(files.storeTaskOutput({ id: 1, userId: 'alice' }, { data: stream }), domainError('body_too_large'));
      assert.equal(stream.destroyed, true);
      await assert.rejects(files.storeTaskOutput({ id: 1, userId: 'alice' }, { data: PNG, name: '../x.png' }), domainError('bad_request'));
      assert.deepEqual(await disk(dir), { blobs: [], temps: [] });
    });

    it('deleteTaskFiles removes the outputs of the given tasks, rows and contents', async (t) => {
      const { files, dir } = await setup(t);
      const a = await files.storeTaskOutput({ id: 1, userId: 'alice' }, { data: PNG });
      const b = await files.storeTaskOutput({ id: 1, userId: 'alice' }, { data: WAV });
      const kept = await files.storeTaskOutput({ id: 2, userId: 'alice' }, { data: PNG });
      const userFile = (await files.put('alice', 'mine.txt', body('x'), {})).file;
      await files.deleteTaskFiles([1, 3]);
      await files.deleteTaskFiles([]);
      assert.equal(await files.open(a.id), undefined);
      assert.equal(await files.open(b.id), undefined);
      assert.ok(await files.open(kept.id));
      assert.ok(await files.open(userFile.id));
      assert.equal((await disk(dir)).blobs.length, 2);
    });
  });
});
