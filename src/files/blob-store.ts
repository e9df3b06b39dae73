import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { finished, Transform, Writable, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DomainError } from '../core/errors.js';
import { SNIFF_BYTES } from './mime.js';

export interface WrittenBlob {
  /** 32 hex characters; names the blob. */
  storageKey: string;
  size: number;
  /** sha-256 hex of the contents. */
  sha256: string;
  /** The first bytes (up to SNIFF_BYTES), for sniffing the type. */
  head: Buffer;
}

const STORAGE_KEY = /^[0-9a-f]{32}$/;

export const uploadTooLarge = (limit: number) => new DomainError('body_too_large', `The file is larger than the upload limit of ${limit} bytes`);

/**
 * Where file contents live: on this node's disk (BlobStore) or in the database (DbBlobStore,
 * files/db-blob-store.ts). Blobs are immutable and named by a random storage key; the metadata in
 * `files` points at them and is committed only after `write` resolves.
 */
export interface BlobStorage {
  /**
   * Streams `source` into a new blob, with memory use independent of the size. Over `maxBytes`
   * throws DomainError('body_too_large') (uploadTooLarge); a source that errors or closes early
   * rethrows its error. Either way nothing is left behind. `source` is never destroyed here: the
   * caller consumes or destroys it, so an HTTP caller can still answer 413 on the same connection.
   */
  write(source: Readable, opts: { maxBytes: number }): Promise<WrittenBlob>;
  /**
   * A fresh read stream of a blob. A missing blob is not thrown: it surfaces as an error event
   * with code ENOENT before any data, which HTTP replies turn into an error answer like any
   * failed stream.
   */
  read(storageKey: string): Readable;
  /** Removes blobs; keys that are already gone are fine. */
  remove(storageKeys: Iterable<string>): Promise<void>;
}

/**
 * File contents on disk under `<dataDir>/files/`, one file per blob, named by a random storage key
 * and fanned out into two levels of 256 folders by its first four hex digits, so a folder holds
 * 1/65536 of the blobs (about 1500 at a hundred million). Writes go to `files/tmp/` first and are renamed into place once
 * complete and synced, so a blob is never seen half-written. Blobs are immutable: new contents get
 * a new key. Leftovers of a crash (temp files, blobs whose metadata never committed) are not swept
 * here.
 */
export class BlobStore implements BlobStorage {
  private readonly root: string;
  private readonly tmp: string;

  constructor(dataDir: string) {
    this.root = join(dataDir, 'files');
    this.tmp = join(this.root, 'tmp');
  }

  async write(source: Readable, opts: { maxBytes: number }): Promise<WrittenBlob> {
    await mkdir(this.tmp, { recursive: true });
    const storageKey = randomBytes(16).toString('hex');
    const tmpFile = join(this.tmp, storageKey);
    const meter = new Meter(opts.maxBytes);
    const handle = await open(tmpFile, 'wx');
    try {
      await meterInto(source, meter, syncedWriter(handle));
    } catch (error) {
      await handle.close();
      await rm(tmpFile, { force: true });
      throw error;
    }
    await handle.close();
    const target = this.pathOf(storageKey);
    const folder = dirname(target);
    try {
      await mkdir(folder, { recursive: true });
      await rename(tmpFile, target);
    } catch (error) {
      await rm(tmpFile, { force: true });
      throw error;
    }
    // The rename is durable only once its folder is synced; the metadata commit that follows
    // must not point at a blob a power loss could take back.
    const dir = await open(folder, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    return { storageKey, size: meter.size, sha256: meter.sha256(), head: meter.head() };
  }

  /** A fresh read stream of a blob; a missing blob surfaces as the stream's ENOENT error. */
  read(storageKey: string): Readable {
    return createReadStream(this.pathOf(storageKey));
  }

  /** Removes blobs; keys that are already gone are fine. */
  async remove(storageKeys: Iterable<string>): Promise<void> {
    for (const key of storageKeys) await rm(this.pathOf(key), { force: true });
  }

  private pathOf(storageKey: string): string {
    // The key comes from the database; checking its shape keeps a bad row from naming a path outside the store.
    if (!STORAGE_KEY.test(storageKey)) throw new Error(`Invalid storage key "${storageKey}"`);
    return join(this.root, storageKey.slice(0, 2), storageKey.slice(2, 4), storageKey);
  }
}

/**
 * Writes to an open file and fsyncs it before finishing. Not handle.createWriteStream(): with
 * autoClose off (the handle must stay open for the sync) its stream never lets go of the handle,
 * and handle.close() then waits forever; fs.createWriteStream's `flush` needs Node 20.10.
 */
function syncedWriter(handle: FileHandle): Writable {
  return new Writable({
    writev(chunks, callback) {
      const buffers = chunks.map((c) => c.chunk as Buffer);
      const total = buffers.reduce((sum, b) => sum + b.length, 0);
      handle.writev(buffers).then(({ bytesWritten }) => {
        // A regular file takes a short write only when the disk is full; never pass it as success.
        callback(bytesWritten === total ? null : new Error(`Short write to a blob: ${bytesWritten} of ${total} bytes`));
      }, callback);
    },
    final(callback) {
      handle.sync().then(() => callback(), callback);
    },
  });
}

/**
 * Streams `source` through `meter` into `sink`; resolves once `sink` has finished. pipe(), not
 * pipeline(source, …): pipeline would destroy `source` on a size overrun, and destroying an HTTP
 * request closes the socket before the 413 can be sent. An error or an early close of `source`
 * still reaches the pipeline through `meter`.
 */
export async function meterInto(source: Readable, meter: Meter, sink: Writable): Promise<void> {
  const stopWatching = finished(source, { writable: false }, (error) => {
    if (error) meter.destroy(error);
  });
  source.pipe(meter);
  try {
    await pipeline(meter, sink);
  } finally {
    stopWatching();
    source.unpipe(meter);
  }
}

/**
 * Passes bytes through while counting, hashing and keeping the first few; fails past the limit.
 * Every BlobStorage measures through it, so size, sha-256 and head mean the same on disk and in
 * the database.
 */
export class Meter extends Transform {
  size = 0;
  private readonly hash = createHash('sha256');
  private readonly first: Buffer[] = [];
  private firstLength = 0;

  constructor(private readonly maxBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      callback(uploadTooLarge(this.maxBytes));
      return;
    }
    this.hash.update(chunk);
    if (this.firstLength < SNIFF_BYTES) {
      this.first.push(chunk.subarray(0, SNIFF_BYTES - this.firstLength));
      this.firstLength += Math.min(chunk.length, SNIFF_BYTES - this.firstLength);
    }
    callback(null, chunk);
  }

  sha256(): string {
    return this.hash.digest('hex');
  }

  head(): Buffer {
    return Buffer.concat(this.first);
  }
}
