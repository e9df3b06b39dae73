import type { Kysely } from 'kysely';
import type { Database } from './database.js';
import type { DialectCapabilities } from './dialects.js';
import { KyselyExAppStore } from './exapp-queries.js';
import { KyselyFileStore } from './file-queries.js';
import { migrateToLatest } from './migrations/index.js';
import { KyselySettingsStore } from './settings-queries.js';
import type { Store } from './store.js';
import { KyselyTaskStore } from './task-queries.js';
import { KyselyUserStore } from './user-queries.js';

/** The one Store implementation: the same queries on every dialect, differences read from `caps`. */
export function createKyselyStore(db: Kysely<Database>, caps: DialectCapabilities): Store {
  return {
    tasks: new KyselyTaskStore(db, caps),
    users: new KyselyUserStore(db, caps),
    settings: new KyselySettingsStore(db),
    files: new KyselyFileStore(db, caps),
    exapps: new KyselyExAppStore(db, caps),
    migrate: () => migrateToLatest(db, caps),
    close: () => db.destroy(),
  };
}
