import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { CompiledQuery, Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { TASK_STATUS } from '../../src/core/task.js';
import type { Database } from '../../src/store/database.js';
import { POSTGRES_CAPABILITIES } from '../../src/store/dialects.js';
import { createKyselyStore } from '../../src/store/kysely-store.js';
import { migrateToLatest } from '../../src/store/migrations/index.js';
import { openStore } from '../../src/store/open-store.js';
import { openPostgres, parsePostgresUrl } from '../../src/store/postgres.js';
import type { Store } from '../../src/store/store.js';
import { createTestSchema, createTestStore, TEST_DATABASE_URL, TEST_DIALECTS, type TestStore, newTask, T0 } from '../helpers/store.js';

// What only PostgreSQL has: several connections writing at once, a planner that reads statistics,
// and an advisory lock around migrations. The contract suites cover the rest on both databases.

const TEXT = 'core:text2text';
const IMAGE = 'core:text2image';

async function setup(t: TestContext, opts: { poolSize?: number } = {}): Promise<TestStore> {
  const s = await createTestStore('postgres', opts);
  t.after(s.cleanup);
  return s;
}

/**
 * The store's queries on a connection that records them, so EXPLAIN runs the very statement the
 * store sends, with its parameters (a custom plan, as node-postgres' unnamed statements get).
 */
function recordingStore(t: TestContext, s: TestStore): { store: Store; last(): CompiledQuery } {
  const queries: CompiledQuery[] = [];
  const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${s.schema}`, max: 2 });
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    log: (event) => void queries.push(event.query),
  });
  t.after(() => db.destroy());
  return {
    store: createKyselyStore(db, POSTGRES_CAPABILITIES, s.schema),
    last: () => {
      const q = queries.at(-1);
      assert.ok(q, 'no query recorded');
      return q;
    },
  };
}

async function explain(s: TestStore, q: CompiledQuery): Promise<string> {
  const result = await s.db.executeQuery<{ 'QUERY PLAN': string }>(CompiledQuery.raw(`explain ${q.sql}`, [...q.parameters]));
  return result.rows.map((r) => r['QUERY PLAN']).join('\n');
}

/** Runs the statement (it takes effect) and counts the pages it read, hit or not. */
async function pagesRead(s: TestStore, q: CompiledQuery): Promise<number> {
  type Plan = { 'Shared Hit Blocks'?: number; 'Shared Read Blocks'?: number };
  const result = await s.db.executeQuery<{ 'QUERY PLAN': [{ Plan: Plan }] }>(
    CompiledQuery.raw(`explain (analyze, buffers, format json) ${q.sql}`, [...q.parameters]),
  );
  const plan = result.rows[0]?.['QUERY PLAN'][0].Plan;
  assert.ok(plan);
  return (plan['Shared Hit Blocks'] ?? 0) + (plan['Shared Read Blocks'] ?? 0);
}

if (TEST_DIALECTS.includes('postgres')) {
  describe('postgres: claims from several connections', () => {
    it('postgres: 8 concurrent claimers on a pool of 8 take each of 500 tasks exactly once', async (t) => {
      const { store } = await setup(t, { poolSize: 8 });
      await Promise.all(Array.from({ length: 500 }, (_, i) => store.tasks.createTask(newTask({ type: i % 5 === 0 ? IMAGE : TEXT }))));
      const claimed = await Promise.all(
        Array.from({ length: 8 }, async (_, w) => {
          const mine: number[] = [];
          for (;;) {
            const batch = await store.tasks.claimTasks({ types: [TEXT, IMAGE], limit: 7, leaseOwner: `w${w}`, leaseExpiresAt: T0 + 60, now: T0 });
            // SKIP LOCKED may hand back fewer than asked, never more.
            assert.ok(batch.length <= 7, `asked for 7, got ${batch.length}`);
            if (batch.length === 0) return mine;
            mine.push(...batch.map((x) => x.id));
          }
        }),
      );
      const all = claimed.flat();
      assert.equal(all.length, 500);
      assert.equal(new Set(all).size, 500, 'a task was claimed twice');
      assert.ok(claimed.filter((ids) => ids.length > 0).length > 1, 'the claims did not run concurrently');
      assert.deepEqual(await store.tasks.queueStats([]), { scheduled: 0, running: 500 });
    });
  });

  describe('postgres: query plans at 200 000 tasks', () => {
    it('postgres: claims, lists and the sweeper use their indexes after ANALYZE, never a scan of the finished tasks', async (t) => {
      const s = await setup(t);
      // The trap of nextcloud/server#61053: a long history of finished tasks at low ids, the
      // queue at the end. A plan that walks the primary key to find `status = 1 ORDER BY id`
      // reads every finished row first; after ANALYZE the planner believes that is cheap.
      await sql`
        insert into tasks (type, status, user_id, app_id, custom_id, input, output, include_watermark, allow_cleanup, attempts,
                           scheduled_at, ended_at, last_updated)
        select case when g % 4 = 0 then ${IMAGE} else ${TEXT} end, ${sql.lit(TASK_STATUS.SUCCESSFUL)}, 'user' || (g % 500), 'app', '',
               '{"input":"x"}', '{"output":"y"}', 0, 1, 1, ${T0}::bigint + g, ${T0}::bigint + g, ${T0}::bigint + g
        from generate_series(1, 200000) g`.execute(s.db);
      await sql`
        insert into tasks (type, status, user_id, anon_key, app_id, custom_id, input, include_watermark, allow_cleanup, attempts,
                           scheduled_at, last_updated)
        select case g % 3 when 0 then ${IMAGE} when 1 then ${TEXT} else 'other' end, ${sql.lit(TASK_STATUS.SCHEDULED)},
               case when g % 10 = 0 then null else 'user' || (g % 500) end, case when g % 10 = 0 then 'anon' || g end,
               'app', '', '{"input":"x"}', 0, 1, 0, ${T0}::bigint, ${T0}::bigint
        from generate_series(1, 2000) g`.execute(s.db);
      await sql`analyze tasks`.execute(s.db);

      const { store, last } = recordingStore(t, s);
      const plans: Record<string, string> = {};
      const planOf = async (label: string, run: () => Promise<unknown>) => {
        await run();
        plans[label] = await explain(s, last());
        t.diagnostic(`${label}:\n${plans[label]}`);
        return plans[label];
      };
      const lease = { leaseOwner: 'w', leaseExpiresAt: T0 + 60, now: T0 };

      for (const [label, types] of [
        ['claim, one type', [TEXT]],
        ['claim, three types', [TEXT, IMAGE, 'other']],
      ] as const) {
        const plan = await planOf(label, () => store.tasks.claimTasks({ types: [...types], limit: 4, ...lease }));
        assert.doesNotMatch(plan, /Seq Scan/, label);
        assert.doesNotMatch(plan, /tasks_pkey on tasks tasks_1/, `${label}: the candidates walk the primary key`);
        assert.match(plan, /LockRows/, label);
        // Each type's first rows in dispatch order (priority, vtime, id): migration 0009's index.
        assert.match(plan, /Index (Only )?Scan using tasks_dispatch_idx on tasks tasks_1/, label);
        // Run for real: the number of pages read shows a walk over the finished rows, whatever the estimates say.
        const pages = await pagesRead(s, last());
        t.diagnostic(`${label}: ${pages} pages read by one claim`);
        assert.ok(pages < 300, `${label}: one claim read ${pages} pages`);
      }

      const listUser = await planOf('listTasks of a user', () => store.tasks.listTasks({ owner: { userId: 'user7', anonKey: null } }));
      assert.doesNotMatch(listUser, /Seq Scan/);
      assert.match(listUser, /on tasks_user_\w+_idx/);
      const listFiltered = await planOf('listTasks of a user by type and custom id', () =>
        store.tasks.listTasks({ owner: { userId: 'user7', anonKey: null }, type: TEXT, customId: '' }),
      );
      assert.doesNotMatch(listFiltered, /Seq Scan/);
      assert.match(listFiltered, /on tasks_user_\w+_idx/);
      const listAnon = await planOf('listTasks of an anonymous caller', () => store.tasks.listTasks({ owner: { userId: null, anonKey: 'anon10' } }));
      assert.match(listAnon, /using tasks_anon_key_idx/);
      const has = await planOf('hasScheduled', () => store.tasks.hasScheduled([TEXT, IMAGE]));
      assert.match(has, /using tasks_claim(_order)?_idx/);
      const stats = await planOf('queueStats', () => store.tasks.queueStats([TEXT]));
      assert.doesNotMatch(stats, /Seq Scan/);
      assert.match(stats, /tasks_claim(_order)?_idx/);
      assert.match(stats, /tasks_lease_idx/);
      const expire = await planOf('expireLeases', () => store.tasks.expireLeases(T0 + 3600, 3, 'expired'));
      assert.match(expire, /using tasks_lease_idx/);
      const retention = await planOf('deleteTasksUpdatedBefore', () => store.tasks.deleteTasksUpdatedBefore(T0 + 50, 10));
      assert.match(retention, /using tasks_last_updated_idx/);
      assert.doesNotMatch(retention, /Seq Scan/);
    });

    it('postgres: a claim reads as few pages with 200 000 finished tasks and a backlog of another type ahead of the queue as with neither', async (t) => {
      const s = await setup(t);
      const { store, last } = recordingStore(t, s);
      // Pages, not time: what a walk over rows costs does not depend on how busy the machine is.
      const pagesPerClaim = async (types: string[]) => {
        await store.tasks.claimTasks({ types, limit: 1, leaseOwner: 'w', leaseExpiresAt: T0 + 60, now: T0 });
        return pagesRead(s, last());
      };
      const queue = (n: number, type: string) => sql`
        insert into tasks (type, status, user_id, app_id, custom_id, input, include_watermark, allow_cleanup, attempts, scheduled_at, last_updated)
        select ${type}, ${sql.lit(TASK_STATUS.SCHEDULED)}, 'u', 'app', '', '{}', 0, 1, 0, ${T0}::bigint, ${T0}::bigint
        from generate_series(1, ${n}::int) g`;
      await queue(50, TEXT).execute(s.db);
      await queue(50, IMAGE).execute(s.db);
      await sql`analyze tasks`.execute(s.db);
      const before = { one: await pagesPerClaim([TEXT]), two: await pagesPerClaim([TEXT, IMAGE]) };
      // History at low ids, then a backlog of a type nobody claims (an ExApp that is down), then the queue.
      await sql`
        insert into tasks (type, status, user_id, app_id, custom_id, input, include_watermark, allow_cleanup, attempts, scheduled_at, last_updated)
        select ${TEXT}, ${sql.lit(TASK_STATUS.SUCCESSFUL)}, 'u', 'app', '', '{}', 0, 1, 1, ${T0}::bigint, ${T0}::bigint
        from generate_series(1, 200000) g`.execute(s.db);
      await queue(10_000, 'nobody:serves').execute(s.db);
      await queue(50, TEXT).execute(s.db);
      await queue(50, IMAGE).execute(s.db);
      await sql`analyze tasks`.execute(s.db);
      const after = { one: await pagesPerClaim([TEXT]), two: await pagesPerClaim([TEXT, IMAGE]) };
      t.diagnostic(`pages per claim: ${JSON.stringify({ before, after })}`);
      // A walk over the finished rows or the backlog reads thousands of pages; an index probe a few dozen.
      assert.ok(after.one < 100, `a claim of one type read ${after.one} pages`);
      assert.ok(after.two < 100, `a claim of two types read ${after.two} pages`);
    });
  });

  describe('postgres: connections', () => {
    it('postgres: sessions get the schema and time-outs, and keep the time-out after migrating on them', async (t) => {
      const schema = await createTestSchema();
      const db = openPostgres(parsePostgresUrl(schema.url), { poolSize: 1 });
      t.after(async () => {
        await db.destroy();
        await schema.drop();
      });
      const show = async (name: string) => (await sql<Record<string, string>>`show ${sql.raw(name)}`.execute(db)).rows[0]?.[name];
      assert.equal(await show('search_path'), schema.name);
      assert.equal(await show('statement_timeout'), '15s');
      assert.equal(await show('idle_in_transaction_session_timeout'), '1min');
      assert.equal(await show('application_name'), 'taskproc');
      // One connection in the pool: the migrations ran on it, without the time-out, and gave it back.
      await migrateToLatest(db, POSTGRES_CAPABILITIES, schema.name);
      assert.equal(await show('statement_timeout'), '15s');
    });

    it('postgres: an idle connection closed by the server (a restart) crashes nothing; the next query reconnects', async (t) => {
      const { db } = await setup(t);
      // s.db is opened by store/postgres.ts like the store's own pool.
      const pidOf = async () => (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db)).rows[0]?.pid;
      const before = await pidOf();
      const killer = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await killer.connect();
      t.after(() => killer.end());
      await killer.query('select pg_terminate_backend($1)', [before]);
      // Give the pool time to hear of it: without an 'error' listener this would crash the process.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const after = await pidOf();
      assert.ok(after !== undefined && after !== before);
    });
  });

  describe('postgres: migrations', () => {
    it("postgres: a store's introspection sees only its own schema, so another schema dropped meanwhile cannot fail a start", async (t) => {
      const ours = await createTestSchema();
      const other = await createTestSchema();
      const store = await openStore({ dataDir: '/nonexistent', databaseUrl: ours.url });
      const db = openPostgres(parsePostgresUrl(ours.url), { poolSize: 1 });
      const probe = openPostgres(parsePostgresUrl(other.url), { poolSize: 1 });
      t.after(async () => {
        await Promise.allSettled([store.close(), db.destroy(), probe.destroy()]);
        await Promise.allSettled([ours.drop(), other.drop()]);
      });
      await sql`create table ${sql.table(`${other.name}.elsewhere`)} (id serial primary key)`.execute(probe);
      await store.migrate();
      const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
      assert.deepEqual([...new Set(tables.map((x) => x.schema))], [ours.name]);
      assert.ok(tables.some((x) => x.name === 'kysely_migration'));
      // The other schema's table is there to be seen, so an introspector that read every schema would
      // have listed it above. Asked of the catalog for that schema by name: Kysely's own introspector,
      // which reads every schema, failed this test whenever another test file dropped its schema
      // meanwhile (`schema "t_…" does not exist`).
      const { rows: elsewhere } = await sql<{ name: string }>`
        select c.relname as name from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where n.nspname = ${other.name} and c.relkind = 'r'`.execute(db);
      assert.deepEqual(
        elsewhere.map((r) => r.name),
        ['elsewhere'],
      );
      const tasks = tables.find((x) => x.name === 'tasks');
      assert.equal(tasks?.columns.find((c) => c.name === 'id')?.isAutoIncrementing, true);
    });

    it('postgres: two nodes migrating one new schema at once both succeed, and the migrations run once', async (t) => {
      const schema = await createTestSchema();
      const stores = await Promise.all([
        openStore({ dataDir: '/nonexistent', databaseUrl: schema.url }),
        openStore({ dataDir: '/nonexistent', databaseUrl: schema.url }),
      ]);
      t.after(async () => {
        await Promise.allSettled(stores.map((x) => x.close()));
        await schema.drop();
      });
      await Promise.all(stores.map((x) => x.migrate()));
      const probe = new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: schema.url.replace(/\?.*$/, ''), max: 1 }) }) });
      t.after(() => probe.destroy());
      const { rows } = await sql<{ name: string }>`select name from ${sql.table(`${schema.name}.kysely_migration`)} order by name`.execute(probe);
      assert.deepEqual(
        rows.map((r) => r.name),
        [
          '0001-initial',
          '0002-files',
          '0003-exapps',
          '0004-partial-output',
          '0005-claim-order-index',
          '0006-blob-chunks',
          '0007-list-and-claim-indexes',
          '0008-prefer-streaming',
          '0009-fair-dispatch',
        ],
      );
      // Both stores work on the one schema.
      const a = await stores[0].tasks.createTask(newTask());
      assert.equal((await stores[1].tasks.getTask(a.id))?.id, a.id);
    });
  });

  describe('postgres: files under concurrent writers', () => {
    it('postgres: an entry created while its folder is deleted is deleted with it or refused, never left in no folder', async (t) => {
      const { store, db } = await setup(t);
      const content = { storageKey: 'k', size: 1, sha256: 'x', mime: 'text/plain', etag: 'e' };
      let survived = 0;
      for (let i = 0; i < 40; i++) {
        const root = `d${i}`;
        await store.files.createFolder('alice', root, 'e', T0);
        await store.files.createFolder('alice', `${root}/e`, 'e', T0);
        // Either may reach the database first; alternate which one is sent first.
        const create = () => store.files.createFile('alice', `${root}/e/f`, { ...content, storageKey: `k${i}` }, T0);
        const remove = () => store.files.deleteTree('alice', root);
        const [created] = i % 2 === 0 ? await Promise.all([create(), remove()]) : (await Promise.all([remove(), create()])).reverse();
        if (created) survived++;
        const left = await db.selectFrom('files').select('path').where('owner', '=', 'alice').where('path', 'like', `${root}/%`).execute();
        assert.deepEqual(left, [], `entries left under the deleted ${root}`);
      }
      t.diagnostic(`${survived} of 40 creates committed before the delete`);
    });
  });
}
