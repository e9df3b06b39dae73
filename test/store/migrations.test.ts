import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { sql } from 'kysely';
import { openStore } from '../../src/store/open-store.js';
import { createTestStore, TEST_DIALECTS, type TestDialect, type TestStore } from '../helpers/store.js';

async function setup(t: TestContext, dialect: TestDialect): Promise<TestStore> {
  const s = await createTestStore(dialect);
  t.after(s.cleanup);
  return s;
}

async function appliedMigrations(s: TestStore): Promise<string[]> {
  const rows = await s.db.selectFrom(sql<{ name: string }>`kysely_migration`.as('m')).select('m.name').orderBy('m.name').execute();
  return rows.map((r) => r.name);
}

for (const dialect of TEST_DIALECTS) {
  describe(`${dialect}: migrations`, () => {
    it(`${dialect}: migrate creates the tables once and is idempotent across reopening`, async (t) => {
      const s = await setup(t, dialect);
      const tables = (await s.db.introspection.getTables()).map((x) => x.name).sort();
      assert.deepEqual(tables, ['app_passwords', 'exapp_providers', 'exapps', 'files', 'settings', 'tasks', 'users']);
      assert.deepEqual(await appliedMigrations(s), ['0001-initial', '0002-files', '0003-exapps', '0004-partial-output']);

      await s.store.migrate();
      await s.store.close();
      const again = await s.open();
      await again.migrate();
      await again.migrate();
      assert.deepEqual(await appliedMigrations(s), ['0001-initial', '0002-files', '0003-exapps', '0004-partial-output']);
      assert.equal(await again.users.countUsers(), 0);
    });

    it(`${dialect}: migrate refuses a database migrated by a newer taskproc`, async (t) => {
      const s = await setup(t, dialect);
      await s.store.users.createUser({ id: 'alice', displayName: 'Alice', passwordHash: null, isAdmin: false, isGuest: false, enabled: true, createdAt: 1 });
      await s.store.close();
      await sql`insert into kysely_migration (name, timestamp) values ('0005-x', '2030-01-01T00:00:00.000Z')`.execute(s.db);

      const again = await s.open();
      await assert.rejects(again.migrate(), { message: 'The database schema (0005-x) is newer than this taskproc; upgrade taskproc' });
      assert.deepEqual(await appliedMigrations(s), ['0001-initial', '0002-files', '0003-exapps', '0004-partial-output', '0005-x']);
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

  it('says PostgreSQL is not built yet', async () => {
    for (const databaseUrl of ['postgres://u@localhost/db', 'postgresql://u@localhost/db']) {
      await assert.rejects(openStore({ dataDir: '/nonexistent', databaseUrl }), { message: 'PostgreSQL support is not built yet' });
    }
  });
});
