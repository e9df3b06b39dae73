import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Kysely } from 'kysely';
import type { Database } from './database.js';
import { SQLITE_CAPABILITIES } from './dialects.js';
import { createKyselyStore } from './kysely-store.js';
import { openSqlite, TransactionalSqliteDialect } from './sqlite.js';
import type { Store } from './store.js';

export interface OpenStoreOptions {
  dataDir: string;
  /** null: the embedded SQLite file `<dataDir>/taskproc.db`; or `sqlite:<path>`. */
  databaseUrl: string | null;
}

/** Opens the store without migrating it; call `migrate()` before serving. */
export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  const url = opts.databaseUrl;
  if (url !== null && /^postgres(ql)?:\/\//.test(url)) throw new Error('PostgreSQL support is not built yet');
  const file = url === null ? join(opts.dataDir, 'taskproc.db') : sqliteUrlPath(url);
  mkdirSync(dirname(file), { recursive: true });
  const db = new Kysely<Database>({ dialect: new TransactionalSqliteDialect({ database: openSqlite(file) }) });
  return createKyselyStore(db, SQLITE_CAPABILITIES);
}

/** `sqlite:/abs/file.db`, `sqlite:///abs/file.db` or `sqlite:relative/file.db` (from the working directory). */
function sqliteUrlPath(url: string): string {
  if (!url.startsWith('sqlite:')) throw new Error(`Unsupported database URL "${url}": expected sqlite:<path> or postgres://…`);
  const path = url.slice('sqlite:'.length).replace(/^\/\//, '');
  if (path === '') throw new Error(`Database URL "${url}" names no file`);
  return resolve(path);
}
