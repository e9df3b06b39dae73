import type BetterSqlite3 from 'better-sqlite3';
import type { CompiledQuery, DatabaseConnection, Driver, QueryResult } from 'kysely';

/**
 * Kysely's driver for better-sqlite3, with group commit.
 *
 * With `synchronous = FULL` every commit is an fsync, and a request that writes one row in its own
 * transaction spends most of its time waiting for the disk. Here a write does not commit on its
 * own: the first write opens a transaction (BEGIN IMMEDIATE), every write of that event-loop turn
 * and the next joins it, and one COMMIT (one fsync) at the end of the second turn (setImmediate
 * twice) makes them all durable. Why two turns: the clients answered by one commit send their next
 * requests over the following turn or two; waiting one turn for them took groups from 6 to 9.5
 * writes on average at 10 concurrent writers, and the bare durable insert from 5 600–7 300 to
 * 9 300–10 900 req/s on this machine (by hand: a copy of bench/lib/insert-floor-server.ts, with 0,
 * 1 and 3 extra turns, autocannon -c 10, 2026-12-04; 3 bought nothing over 1). No caller hears of
 * its write before that COMMIT, so a 200 still means stored:
 * every statement that ran inside the open group, reads included (they may have seen the group's
 * uncommitted rows), settles only after the commit, and is rejected if the commit fails.
 *
 * Kysely transactions become savepoints inside the group; their commit resolves after the group
 * commits. A failed statement rolls back alone (SQLite's statement journal), so one bad insert
 * does not take its neighbours with it; if SQLite rolls back the whole transaction (disk full,
 * I/O error), every member of the group is rejected with the reason.
 *
 * Statements are prepared once and kept (most SQL text repeats: Kysely compiles the same query
 * shapes), which saves SQLite's parse and plan on every request.
 */
export class GroupCommitSqliteDriver implements Driver {
  private readonly shared: GroupCommitConnection;

  constructor(db: BetterSqlite3.Database) {
    this.shared = new GroupCommitConnection(db);
  }

  async init(): Promise<void> {}

  /**
   * Every caller gets its own handle on the one connection at once: statements run synchronously,
   * so callers cannot interleave inside one, and a handle waiting for its group's commit must not
   * keep the next request's statement out of that very group. Only transactions take turns.
   */
  async acquireConnection(): Promise<DatabaseConnection> {
    return new ConnectionHandle(this.shared);
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await this.shared.beginNested(connection as ConnectionHandle);
  }

  async commitTransaction(): Promise<void> {
    await this.shared.commitNested();
  }

  async rollbackTransaction(): Promise<void> {
    this.shared.rollbackNested();
  }

  async releaseConnection(): Promise<void> {}

  async destroy(): Promise<void> {
    this.shared.close();
  }
}

/** One caller's view of the shared connection; statements wait while another caller's transaction is open. */
class ConnectionHandle implements DatabaseConnection {
  constructor(private readonly shared: GroupCommitConnection) {}

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    // The check and the statement must run in one synchronous stretch: an await between them
    // would let another caller's transaction open its savepoint first.
    while (this.shared.inOthersTransaction(this)) await this.shared.transactionEnded();
    return this.shared.executeQuery<R>(compiled);
  }

  // biome-ignore lint/correctness/useYield: it only refuses; Kysely requires the method to be a generator
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    // better-sqlite3 keeps the connection busy while a statement iterates, which would stall
    // every other caller of the one connection; nothing here streams, so nothing may.
    throw new Error('Streaming queries are not supported on SQLite');
  }
}

interface Member {
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** How many distinct SQL texts keep a prepared statement; past it the cache starts over. */
const STATEMENT_CACHE_MAX = 500;

/** SQL that manages transactions or the connection itself: never run inside the group. */
const CONTROL = /^\s*(begin|commit|end|rollback|savepoint|release|pragma|vacuum|attach|detach)\b/i;

class GroupCommitConnection {
  /** Kysely transactions take turns; the holder's handle runs inside the savepoint. */
  private readonly transactions = new TurnLock();
  private transactionOwner: ConnectionHandle | null = null;
  private readonly statements = new Map<string, BetterSqlite3.Statement>();
  /** Callers waiting for the open group's COMMIT; null when no group is open. */
  private members: Member[] | null = null;
  private flushScheduled = false;
  /** Whether the open group has already waited its extra turn. */
  private waitedATurn = false;
  /** Open Kysely transactions (savepoints), innermost last. */
  private readonly savepoints: string[] = [];
  private savepointSeq = 0;

  constructor(private readonly db: BetterSqlite3.Database) {}

  executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    if (CONTROL.test(compiled.sql)) {
      // A pragma or a hand-written BEGIN cannot run inside our transaction: finish the group first.
      this.flush();
      return Promise.resolve(runStatement<R>(this.db.prepare(compiled.sql), compiled.parameters));
    }
    const stmt = this.prepare(compiled.sql);
    // Inside a Kysely transaction its commit is what waits for the group; a read with nothing
    // uncommitted around it has nothing to wait for.
    const waitForGroup = this.savepoints.length === 0 && (this.members !== null || !stmt.readonly);
    if (waitForGroup) this.open();
    let result: QueryResult<R>;
    try {
      result = runStatement<R>(stmt, compiled.parameters);
    } catch (error) {
      this.afterFailure(error);
      return Promise.reject(error);
    }
    return waitForGroup ? this.join().then(() => result) : Promise.resolve(result);
  }

  /** Whether another caller's transaction is open: a statement run now would land inside it. */
  inOthersTransaction(handle: ConnectionHandle): boolean {
    return this.transactionOwner !== null && this.transactionOwner !== handle;
  }

  transactionEnded(): Promise<void> {
    return this.transactions.idle();
  }

  async beginNested(handle: ConnectionHandle): Promise<void> {
    await this.transactions.lock();
    this.transactionOwner = handle;
    try {
      this.open();
    } catch (error) {
      this.endTransaction();
      throw error;
    }
    const name = `kysely_tx_${++this.savepointSeq}`;
    this.db.exec(`SAVEPOINT ${name}`);
    this.savepoints.push(name);
  }

  commitNested(): Promise<void> {
    const name = this.popSavepoint();
    try {
      this.db.exec(`RELEASE ${name}`);
    } catch (error) {
      this.afterFailure(error);
      throw error;
    } finally {
      this.endTransaction();
    }
    // The end-of-turn flush may have come and gone while this transaction was open.
    this.scheduleFlush();
    return this.join();
  }

  rollbackNested(): void {
    // Empty when SQLite already rolled the whole group back (afterFailure cleared it).
    const name = this.savepoints.pop();
    try {
      if (name === undefined || !this.db.inTransaction) return;
      this.db.exec(`ROLLBACK TO ${name}`);
      this.db.exec(`RELEASE ${name}`);
    } finally {
      this.endTransaction();
    }
    // A rolled-back transaction leaves the group as it was; if it was the group's only business,
    // the group still commits (an empty COMMIT) at the end of the turn.
    this.scheduleFlush();
  }

  /** Commits the open group now and settles its members. */
  flush(): void {
    const members = this.members;
    if (members === null) return;
    // A Kysely transaction is between two of its statements (awaiting something): its commit
    // will ask again.
    if (this.savepoints.length > 0) return;
    this.members = null;
    this.waitedATurn = false;
    try {
      if (this.db.inTransaction) this.db.exec('COMMIT');
    } catch (error) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      for (const m of members) m.reject(error);
      return;
    }
    for (const m of members) m.resolve();
  }

  close(): void {
    this.flush();
    this.db.close();
  }

  private open(): void {
    if (this.members === null) this.members = [];
    // IMMEDIATE: take the write lock now, so a second process (the CLI) waits at BEGIN, under
    // busy_timeout, instead of failing at the first write with SQLITE_BUSY.
    if (!this.db.inTransaction) this.db.exec('BEGIN IMMEDIATE');
    this.scheduleFlush();
  }

  private join(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.members === null)
        resolve(); // the group already committed (a CONTROL statement flushed it)
      else this.members.push({ resolve, reject });
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      if (this.members !== null && !this.waitedATurn) {
        this.waitedATurn = true;
        this.scheduleFlush();
      } else this.flush();
    });
  }

  /**
   * After a failed statement: if SQLite rolled back the whole transaction (not only the statement),
   * everything the group did is gone, and its members must hear so.
   */
  private afterFailure(error: unknown): void {
    if (this.db.inTransaction || this.members === null) return;
    const members = this.members;
    this.members = null;
    this.savepoints.length = 0;
    const lost = new Error(`The transaction was rolled back: ${(error as Error).message}`, { cause: error });
    for (const m of members) m.reject(lost);
  }

  private endTransaction(): void {
    this.transactionOwner = null;
    this.transactions.unlock();
  }

  private popSavepoint(): string {
    const name = this.savepoints.pop();
    // afterFailure empties the list when SQLite rolled everything back under a transaction.
    if (name === undefined) throw new Error('The transaction was already rolled back');
    return name;
  }

  private prepare(sql: string): BetterSqlite3.Statement {
    let stmt = this.statements.get(sql);
    if (stmt === undefined) {
      if (this.statements.size >= STATEMENT_CACHE_MAX) this.statements.clear();
      stmt = this.db.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }
}

/**
 * Runs one statement. Statements that return rows go through `.all()`, never `.get()`: see
 * openSqlite for the -wal growth `.get()` causes on INSERT … RETURNING.
 */
function runStatement<R>(stmt: BetterSqlite3.Statement, parameters: readonly unknown[]): QueryResult<R> {
  if (stmt.reader) return { rows: stmt.all(parameters) as R[] };
  const { changes, lastInsertRowid } = stmt.run(parameters);
  return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
}

/** One holder at a time, in arrival order; others can also just wait for the next release. */
class TurnLock {
  private held = false;
  private readonly waiting: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];

  idle(): Promise<void> {
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  lock(): Promise<void> {
    if (!this.held) {
      this.held = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  unlock(): void {
    const idle = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of idle) wake();
    const next = this.waiting.shift();
    if (next) next();
    else this.held = false;
  }
}
