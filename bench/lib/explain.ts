/**
 * Query plans of the real queries at scale. The store's own query code (src/store/task-queries.ts)
 * runs against the seeded database through a Kysely whose driver first asks the database to
 * explain each statement it is given (PostgreSQL: EXPLAIN (ANALYZE, BUFFERS); SQLite: EXPLAIN
 * QUERY PLAN) and then runs it. Everything happens in one transaction that is rolled back, so the
 * database is left as it was. Run with the server stopped.
 */
import {
  CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  Kysely,
  PostgresDialect,
  type QueryResult,
  SqliteDialect,
  type TransactionSettings,
} from 'kysely';
import pg from 'pg';
import { TASK_STATUS } from '../../src/core/task.js';
import type { Database } from '../../src/store/database.js';
import { POSTGRES_CAPABILITIES, SQLITE_CAPABILITIES } from '../../src/store/dialects.js';
import { parsePostgresUrl, postgresClientConfig } from '../../src/store/postgres.js';
import { openSqlite } from '../../src/store/sqlite.js';
import { KyselyTaskStore } from '../../src/store/task-queries.js';
import { RefuseNulTextPlugin } from '../../src/store/value-guards.js';
import { join } from 'node:path';
import { BENCH_APP, BENCH_USER, CLIENT_APP_ID, ECHO_PROVIDER, ECHO_TYPE, type Install, LIST_CUSTOM_ID } from './install.js';
import { INPUT_TEXT } from './seed.js';

type Explainer = (conn: DatabaseConnection, q: CompiledQuery) => Promise<string>;

/** Wraps a driver so that, while `label` is set, every statement is explained before it runs. */
class ExplainingDriver implements Driver {
  private readonly inner = new WeakMap<DatabaseConnection, DatabaseConnection>();
  label: string | null = null;
  readonly plans: { label: string; sql: string; plan: string }[] = [];

  constructor(
    private readonly driver: Driver,
    private readonly explain: Explainer,
  ) {}

  private unwrap(c: DatabaseConnection): DatabaseConnection {
    return this.inner.get(c) ?? c;
  }

  init(): Promise<void> {
    return this.driver.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const conn = await this.driver.acquireConnection();
    const wrapped: DatabaseConnection = {
      executeQuery: async <R>(q: CompiledQuery): Promise<QueryResult<R>> => {
        if (this.label !== null) this.plans.push({ label: this.label, sql: q.sql, plan: await this.explain(conn, q) });
        return conn.executeQuery<R>(q);
      },
      streamQuery: <R>(q: CompiledQuery, chunkSize?: number) => conn.streamQuery<R>(q, chunkSize),
    };
    this.inner.set(wrapped, conn);
    return wrapped;
  }

  beginTransaction(c: DatabaseConnection, s: TransactionSettings): Promise<void> {
    return this.driver.beginTransaction(this.unwrap(c), s);
  }
  commitTransaction(c: DatabaseConnection): Promise<void> {
    return this.driver.commitTransaction(this.unwrap(c));
  }
  rollbackTransaction(c: DatabaseConnection): Promise<void> {
    return this.driver.rollbackTransaction(this.unwrap(c));
  }
  releaseConnection(c: DatabaseConnection): Promise<void> {
    return this.driver.releaseConnection(this.unwrap(c));
  }
  destroy(): Promise<void> {
    return this.driver.destroy();
  }
}

function explainingDialect(dialect: Dialect, explain: Explainer): { dialect: Dialect; driver: () => ExplainingDriver } {
  let made: ExplainingDriver | undefined;
  return {
    dialect: {
      createAdapter: () => dialect.createAdapter(),
      createQueryCompiler: () => dialect.createQueryCompiler(),
      createIntrospector: (db) => dialect.createIntrospector(db),
      createDriver: () => (made = new ExplainingDriver(dialect.createDriver(), explain)),
    },
    driver: () => made as ExplainingDriver,
  };
}

const pgExplain: Explainer = async (conn, q) => {
  const r = await conn.executeQuery<Record<string, string>>(CompiledQuery.raw(`EXPLAIN (ANALYZE, BUFFERS) ${q.sql}`, [...q.parameters]));
  return r.rows.map((row) => row['QUERY PLAN']).join('\n');
};

const sqliteExplain: Explainer = async (conn, q) => {
  const r = await conn.executeQuery<{ id: number; parent: number; detail: string }>(CompiledQuery.raw(`EXPLAIN QUERY PLAN ${q.sql}`, [...q.parameters]));
  const depth = new Map<number, number>([[0, 0]]);
  return r.rows
    .map((row) => {
      const d = (depth.get(row.parent) ?? 0) + 1;
      depth.set(row.id, d);
      return `${'  '.repeat(d - 1)}${row.detail}`;
    })
    .join('\n');
};

class Rollback extends Error {}

export interface Plan {
  label: string;
  sql: string;
  plan: string;
}

/** Plans of the schedule, claim, has_more, result, get and list statements on an installation's database. */
export async function explainQueries(install: Install, benchTaskId: number): Promise<Plan[]> {
  const isPg = install.target.databaseUrl !== null;
  const base: Dialect = isPg
    ? new PostgresDialect({ pool: new pg.Pool({ ...postgresClientConfig(parsePostgresUrl(install.target.databaseUrl as string)), max: 1 }) })
    : // Kysely's stock SQLite dialect on the store's connection settings: the driver does not change the SQL.
      new SqliteDialect({ database: openSqlite(join(install.target.dataDir, 'taskproc.db')) });
  const { dialect, driver } = explainingDialect(base, isPg ? pgExplain : sqliteExplain);
  const db = new Kysely<Database>({ dialect });
  const now = Math.floor(Date.now() / 1000);
  const leaseOwner = `exapp:${BENCH_APP}`;
  try {
    await db
      .transaction()
      .execute(async (trx) => {
        const store = new KyselyTaskStore(trx.withPlugin(new RefuseNulTextPlugin()), isPg ? POSTGRES_CAPABILITIES : SQLITE_CAPABILITIES);
        const d = driver();
        // A queue to claim from, as the claim scenario has it.
        for (let i = 0; i < 100; i++) {
          // The last one explained: a schedule is the party's vtime upsert, then the insert (issue 22).
          if (i === 99) d.label = 'schedule: nextVtime (dispatch_parties upsert), then the insert';
          await store.createTask({
            type: ECHO_TYPE,
            userId: BENCH_USER,
            anonKey: null,
            appId: CLIENT_APP_ID,
            customId: 'explain',
            input: { input: INPUT_TEXT },
            webhookUri: null,
            webhookMethod: null,
            includeWatermark: false,
            providerId: ECHO_PROVIDER,
            scheduledAt: now,
            lastUpdated: now,
            completionExpectedAt: now + 10,
          });
        }
        d.label = 'claim: next_batch, 1 task (UPDATE … WHERE id IN (candidates))';
        const [claimed] = await store.claimTasks({ types: [ECHO_TYPE], limit: 1, leaseOwner, leaseExpiresAt: now + 60, now });
        d.label = 'next_batch has_more: hasScheduled';
        await store.hasScheduled([ECHO_TYPE]);
        d.label = 'result: finishTask';
        if (claimed) {
          await store.finishTask(claimed.id, leaseOwner, {
            status: TASK_STATUS.SUCCESSFUL,
            output: { output: 'done' },
            errorMessage: null,
            userFacingErrorMessage: null,
            progress: 1,
            now,
          });
        }
        d.label = 'get: task by id';
        await store.getTask(benchTaskId);
        d.label = `list: tasks?customId=${LIST_CUSTOM_ID} of the bench user`;
        await store.listTasks({ owner: { userId: BENCH_USER, anonKey: null }, customId: LIST_CUSTOM_ID });
        d.label = null;
        throw new Rollback();
      })
      .catch((err: unknown) => {
        if (!(err instanceof Rollback)) throw err;
      });
    return driver().plans;
  } finally {
    await db.destroy();
  }
}
