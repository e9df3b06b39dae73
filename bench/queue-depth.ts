// What one read of the queue depth (taskproc_queue_depth, ops/metrics.ts) costs on a large tasks
// table: `node --import tsx bench/queue-depth.ts [postgres://…?schema=x]` (default: a temporary
// SQLite file). Fills 200 000 tasks of 10 types by copying one scheduled task in SQL, then times
// TaskStore.queueDepth() in two shapes: a normal day (2 000 scheduled, 50 running, the rest
// ended) and a backlog (every task scheduled). Results are in docs/OPERATIONS.md.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { openStore } from '../src/store/open-store.js';

const TOTAL = 200_000;
const TYPES = 10;
const url = process.argv[2] ?? null;
const dir = mkdtempSync(join(tmpdir(), 'taskproc-qd-'));
const store = await openStore({ dataDir: dir, databaseUrl: url });
await store.migrate();
const template = await store.tasks.createTask({
  type: 'core:text2text',
  userId: null,
  anonKey: null,
  appId: 'bench',
  customId: '',
  input: { input: 'x'.repeat(200) },
  webhookUri: null,
  webhookMethod: null,
  includeWatermark: false,
  providerId: 'bench',
  scheduledAt: 0,
  lastUpdated: 0,
  completionExpectedAt: null,
});

/** Runs statements against the same database, outside the store. */
let exec: (sql: string) => Promise<void>;
let close: () => Promise<void>;
if (url === null) {
  const db = new BetterSqlite3(join(dir, 'taskproc.db'));
  exec = async (sql) => void db.exec(sql);
  close = async () => {
    db.close();
  };
} else {
  const u = new URL(url);
  const schema = u.searchParams.get('schema');
  u.searchParams.delete('schema');
  const client = new pg.Client({ connectionString: u.toString() });
  await client.connect();
  if (schema) await client.query(`set search_path = ${schema}`);
  exec = async (sql) => void (await client.query(sql));
  close = () => client.end();
}
const columns = [
  'user_id',
  'anon_key',
  'app_id',
  'custom_id',
  'input',
  'webhook_uri',
  'webhook_method',
  'include_watermark',
  'allow_cleanup',
  'provider_id',
  'attempts',
  'scheduled_at',
  'last_updated',
  'prefer_streaming',
];
const numbers =
  url === null
    ? `with recursive n(i) as (select 1 union all select i + 1 from n where i < ${TOTAL - 1}) select i from n`
    : `select generate_series(1, ${TOTAL - 1}) as i`;
await exec(`insert into tasks (type, status, ${columns.join(', ')})
  select 'bench:type' || (n.i % ${TYPES}), 1, ${columns.map((c) => `t.${c}`).join(', ')}
  from (${numbers}) n, tasks t where t.id = ${template.id}`);
// As autovacuum leaves it: the visibility map set, so counts read the index alone.
if (url !== null) await exec('vacuum analyze tasks');

async function time(label: string): Promise<void> {
  for (let i = 0; i < 5; i++) await store.tasks.queueDepth();
  const runs = 50;
  const started = performance.now();
  let rows = 0;
  for (let i = 0; i < runs; i++) rows = (await store.tasks.queueDepth()).length;
  console.log(`${url === null ? 'sqlite' : 'postgres'} ${label}: ${((performance.now() - started) / runs).toFixed(2)} ms per read (${rows} rows)`);
}

await time(`backlog (${TOTAL} scheduled)`);
// A normal day: all but 2 000 ended, 50 of those running.
await exec(`update tasks set status = 3 where id > (select min(id) from tasks) + 2000`);
await exec(`update tasks set status = 2 where id <= (select min(id) from tasks) + 50`);
if (url !== null) await exec('vacuum analyze tasks');
await time(`normal (${TOTAL} tasks: 2 000 live, 50 of them running)`);
await close();
await store.close();
rmSync(dir, { recursive: true, force: true });
