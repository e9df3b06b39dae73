import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { nested, nestedJson, sendRaw } from '../helpers/fuzz-requests.js';
import { type FuzzServer, startFuzzServer, TYPE, V2 } from '../helpers/fuzz-world.js';

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

  it('answers queue_stats for more than 1000 task types with 400, counting a repeated type once', async () => {
    const stats = (taskTypeIds: unknown) =>
      sendRaw(f.w.port, {
        method: 'GET',
        target: `${V2}/queue_stats?format=json`,
        headers: [['Authorization', f.s.admin.auth], ['Content-Type', 'application/json']],
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
});
