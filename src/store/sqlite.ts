import BetterSqlite3 from 'better-sqlite3';
import { SqliteAdapter, SqliteDialect, type DialectAdapter, type Driver } from 'kysely';
import { GroupCommitSqliteDriver } from './sqlite-driver.js';

/**
 * Opens a SQLite file for the store.
 *
 * Statements that return rows (anything with RETURNING) must run with `.all()` or `.run()`, never
 * `.get()`: with better-sqlite3 12, `.get()` on an INSERT/UPDATE … RETURNING leaves the statement
 * before SQLite's WAL auto-checkpoint runs, and the -wal file was measured growing to 900 MB in
 * ten seconds. Kysely's SqliteDriver uses `.all()` for every statement that returns rows, so all
 * SQL goes through Kysely.
 */
export function openSqlite(file: string): BetterSqlite3.Database {
  const db = new BetterSqlite3(file);
  try {
    // WAL: readers never block the writer, and one commit is one append.
    db.pragma('journal_mode = WAL');
    // FULL, not NORMAL: in WAL mode NORMAL may lose the last commits on power loss, and a 200
    // from schedule or result promises the task is stored.
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    // A second process (the CLI next to the server) waits for the write lock instead of failing.
    db.pragma('busy_timeout = 5000');
    // The auto-checkpoint (default 1000 pages) recycles the -wal file but never shrinks it; this
    // truncates it back to 64 MiB after a checkpoint, so one burst does not keep the disk forever.
    db.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/**
 * Kysely's SqliteDialect with two changes: the driver commits in groups (sqlite-driver.ts), and
 * migrations run in a transaction: SQLite's DDL is transactional, so a migration that fails
 * half-way leaves the schema as it was instead of half built and unrecorded. (Kysely's stock
 * SQLite adapter says it is not, to stay on the safe side.)
 */
export class GroupCommitSqliteDialect extends SqliteDialect {
  constructor(private readonly db: BetterSqlite3.Database) {
    super({ database: db });
  }

  override createDriver(): Driver {
    return new GroupCommitSqliteDriver(this.db);
  }

  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}
