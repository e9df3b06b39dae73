import type { Kysely } from 'kysely';
import type { Database } from './database.js';
import type { BlobChunkStore } from './store.js';

/**
 * Keys per DELETE: far below both databases' parameter limits, and small enough that one
 * statement (each key up to maxUpload bytes of rows) stays well inside PostgreSQL's statement
 * time-out.
 */
const DELETE_BATCH = 100;

/** The chunk rows of blobs kept in the database (blob_chunks, migration 0006). */
export class KyselyBlobChunkStore implements BlobChunkStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insertChunk(storageKey: string, seq: number, data: Buffer): Promise<void> {
    await this.db.insertInto('blob_chunks').values({ storage_key: storageKey, seq, data }).execute();
  }

  async getChunk(storageKey: string, seq: number): Promise<Buffer | undefined> {
    const row = await this.db.selectFrom('blob_chunks').select('data').where('storage_key', '=', storageKey).where('seq', '=', seq).executeTakeFirst();
    return row?.data;
  }

  async deleteBlobs(storageKeys: string[]): Promise<void> {
    for (let i = 0; i < storageKeys.length; i += DELETE_BATCH) {
      await this.db
        .deleteFrom('blob_chunks')
        .where('storage_key', 'in', storageKeys.slice(i, i + DELETE_BATCH))
        .execute();
    }
  }
}
