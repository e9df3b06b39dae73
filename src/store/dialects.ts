import type { ColumnDefinitionBuilder } from 'kysely';

/**
 * What differs between the databases the store runs on. The queries read these flags instead of
 * asking which database they talk to, so a new dialect is one more constant here.
 */
export interface DialectCapabilities {
  /**
   * Whether the claim's inner SELECT may say FOR UPDATE SKIP LOCKED. SQLite has neither row locks
   * nor the syntax; its single writer already makes the claim statement atomic.
   */
  readonly skipLocked: boolean;
  /**
   * Whether a transaction that checks a row before writing must lock it (SELECT … FOR SHARE /
   * FOR UPDATE) so a concurrent transaction cannot change it before the commit. SQLite has one
   * writer at a time, which gives the same guarantee without the syntax it lacks.
   */
  readonly rowLocks: boolean;
  /**
   * How an auto-numbered primary key is declared; there is no portable spelling. Ids must never
   * be reused after a delete, or a client holding an old task id could see a newer task.
   */
  readonly idColumn: {
    readonly type: 'integer' | 'bigint';
    readonly define: (col: ColumnDefinitionBuilder) => ColumnDefinitionBuilder;
  };
  /**
   * Statements run on the migrating connection before and after the migrations, or null. A
   * migration (or waiting for another node's) may take longer than the time-out a request gets.
   */
  readonly migrationSession: { readonly before: string; readonly after: string } | null;
  /** Whether a driver error is a unique or primary-key violation, so store/ can turn it into a domain error. */
  isUniqueViolation(error: unknown): boolean;
  /** The larger-of-two function: SQLite's two-argument `max`, PostgreSQL's `greatest`. */
  readonly greatest: 'max' | 'greatest';
  /** Whether a WITH clause may hold an INSERT … RETURNING (PostgreSQL; SQLite's CTEs are SELECTs only). */
  readonly dataModifyingCte: boolean;
}

const errorCode = (error: unknown): unknown => (error as { code?: unknown } | null)?.code;

export const SQLITE_CAPABILITIES: DialectCapabilities = Object.freeze({
  skipLocked: false,
  rowLocks: false,
  // Only the exact type name INTEGER makes the column the rowid; AUTOINCREMENT stops rowid reuse.
  idColumn: Object.freeze({ type: 'integer', define: (col: ColumnDefinitionBuilder) => col.primaryKey().autoIncrement() }),
  // No statement time-out to lift: busy_timeout only bounds the wait for the write lock.
  migrationSession: null,
  greatest: 'max',
  dataModifyingCte: false,
  isUniqueViolation: (error: unknown) => {
    const code = errorCode(error);
    return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
  },
} as const);

export const POSTGRES_CAPABILITIES: DialectCapabilities = Object.freeze({
  skipLocked: true,
  rowLocks: true,
  // A sequence never hands out a number twice, deletes or not. ALWAYS rather than BY DEFAULT: an
  // insert that names an id fails instead of colliding with the sequence later.
  idColumn: Object.freeze({ type: 'bigint', define: (col: ColumnDefinitionBuilder) => col.generatedAlwaysAsIdentity().primaryKey() }),
  // The pool's statement_timeout (store/postgres.ts) is for requests; RESET returns to it.
  migrationSession: Object.freeze({ before: 'set statement_timeout = 0', after: 'reset statement_timeout' }),
  greatest: 'greatest',
  dataModifyingCte: true,
  // unique_violation; a primary-key violation has the same SQLSTATE.
  isUniqueViolation: (error: unknown) => errorCode(error) === '23505',
} as const);
