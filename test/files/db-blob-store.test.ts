import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer as readAll } from 'node:stream/consumers';
import { describe, it, type TestContext } from 'node:test';
import { sql } from 'kysely';
import { DomainError } from '../../src/core/errors.js';
import { CHUNK_BYTES, DbBlobStore } from '../../src/files/db-blob-store.js';
import { SNIFF_BYTES } from '../../src/files/mime.js';
import type { BlobChunkStore } from '../../src/store/store.js';
import { createTestStore, TEST_DIALECTS, type TestDialect, type TestStore } from '../helpers/store.js';

const MiB = 1024 * 1024;
/** What an HTTP request hands over: pieces of 64 KiB. */
const PIECE = 64 * 1024;

async function setup(t: TestContext, dialect: TestDialect): Promise<TestStore> {
  const s = await createTestStore(dialect);
  t.after(s.cleanup);
  return s;
}

/** `data` in request-sized pieces. */
const pieces = (data: Buffer): Readable =>
  Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += PIECE) yield data.subarray(i, i + PIECE);
    })(),
  );

/**
 * A source that counts what was pulled from it: `size` bytes (endless without), then the end, or
 * `fail`: an error, or 'close' for a stream that closes early without one (a dropped connection).
 * `onPull` sees the running total.
 */
function source(opts: { size?: number; fail?: Error | 'close'; onPull?: (pulled: number) => void } = {}): Readable & { pulled: () => number } {
  let pulled = 0;
  const stream = new Readable({
    read() {
      if (opts.size !== undefined && pulled >= opts.size) {
        if (opts.fail === undefined) this.push(null);
        else this.destroy(opts.fail === 'close' ? undefined : opts.fail);
        return;
      }
      pulled += PIECE;
      opts.onPull?.(pulled);
      this.push(Buffer.alloc(PIECE, pulled % 251));
    },
  });
  return Object.assign(stream, { pulled: () => pulled });
}

/** The store's chunk queries with some replaced (to count, hold or fail them). */
function wrap(inner: BlobChunkStore, over: Partial<BlobChunkStore>): BlobChunkStore {
  return {
    insertChunk: over.insertChunk ?? ((key, seq, data) => inner.insertChunk(key, seq, data)),
    getChunk: over.getChunk ?? ((key, seq) => inner.getChunk(key, seq)),
    deleteBlobs: over.deleteBlobs ?? ((keys) => inner.deleteBlobs(keys)),
  };
}

/** Every chunk row: key, seq and length, in order. */
async function rows(s: TestStore): Promise<{ key: string; seq: number; length: number }[]> {
  const result = await s.db
    .selectFrom('blob_chunks')
    .select(['storage_key', 'seq', sql<number>`length(data)`.as('length')])
    .orderBy('storage_key')
    .orderBy('seq')
    .execute();
  return result.map((r) => ({ key: r.storage_key, seq: r.seq, length: Number(r.length) }));
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

function tooLarge(limit: number) {
  return (error: unknown) => {
    assert.ok(error instanceof DomainError, String(error));
    assert.equal(error.code, 'body_too_large');
    assert.equal(error.message, `The file is larger than the upload limit of ${limit} bytes`);
    return true;
  };
}

/** Lets every pending callback and I/O completion run, so a stream that is going to move has moved. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

for (const dialect of TEST_DIALECTS) {
  describe(`${dialect}: DbBlobStore`, () => {
    it(`${dialect}: round-trips empty, 1-byte, exactly one-chunk and 3.5-chunk contents`, async (t) => {
      const s = await setup(t, dialect);
      const blobs = new DbBlobStore(s.store.blobs);
      const cases: [string, Buffer, number[]][] = [
        // The last chunk is always short, so an exact multiple of the chunk size ends with an empty one.
        ['empty', Buffer.alloc(0), [0]],
        ['1 byte', Buffer.from([0x2a]), [1]],
        ['1 MiB', randomBytes(MiB), [MiB, 0]],
        ['3.5 MiB', randomBytes(3.5 * MiB), [MiB, MiB, MiB, MiB / 2]],
      ];
      for (const [name, data, chunkLengths] of cases) {
        for (const [how, body] of [
          ['in pieces', pieces(data)],
          ['in one buffer', Readable.from([data])],
        ] as const) {
          const written = await blobs.write(body, { maxBytes: 4 * MiB });
          assert.match(written.storageKey, /^[0-9a-f]{32}$/);
          assert.equal(written.size, data.length, `${name} ${how}: size`);
          assert.equal(written.sha256, sha256(data), `${name} ${how}: sha-256`);
          assert.deepEqual(written.head, data.subarray(0, SNIFF_BYTES), `${name} ${how}: head`);
          const mine = (await rows(s)).filter((r) => r.key === written.storageKey);
          assert.deepEqual(
            mine.map((r) => r.length),
            chunkLengths,
            `${name} ${how}: chunks`,
          );
          const back = await readAll(blobs.read(written.storageKey));
          assert.ok(back.equals(data), `${name} ${how}: the bytes read back`);
        }
      }
      assert.equal(CHUNK_BYTES, MiB);
    });

    it(`${dialect}: reads stream chunk by chunk, fetching the next only when the consumer wants it`, async (t) => {
      const s = await setup(t, dialect);
      const data = randomBytes(5 * MiB + 123);
      const { storageKey } = await new DbBlobStore(s.store.blobs).write(pieces(data), { maxBytes: 8 * MiB });
      const fetched: number[] = [];
      const counting = wrap(s.store.blobs, {
        getChunk: (key, seq) => {
          fetched.push(seq);
          return s.store.blobs.getChunk(key, seq);
        },
      });
      const stream = new DbBlobStore(counting).read(storageKey);

      const parts: Buffer[] = [];
      for await (const part of stream) {
        parts.push(part as Buffer);
        if (parts.length === 1) {
          // The consumer is busy with the first chunk: at most one more may be fetched ahead.
          await settle();
          assert.ok(fetched.length <= 2, `fetched ${fetched.join(',')} while the first chunk was being consumed`);
        }
        assert.ok((part as Buffer).length <= CHUNK_BYTES);
      }
      assert.ok(Buffer.concat(parts).equals(data));
      assert.deepEqual(fetched, [0, 1, 2, 3, 4, 5]);
    });

    it(`${dialect}: writes chunk by chunk, pulling no more than a chunk or two ahead of the inserts`, async (t) => {
      const s = await setup(t, dialect);
      let release!: () => void;
      const blocked = new Promise<void>((r) => (release = r));
      let inserts = 0;
      let firstInsert!: () => void;
      const inserting = new Promise<void>((r) => (firstInsert = r));
      const gated = wrap(s.store.blobs, {
        insertChunk: async (key, seq, data) => {
          inserts++;
          firstInsert();
          await blocked;
          return s.store.blobs.insertChunk(key, seq, data);
        },
      });
      const body = source({ size: 6 * MiB });
      const done = new DbBlobStore(gated).write(body, { maxBytes: 8 * MiB });
      await inserting;
      await settle();
      // The first insert is held: one chunk was cut, and the source was left alone beyond the stream buffers.
      assert.equal(inserts, 1);
      assert.ok(body.pulled() <= 2 * MiB, `pulled ${body.pulled()} bytes while the first chunk was being inserted`);
      release();
      const written = await done;
      assert.equal(written.size, 6 * MiB);
      assert.deepEqual(
        (await rows(s)).map((r) => r.length),
        [MiB, MiB, MiB, MiB, MiB, MiB, 0],
      );
    });

    it(`${dialect}: refuses contents over the limit with body_too_large, keeps no rows and leaves the source open`, async (t) => {
      const s = await setup(t, dialect);
      const blobs = new DbBlobStore(s.store.blobs);
      const limit = 2.5 * MiB;
      // Endless: cut off at the limit, after two chunks were already stored.
      const endless = source();
      await assert.rejects(blobs.write(endless, { maxBytes: limit }), tooLarge(limit));
      assert.deepEqual(await rows(s), []);
      // Left to the caller, who may still answer 413 on the same connection.
      assert.equal(endless.destroyed, false);
      assert.ok(endless.pulled() < 4 * MiB, `pulled ${endless.pulled()} bytes`);
      endless.destroy();

      // Exactly the limit is fine.
      const exact = await blobs.write(source({ size: 2 * MiB }), { maxBytes: 2 * MiB });
      assert.equal(exact.size, 2 * MiB);
    });

    it(`${dialect}: an overrun while a chunk insert is still running leaves no rows either`, async (t) => {
      const s = await setup(t, dialect);
      // The piece after the first full chunk is past the limit, and arrives while that chunk's insert is held.
      const limit = MiB + 1;
      const body = source();
      let gaveUpWhileHeld = false;
      let inserted: Promise<void> = Promise.resolve();
      const slow = wrap(s.store.blobs, {
        insertChunk: (key, seq, data) => {
          inserted = (async () => {
            await settle();
            // The write has let go of the source (unpiped it): a cleanup that did not wait for this
            // insert has already deleted, and the row below would stay.
            gaveUpWhileHeld = body.listenerCount('data') === 0;
            await s.store.blobs.insertChunk(key, seq, data);
          })();
          return inserted;
        },
      });
      await assert.rejects(new DbBlobStore(slow).write(body, { maxBytes: limit }), tooLarge(limit));
      body.destroy();
      await inserted;
      assert.equal(gaveUpWhileHeld, true, 'the overrun came while the insert was running');
      assert.deepEqual(await rows(s), []);
    });

    it(`${dialect}: keeps nothing of a source that fails or stops midway, or of a failed insert`, async (t) => {
      const s = await setup(t, dialect);
      const blobs = new DbBlobStore(s.store.blobs);
      await assert.rejects(blobs.write(source({ size: 2.5 * MiB, fail: new Error('client went away') }), { maxBytes: 8 * MiB }), {
        message: 'client went away',
      });
      await assert.rejects(blobs.write(source({ size: 1.5 * MiB, fail: 'close' }), { maxBytes: 8 * MiB }), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
      assert.deepEqual(await rows(s), []);

      // The database refusing the third chunk.
      const failing = wrap(s.store.blobs, {
        insertChunk: (key, seq, data) => (seq === 2 ? Promise.reject(new Error('disk full')) : s.store.blobs.insertChunk(key, seq, data)),
      });
      await assert.rejects(new DbBlobStore(failing).write(source({ size: 4 * MiB }), { maxBytes: 8 * MiB }), { message: 'disk full' });
      assert.deepEqual(await rows(s), []);
    });

    it(`${dialect}: remove deletes the blobs' rows, other blobs and unknown keys untouched`, async (t) => {
      const s = await setup(t, dialect);
      const blobs = new DbBlobStore(s.store.blobs);
      const gone = await blobs.write(pieces(randomBytes(2 * MiB + 5)), { maxBytes: 8 * MiB });
      const alsoGone = await blobs.write(pieces(Buffer.from('small')), { maxBytes: 8 * MiB });
      const kept = await blobs.write(pieces(Buffer.from('kept')), { maxBytes: 8 * MiB });
      await blobs.remove([gone.storageKey, alsoGone.storageKey, 'f'.repeat(32)]);
      await blobs.remove([]);
      assert.deepEqual(await rows(s), [{ key: kept.storageKey, seq: 0, length: 4 }]);
      assert.equal((await readAll(blobs.read(kept.storageKey))).toString(), 'kept');
      await assert.rejects(readAll(blobs.read(gone.storageKey)), { code: 'ENOENT' });
    });

    it(`${dialect}: reading a missing blob fails with ENOENT before any data; one removed mid-read fails, never ends short`, async (t) => {
      const s = await setup(t, dialect);
      const blobs = new DbBlobStore(s.store.blobs);
      const missing = blobs.read('0'.repeat(32));
      let sawData = false;
      missing.on('data', () => (sawData = true));
      await assert.rejects(readAll(missing), (error: NodeJS.ErrnoException) => {
        assert.equal(error.code, 'ENOENT');
        assert.match(error.message, /no contents stored under "0{32}"/);
        return true;
      });
      assert.equal(sawData, false);

      const { storageKey } = await blobs.write(pieces(randomBytes(3 * MiB)), { maxBytes: 8 * MiB });
      const reading = blobs.read(storageKey);
      const received: Buffer[] = [];
      await assert.rejects(
        (async () => {
          for await (const part of reading) {
            received.push(part as Buffer);
            if (received.length === 1) await blobs.remove([storageKey]);
          }
        })(),
        /end at chunk \d without their last chunk: removed while being read/,
      );
      assert.ok(Buffer.concat(received).length < 3 * MiB);
    });
  });
}
