import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, sql } from 'kysely';
import { DEFAULTS } from '../config.js';
import type { Database } from './database.js';
import { POSTGRES_CAPABILITIES, SQLITE_CAPABILITIES } from './dialects.js';
import { createKyselyStore } from './kysely-store.js';
import { currentSchema, openPostgresPool, parsePostgresUrl } from './postgres.js';
import { GroupCommitSqliteDialect, openSqlite } from './sqlite.js';
import type { Store } from './store.js';

export interface OpenStoreOptions {
  dataDir: string;
  /**
   * null: the embedded SQLite file `<dataDir>/taskproc.db`; `sqlite:<path>`; or
   * `postgres://user:pass@host:port/db[?schema=name]` (also `postgresql://`), where `schema`
   * puts the tables in that schema (created when missing) instead of the connection's default.
   */
  databaseUrl: string | null;
  /** Connections to PostgreSQL this process may hold (default 10); SQLite has one. */
  poolSize?: number;
  /**
   * PostgreSQL: how long (seconds) a user or ExApp row read for a request may answer later
   * requests (default 1; 0 reads it every time). Changes through this process are seen at once;
   * changes by other nodes or the admin CLI within this time. SQLite needs no such bound: it
   * learns of every other connection's commit (data_version).
   */
  authCacheSeconds?: number;
  /** SQLite: how many tasks read by id are kept in memory (default 10 000; 0: none). */
  taskCacheRows?: number;
  /** PostgreSQL: named prepared statements for repeated queries (default true; see pg-prepared.ts). */
  pgPreparedStatements?: boolean;
  /** Where the store reports what an operator should know but that fails no request. */
  warn?: (message: string) => void;
  /**
   * Only a database taskproc has created and migrated: a missing SQLite file, or a PostgreSQL
   * schema without taskproc's tables, fails with `StoreNotFoundError` and nothing is created.
   * For the admin commands: run from the wrong folder, they would otherwise make a new, empty
   * database and report that the server's users do not exist.
   */
  existingOnly?: boolean;
}

/** `existingOnly` was asked and there is no taskproc database where the options point. */
export class StoreNotFoundError extends Error {
  override name = 'StoreNotFoundError';
  constructor(
    /** Where it looked, as a phrase: `at /srv/taskproc/data/taskproc.db`, `in schema "x" of …`. */
    readonly where: string,
    readonly dialect: 'sqlite' | 'postgres',
  ) {
    super(`There is no taskproc database ${where}`);
  }
}

/** Kysely's own table, which the first migration creates: a schema without it was never migrated. */
const MIGRATION_TABLE = 'kysely_migration';

/**
 * Opens the store without migrating it; call `migrate()` before serving. Options left out take
 * the server's defaults (DEFAULTS in config.ts), so the CLI and the server open the store alike.
 * PostgreSQL is asked one question at once, so a wrong URL or an unreachable server fails here,
 * at start.
 */
export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  const url = opts.databaseUrl;
  if (url !== null && /^postgres(ql)?:\/\//.test(url)) {
    const target = parsePostgresUrl(url);
    const { db, poolUse } = openPostgresPool(target, {
      poolSize: opts.poolSize ?? DEFAULTS.dbPoolSize,
      preparedStatements: opts.pgPreparedStatements ?? DEFAULTS.pgPreparedStatements,
      onPreparedStatementsLost: () =>
        opts.warn?.(
          'PostgreSQL lost prepared statements (a connection pooler in transaction mode?): running every statement unnamed from now on; set TASKPROC_PG_PREPARED_STATEMENTS=false to skip trying',
        ),
    });
    let schema: string;
    let migrated: boolean;
    try {
      schema = await currentSchema(db, target);
      migrated = opts.existingOnly === true ? await hasPostgresTable(db, schema, MIGRATION_TABLE) : true;
    } catch (error) {
      await db.destroy();
      throw new Error(`Cannot use the PostgreSQL database: ${(error as Error).message}`, { cause: error });
    }
    if (!migrated) {
      await db.destroy();
      throw new StoreNotFoundError(`in schema "${schema}" of ${describePostgres(target.connectionString)}`, 'postgres');
    }
    const seconds = opts.authCacheSeconds ?? DEFAULTS.authCacheSeconds;
    const authRows = seconds > 0 ? () => Math.floor(Date.now() / (seconds * 1000)) : null;
    // Tasks are always read: a task another node changed must show at once (a cancel, a result).
    return { ...createKyselyStore(db, POSTGRES_CAPABILITIES, schema, { authRows, tasks: null, taskCacheRows: 0 }), poolUse };
  }
  const file = url === null ? join(opts.dataDir, 'taskproc.db') : sqliteUrlPath(url);
  if (opts.existingOnly === true && !hasSqliteTable(file, MIGRATION_TABLE)) {
    throw new StoreNotFoundError(existsSync(file) ? `at ${file} (the file has no taskproc tables)` : `at ${file}`, 'sqlite');
  }
  mkdirSync(dirname(file), { recursive: true });
  const sqlite = openSqlite(file);
  const db = new Kysely<Database>({ dialect: new GroupCommitSqliteDialect(sqlite) });
  // Read straight from the handle, not through Kysely: a pragma would end the open group commit.
  const dataVersionStmt = sqlite.prepare('PRAGMA data_version').pluck();
  const changes = oncePerTurn(() => dataVersionStmt.get() as number);
  return createKyselyStore(db, SQLITE_CAPABILITIES, null, { authRows: changes, tasks: changes, taskCacheRows: opts.taskCacheRows ?? DEFAULTS.taskCacheRows });
}

/** Whether the schema has the table; asked of the catalog by name, so no other schema is read. */
async function hasPostgresTable(db: Kysely<Database>, schema: string, table: string): Promise<boolean> {
  const { rows } = await sql<{ found: number }>`
    select 1 as found from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${schema} and c.relname = ${table}`.execute(db);
  return rows.length > 0;
}

/**
 * Whether the SQLite file exists and has the table. Looked at through a plain handle before
 * openSqlite, whose WAL setting would change a file that turns out not to be ours.
 */
function hasSqliteTable(file: string, table: string): boolean {
  if (!existsSync(file)) return false;
  const db = new BetterSqlite3(file, { fileMustExist: true });
  try {
    return db.prepare("select 1 from sqlite_master where type = 'table' and name = ?").get(table) !== undefined;
  } finally {
    db.close();
  }
}

/** `database "name" at host:port` for messages: the URL without its user and password. */
function describePostgres(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    // Without a path, PostgreSQL takes the user's name as the database's.
    const database = decodeURIComponent(url.pathname.length > 1 ? url.pathname.slice(1) : url.username || 'postgres');
    const host = url.hostname === '' ? (url.searchParams.get('host') ?? 'the local socket') : url.host;
    return `the PostgreSQL database "${database}" at ${host}`;
  } catch {
    return 'the PostgreSQL database';
  }
}

/**
 * The counter read once per event-loop turn, not once per request: the requests of one turn are
 * answered as of its start (a commit by another process shows from the next turn, under a
 * millisecond later), and a busy server saves a read transaction per request.
 */
function oncePerTurn(read: () => number): () => number {
  let value: number | null = null;
  return () => {
    if (value === null) {
      value = read();
      setImmediate(() => (value = null));
    }
    return value;
  };
}

/** `sqlite:/abs/file.db`, `sqlite:///abs/file.db` or `sqlite:relative/file.db` (from the working directory). */
function sqliteUrlPath(url: string): string {
  if (!url.startsWith('sqlite:')) throw new Error(`Unsupported database URL "${url}": expected sqlite:<path> or postgres://…`);
  const path = url.slice('sqlite:'.length).replace(/^\/\//, '');
  if (path === '') throw new Error(`Database URL "${url}" names no file`);
  return resolve(path);
}
