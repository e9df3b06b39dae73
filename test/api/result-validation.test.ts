import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it, mock } from 'node:test';
import { type HttpWorker, providerPayload, SHAPE, type WorkerResponse } from '../helpers/http-worker.js';
import { assertMatchesSpec } from '../helpers/openapi.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';
import { TEST_DIALECT } from '../helpers/store.js';
import { at, parseXml } from '../helpers/xml.js';

/**
 * A result whose output fails validation (nextcloud/server Manager::setTaskResult @ 9fc5fdd):
 * HTTP 200 with the task, now FAILED, on every form of the result route, v1 and v2, JSON and XML.
 */

const TP = 'taskprocessing';
const TYPE = 'resultcheck:shout';
const PROVIDER = 'resultcheck-shout';
const UPSTREAM_TEXT =
  "The task was processed successfully but the provider's output doesn't pass validation against the task type's outputShape spec " +
  "and/or the provider's own optionalOutputShape spec";
/** The injected clock's time, so endedAt can be compared exactly. */
const NOW = 1_800_000_000;

interface Warning {
  obj: Record<string, unknown>;
  msg: string;
}

describe(`${TEST_DIALECT}: POST tasks_provider/{taskId}/result with an output that fails validation`, () => {
  let s: TestServer;
  let alice: TestUser;
  let worker: HttpWorker;
  let other: HttpWorker;
  let ended: { id: number; status: number }[] = [];
  let warnings: Warning[] = [];

  const schedule = async (): Promise<number> => {
    const r = await s.ocs('POST', `/ocs/v2.php/${TP}/schedule`, { auth: alice.auth, body: { type: TYPE, appId: 'checks', input: { input: 'hi' } } });
    assert.equal(r.status, 200, r.text);
    return r.json.ocs.data.task.id as number;
  };
  const claimed = async (): Promise<number> => {
    const id = await schedule();
    const r = await worker.next([PROVIDER], [TYPE]);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.ocs.data.task.id, id);
    return id;
  };
  const userTask = async (id: number) => (await s.ocs('GET', `/ocs/v2.php/${TP}/task/${id}`, { auth: alice.auth })).json.ocs.data.task;
  const post = (w: HttpWorker, version: 1 | 2, path: string, output: unknown, format: 'json' | 'xml' = 'json'): Promise<WorkerResponse> =>
    w.request('POST', `/ocs/v${version}.php/${TP}/${path}?format=${format}`, { json: { output, errorMessage: null }, format: false });

  /** What the user and the admin see of a task failed for its output: the same on every route form. */
  const assertFailedForOutput = async (id: number, detail: RegExp) => {
    const seen = await userTask(id);
    assert.equal(seen.status, 'STATUS_FAILED');
    assert.equal(seen.progress, 1);
    assert.equal(seen.endedAt, NOW);
    assert.equal(seen.output, null);
    assert.equal(seen.userFacingErrorMessage, null);
    assert.equal('errorMessage' in seen, false, 'the technical message is never returned');
    const stored = await s.app.store.tasks.getTask(id);
    assert.equal(stored?.leaseOwner, null);
    assert.ok(stored?.errorMessage?.startsWith(`${UPSTREAM_TEXT}: `), stored?.errorMessage ?? 'no error message');
    assert.match(stored?.errorMessage ?? '', detail);
    assert.deepEqual(ended, [{ id, status: 4 }], 'one ended event (webhooks follow it)');
    assert.equal(warnings.length, 1, 'one warning in the log');
    const [warning] = warnings as [Warning];
    assert.equal(warning.obj.taskId, id);
    assert.equal(warning.obj.appId, 'result-checker');
    assert.match(String(warning.obj.reason), detail);
  };

  before(async () => {
    s = await startServer({ config: { runnerConcurrency: 0 }, clock: { nowMs: () => NOW * 1000 } });
    alice = await s.addUser('alice');
    await s.app.settings.set('rateLimitEnabled', false);
    worker = await s.addExApp('result-checker');
    other = await s.addExApp('result-intruder');
    const registered = await worker.register(
      providerPayload({
        id: PROVIDER,
        task_type: TYPE,
        optional_output_shape: [{ name: 'file', description: 'A result file', shape_type: SHAPE.File }],
      }),
      {
        id: TYPE,
        name: 'Shout',
        description: 'Upper-cases the text',
        input_shape: [{ name: 'input', description: 'Text', shape_type: SHAPE.Text }],
        output_shape: [{ name: 'output', description: 'Loud text', shape_type: SHAPE.Text }],
      },
    );
    assert.equal(registered.status, 200, registered.text);
    s.app.events.onEnded((task) => ended.push({ id: task.id, status: task.status }));
    // The server logs through Fastify's logger; with logging off in tests it is a no-op object to listen on.
    // The task log's own 'task failed' line (workers/task-log.ts) is not the warning about the output.
    mock.method(s.app.server.log, 'warn', (obj: Record<string, unknown>, msg: string) => msg !== 'task failed' && warnings.push({ obj, msg }));
  });
  beforeEach(() => {
    ended = [];
    warnings = [];
  });
  after(async () => {
    worker.close();
    other.close();
    await s.close();
  });

  for (const version of [1, 2] as const) {
    for (const form of ['tasks_provider/{id}/result', 'task/{id}/result']) {
      it(`answers v${version} ${form} (JSON) with 200 and the task, now FAILED`, async () => {
        const id = await claimed();
        const path = form.replace('{id}', String(id));
        const r = await post(worker, version, path, { output: ['not', 'text'] });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.ocs.meta.statuscode, version === 1 ? 100 : 200);
        assertMatchesSpec('POST', `/ocs/v2.php/${TP}/${path}`, 200, r.json);
        const task = r.json.ocs.data.task;
        assert.equal(task.id, id);
        assert.equal(task.status, 'STATUS_FAILED');
        assert.equal(task.progress, 1);
        assert.equal(task.endedAt, NOW);
        assert.equal(task.output, null);
        assert.equal(task.userFacingErrorMessage, null);
        assert.deepEqual(task, await userTask(id));
        await assertFailedForOutput(id, /output/);
      });
    }

    it(`answers v${version} tasks_provider/{id}/result (XML) with 200 and the FAILED task`, async () => {
      const id = await claimed();
      const r = await post(worker, version, `tasks_provider/${id}/result`, { other: 'x' }, 'xml');
      assert.equal(r.status, 200, r.text);
      const doc = parseXml(r.text);
      assert.equal(at(doc, 'meta', 'status').text, 'ok');
      assert.equal(at(doc, 'meta', 'statuscode').text, version === 1 ? '100' : '200');
      assert.equal(at(doc, 'data', 'task', 'id').text, String(id));
      assert.equal(at(doc, 'data', 'task', 'status').text, 'STATUS_FAILED');
      assert.equal(at(doc, 'data', 'task', 'progress').text, '1');
      assert.equal(at(doc, 'data', 'task', 'endedAt').text, String(NOW));
      assert.equal(at(doc, 'data', 'task', 'userFacingErrorMessage').text, '');
      await assertFailedForOutput(id, /output/);
    });
  }

  it('fails the task as a validation failure for an output file id that is unknown or not uploaded for the task', async () => {
    const first = await claimed();
    const upload = await worker.upload(first, Buffer.from('for the first task'));
    assert.equal(upload.status, 201, upload.text);
    const foreign = upload.json.ocs.data.fileId as number;
    for (const fileId of [foreign, 987_654]) {
      ended = [];
      warnings = [];
      const id = await claimed();
      const r = await worker.result(id, { output: 'LOUD', file: fileId });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.ocs.data.task.status, 'STATUS_FAILED');
      await assertFailedForOutput(id, new RegExp(`file ${fileId} was not uploaded for task ${id}`));
    }
    // The other task's upload is untouched and still counts for it.
    assert.equal((await worker.result(first, { output: 'LOUD', file: foreign })).json.ocs.data.task.status, 'STATUS_SUCCESSFUL');
  });

  it('answers the same when the output comes after an empty result (the task read first, not remembered from the claim)', async () => {
    const id = await claimed();
    const empty = await worker.result(id, null, null);
    assert.equal(empty.json.ocs.data.task.status, 'STATUS_RUNNING');
    const r = await post(worker, 2, `tasks_provider/${id}/result`, { output: 42 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.ocs.data.task.status, 'STATUS_FAILED');
    await assertFailedForOutput(id, /output/);
  });

  it('keeps 409 for an ExApp that does not hold the task, and for a task not claimed yet, changing nothing', async () => {
    const id = await claimed();
    const before = await s.app.store.tasks.getTask(id);
    for (const version of [1, 2] as const) {
      const r = await post(other, version, `tasks_provider/${id}/result`, { output: ['bad'] });
      assert.equal(r.status, version === 1 ? 200 : 409, r.text);
      assert.equal(r.json.ocs.meta.statuscode, 409);
      assert.equal(r.json.ocs.data.message, "The task is not running under this ExApp's lease");
    }
    assert.deepEqual(await s.app.store.tasks.getTask(id), before);
    const scheduled = await schedule();
    const r = await worker.result(scheduled, { output: ['bad'] });
    assert.equal(r.status, 409, r.text);
    assert.equal((await userTask(scheduled)).status, 'STATUS_SCHEDULED');
    assert.deepEqual(ended, []);
    assert.deepEqual(warnings, []);
    // Clean up: the remaining tasks end, so later claims find only their own.
    assert.equal((await worker.result(id, { output: 'LOUD' })).status, 200);
    assert.equal((await s.ocs('POST', `/ocs/v2.php/${TP}/tasks/${scheduled}/cancel`, { auth: alice.auth })).status, 200);
  });

  it('answers an invalid output for a task that already ended with the task unchanged', async () => {
    const cancelled = await claimed();
    assert.equal((await s.ocs('POST', `/ocs/v2.php/${TP}/tasks/${cancelled}/cancel`, { auth: alice.auth })).status, 200);
    const failed = await claimed();
    assert.equal((await worker.result(failed, null, 'out of memory')).status, 200);
    for (const [id, status] of [
      [cancelled, 'STATUS_CANCELLED'],
      [failed, 'STATUS_FAILED'],
    ] as const) {
      ended = [];
      warnings = [];
      const before = await s.app.store.tasks.getTask(id);
      const r = await worker.result(id, { output: ['bad'] });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.ocs.data.task.status, status);
      assert.deepEqual(await s.app.store.tasks.getTask(id), before);
      assert.deepEqual(ended, []);
      assert.deepEqual(warnings, []);
    }
  });
});
