/**
 * One taskproc installation for the bench: a fresh data directory and, on PostgreSQL, a fresh
 * schema in the test database; migrated, with a user, an app password and an ExApp made through
 * the admin CLI as an administrator would, then optionally seeded with many tasks.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { providerPayload } from '../../test/helpers/http-worker.js';
import { Http, appApiHeaders } from './http.js';
import type { Dialect } from './options.js';
import { type SeedResult, type SeedSpec, seedPostgres, seedSqlite } from './seed.js';
import { type Target, cli, lastLine } from './server.js';

export const BENCH_USER = 'bench';
export const BENCH_APP = 'benchapp';
/** The task type the worker scenarios (pipeline, pickup, claim) use, served by the bench ExApp. */
export const ECHO_TYPE = 'bench:echo';
export const ECHO_PROVIDER = 'bench:echo-provider';
/** A second type, for the schedule scenario: its tasks stay queued and never reach the workers. */
export const SCHED_TYPE = 'bench:sched';
export const SCHED_PROVIDER = 'bench:sched-provider';
export const CLIENT_APP_ID = 'bench';
export const LIST_CUSTOM_ID = 'bench-list';
export const LIST_MATCHES = 10;

export interface Install {
  dialect: Dialect;
  label: string;
  target: Target;
  /** The bench user's app password (Basic auth). */
  token: string;
  appSecret: string;
  seed: SeedResult | null;
  drop(): Promise<void>;
}

async function adminQuery(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Creates a fresh schema `bench_<label>_<random>` in the PostgreSQL database; returns its name. */
export async function createSchema(postgresUrl: string, label: string): Promise<string> {
  const name = `bench_${label}_${randomBytes(4).toString('hex')}`;
  await adminQuery(postgresUrl, `CREATE SCHEMA ${name}`);
  return name;
}

export const dropSchema = (postgresUrl: string, name: string): Promise<void> => adminQuery(postgresUrl, `DROP SCHEMA IF EXISTS ${name} CASCADE`);

/** Creates, migrates and (when `seed` is given) seeds an installation. */
export async function createInstall(
  dialect: Dialect,
  label: string,
  postgresUrl: string,
  seed?: Omit<SeedSpec, 'benchUser' | 'benchType' | 'benchProvider' | 'appId' | 'listCustomId' | 'listMatches'>,
): Promise<Install> {
  const dataDir = mkdtempSync(join(tmpdir(), `taskproc-bench-${label}-`));
  let schema: string | null = null;
  let databaseUrl: string | null = null;
  if (dialect === 'postgres') {
    schema = await createSchema(postgresUrl, label);
    databaseUrl = `${postgresUrl}${postgresUrl.includes('?') ? '&' : '?'}schema=${schema}`;
  }
  const drop = async () => {
    rmSync(dataDir, { recursive: true, force: true });
    if (schema !== null) await dropSchema(postgresUrl, schema);
  };
  try {
    const target: Target = { dataDir, databaseUrl };
    await cli(target, ['migrate']);
    await cli(target, ['user:add', BENCH_USER, '--display-name', 'Bench user']);
    const token = lastLine(await cli(target, ['user:app-password', BENCH_USER, '--name', 'bench']));
    const appSecret = randomBytes(32).toString('hex');
    await cli(target, ['app:register', BENCH_APP, '--secret-from-env'], { TASKPROC_APP_SECRET: appSecret });
    // 20 schedules per 120 s per user is upstream's limit; a load test is not a user.
    await cli(target, ['config:set', 'ratelimit_enabled', 'false']);
    let seeded: SeedResult | null = null;
    if (seed) {
      const spec: SeedSpec = {
        ...seed,
        benchUser: BENCH_USER,
        benchType: ECHO_TYPE,
        benchProvider: ECHO_PROVIDER,
        appId: CLIENT_APP_ID,
        listCustomId: LIST_CUSTOM_ID,
        listMatches: LIST_MATCHES,
      };
      seeded = schema === null ? seedSqlite(join(dataDir, 'taskproc.db'), spec) : await seedPostgres(postgresUrl, schema, spec);
    }
    return { dialect, label, target, token, appSecret, seed: seeded, drop };
  } catch (err) {
    await drop();
    throw err;
  }
}

const textSlot = (name: string, description: string) => ({ name, description, shape_type: 1 });

/**
 * Registers the bench ExApp's two providers, each with its own custom task type (text in, text
 * out), through AppAPI's registration route, as nc_py_api does when an ExApp starts.
 */
export async function registerProviders(url: string, appSecret: string): Promise<void> {
  const http = new Http(url, appApiHeaders(BENCH_APP, appSecret), 1);
  try {
    for (const [type, provider] of [
      [ECHO_TYPE, ECHO_PROVIDER],
      [SCHED_TYPE, SCHED_PROVIDER],
    ] as const) {
      const body = {
        provider: providerPayload({ id: provider, name: `Bench ${type}`, task_type: type, expected_runtime: 10 }),
        customTaskType: {
          id: type,
          name: `Bench ${type}`,
          description: 'Text in, text out (benchmark)',
          input_shape: [textSlot('input', 'The text')],
          output_shape: [textSlot('output', 'The text')],
        },
      };
      const r = await http.ok('POST', '/ocs/v1.php/apps/app_api/api/v1/ai_provider/task_processing?format=json', JSON.stringify(body));
      // v1 answers 200 whatever happened; the outcome is in the envelope.
      const meta = JSON.parse(r.body.toString('utf8')).ocs?.meta;
      if (meta?.statuscode !== 100) throw new Error(`registering ${provider} failed: ${r.body.toString('utf8').slice(0, 300)}`);
    }
  } finally {
    http.close();
  }
}
