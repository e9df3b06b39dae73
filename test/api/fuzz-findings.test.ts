import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sendRaw } from '../helpers/fuzz-exchange.js';
import { nested, nestedJson } from '../helpers/fuzz-routes.js';
import { CUSTOM_TYPE, type FuzzServer, PROVIDER, startFuzzServer, TYPE, V2 } from '../helpers/fuzz-world.js';
import { providerPayload } from '../helpers/http-worker.js';

/**
 * Defects the fuzz test (fuzz.test.ts) found, each pinned through the real server: requests that
 * answered 5xx, or stored something that made later answers fail.
 */
describe('defects the fuzzing found', () => {
  let f: FuzzServer;
  before(async () => {
    f = await startFuzzServer();
  });
  after(() => f.s.close());

  const partial = async (format: 'json' | 'xml') => {
    const r = await f.s.ocs('GET', `/ocs/v2.php/apps/taskproc/api/v1/tasks/${f.w.ids.claimed[0]}/partial`, { auth: f.alice.auth, format });
    assert.equal(r.status, 200, r.text);
    return r;
  };

  it('refuses a partial output nested deeper than 64 levels, so that reading the task never fails', async () => {
    const path = `${V2}/tasks_provider/${f.w.ids.claimed[0]}/stream-result`;
    for (const depth of [65, 509, 100_000]) {
      const r = await f.asWorker(path, { method: 'POST', rawBody: `{"output":{"output":${nestedJson(depth - 1)}}}` });
      assert.equal(r.status, 400);
      assert.deepEqual(((await r.json()) as any).ocs.data, { message: 'Parameter "output" is nested deeper than 64 levels' });
    }
    const accepted = await f.asWorker(path, { method: 'POST', body: { output: { output: nested(63) } } });
    assert.equal(accepted.status, 200);
    assert.deepEqual((await partial('json')).json.ocs.data.partialOutput, { output: nested(63) });
    assert.match((await partial('xml')).text, /<partialOutput>/);
  });

  it('refuses registrations with ids too long to index or a runtime past 2^53 seconds, so scheduling and claiming never fail', async () => {
    const register = async (provider: Record<string, unknown>) => {
      const custom = { ...CUSTOM_TYPE, id: provider.task_type };
      const r = await f.asWorker('/ocs/v2.php/apps/app_api/api/v1/ai_provider/task_processing', {
        method: 'POST',
        body: { provider: providerPayload({ id: PROVIDER, task_type: TYPE, ...provider }), customTaskType: custom },
      });
      assert.equal(r.status, 400);
      return ((await r.json()) as any).ocs.meta.message;
    };
    const long = Array.from({ length: 256 }, (_, i) => String.fromCharCode(97 + ((i * 7) % 26))).join('');
    assert.equal(await register({ id: long, task_type: 'fuzz:long-id' }), '"id" key must be at most 255 characters');
    assert.equal(await register({ id: 'fuzz-long-type', task_type: `t${long}` }), '"task_type" key must be at most 255 characters');
    for (const runtime of [1e308, 2 ** 62, -(2 ** 60)]) {
      assert.equal(
        await register({ id: 'fuzz-slow', task_type: 'fuzz:slow', expected_runtime: runtime }),
        '"expected_runtime" key must be an integer from -9007199254740991 to 9007199254740991',
      );
    }
    const slow = { type: 'fuzz:slow', appId: 'fuzz', input: { input: 'x' } };
    const scheduled = await f.s.ocs('POST', `${V2}/schedule`, { auth: f.alice.auth, body: slow });
    assert.equal(scheduled.status, 412, scheduled.text);
    // The largest runtime allowed fits: its task is scheduled and claimed.
    const fits = await f.asWorker('/ocs/v2.php/apps/app_api/api/v1/ai_provider/task_processing', {
      method: 'POST',
      body: {
        provider: providerPayload({ id: 'fuzz-slow', task_type: 'fuzz:slow', expected_runtime: Number.MAX_SAFE_INTEGER }),
        customTaskType: { ...CUSTOM_TYPE, id: 'fuzz:slow' },
      },
    });
    assert.equal(fits.status, 200, await fits.text());
    const id = await f.schedule(f.alice, 'fuzz:slow', { input: 'x' });
    const claimed = await f.asWorker(`${V2}/tasks_provider/next?providerIds[]=fuzz-slow&taskTypeIds[]=fuzz:slow`);
    assert.equal(claimed.status, 200);
    assert.equal(((await claimed.json()) as any).ocs.data.task.id, id);
  });

  it('answers queue_stats for more than 1000 task types with 400, counting a repeated type once', async () => {
    const stats = (taskTypeIds: unknown) =>
      sendRaw(f.w.port, {
        method: 'GET',
        target: `${V2}/queue_stats?format=json`,
        headers: [
          ['Authorization', f.s.admin.auth],
          ['Content-Type', 'application/json'],
        ],
        body: JSON.stringify({ taskTypeIds }),
      });
    const tooMany = await stats(Array.from({ length: 35_000 }, (_, i) => i.toString(36)));
    assert.equal(tooMany.status, 400);
    assert.deepEqual(JSON.parse(tooMany.body.toString()).ocs.data, { message: 'Parameter "taskTypeIds" must name at most 1000 task types' });
    const repeated = await stats([...Array.from({ length: 999 }, (_, i) => i.toString(36)), ...Array.from({ length: 5000 }, () => TYPE)]);
    assert.equal(repeated.status, 200, repeated.body.toString());
    const all = await stats(null);
    assert.equal(all.status, 200, all.body.toString());
  });

  it('refuses WebDAV paths over 2000 bytes with 400, which PostgreSQL could not index', async () => {
    let path = '/remote.php/webdav';
    let status = 0;
    for (let i = 0; i < 12 && status !== 400; i++) {
      path += `/${createHash('sha256').update(String(i)).digest('hex').repeat(3)}`;
      const r = await fetch(`${f.s.url}${path}`, { method: 'MKCOL', headers: { authorization: f.alice.auth } });
      status = r.status;
      if (status === 400) assert.match(await r.text(), /The path is longer than 2000 bytes/);
      else assert.equal(status, 201);
    }
    assert.equal(status, 400);
  });
});
