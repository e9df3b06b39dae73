import type pg from 'pg';

/**
 * Named prepared statements for the statements every request runs.
 *
 * Kysely hands node-postgres unnamed statements, which PostgreSQL parses, analyses and plans on
 * every execution. Given a name, node-postgres sends the Parse once per connection and then only
 * Bind and Execute. Measured here on the insert, result update and read of a task from 16
 * connections: PostgreSQL's CPU per task 353–424 µs unnamed against 194–214 µs named, on a
 * machine where the database shares two cores with the server and its clients (docs/BENCHMARKS.md).
 *
 * What gets a name:
 * - only plain data statements (select, insert, update, delete, with): DDL, transaction control,
 *   LISTEN and NOTIFY run as they are;
 * - never a statement with a `*` in it. A prepared `select *` or `returning *` fails with "cached
 *   plan must not change result type" once a migration by another node adds a column, until the
 *   connection closes; the task queries therefore list their columns (task-queries.ts);
 * - at most MAX_NAMED distinct texts per process (IN lists of varying length make new texts);
 *   later ones run unnamed, so a process cannot grow PostgreSQL's memory without bound.
 *
 * node-postgres keeps, per connection, which names it has parsed (and forgets a name whose Parse
 * failed), so a new connection after a restart of PostgreSQL prepares again on first use.
 * Connection poolers in transaction mode (PgBouncer before 1.21) hand each statement to any
 * server connection, where the name may not exist, or exist already from another client:
 * TASKPROC_PG_PREPARED_STATEMENTS=false. Should PostgreSQL answer either anyway, names are given
 * up for good in this process, the caller is told once (`onLost`), and the statement runs again
 * unnamed: nothing ran the first time, as the name failed before execution.
 */
const MAX_NAMED = 500;
const PREPARABLE = /^\s*(select|insert|update|delete|with)\b/i;
/**
 * What a server connection says when names do not hold on it, both before anything ran: 26000
 * "prepared statement … does not exist" (the Parse went to another connection), 42P05 "prepared
 * statement … already exists" (another client's Parse of the same name reached this one).
 */
const NAMES_DO_NOT_HOLD = new Set(['26000', '42P05']);

export class StatementNames {
  private readonly names = new Map<string, string>();
  private lost = false;

  /** The name for this SQL text, or null when it is to run unnamed. */
  nameFor(text: string): string | null {
    if (this.lost) return null;
    const known = this.names.get(text);
    if (known !== undefined) return known;
    if (this.names.size >= MAX_NAMED || text.includes('*') || !PREPARABLE.test(text)) return null;
    const name = `taskproc_${this.names.size + 1}`;
    this.names.set(text, name);
    return name;
  }

  /** Names no longer hold on this database: every statement runs unnamed from now on. Whether this is news. */
  giveUp(): boolean {
    const news = !this.lost;
    this.lost = true;
    return news;
  }
}

type QueryFn = (config: unknown, values?: unknown, callback?: unknown) => unknown;

/** Makes every connection the pool opens run `client.query(text, values)` as a named statement where `names` allows. */
export function prepareOnConnect(pool: pg.Pool, names: StatementNames, onLost: () => void): void {
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as QueryFn;
    const named: QueryFn = (config, values, callback) => {
      // Kysely's form: SQL text and an array of values, answered by a promise.
      if (typeof config === 'string' && Array.isArray(values) && callback === undefined) {
        const name = names.nameFor(config);
        if (name !== null) {
          return (query({ name, text: config, values }) as Promise<unknown>).catch((error: unknown) => {
            if (!NAMES_DO_NOT_HOLD.has((error as { code?: string }).code ?? '')) throw error;
            if (names.giveUp()) onLost();
            return query(config, values);
          });
        }
      }
      return query(config, values, callback);
    };
    (client as unknown as { query: QueryFn }).query = named;
  });
}
