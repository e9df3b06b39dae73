import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Kysely } from 'kysely';
import { DEFAULTS } from '../config.js';
import type { Database } from './database.js';
import { POSTGRES_CAPABILITIES, SQLITE_CAPABILITIES } from './dialects.js';
import { createKyselyStore } from './kysely-store.js';
import { currentSchema, openPostgres, parsePostgresUrl } from './postgres.js';
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
}

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
    const db = openPostgres(target, {
      poolSize: opts.poolSize ?? DEFAULTS.dbPoolSize,
      preparedStatements: opts.pgPreparedStatements ?? DEFAULTS.pgPreparedStatements,
      onPreparedStatementsLost: () =>
        opts.warn?.(
          'PostgreSQL lost prepared statements (a connection pooler in transaction mode?): running every statement unnamed from now on; set TASKPROC_PG_PREPARED_STATEMENTS=false to skip trying',
        ),
    });
    try {
      const seconds = opts.authCacheSeconds ?? DEFAULTS.authCacheSeconds;
      const authRows = seconds > 0 ? () => Math.floor(Date.now() / (seconds * 1000)) : null;
      // Tasks are always read: a task another node changed must show at once (a cancel, a result).
      return createKyselyStore(db, POSTGRES_CAPABILITIES, await currentSchema(db, target), { authRows, tasks: null, taskCacheRows: 0 });
    } catch (error) {
      await db.destroy();
      throw new Error(`Cannot use the PostgreSQL database: ${(error as Error).message}`, { cause: error });
    }
  }
  const file = url === null ? join(opts.dataDir, 'taskproc.db') : sqliteUrlPath(url);
  mkdirSync(dirname(file), { recursive: true });
  const sqlite = openSqlite(file);
  const db = new Kysely<Database>({ dialect: new GroupCommitSqliteDialect(sqlite) });
  // Read straight from the handle, not through Kysely: a pragma would end the open group commit.
  const dataVersionStmt = sqlite.prepare('PRAGMA data_version').pluck();
  const changes = oncePerTurn(() => dataVersionStmt.get() as number);
  return createKyselyStore(db, SQLITE_CAPABILITIES, null, { authRows: changes, tasks: changes, taskCacheRows: opts.taskCacheRows ?? DEFAULTS.taskCacheRows });
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
