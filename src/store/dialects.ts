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
   * How an auto-numbered primary key is declared; there is no portable spelling. Ids must never
   * be reused after a delete, or a client holding an old task id could see a newer task.
   */
  readonly idColumn: {
    readonly type: 'integer' | 'bigint';
    readonly define: (col: ColumnDefinitionBuilder) => ColumnDefinitionBuilder;
  };
  /** Whether a driver error is a unique or primary-key violation, so store/ can turn it into a domain error. */
  isUniqueViolation(error: unknown): boolean;
}

export const SQLITE_CAPABILITIES: DialectCapabilities = Object.freeze({
  skipLocked: false,
  // Only the exact type name INTEGER makes the column the rowid; AUTOINCREMENT stops rowid reuse.
  idColumn: Object.freeze({ type: 'integer', define: (col: ColumnDefinitionBuilder) => col.primaryKey().autoIncrement() }),
  isUniqueViolation: (error: unknown) => {
    const code = (error as { code?: unknown } | null)?.code;
    return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
  },
} as const);
