import type { Kysely, Migration } from 'kysely';

/**
 * File contents kept in the database (`fileStorage = database`, files/db-blob-store.ts), for nodes
 * without a shared disk: each blob is a run of chunks numbered from 0 under its storage key. A
 * snapshot, like every migration.
 */
export function blobChunksSchema(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('blob_chunks')
        .addColumn('storage_key', 'text', (col) => col.notNull())
        .addColumn('seq', 'integer', (col) => col.notNull())
        // bytea on both databases: PostgreSQL has no "blob" type, and SQLite gives a column
        // declared bytea NUMERIC affinity, which keeps BLOB values exactly as given (only text is
        // ever converted), so one spelling serves both without a dialect flag.
        .addColumn('data', 'bytea', (col) => col.notNull())
        // Reads fetch one chunk by (key, seq) and removes delete by key: both use this key's index.
        .addPrimaryKeyConstraint('blob_chunks_pkey', ['storage_key', 'seq'])
        .execute();
    },
  };
}
