import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import { buildConfig, ConfigError } from '../../src/config.js';
import { TASK_STATUS } from '../../src/core/task.js';
import type { Database } from '../../src/store/database.js';
import { POSTGRES_CAPABILITIES } from '../../src/store/dialects.js';
import { createKyselyStore } from '../../src/store/kysely-store.js';
import { migrateToLatest } from '../../src/store/migrations/index.js';
import { StatementNames } from '../../src/store/pg-prepared.js';
import { openPostgres, parsePostgresUrl } from '../../src/store/postgres.js';
import type { Store } from '../../src/store/store.js';
import { createTestSchema, TEST_DIALECTS, newTask, T0 } from '../helpers/store.js';

describe('pg-prepared: which statements get a name', () => {
  it('names data statements, the same name for the same text, and never one with a *', () => {
    const names = new StatementNames();
    const read = 'select "id", "type" from "tasks" where "id" = $1';
    const first = names.nameFor(read);
    assert.match(first ?? '', /^taskproc_\d+$/);
    assert.equal(names.nameFor(read), first);
    for (const text of [
      'insert into "tasks" ("type") values ($1) returning "id"',
      'update "tasks" set "status" = $1',
      'delete from "tasks" where "id" = $1',
      'with "c" as (select 1) select "x" from "c"',
    ]) {
      const name = names.nameFor(text);
      assert.ok(name !== null && name !== first, `${text} got ${name}`);
    }
    for (const text of [
      'select * from "tasks" where "id" = $1',
      'update "tasks" set "status" = $1 returning *',
      'select count(*) as "n" from "tasks"',
      'begin',
      'create table "x" ("id" int)',
      'notify "taskproc_tasks"',
      'listen "x"',
    ]) {
      assert.equal(names.nameFor(text), null, text);
    }
  });

  it('stops naming new texts after 500, and keeps the names it gave', () => {
    const names = new StatementNames();
    const given = Array.from({ length: 500 }, (_, i) => names.nameFor(`select "id" from "tasks" where "id" in (${i})`));
    assert.equal(new Set(given).size, 500);
    assert.equal(names.nameFor('select "id" from "tasks" where "id" = 0'), null);
    assert.equal(names.nameFor('select "id" from "tasks" where "id" in (7)'), given[7]);
  });

  it('after giving up, names nothing, not even texts it named before; giving up is news once', () => {
    const names = new StatementNames();
    const text = 'select "id" from "tasks" where "id" = $1';
    assert.notEqual(names.nameFor(text), null);
    assert.equal(names.giveUp(), true);
    assert.equal(names.giveUp(), false);
    assert.equal(names.nameFor(text), null);
  });
});

describe('pg-prepared: the setting', () => {
  it('is on unless TASKPROC_PG_PREPARED_STATEMENTS or --pg-prepared-statements says false; the flag wins', () => {
    assert.equal(buildConfig({}, {}).pgPreparedStatements, true);
    assert.equal(buildConfig({}, { TASKPROC_PG_PREPARED_STATEMENTS: 'false' }).pgPreparedStatements, false);
    assert.equal(buildConfig({ 'pg-prepared-statements': 'true' }, { TASKPROC_PG_PREPARED_STATEMENTS: 'false' }).pgPreparedStatements, true);
    assert.throws(
      () => buildConfig({}, { TASKPROC_PG_PREPARED_STATEMENTS: 'maybe' }),
      (error: unknown) => error instanceof ConfigError && /TASKPROC_PG_PREPARED_STATEMENTS/.test(error.message),
    );
  });
});

if (TEST_DIALECTS.includes('postgres')) {
  /** A store on one connection, and the Kysely it runs on, to ask that very connection what it has prepared. */
  async function oneConnectionStore(
    t: TestContext,
    preparedStatements: boolean,
    onPreparedStatementsLost?: () => void,
  ): Promise<{ store: Store; db: Kysely<Database>; schema: string; url: string }> {
    const schema = await createTestSchema();
    const db = openPostgres(parsePostgresUrl(schema.url), { poolSize: 1, preparedStatements, onPreparedStatementsLost });
    t.after(async () => {
      await db.destroy();
      await schema.drop();
    });
    await migrateToLatest(db, POSTGRES_CAPABILITIES, schema.name);
    return { store: createKyselyStore(db, POSTGRES_CAPABILITIES, schema.name), db, schema: schema.name, url: schema.url };
  }

  /** A task's life through the store: schedule, read, claim, finish, read, list. */
  async function lifeOfATask(store: Store, customId: string): Promise<void> {
    const created = await store.tasks.createTask(newTask({ customId, type: 'core:text2text' }));
    assert.equal((await store.tasks.getTask(created.id))?.customId, customId);
    const [claimed] = await store.tasks.claimTasks({ types: ['core:text2text'], limit: 1, leaseOwner: 'w', leaseExpiresAt: T0 + 60, now: T0 });
    assert.equal(claimed?.id, created.id);
    const finished = await store.tasks.finishTask(created.id, 'w', {
      status: TASK_STATUS.SUCCESSFUL,
      output: { output: `done ${customId}` },
      errorMessage: null,
      userFacingErrorMessage: null,
      progress: 1,
      now: T0 + 1,
    });
    assert.equal(finished?.status, TASK_STATUS.SUCCESSFUL);
    assert.deepEqual((await store.tasks.getTask(created.id))?.output, { output: `done ${customId}` });
    assert.deepEqual(
      (await store.tasks.listTasks({ owner: { userId: 'alice', anonKey: null }, customId })).map((x) => x.id),
      [created.id],
    );
  }

  const preparedOnThisConnection = async (db: Kysely<Database>) =>
    (await sql<{ name: string; statement: string }>`select name, statement from pg_prepared_statements order by name`.execute(db)).rows;

  describe('pg-prepared: PostgreSQL', () => {
    it('postgres: the task statements are prepared once per connection and reused', async (t) => {
      const { store, db } = await oneConnectionStore(t, true);
      await lifeOfATask(store, 'one');
      const after1 = await preparedOnThisConnection(db);
      const ours = after1.filter((r) => r.name.startsWith('taskproc_'));
      for (const verb of ['insert into "tasks"', 'select "id", "type"', 'update "tasks"']) {
        assert.ok(
          ours.some((r) => r.statement.includes(verb)),
          `nothing prepared starting with ${verb}: ${JSON.stringify(ours.map((r) => r.statement.slice(0, 60)))}`,
        );
      }
      assert.ok(ours.every((r) => !r.statement.includes('*')));
      // The same statements again: no new ones, the prepared ones ran.
      await lifeOfATask(store, 'two');
      assert.deepEqual(
        (await preparedOnThisConnection(db)).map((r) => r.name),
        after1.map((r) => r.name),
      );
    });

    it('postgres: with TASKPROC_PG_PREPARED_STATEMENTS off, nothing is prepared', async (t) => {
      const { store, db } = await oneConnectionStore(t, false);
      await lifeOfATask(store, 'one');
      assert.deepEqual(await preparedOnThisConnection(db), []);
    });

    it('postgres: statements the server lost (a pooler in transaction mode) run again unnamed, and names stop, with one warning', async (t) => {
      let warnings = 0;
      const { store, db } = await oneConnectionStore(t, true, () => warnings++);
      await lifeOfATask(store, 'before');
      assert.ok((await preparedOnThisConnection(db)).length > 0);
      // What a pooler does when the next statement lands on another server connection.
      await sql`deallocate all`.execute(db);
      await lifeOfATask(store, 'after');
      await lifeOfATask(store, 'again');
      assert.equal(warnings, 1);
      assert.deepEqual(await preparedOnThisConnection(db), []);
    });

    it('postgres: a name another client already prepared on the connection (a shared pooler connection) also makes names stop, with one warning', async (t) => {
      // Migrated through a pool of its own, so that the store's first names are still unused.
      const { url } = await oneConnectionStore(t, false);
      let warnings = 0;
      const db = openPostgres(parsePostgresUrl(url), { poolSize: 1, preparedStatements: true, onPreparedStatementsLost: () => warnings++ });
      t.after(() => db.destroy());
      const store = createKyselyStore(db, POSTGRES_CAPABILITIES, parsePostgresUrl(url).schema);
      // What another client's Parse leaves on a server connection a pooler hands around.
      await sql`prepare taskproc_1 as select 1`.execute(db);
      await lifeOfATask(store, 'shared');
      await lifeOfATask(store, 'again');
      assert.equal(warnings, 1);
      assert.deepEqual(
        (await preparedOnThisConnection(db)).map((r) => r.name),
        ['taskproc_1'],
      );
    });

    it('postgres: a column added by another node after the statements were prepared breaks nothing', async (t) => {
      const { store, url } = await oneConnectionStore(t, true);
      await lifeOfATask(store, 'before');
      const other = new pg.Client({ connectionString: parsePostgresUrl(url).connectionString, options: `-c search_path=${parsePostgresUrl(url).schema}` });
      await other.connect();
      t.after(() => other.end());
      // The hazard is real: a prepared `select *` fails once the table has another column.
      await other.query({ name: 'star', text: 'select * from tasks where id = $1', values: [1] });
      await other.query('alter table tasks add column added_by_a_newer_node text');
      await assert.rejects(other.query({ name: 'star', text: 'select * from tasks where id = $1', values: [1] }), /cached plan must not change result type/);
      // The store's prepared statements name their columns, so they go on working.
      await lifeOfATask(store, 'after');
    });
  });
}
