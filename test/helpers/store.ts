import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kysely } from 'kysely';
import type { Database } from '../../src/store/database.js';
import { openStore } from '../../src/store/open-store.js';
import { openSqlite, TransactionalSqliteDialect } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/store.js';

export type TestDialect = 'sqlite' | 'postgres';

/** The dialects the store contract suites run against: env TEST_DIALECTS, comma-separated, default sqlite. */
export const TEST_DIALECTS: readonly TestDialect[] = parseDialects(process.env.TEST_DIALECTS ?? 'sqlite');

function parseDialects(raw: string): TestDialect[] {
  const names = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const name of names) {
    if (name !== 'sqlite' && name !== 'postgres') throw new Error(`TEST_DIALECTS: unknown dialect "${name}" (sqlite, postgres)`);
  }
  return [...new Set(names)] as TestDialect[];
}

export interface TestStore {
  /** Migrated and ready. */
  store: Store;
  /** A fresh temporary directory, used as the data directory. */
  dir: string;
  /** The SQLite file (sqlite only). */
  file: string;
  /** A second handle on the same database, for fixtures and checks the Store API does not offer. */
  db: Kysely<Database>;
  /** Opens another, unmigrated Store on the same database; cleanup() closes it. */
  open(): Promise<Store>;
  /** Closes every store and handle and removes the directory. */
  cleanup(): Promise<void>;
}

/** A store on its own new database. Use as `const s = await createTestStore(); t.after(s.cleanup)`. */
export async function createTestStore(dialect: TestDialect = 'sqlite'): Promise<TestStore> {
  if (dialect !== 'sqlite') throw new Error(`createTestStore: the ${dialect} dialect is not built yet`);
  const dir = await mkdtemp(join(tmpdir(), 'taskproc-test-'));
  const file = join(dir, 'taskproc.db');
  const opened: Store[] = [];
  const open = async () => {
    const store = await openStore({ dataDir: dir, databaseUrl: null });
    opened.push(store);
    return store;
  };
  try {
    const store = await open();
    await store.migrate();
    const db = new Kysely<Database>({ dialect: new TransactionalSqliteDialect({ database: openSqlite(file) }) });
    return {
      store,
      dir,
      file,
      db,
      open,
      async cleanup() {
        await Promise.allSettled([...opened.map((s) => s.close()), db.destroy()]);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await Promise.allSettled(opened.map((s) => s.close()));
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
