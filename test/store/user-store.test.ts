import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { DomainError } from '../../src/core/errors.js';
import { TASK_STATUS, type NewTask } from '../../src/core/task.js';
import type { User } from '../../src/store/store.js';
import { createTestStore, TEST_DIALECTS, type TestDialect, type TestStore } from '../helpers/store.js';

const T0 = 1_767_225_600;

function newUser(id: string, over: Partial<Omit<User, 'authEpoch'>> = {}): Omit<User, 'authEpoch'> {
  return {
    id,
    displayName: `User ${id}`,
    passwordHash: '$argon2id$hash',
    isAdmin: false,
    isGuest: false,
    enabled: true,
    createdAt: T0,
    quotaBytes: null,
    ...over,
  };
}

function taskFor(userId: string | null): NewTask {
  return {
    type: 'core:text2text',
    userId,
    anonKey: null,
    appId: 'assistant',
    customId: '',
    input: { input: 'hi' },
    webhookUri: null,
    webhookMethod: null,
    includeWatermark: true,
    providerId: null,
    scheduledAt: T0,
    lastUpdated: T0,
    completionExpectedAt: null,
  };
}

async function setup(t: TestContext, dialect: TestDialect, authCacheSeconds?: number): Promise<TestStore> {
  const s = await createTestStore(dialect, { authCacheSeconds });
  t.after(s.cleanup);
  return s;
}

for (const dialect of TEST_DIALECTS) {
  describe(`${dialect}: UserStore`, () => {
    it(`${dialect}: getUser sees at once what this store, another connection or another process changed`, async (t) => {
      // On PostgreSQL "at once" for other connections needs authCacheSeconds 0; the bounded cache is tested below.
      const s = await setup(t, dialect, 0);
      await s.store.users.createUser(newUser('u1'));
      assert.equal((await s.store.users.getUser('u1'))?.enabled, true);
      assert.equal((await s.store.users.getUser('u1'))?.enabled, true); // asked again: the same answer
      // Through another connection, as the admin CLI in its own process would.
      await s.db.updateTable('users').set({ enabled: 0, auth_epoch: 7 }).where('id', '=', 'u1').execute();
      assert.deepEqual([(await s.store.users.getUser('u1'))?.enabled, (await s.store.users.getUser('u1'))?.authEpoch], [false, 7]);
      // Through this store: the new row, not a remembered one.
      await s.store.users.updateUser('u1', { enabled: true, displayName: 'Renamed' });
      const after = await s.store.users.getUser('u1');
      assert.deepEqual([after?.enabled, after?.displayName, after?.authEpoch], [true, 'Renamed', 8]);
      // A second store on the same database (another node, or the CLI) deletes the user.
      const other = await s.open();
      assert.equal(await other.users.deleteUser('u1'), true);
      assert.equal(await s.store.users.getUser('u1'), undefined);
      // What a caller changes on its copy does not leak into the next answer.
      await s.store.users.createUser(newUser('u2'));
      const copy = (await s.store.users.getUser('u2')) as User;
      copy.enabled = false;
      assert.equal((await s.store.users.getUser('u2'))?.enabled, true);
    });

    if (dialect === 'postgres') {
      it('postgres: with authCacheSeconds, changes through this store show at once, through another connection within that time', async (t) => {
        const s = await setup(t, dialect, 1);
        await s.store.users.createUser(newUser('u1'));
        assert.equal((await s.store.users.getUser('u1'))?.enabled, true);
        await s.store.users.updateUser('u1', { enabled: false });
        assert.equal((await s.store.users.getUser('u1'))?.enabled, false, 'this store: at once');
        await s.store.users.updateUser('u1', { enabled: true });
        assert.equal((await s.store.users.getUser('u1'))?.enabled, true);
        const changedAt = Date.now();
        await s.db.updateTable('users').set({ enabled: 0 }).where('id', '=', 'u1').execute();
        while ((await s.store.users.getUser('u1'))?.enabled !== false) {
          assert.ok(Date.now() - changedAt < 1500, 'another connection: within the second');
          await new Promise((r) => setTimeout(r, 20));
        }
      });
    }

    it(`${dialect}: createUser and getUser round-trip every field`, async (t) => {
      const { store } = await setup(t, dialect);
      const input = newUser('Ädmin@example.com', {
        displayName: 'Änne',
        passwordHash: null,
        isAdmin: true,
        isGuest: true,
        enabled: false,
        createdAt: 4_102_444_800,
      });
      const created = await store.users.createUser(input);
      assert.deepEqual(created, { ...input, authEpoch: 0 });
      assert.deepEqual(await store.users.getUser(input.id), created);
      assert.equal(await store.users.getUser('ädmin@example.com'), undefined);
      assert.equal(await store.users.getUser('nobody'), undefined);
      // A login name from a Basic header may hold anything; no user id holds a NUL.
      assert.equal(await store.users.getUser('Ädmin@example.com\0'), undefined);
      await assert.rejects(store.users.createUser(newUser('x\0y')), { code: 'bad_request' });
    });

    it(`${dialect}: createUser refuses a taken id with a bad_request DomainError`, async (t) => {
      const { store } = await setup(t, dialect);
      await store.users.createUser(newUser('alice'));
      await assert.rejects(store.users.createUser(newUser('alice', { displayName: 'Other' })), (error: unknown) => {
        assert.ok(error instanceof DomainError);
        assert.equal(error.code, 'bad_request');
        assert.equal(error.message, 'User "alice" already exists');
        return true;
      });
      assert.equal((await store.users.getUser('alice'))?.displayName, 'User alice');
    });

    it(`${dialect}: listUsers and countUsers`, async (t) => {
      const { store } = await setup(t, dialect);
      assert.equal(await store.users.countUsers(), 0);
      assert.deepEqual(await store.users.listUsers(), []);
      for (const id of ['carol', 'alice', 'bob']) await store.users.createUser(newUser(id));
      assert.equal(await store.users.countUsers(), 3);
      assert.deepEqual(
        (await store.users.listUsers()).map((u) => u.id),
        ['alice', 'bob', 'carol'],
      );
      // Code-unit order on every database, whatever PostgreSQL's collation says.
      for (const id of ['Zed', 'émile', '_x']) await store.users.createUser(newUser(id));
      assert.deepEqual(
        (await store.users.listUsers()).map((u) => u.id),
        ['Zed', '_x', 'alice', 'bob', 'carol', 'émile'],
      );
    });

    it(`${dialect}: updateUser applies only the given changes and bumps authEpoch`, async (t) => {
      const { store } = await setup(t, dialect);
      const alice = await store.users.createUser(newUser('alice'));
      const renamed = await store.users.updateUser('alice', { displayName: 'Alice A.' });
      assert.deepEqual(renamed, { ...alice, displayName: 'Alice A.', authEpoch: 1 });
      const changed = await store.users.updateUser('alice', { passwordHash: null, isAdmin: true, isGuest: true, enabled: false });
      assert.deepEqual(changed, { ...alice, displayName: 'Alice A.', passwordHash: null, isAdmin: true, isGuest: true, enabled: false, authEpoch: 2 });
      assert.deepEqual(await store.users.getUser('alice'), changed);
      assert.equal((await store.users.updateUser('alice', {}))?.authEpoch, 3);
      assert.equal(await store.users.updateUser('nobody', { displayName: 'x' }), undefined);
    });

    it(`${dialect}: deleteUser removes the user with its app passwords and tasks, and nobody else's`, async (t) => {
      const { store } = await setup(t, dialect);
      await store.users.createUser(newUser('alice'));
      await store.users.createUser(newUser('bob'));
      const alicePassword = await store.users.createAppPassword({ userId: 'alice', tokenHash: 'h-alice', name: 'phone', createdAt: T0 });
      await store.users.createAppPassword({ userId: 'bob', tokenHash: 'h-bob', name: 'phone', createdAt: T0 });
      const aliceTask = await store.tasks.createTask(taskFor('alice'));
      const bobTask = await store.tasks.createTask(taskFor('bob'));
      const ownerless = await store.tasks.createTask(taskFor(null));

      assert.equal(await store.users.deleteUser('alice'), true);
      assert.equal(await store.users.getUser('alice'), undefined);
      assert.equal(await store.users.findAppPassword(alicePassword.tokenHash), undefined);
      assert.deepEqual(await store.users.listAppPasswords('alice'), []);
      assert.equal(await store.tasks.getTask(aliceTask.id), undefined);

      assert.ok(await store.users.getUser('bob'));
      assert.ok(await store.users.findAppPassword('h-bob'));
      assert.equal((await store.tasks.getTask(bobTask.id))?.status, TASK_STATUS.SCHEDULED);
      assert.ok(await store.tasks.getTask(ownerless.id));
      assert.equal(await store.users.deleteUser('alice'), false);
    });

    it(`${dialect}: app passwords are created, found by token hash, listed and touched`, async (t) => {
      const { store } = await setup(t, dialect);
      await store.users.createUser(newUser('alice'));
      const first = await store.users.createAppPassword({ userId: 'alice', tokenHash: 'a'.repeat(64), name: 'Phone', createdAt: T0 });
      const second = await store.users.createAppPassword({ userId: 'alice', tokenHash: 'b'.repeat(64), name: 'Laptop', createdAt: T0 + 1 });
      assert.deepEqual(first, { id: first.id, userId: 'alice', tokenHash: 'a'.repeat(64), name: 'Phone', createdAt: T0, lastUsedAt: null });
      assert.ok(second.id > first.id);
      assert.deepEqual(await store.users.findAppPassword('b'.repeat(64)), second);
      assert.equal(await store.users.findAppPassword('c'.repeat(64)), undefined);
      assert.deepEqual(await store.users.listAppPasswords('alice'), [first, second]);
      assert.deepEqual(await store.users.listAppPasswords('bob'), []);

      await store.users.touchAppPassword(first.id, T0 + 50);
      assert.deepEqual(await store.users.findAppPassword(first.tokenHash), { ...first, lastUsedAt: T0 + 50 });
      assert.equal((await store.users.getUser('alice'))?.authEpoch, 0, 'using a password is not a credential change');
    });

    it(`${dialect}: revokeAppPasswords removes one or all of a user's and bumps authEpoch`, async (t) => {
      const { store } = await setup(t, dialect);
      await store.users.createUser(newUser('alice'));
      await store.users.createUser(newUser('bob'));
      const p1 = await store.users.createAppPassword({ userId: 'alice', tokenHash: 'h1', name: 'one', createdAt: T0 });
      const p2 = await store.users.createAppPassword({ userId: 'alice', tokenHash: 'h2', name: 'two', createdAt: T0 });
      const p3 = await store.users.createAppPassword({ userId: 'alice', tokenHash: 'h3', name: 'three', createdAt: T0 });
      const bobs = await store.users.createAppPassword({ userId: 'bob', tokenHash: 'hb', name: 'bob', createdAt: T0 });

      assert.equal(await store.users.revokeAppPasswords('alice', bobs.id), 0, "another user's password is out of reach");
      assert.equal((await store.users.getUser('alice'))?.authEpoch, 0);
      assert.equal(await store.users.revokeAppPasswords('alice', p2.id), 1);
      assert.deepEqual(await store.users.listAppPasswords('alice'), [p1, p3]);
      assert.equal((await store.users.getUser('alice'))?.authEpoch, 1);
      assert.equal(await store.users.revokeAppPasswords('alice'), 2);
      assert.deepEqual(await store.users.listAppPasswords('alice'), []);
      assert.equal((await store.users.getUser('alice'))?.authEpoch, 2);
      assert.deepEqual(await store.users.listAppPasswords('bob'), [bobs]);
      assert.equal((await store.users.getUser('bob'))?.authEpoch, 0);
    });

    it(`${dialect}: an app password's token hash is unique`, async (t) => {
      const { store } = await setup(t, dialect);
      await store.users.createUser(newUser('alice'));
      await store.users.createAppPassword({ userId: 'alice', tokenHash: 'same', name: 'one', createdAt: T0 });
      await assert.rejects(store.users.createAppPassword({ userId: 'alice', tokenHash: 'same', name: 'two', createdAt: T0 }));
    });
  });

  describe(`${dialect}: SettingsStore`, () => {
    it(`${dialect}: settings keep JSON values by key`, async (t) => {
      const { store } = await setup(t, dialect);
      assert.equal(await store.settings.getSetting('missing'), undefined);
      assert.deepEqual(await store.settings.allSettings(), {});
      const preferred = { 'core:text2text': 'provider-1', 'core:text2image': 'img' };
      await store.settings.setSetting('preferred_providers', preferred);
      await store.settings.setSetting('anonymous_access', false);
      await store.settings.setSetting('retention_seconds', 16_070_400);
      await store.settings.setSetting('nothing', null);
      assert.deepEqual(await store.settings.getSetting('preferred_providers'), preferred);
      assert.equal(await store.settings.getSetting('anonymous_access'), false);
      assert.equal(await store.settings.getSetting('nothing'), null);

      await store.settings.setSetting('retention_seconds', 60);
      assert.equal(await store.settings.getSetting<number>('retention_seconds'), 60);
      await store.settings.deleteSetting('anonymous_access');
      await store.settings.deleteSetting('never-set');
      assert.deepEqual(await store.settings.allSettings(), { nothing: null, preferred_providers: preferred, retention_seconds: 60 });

      await store.settings.setSetting('nothing', undefined);
      assert.equal(await store.settings.getSetting('nothing'), undefined);
    });
  });
}
