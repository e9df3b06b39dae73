import type { Kysely } from 'kysely';
import { KyselyBlobChunkStore } from './blob-queries.js';
import type { Database } from './database.js';
import type { DialectCapabilities } from './dialects.js';
import { KyselyExAppStore } from './exapp-queries.js';
import { KyselyFileStore } from './file-queries.js';
import { migrateToLatest, schemaState } from './migrations/index.js';
import { KyselySettingsStore } from './settings-queries.js';
import type { Store } from './store.js';
import { KyselyTaskStore, taskRowCache } from './task-queries.js';
import { KyselyUserStore } from './user-queries.js';
import { RefuseNulTextPlugin } from './value-guards.js';

/**
 * How the store may answer repeated reads from memory (store/read-cache.ts): each is a stamp that
 * moves when rows may have been changed by someone other than this store; null reads every time.
 */
export interface StoreFreshness {
  /** The rows every request reads: the authenticated user, the calling ExApp. */
  authRows: (() => number) | null;
  /** Tasks read by id. */
  tasks: (() => number) | null;
  /** How many tasks may be kept (0: none). */
  taskCacheRows: number;
}

const ALWAYS_READ: StoreFreshness = { authRows: null, tasks: null, taskCacheRows: 0 };

/**
 * The one Store implementation: the same queries on every dialect, differences read from `caps`.
 * `schema` is where the tables live on a database with schemas (null on SQLite); the queries
 * themselves stay unqualified and reach it through the connection's search_path.
 */
export function createKyselyStore(db: Kysely<Database>, caps: DialectCapabilities, schema: string | null, freshness: StoreFreshness = ALWAYS_READ): Store {
  const guarded = db.withPlugin(new RefuseNulTextPlugin());
  const taskRows = taskRowCache(freshness.tasks, freshness.taskCacheRows);
  return {
    tasks: new KyselyTaskStore(guarded, caps, taskRows),
    // Deleting a user deletes their tasks: it forgets the cached task rows too.
    users: new KyselyUserStore(guarded, caps, freshness.authRows, taskRows),
    settings: new KyselySettingsStore(guarded),
    files: new KyselyFileStore(guarded, caps),
    exapps: new KyselyExAppStore(guarded, caps, freshness.authRows),
    // Unguarded: its only text is generated storage keys, and the NUL check walks every value,
    // which for a chunk means a megabyte of bytes one by one.
    blobs: new KyselyBlobChunkStore(db),
    migrate: () => migrateToLatest(db, caps, schema),
    schemaState: () => schemaState(db, caps, schema),
    close: () => db.destroy(),
  };
}
