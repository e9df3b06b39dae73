import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { sql } from 'kysely';
import { openStore } from '../../src/store/open-store.js';
import { openPostgres, parsePostgresUrl } from '../../src/store/postgres.js';
import { createTestSchema, createTestStore, TEST_DATABASE_URL, TEST_DIALECTS, type TestDialect, type TestStore } from '../helpers/store.js';

async function setup(t: TestContext, dialect: TestDialect): Promise<TestStore> {
  const s = await createTestStore(dialect);
  t.after(s.cleanup);
  return s;
}

const ALL = [
  '0001-initial',
  '0002-files',
  '0003-exapps',
  '0004-partial-output',
  '0005-claim-order-index',
  '0006-blob-chunks',
  '0007-list-and-claim-indexes',
  '0008-prefer-streaming',
  '0009-fair-dispatch',
];

async function appliedMigrations(s: TestStore): Promise<string[]> {
  const rows = await s.db.selectFrom(sql<{ name: string }>`kysely_migration`.as('m')).select('m.name').orderBy('m.name').execute();
  return rows.map((r) => r.name);
}

for (const dialect of TEST_DIALECTS) {
  describe(`${dialect}: migrations`, () => {
    it(`${dialect}: migrate creates the tables once and is idempotent across reopening`, async (t) => {
      const s = await setup(t, dialect);
      // PostgreSQL's introspection lists every schema of the test database; ours is the one that counts.
      const tables = (await s.db.introspection.getTables())
        .filter((x) => s.schema === null || x.schema === s.schema)
        .map((x) => x.name)
        .sort();
      assert.deepEqual(tables, ['app_passwords', 'blob_chunks', 'dispatch_parties', 'exapp_providers', 'exapps', 'files', 'settings', 'tasks', 'users']);
      assert.deepEqual(await appliedMigrations(s), ALL);

      await s.store.migrate();
      await s.store.close();
      const again = await s.open();
      await again.migrate();
      await again.migrate();
      assert.deepEqual(await appliedMigrations(s), ALL);
      assert.equal(await again.users.countUsers(), 0);
    });

    it(`${dialect}: migrate refuses a database migrated by a newer taskproc`, async (t) => {
      const s = await setup(t, dialect);
      await s.store.users.createUser({ id: 'alice', displayName: 'Alice', passwordHash: null, isAdmin: false, isGuest: false, enabled: true, createdAt: 1 });
      await s.store.close();
      await sql`insert into kysely_migration (name, timestamp) values ('9999-x', '2030-01-01T00:00:00.000Z')`.execute(s.db);

      const again = await s.open();
      await assert.rejects(again.migrate(), { message: 'The database schema (9999-x) is newer than this taskproc; upgrade taskproc' });
      assert.deepEqual(await appliedMigrations(s), [...ALL, '9999-x']);
      assert.equal((await again.users.getUser('alice'))?.displayName, 'Alice');
    });
  });
}

describe('openStore', () => {
  const tempDir = async (t: TestContext) => {
    const dir = await mkdtemp(join(tmpdir(), 'taskproc-test-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    return dir;
  };

  it('puts the SQLite file at <dataDir>/taskproc.db, creating the directory', async (t) => {
    const dataDir = join(await tempDir(t), 'a', 'b');
    const store = await openStore({ dataDir, databaseUrl: null });
    t.after(() => store.close());
    await store.migrate();
    assert.ok(existsSync(join(dataDir, 'taskproc.db')));
  });

  it('opens a sqlite: URL', async (t) => {
    const dir = await tempDir(t);
    for (const url of [`sqlite:${join(dir, 'one.db')}`, `sqlite://${join(dir, 'sub', 'two.db')}`]) {
      const store = await openStore({ dataDir: join(dir, 'unused'), databaseUrl: url });
      await store.migrate();
      await store.close();
    }
    assert.ok(existsSync(join(dir, 'one.db')));
    assert.ok(existsSync(join(dir, 'sub', 'two.db')));
    assert.ok(!existsSync(join(dir, 'unused')));
  });

  it('refuses a schema name that is not a plain lowercase SQL name', async () => {
    for (const bad of ['Upper', 'semi;colon', 'a b', '1abc', 'x'.repeat(64)]) {
      await assert.rejects(
        openStore({ dataDir: '/nonexistent', databaseUrl: `postgres://postgres@127.0.0.1/test?schema=${encodeURIComponent(bad)}` }),
        /must be a lowercase SQL name/,
      );
    }
  });
});

if (TEST_DIALECTS.includes('postgres')) {
  describe('postgres: openStore', () => {
    // A connection to the test database outside any test schema, for checks across schemas.
    const probe = openPostgres(parsePostgresUrl(TEST_DATABASE_URL), { poolSize: 1 });
    after(() => probe.destroy());

    it('opens a postgres:// or postgresql:// URL, with the tables in the ?schema= schema, created when missing', async (t) => {
      const schema = await createTestSchema();
      t.after(schema.drop);
      for (const scheme of ['postgres', 'postgresql']) {
        const url = new URL(schema.url);
        url.protocol = `${scheme}:`;
        url.searchParams.set('schema', `${schema.name}_${scheme}`);
        t.after(() => sql`drop schema if exists ${sql.id(`${schema.name}_${scheme}`)} cascade`.execute(probe));
        const store = await openStore({ dataDir: '/nonexistent', databaseUrl: url.toString() });
        await store.migrate();
        await store.users.createUser({ id: scheme, displayName: scheme, passwordHash: null, isAdmin: false, isGuest: false, enabled: true, createdAt: 1 });
        await store.close();
        const { rows } = await sql<{ n: string }>`select count(*) as n from ${sql.table(`${schema.name}_${scheme}.users`)}`.execute(probe);
        assert.equal(rows[0]?.n, '1');
      }
    });

    it('fails at open, quickly and saying why, when PostgreSQL does not answer', async () => {
      const started = Date.now();
      // Port 1: nothing listens there, so the connect is refused at once.
      await assert.rejects(
        openStore({ dataDir: '/nonexistent', databaseUrl: 'postgres://postgres@127.0.0.1:1/test' }),
        /^Error: Cannot use the PostgreSQL database: .*ECONNREFUSED/,
      );
      await assert.rejects(
        openStore({ dataDir: '/nonexistent', databaseUrl: `${TEST_DATABASE_URL.replace(/\/[^/?]*$/, '')}/no_such_database_here` }),
        /Cannot use the PostgreSQL database: database "no_such_database_here" does not exist/,
      );
      assert.ok(Date.now() - started < 5000);
    });
  });
}
