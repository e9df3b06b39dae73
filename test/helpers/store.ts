import type { NewTask } from '../../src/core/task.js';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Kysely } from 'kysely';
import pg from 'pg';
import type { Database } from '../../src/store/database.js';
import { openStore } from '../../src/store/open-store.js';
import { openPostgres, parsePostgresUrl } from '../../src/store/postgres.js';
import { GroupCommitSqliteDialect, openSqlite } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/store.js';

export type TestDialect = 'sqlite' | 'postgres';

/** The dialects the store contract suites run against: env TEST_DIALECTS, comma-separated, default both. */
export const TEST_DIALECTS: readonly TestDialect[] = parseDialects('TEST_DIALECTS', process.env.TEST_DIALECTS ?? 'sqlite,postgres');

/**
 * The one dialect API tests run on (startServer), and stores made without naming one:
 * env TASKPROC_TEST_DIALECT, default sqlite. `npm test` runs test/api once more with postgres.
 */
export const TEST_DIALECT: TestDialect = singleDialect(process.env.TASKPROC_TEST_DIALECT ?? 'sqlite');

/** The database test schemas are made in; each test gets its own schema, so runs never collide. */
export const TEST_DATABASE_URL = process.env.TASKPROC_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function parseDialects(key: string, raw: string): TestDialect[] {
  const names = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const name of names) {
    if (name !== 'sqlite' && name !== 'postgres') throw new Error(`${key}: unknown dialect "${name}" (sqlite, postgres)`);
  }
  return [...new Set(names)] as TestDialect[];
}

function singleDialect(raw: string): TestDialect {
  const [only, ...more] = parseDialects('TASKPROC_TEST_DIALECT', raw);
  if (only === undefined || more.length > 0) throw new Error(`TASKPROC_TEST_DIALECT: name one dialect (sqlite or postgres), got "${raw}"`);
  return only;
}

/** A fresh, empty PostgreSQL schema in the test database. */
export interface TestSchema {
  name: string;
  /** TEST_DATABASE_URL with `?schema=<name>`, as TASKPROC_DATABASE_URL would be given. */
  url: string;
  /** Drops the schema and everything in it; close every connection to it first. */
  drop(): Promise<void>;
}

/**
 * Creates a schema named after the test file and a random suffix (`t_task_store_1a2b3c4d`), so a
 * leftover from a crashed run says where it came from, and two runs never share one.
 */
export async function createTestSchema(): Promise<TestSchema> {
  const file = basename(process.argv[1] ?? 'test').replace(/\.test\.[cm]?[jt]s$/, '');
  const slug = file
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .slice(0, 40);
  const name = `t_${slug}_${randomBytes(4).toString('hex')}`;
  await adminQuery(`create schema ${name}`);
  const url = new URL(TEST_DATABASE_URL);
  url.searchParams.set('schema', name);
  return { name, url: url.toString(), drop: async () => void (await adminQuery(`drop schema if exists ${name} cascade`)) };
}

/**
 * One statement on the test database, on its own connection (a pool left open would keep the test
 * process alive): for what a test reads or does past the servers.
 */
export async function adminQuery(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

export interface TestStore {
  dialect: TestDialect;
  /** Migrated and ready. */
  store: Store;
  /** A fresh temporary directory, used as the data directory. */
  dir: string;
  /** The SQLite file (sqlite only, else null). */
  file: string | null;
  /** The PostgreSQL schema the tables are in (postgres only, else null). */
  schema: string | null;
  /** The database URL the stores were opened with (null: the SQLite file under `dir`). */
  databaseUrl: string | null;
  /** A second handle on the same database, for fixtures and checks the Store API does not offer. */
  db: Kysely<Database>;
  /** Opens another, unmigrated Store on the same database; cleanup() closes it. */
  open(opts?: { poolSize?: number }): Promise<Store>;
  /** Closes every store and handle, drops the schema and removes the directory. */
  cleanup(): Promise<void>;
}

/**
 * A store on its own new database: a temp SQLite file, or a fresh schema in the test PostgreSQL
 * database. Use as `const s = await createTestStore(dialect); t.after(s.cleanup)`.
 */
export async function createTestStore(
  dialect: TestDialect = TEST_DIALECT,
  opts: { poolSize?: number; authCacheSeconds?: number; taskCacheRows?: number } = {},
): Promise<TestStore> {
  const dir = await mkdtemp(join(tmpdir(), 'taskproc-test-'));
  const schema = dialect === 'postgres' ? await createTestSchema() : null;
  const file = schema === null ? join(dir, 'taskproc.db') : null;
  const databaseUrl = schema?.url ?? null;
  const opened: Store[] = [];
  const handles: Kysely<Database>[] = [];
  const open = async (o: { poolSize?: number } = {}) => {
    const store = await openStore({
      dataDir: dir,
      databaseUrl,
      poolSize: o.poolSize ?? opts.poolSize,
      authCacheSeconds: opts.authCacheSeconds,
      taskCacheRows: opts.taskCacheRows ?? TEST_TASK_CACHE_ROWS,
    });
    opened.push(store);
    return store;
  };
  const cleanup = async () => {
    await Promise.allSettled([...opened.map((s) => s.close()), ...handles.map((db) => db.destroy())]);
    await schema?.drop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const store = await open();
    await store.migrate();
    const db =
      schema === null
        ? new Kysely<Database>({ dialect: new GroupCommitSqliteDialect(openSqlite(file as string)) })
        : openPostgres(parsePostgresUrl(schema.url), { poolSize: 2 });
    handles.push(db);
    return { dialect, store, dir, file, schema: schema?.name ?? null, databaseUrl, db, open, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** The server keeps no tasks by default; store tests turn the cache on, so that they test it. */
const TEST_TASK_CACHE_ROWS = 1000;

/** 2026-01-01T00:00:00Z in unix seconds: the fixed "now" of store tests. */
export const T0 = 1_767_225_600;

/** A task as schedule would hand it to the store, with any field overridden. */
export function newTask(over: Partial<NewTask> = {}): NewTask {
  return {
    type: 'core:text2text',
    userId: 'alice',
    anonKey: null,
    appId: 'assistant',
    customId: '',
    input: { input: 'Hello' },
    webhookUri: null,
    webhookMethod: null,
    includeWatermark: true,
    providerId: 'provider-1',
    scheduledAt: T0,
    lastUpdated: T0,
    completionExpectedAt: T0 + 10,
    ...over,
  };
}
