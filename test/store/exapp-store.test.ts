import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { DomainError } from '../../src/core/errors.js';
import type { ExApp, ExAppProvider } from '../../src/store/store.js';
import { createTestStore, TEST_DIALECTS, type TestDialect, type TestStore } from '../helpers/store.js';

const T0 = 1_767_225_600; // 2026-01-01T00:00:00Z

function exApp(over: Partial<ExApp> = {}): ExApp {
  return {
    appId: 'llm2',
    version: '1.0.0',
    secretHash: 'a'.repeat(64),
    sealedSecret: null,
    baseUrl: null,
    enabled: true,
    createdAt: T0,
    ...over,
  };
}

function provider(over: Partial<Omit<ExAppProvider, 'id'>> = {}): Omit<ExAppProvider, 'id'> {
  return {
    appId: 'llm2',
    providerId: 'llm2:text2text',
    displayName: 'Local LLM',
    taskType: 'core:text2text',
    provider: { id: 'llm2:text2text', name: 'Local LLM', task_type: 'core:text2text', expected_runtime: 30, input_shape_defaults: {} },
    customTaskType: null,
    registeredAt: T0,
    ...over,
  };
}

async function setup(t: TestContext, dialect: TestDialect, authCacheSeconds?: number): Promise<TestStore> {
  const s = await createTestStore(dialect, { authCacheSeconds });
  t.after(s.cleanup);
  return s;
}

for (const dialect of TEST_DIALECTS) {
  describe(`${dialect}: ExAppStore`, () => {
    it(`${dialect}: getExApp sees at once what this store or another connection changed, and callers get copies`, async (t) => {
      const s = await setup(t, dialect, 0);
      await s.store.exapps.createExApp(exApp());
      assert.equal((await s.store.exapps.getExApp('llm2'))?.enabled, true);
      // Disabled through another connection, as `taskproc app:disable` in its own process does.
      await s.db.updateTable('exapps').set({ enabled: 0 }).where('app_id', '=', 'llm2').execute();
      assert.equal((await s.store.exapps.getExApp('llm2'))?.enabled, false);
      await s.store.exapps.updateExApp('llm2', { enabled: true, version: '9.0.0' });
      const seen = await s.store.exapps.getExApp('llm2');
      assert.deepEqual([seen?.enabled, seen?.version], [true, '9.0.0']);
      (seen as { version: string }).version = 'changed by a caller';
      assert.equal((await s.store.exapps.getExApp('llm2'))?.version, '9.0.0');
      assert.equal(await s.store.exapps.deleteExApp('llm2'), true);
      assert.equal(await s.store.exapps.getExApp('llm2'), undefined);
    });

    it(`${dialect}: createExApp and getExApp round-trip every field`, async (t) => {
      const { store } = await setup(t, dialect);
      const app = exApp({ sealedSecret: 'v1.sealed', baseUrl: 'http://127.0.0.1:9000', createdAt: 4_102_444_800 });
      assert.deepEqual(await store.exapps.createExApp(app), app);
      assert.deepEqual(await store.exapps.getExApp('llm2'), app);
      assert.equal(await store.exapps.getExApp('other'), undefined);
    });

    it(`${dialect}: createExApp refuses a taken app id with a bad_request DomainError`, async (t) => {
      const { store } = await setup(t, dialect);
      await store.exapps.createExApp(exApp());
      await assert.rejects(store.exapps.createExApp(exApp({ version: '2.0.0' })), (err: unknown) => {
        assert.ok(err instanceof DomainError);
        assert.equal(err.code, 'bad_request');
        assert.match(err.message, /llm2/);
        return true;
      });
      assert.equal((await store.exapps.getExApp('llm2'))?.version, '1.0.0');
    });

    it(`${dialect}: listExApps orders by app id`, async (t) => {
      const { store } = await setup(t, dialect);
      for (const appId of ['translate2', 'context_chat', 'llm2']) await store.exapps.createExApp(exApp({ appId }));
      assert.deepEqual(
        (await store.exapps.listExApps()).map((a) => a.appId),
        ['context_chat', 'llm2', 'translate2'],
      );
    });

    it(`${dialect}: updateExApp changes only the given fields; undefined for an unknown app`, async (t) => {
      const { store } = await setup(t, dialect);
      await store.exapps.createExApp(exApp({ baseUrl: 'http://a', sealedSecret: 'v1.x' }));
      const updated = await store.exapps.updateExApp('llm2', { enabled: false, version: '1.1.0' });
      assert.deepEqual(updated, exApp({ baseUrl: 'http://a', sealedSecret: 'v1.x', enabled: false, version: '1.1.0' }));
      const cleared = await store.exapps.updateExApp('llm2', { secretHash: 'b'.repeat(64), sealedSecret: null, baseUrl: null });
      assert.deepEqual(cleared, exApp({ enabled: false, version: '1.1.0', secretHash: 'b'.repeat(64) }));
      assert.deepEqual(await store.exapps.getExApp('llm2'), cleared);
      assert.equal(await store.exapps.updateExApp('nope', { enabled: false }), undefined);
    });

    it(`${dialect}: upsertProvider inserts, then updates the same (app, provider id) row in place`, async (t) => {
      const { store } = await setup(t, dialect);
      await store.exapps.createExApp(exApp());
      const first = await store.exapps.upsertProvider(provider());
      assert.deepEqual(first, { id: first.id, ...provider() });
      const custom = { id: 'llm2:custom', name: 'Custom', description: 'd', input_shape: [], output_shape: [] };
      const second = await store.exapps.upsertProvider(
        provider({ displayName: 'Renamed', taskType: 'llm2:custom', customTaskType: custom, registeredAt: T0 + 5 }),
      );
      assert.equal(second.id, first.id, 'the upsert keeps the row id');
      assert.equal(second.displayName, 'Renamed');
      assert.deepEqual(second.customTaskType, custom);
      assert.deepEqual(await store.exapps.getProvider('llm2', 'llm2:text2text'), second);
      assert.equal((await store.exapps.listProviders()).length, 1);
    });

    it(`${dialect}: the same provider id under two apps is two rows (the API refuses it, not the store)`, async (t) => {
      const { store } = await setup(t, dialect);
      await store.exapps.createExApp(exApp());
      await store.exapps.createExApp(exApp({ appId: 'other' }));
      await store.exapps.upsertProvider(provider());
      await store.exapps.upsertProvider(provider({ appId: 'other' }));
      assert.deepEqual(
        (await store.exapps.listProviders()).map((p) => p.appId),
        ['llm2', 'other'],
      );
      assert.equal(await store.exapps.getProvider('third', 'llm2:text2text'), undefined);
    });

    it(`${dialect}: listProviders is in registration order and keeps payloads as sent`, async (t) => {
      const { store } = await setup(t, dialect);
      await store.exapps.createExApp(exApp());
      const payload = { id: 'p2', name: 'Grüße "q" </x>', nested: { list: [1, 2.5, null], empty: {}, emptyList: [] } };
      await store.exapps.upsertProvider(provider({ providerId: 'p1' }));
      await store.exapps.upsertProvider(provider({ providerId: 'p2', provider: payload }));
      await store.exapps.upsertProvider(provider({ providerId: 'p1', displayName: 'again' }));
      const rows = await store.exapps.listProviders();
      assert.deepEqual(
        rows.map((p) => p.providerId),
        ['p1', 'p2'],
      );
      assert.deepEqual(rows[1]?.provider, payload);
    });

    it(`${dialect}: deleteProvider removes only that app's row`, async (t) => {
      const { store } = await setup(t, dialect);
      await store.exapps.createExApp(exApp());
      await store.exapps.createExApp(exApp({ appId: 'other' }));
      await store.exapps.upsertProvider(provider());
      await store.exapps.upsertProvider(provider({ appId: 'other' }));
      assert.equal(await store.exapps.deleteProvider('llm2', 'llm2:text2text'), true);
      assert.equal(await store.exapps.deleteProvider('llm2', 'llm2:text2text'), false);
      assert.deepEqual(
        (await store.exapps.listProviders()).map((p) => p.appId),
        ['other'],
      );
    });

    it(`${dialect}: deleteExApp removes the app and its providers, and nothing of other apps`, async (t) => {
      const { store } = await setup(t, dialect);
      await store.exapps.createExApp(exApp());
      await store.exapps.createExApp(exApp({ appId: 'other' }));
      await store.exapps.upsertProvider(provider());
      await store.exapps.upsertProvider(provider({ providerId: 'second' }));
      await store.exapps.upsertProvider(provider({ appId: 'other', providerId: 'theirs' }));
      assert.equal(await store.exapps.deleteExApp('llm2'), true);
      assert.equal(await store.exapps.getExApp('llm2'), undefined);
      assert.deepEqual(
        (await store.exapps.listProviders()).map((p) => p.providerId),
        ['theirs'],
      );
      assert.equal(await store.exapps.deleteExApp('llm2'), false);
      // The id is free again, with no providers left over.
      await store.exapps.createExApp(exApp());
      assert.equal(await store.exapps.getProvider('llm2', 'second'), undefined);
    });
  });
}
