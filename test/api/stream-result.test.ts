import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expireLeases } from '../../src/workers/maintenance.js';
import { ManualClock } from '../helpers/clock.js';
import { type HttpWorker, providerPayload } from '../helpers/http-worker.js';
import { assertMatchesSpec } from '../helpers/openapi.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';
import { at, parseXml, type XmlElement } from '../helpers/xml.js';

const V2 = '/ocs/v2.php/taskprocessing';
const V1 = '/ocs/v1.php/taskprocessing';
const TYPE = 'core:text2text';
const PROVIDER = 'streamer';
// expected_runtime 10 s: the lease is max(4 × 10, 60) = 60 s (workers/leases.ts).
const LEASE_MS = 60_000;

/**
 * `POST tasks_provider/{taskId}/stream-result`, upstream's setIntermediateResult (PR #60500) and
 * llm2's stream-result in one: what a worker streams is the task's `output` while it runs, the
 * result replaces it, and the partial route keeps the latest chunk.
 */
describe('POST /ocs/v{1,2}.php/taskprocessing/tasks_provider/{taskId}/stream-result', () => {
  const clock = new ManualClock(Date.UTC(2026, 5, 1));
  let s: TestServer;
  let alice: TestUser;
  let worker: HttpWorker;
  let intruder: HttpWorker;

  const exApp = (appId: string): Promise<HttpWorker> => s.addExApp(appId);
  const schedule = async (appId = 'streaming'): Promise<number> => {
    const r = await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body: { type: TYPE, appId, input: { input: 'hello' }, preferStreaming: true } });
    assert.equal(r.status, 200, r.text);
    return r.json.ocs.data.task.id;
  };
  const claim = async (id: number) => {
    const r = await worker.next([PROVIDER], [TYPE]);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.ocs.data.task.id, id);
    assert.equal(r.json.ocs.data.task.output, null);
  };
  /** A worker's call, on v1 or v2, checked against upstream's OpenAPI when it succeeds. */
  const stream = async (w: HttpWorker, base: string, id: number, body: unknown) => {
    const path = `${base}/tasks_provider/${id}/stream-result`;
    const r = await w.request('POST', path, { json: body });
    if (r.status === 200 && r.json.ocs.meta.statuscode < 300) assertMatchesSpec('POST', path, 200, r.json);
    return r;
  };
  const userTask = async (id: number, base = V2) => (await s.ocs('GET', `${base}/task/${id}`, { auth: alice.auth })).json.ocs.data.task;
  const partial = async (id: number) =>
    (await s.ocs('GET', `/ocs/v2.php/apps/taskproc/api/v1/tasks/${id}/partial`, { auth: alice.auth })).json.ocs.data.partialOutput;
  const xmlTask = async (id: number, base: string): Promise<XmlElement> =>
    at(parseXml((await s.ocs('GET', `${base}/task/${id}`, { auth: alice.auth, format: 'xml' })).text), 'data', 'task');

  before(async () => {
    s = await startServer({ clock, leaseIntervalMs: 3_600_000, config: { runnerConcurrency: 0 } });
    alice = await s.addUser('alice');
    await s.app.settings.set('rateLimitEnabled', false);
    worker = await exApp('streamer-app');
    intruder = await exApp('intruder');
    const r = await worker.register(providerPayload({ id: PROVIDER, task_type: TYPE, expected_runtime: 10 }));
    assert.equal(r.status, 200, r.text);
  });
  after(async () => {
    worker.close();
    intruder.close();
    await s.close();
  });

  for (const base of [V1, V2]) {
    it(`${base}: shows the latest chunk as the running task's output (GET task, lists, XML), then the result replaces it`, async () => {
      const id = await schedule(`app-${base.slice(5, 7)}`);
      await claim(id);
      const first = await stream(worker, base, id, { taskId: id, output: { output: 'HEL' } });
      assert.equal(first.status, 200, first.text);
      assert.deepEqual(first.json.ocs.data.task.output, { output: 'HEL' });
      const second = await stream(worker, base, id, { output: { output: 'HELLO', extra: ['not', 'validated'] } });
      assert.equal(second.json.ocs.data.task.status, 'STATUS_RUNNING');
      assert.equal(second.json.ocs.data.task.progress, null, 'no progress is implied');

      for (const b of [V1, V2]) {
        const task = await userTask(id, b);
        assert.equal(task.status, 'STATUS_RUNNING');
        assert.deepEqual(task.output, { output: 'HELLO', extra: ['not', 'validated'] });
        const xml = await xmlTask(id, b);
        assert.equal(at(xml, 'output', 'output').text, 'HELLO');
        const listed = (await s.ocs('GET', `${b}/tasks/app/app-${base.slice(5, 7)}`, { auth: alice.auth })).json.ocs.data.tasks;
        assert.deepEqual(
          listed.map((t: any) => t.output),
          [{ output: 'HELLO', extra: ['not', 'validated'] }],
        );
      }
      assert.deepEqual(await partial(id), { output: 'HELLO', extra: ['not', 'validated'] });

      const done = await worker.result(id, { output: 'HELLO WORLD' });
      assert.equal(done.status, 200, done.text);
      const task = await userTask(id, base);
      assert.equal(task.status, 'STATUS_SUCCESSFUL');
      assert.deepEqual(task.output, { output: 'HELLO WORLD' });
      assert.equal(at(await xmlTask(id, base), 'output', 'output').text, 'HELLO WORLD');
      // The extension route still shows what was streamed last.
      assert.deepEqual(await partial(id), { output: 'HELLO', extra: ['not', 'validated'] });
    });

    it(`${base}: answers a task that is not running with the task, unchanged (scheduled, finished, cancelled)`, async () => {
      const scheduled = await schedule();
      const r = await stream(worker, base, scheduled, { output: { output: 'too early' } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.ocs.meta.statuscode, base === V1 ? 100 : 200);
      assert.equal(r.json.ocs.data.task.status, 'STATUS_SCHEDULED');
      assert.equal(r.json.ocs.data.task.output, null);
      assert.equal((await userTask(scheduled)).output, null);
      assert.equal(await partial(scheduled), null);

      await claim(scheduled);
      assert.equal((await worker.result(scheduled, { output: 'final' })).status, 200);
      const late = await stream(worker, base, scheduled, { output: { output: 'too late' } });
      assert.equal(late.status, 200, late.text);
      assert.equal(late.json.ocs.data.task.status, 'STATUS_SUCCESSFUL');
      assert.deepEqual(late.json.ocs.data.task.output, { output: 'final' });
      assert.deepEqual((await userTask(scheduled)).output, { output: 'final' });

      const cancelled = await schedule();
      await claim(cancelled);
      assert.equal((await stream(worker, base, cancelled, { output: { output: 'before' } })).status, 200);
      assert.equal((await s.ocs('POST', `${V2}/tasks/${cancelled}/cancel`, { auth: alice.auth })).status, 200);
      const after = await stream(worker, base, cancelled, { output: { output: 'after' } });
      assert.equal(after.status, 200, after.text);
      assert.equal(after.json.ocs.data.task.status, 'STATUS_CANCELLED');
      // As upstream: a cancel leaves the last chunk in place.
      assert.deepEqual((await userTask(cancelled)).output, { output: 'before' });
      assert.deepEqual(await partial(cancelled), { output: 'before' });
    });

    it(`${base}: 404 "Not found" for an unknown task`, async () => {
      const r = await stream(worker, base, 99_999_999, { output: { output: 'x' } });
      assert.equal(r.status, base === V1 ? 200 : 404);
      assert.equal(r.json.ocs.meta.statuscode, 404);
      assert.equal(r.json.ocs.data.message, 'Not found');
    });
  }

  it("refuses another ExApp on a running task with lease_mismatch and keeps the real worker's output", async () => {
    const id = await schedule();
    await claim(id);
    assert.equal((await stream(worker, V2, id, { output: { output: 'mine' } })).status, 200);
    const r = await stream(intruder, V2, id, { output: { output: 'theirs' } });
    assert.equal(r.status, 409, r.text);
    assert.equal(r.json.ocs.data.message, "The task is not running under this ExApp's lease");
    assert.deepEqual((await userTask(id)).output, { output: 'mine' });
    assert.deepEqual(await partial(id), { output: 'mine' });
    assert.equal((await worker.result(id, { output: 'done' })).status, 200);
  });

  it('answers 400 in the envelope for a missing or non-object output', async () => {
    const id = await schedule();
    await claim(id);
    for (const base of [V1, V2]) {
      const missing = await stream(worker, base, id, { taskId: id });
      assert.equal(missing.json.ocs.meta.statuscode, 400);
      assert.equal(missing.json.ocs.data.message, 'Missing parameter: output');
      const text = await stream(worker, base, id, { output: 'just text' });
      assert.equal(text.json.ocs.meta.statuscode, 400);
      assert.match(text.json.ocs.data.message, /output/);
      assert.equal(missing.status, base === V1 ? 200 : 400);
    }
    assert.equal((await userTask(id)).output, null);
    assert.equal((await worker.result(id, { output: 'done' })).status, 200);
  });

  it('keeps the last chunk on a task the worker fails, as upstream does', async () => {
    const id = await schedule();
    await claim(id);
    assert.equal((await stream(worker, V2, id, { output: { output: 'half an ans' } })).status, 200);
    const failed = await worker.result(id, null, 'the model crashed', 'Sorry');
    assert.equal(failed.status, 200, failed.text);
    const task = await userTask(id);
    assert.equal(task.status, 'STATUS_FAILED');
    assert.deepEqual(task.output, { output: 'half an ans' });
    assert.equal(task.userFacingErrorMessage, 'Sorry');
  });

  it('clears the output when a lapsed lease sends the task back to the queue; the next claim starts clean', async () => {
    const id = await schedule();
    await claim(id);
    assert.equal((await stream(worker, V2, id, { output: { output: 'abandoned' } })).status, 200);
    clock.advance(LEASE_MS + 1000);
    await expireLeases(s.app.store.tasks, s.app.events, clock);
    const requeued = await userTask(id);
    assert.equal(requeued.status, 'STATUS_SCHEDULED');
    assert.equal(requeued.output, null);
    await claim(id);
    assert.equal((await stream(worker, V2, id, { output: { output: 'again' } })).status, 200);
    assert.deepEqual((await userTask(id)).output, { output: 'again' });
    assert.equal((await worker.result(id, { output: 'done' })).status, 200);
    assert.deepEqual((await userTask(id)).output, { output: 'done' });
  });
});
