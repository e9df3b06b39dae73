import { Migrator, sql, type Kysely, type Migration } from 'kysely';
import type { DialectCapabilities } from '../dialects.js';
import type { SchemaState } from '../store.js';
import { initialSchema } from './0001-initial.js';
import { filesSchema } from './0002-files.js';
import { exAppsSchema } from './0003-exapps.js';
import { partialOutputSchema } from './0004-partial-output.js';
import { claimOrderIndexSchema } from './0005-claim-order-index.js';
import { blobChunksSchema } from './0006-blob-chunks.js';
import { listAndClaimIndexesSchema } from './0007-list-and-claim-indexes.js';
import { preferStreamingSchema } from './0008-prefer-streaming.js';
import { fairDispatchSchema } from './0009-fair-dispatch.js';

/**
 * Every migration, by name; Kysely runs them in name order. Forward-only: a released migration
 * is never edited, a change is a new number.
 */
function migrations(caps: DialectCapabilities): Record<string, Migration> {
  return {
    '0001-initial': initialSchema(caps),
    '0002-files': filesSchema(caps),
    '0003-exapps': exAppsSchema(caps),
    '0004-partial-output': partialOutputSchema(),
    '0005-claim-order-index': claimOrderIndexSchema(),
    '0006-blob-chunks': blobChunksSchema(),
    '0007-list-and-claim-indexes': listAndClaimIndexesSchema(),
    '0008-prefer-streaming': preferStreamingSchema(),
    '0009-fair-dispatch': fairDispatchSchema(),
  };
}

/** Kysely's own bookkeeping table. */
const MIGRATION_TABLE = 'kysely_migration';

/**
 * Applies pending migrations under Kysely's migration lock (a PostgreSQL advisory lock, so nodes
 * starting together migrate once and the others wait; SQLite has one writer). Refuses, before
 * touching anything, a database that has run a migration this code does not know: an older
 * taskproc would misread a newer schema.
 *
 * `schema` names where the tables live when the database has schemas (PostgreSQL): Kysely's
 * introspection lists the tables of every schema, so without it another schema's
 * kysely_migration would count as ours.
 */
export async function migrateToLatest(db: Kysely<any>, caps: DialectCapabilities, schema: string | null): Promise<void> {
  const known = migrations(caps);
  // One connection throughout, so the session settings apply to the lock wait and every migration.
  await db.connection().execute(async (conn) => {
    if (caps.migrationSession !== null) await sql.raw(caps.migrationSession.before).execute(conn);
    try {
      await migrateOn(conn, known, schema);
    } finally {
      if (caps.migrationSession !== null) await sql.raw(caps.migrationSession.after).execute(conn);
    }
  });
}

async function migrateOn(db: Kysely<any>, known: Record<string, Migration>, schema: string | null): Promise<void> {
  await refuseNewerSchema(db, known, schema);
  const migrator = new Migrator({ db, provider: { getMigrations: async () => known }, ...(schema !== null && { migrationTableSchema: schema }) });
  const { error, results } = await migrator.migrateToLatest();
  if (error === undefined) return;
  // A newer node may have migrated between the check above and the lock.
  await refuseNewerSchema(db, known, schema);
  const failed = results?.find((r) => r.status === 'Error')?.migrationName;
  const reason = error instanceof Error ? error.message : String(error);
  throw new Error(failed ? `Migration ${failed} failed: ${reason}` : `Migrating the database failed: ${reason}`, { cause: error });
}

async function refuseNewerSchema(db: Kysely<any>, known: Record<string, Migration>, schema: string | null): Promise<void> {
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  if (!tables.some((t) => t.name === MIGRATION_TABLE && (schema === null || t.schema === schema))) return;
  const from = schema === null ? db : db.withSchema(schema);
  const rows: { name: string }[] = await from.selectFrom(MIGRATION_TABLE).select('name').execute();
  const unknown = rows
    .map((r) => r.name)
    .filter((name) => !Object.hasOwn(known, name))
    .sort();
  const newest = unknown.at(-1);
  if (newest !== undefined) {
    throw new Error(`The database schema (${newest}) is newer than this taskproc; upgrade taskproc`);
  }
}

/** The driver's word for a missing table: PostgreSQL's undefined_table, SQLite's message. */
const isMissingTable = (err: unknown): boolean =>
  (err as { code?: unknown }).code === '42P01' || /^no such table/.test((err as { message?: unknown }).message as string);

/**
 * The migrations recorded in the database against the ones this code knows (Store.schemaState).
 * Reads the migration table by name, without introspection: a missing table is a database that
 * was never migrated (or was emptied), any other error is the database's and is thrown.
 */
export async function schemaState(db: Kysely<any>, caps: DialectCapabilities, schema: string | null): Promise<SchemaState> {
  const from = schema === null ? db : db.withSchema(schema);
  let names: string[];
  try {
    names = (await from.selectFrom(MIGRATION_TABLE).select('name').execute()).map((r: { name: string }) => r.name);
  } catch (err) {
    if (isMissingTable(err)) return 'behind';
    throw err;
  }
  const known = migrations(caps);
  if (names.some((name) => !Object.hasOwn(known, name))) return 'ahead';
  const recorded = new Set(names);
  return Object.keys(known).every((name) => recorded.has(name)) ? 'current' : 'behind';
}
