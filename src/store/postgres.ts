import pg from 'pg';
import {
  type DatabaseIntrospector,
  DEFAULT_MIGRATION_LOCK_TABLE,
  DEFAULT_MIGRATION_TABLE,
  Kysely,
  PostgresDialect,
  PostgresIntrospector,
  sql,
  type DatabaseMetadataOptions,
  type TableMetadata,
} from 'kysely';
import type { Database } from './database.js';
import type { PoolUse } from './store.js';
import { prepareOnConnect, StatementNames } from './pg-prepared.js';

export interface PostgresOptions {
  /** Most connections this process holds at once (TASKPROC_DB_POOL_SIZE). */
  poolSize: number;
  /** Named prepared statements for repeated queries (pg-prepared.ts; TASKPROC_PG_PREPARED_STATEMENTS); default true. */
  preparedStatements?: boolean;
  /** Told once if PostgreSQL loses prepared statements (a pooler in transaction mode): they are off from then on. */
  onPreparedStatementsLost?: () => void;
}

/** A `postgres://` URL taken apart: what node-postgres gets, and the schema the tables live in. */
export interface PostgresTarget {
  /** The URL without our own `schema` parameter. */
  connectionString: string;
  /** From `?schema=`; null: the connection's default (`current_schema()`, usually `public`). */
  schema: string | null;
  /** `options` from the URL, to which the search_path is added. */
  options: string | null;
}

/**
 * Defaults that keep a request from hanging on the database. When PostgreSQL is down or restarts,
 * connects fail at once (refused) and open connections are closed by the server, so requests
 * fail; the time-outs cover the slower ways: an address that drops packets, a pool with every
 * connection busy, a statement stuck behind a lock. Each can be overridden in the URL
 * (`?statement_timeout=…`), which node-postgres lets win over these.
 *
 * No client-side query_timeout on purpose: when it fires, node-postgres gives up on the query but
 * leaves it running on the connection, which then goes back to the pool mid-statement.
 */
const CONNECT_TIMEOUT_MS = 5_000;
const STATEMENT_TIMEOUT_MS = 15_000;
/** A transaction left open by a crashed handler must not keep its row locks for long. */
const IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000;
/** Detects a peer that vanished without closing the connection. */
const KEEPALIVE_DELAY_MS = 10_000;

/** SQL identifiers we put into search_path unquoted: plain lowercase names only. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function parsePostgresUrl(url: string): PostgresTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error('The database URL is not a valid postgres:// URL');
  }
  const schema = parsed.searchParams.get('schema');
  if (schema !== null && !SCHEMA_NAME.test(schema)) {
    throw new Error(`The database URL's schema "${schema}" must be a lowercase SQL name (letters, digits, _; at most 63)`);
  }
  const options = parsed.searchParams.get('options');
  parsed.searchParams.delete('schema');
  parsed.searchParams.delete('options');
  return { connectionString: parsed.toString(), schema, options };
}

/**
 * A Kysely on a node-postgres pool. int8 (bigint) columns stay strings, node-postgres' default:
 * `Database` types them `number | string`, so the compiler makes every reader convert with
 * Number(), and no process-wide type parser changes what other pg users in the process get.
 * Ids and unix seconds stay far below 2^53.
 */
export function openPostgres(target: PostgresTarget, opts: PostgresOptions): Kysely<Database> {
  return openPostgresPool(target, opts).db;
}

/** openPostgres, with the pool's use for metrics (read-only numbers; the pool itself stays inside). */
export function openPostgresPool(target: PostgresTarget, opts: PostgresOptions): { db: Kysely<Database>; poolUse: () => PoolUse } {
  const pool = new pg.Pool({ ...postgresClientConfig(target), max: opts.poolSize });
  let errors = 0;
  // An idle connection that breaks (PostgreSQL restarted) is reported here, and without a
  // listener the process would crash. The pool has already dropped it; the next query connects anew.
  pool.on('error', () => {
    errors++;
  });
  // A connection that breaks while checked out (a query in flight when PostgreSQL restarts) fails
  // that query and also emits 'error' on the client, which the pool only listens to while the
  // client is idle: without this listener that second report would crash the process. The pool
  // discards the broken client when it is released.
  pool.on('connect', (client) =>
    client.on('error', () => {
      errors++;
    }),
  );
  if (opts.preparedStatements ?? true) prepareOnConnect(pool, new StatementNames(), opts.onPreparedStatementsLost ?? (() => {}));
  const db = new Kysely<Database>({ dialect: new SchemaScopedPostgresDialect({ pool }) });
  return { db, poolUse: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, errors }) };
}

/** PostgresDialect whose introspection sees only the connection's schema (see SchemaScopedIntrospector). */
class SchemaScopedPostgresDialect extends PostgresDialect {
  // biome-ignore lint/suspicious/noExplicitAny: Kysely's Dialect interface hands the introspector an untyped Kysely
  override createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new SchemaScopedIntrospector(db);
  }
}

/**
 * Tables of `current_schema()` only (the `?schema=` of the URL, through search_path). Kysely's own
 * introspector reads every schema of the database, calling pg_get_serial_sequence on each table,
 * and fails with 'schema "…" does not exist' when another schema is dropped during the query: a
 * node starting (its migrator asks for the tables) failed because of something in a schema it
 * does not use. Seen with test suites dropping their schemas and with the benchmarks.
 */
class SchemaScopedIntrospector extends PostgresIntrospector {
  // biome-ignore lint/suspicious/noExplicitAny: as PostgresIntrospector's own constructor (it reads catalogs, not our tables)
  constructor(private readonly db: Kysely<any>) {
    super(db);
  }

  override async getTables(options: DatabaseMetadataOptions = { withInternalKyselyTables: false }): Promise<TableMetadata[]> {
    const internal = [DEFAULT_MIGRATION_TABLE, DEFAULT_MIGRATION_LOCK_TABLE];
    const { rows } = await sql<{
      table: string;
      table_type: string;
      schema: string;
      column: string;
      type: string;
      type_schema: string;
      not_null: boolean;
      has_default: boolean;
      serial: string | null;
      comment: string | null;
    }>`
      select c.relname as table, c.relkind as table_type, ns.nspname as schema, a.attname as column,
             typ.typname as type, dtns.nspname as type_schema, a.attnotnull as not_null, a.atthasdef as has_default,
             pg_get_serial_sequence(quote_ident(ns.nspname) || '.' || quote_ident(c.relname), a.attname) as serial,
             col_description(a.attrelid, a.attnum) as comment
      from pg_catalog.pg_attribute a
      join pg_catalog.pg_class c on a.attrelid = c.oid
      join pg_catalog.pg_namespace ns on c.relnamespace = ns.oid
      join pg_catalog.pg_type typ on a.atttypid = typ.oid
      join pg_catalog.pg_namespace dtns on typ.typnamespace = dtns.oid
      where ns.nspname = current_schema() and c.relkind in ('r', 'v', 'p') and a.attnum >= 0 and not a.attisdropped
      order by c.relname, a.attnum`.execute(this.db);
    const tables = new Map<string, TableMetadata & { columns: TableMetadata['columns'][number][] }>();
    for (const r of rows) {
      if (!options.withInternalKyselyTables && internal.includes(r.table)) continue;
      let table = tables.get(r.table);
      if (!table) {
        table = { name: r.table, schema: r.schema, isView: r.table_type === 'v', columns: [] };
        tables.set(r.table, table);
      }
      table.columns.push({
        name: r.column,
        dataType: r.type,
        dataTypeSchema: r.type_schema,
        isNullable: !r.not_null,
        isAutoIncrementing: r.serial !== null,
        hasDefaultValue: r.has_default,
        comment: r.comment ?? undefined,
      });
    }
    return [...tables.values()];
  }
}

/**
 * What every connection of this process is opened with, the pool's and the dedicated LISTEN
 * connection's (store/pg-notify.ts): the same time-outs, and the same search_path, so both see
 * the same schema.
 */
export function postgresClientConfig(target: PostgresTarget): pg.ClientConfig {
  const options = [target.options, target.schema === null ? null : `-c search_path=${target.schema}`].filter((o) => o !== null).join(' ');
  return {
    connectionString: target.connectionString,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_TIMEOUT_MS,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
    application_name: 'taskproc',
    ...(options !== '' && { options }),
  };
}

/** Whether a database URL names PostgreSQL (else SQLite), as openStore decides. */
export const isPostgresUrl = (url: string | null): url is string => url !== null && /^postgres(ql)?:\/\//.test(url);

/**
 * The schema the store's tables live in, asked once at open: it proves the database answers
 * (a wrong URL fails at start, not on the first request), and the migrations need it because
 * Kysely's introspection sees every schema of the database.
 */
export async function currentSchema(db: Kysely<Database>, target: PostgresTarget): Promise<string> {
  const { rows } = await sql<{ name: string | null }>`select current_schema() as name`.execute(db);
  const name = target.schema ?? rows[0]?.name ?? null;
  if (name === null) throw new Error('PostgreSQL: no schema to create the tables in (none of the search_path exists); add ?schema=<name> to the URL');
  return name;
}
