import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HttpWorker, providerPayload, SHAPE } from '../helpers/http-worker.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';
import { until } from '../helpers/until.js';

const V2 = '/ocs/v2.php/taskprocessing';
const TYPE = 'testworker:shout';
const PROVIDER = 'testworker-shout';
const CUSTOM_TYPE = {
  id: TYPE,
  name: 'Shout',
  description: 'Upper-cases the text',
  input_shape: [{ name: 'input', description: 'Text', shape_type: SHAPE.Text }],
  output_shape: [{ name: 'output', description: 'Loud text', shape_type: SHAPE.Text }],
};
const PROVIDER_PAYLOAD = providerPayload({
  id: PROVIDER,
  name: 'Shouter',
  task_type: TYPE,
  expected_runtime: 10,
  optional_input_shape: [{ name: 'attachment', description: 'A file to look at', shape_type: SHAPE.File }],
  optional_output_shape: [{ name: 'file', description: 'A result file', shape_type: SHAPE.File }],
});

/** An ExApp known to the server (as `taskproc app:register` would make it) and a worker speaking for it. */
function exAppWorker(s: TestServer, appId: string, opts: { userId?: string } = {}): Promise<HttpWorker> {
  return s.addExApp(appId, opts);
}

describe('the ExApp worker protocol over HTTP, as nc_py_api speaks it', () => {
  let s: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let worker: HttpWorker;
  let other: HttpWorker;

  const schedule = async (input: Record<string, unknown> = { input: 'hello' }, user: TestUser = alice): Promise<number> => {
    const r = await s.ocs('POST', `${V2}/schedule`, { auth: user.auth, body: { type: TYPE, appId: 'worker-test', input } });
    assert.equal(r.status, 200, r.text);
    return r.json.ocs.data.task.id as number;
  };
  const userTask = async (id: number, user: TestUser = alice) => (await s.ocs('GET', `${V2}/task/${id}`, { auth: user.auth })).json.ocs.data.task;
  const claim = async (): Promise<any> => {
    const r = await worker.next([PROVIDER], [TYPE]);
    assert.equal(r.status, 200, r.text);
    return r.json.ocs.data.task;
  };
  const putFile = async (user: TestUser, path: string, body: string): Promise<number> => {
    const res = await fetch(`${s.url}/remote.php/dav/files/${user.uid}/${path}`, { method: 'PUT', headers: { authorization: user.auth }, body });
    assert.ok(res.status === 201 || res.status === 204, `PUT ${path}: ${res.status}`);
    return parseInt(res.headers.get('oc-fileid') ?? '', 10);
  };

  before(async () => {
    s = await startServer({ config: { runnerConcurrency: 0 } });
    alice = await s.addUser('alice');
    bob = await s.addUser('bob');
    await s.app.settings.set('rateLimitEnabled', false);
    worker = await exAppWorker(s, 'shouter');
    other = await exAppWorker(s, 'intruder');
  });
  after(async () => {
    worker.close();
    other.close();
    await s.close();
  });

  it('registers a provider with a custom task type on the v1 AppAPI route; users then see the type', async () => {
    const r = await worker.register(PROVIDER_PAYLOAD, CUSTOM_TYPE);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.ocs.meta.statuscode, 100);
    const types = await s.ocs('GET', `${V2}/tasktypes`, { auth: alice.auth });
    assert.equal(types.json.ocs.data.types[TYPE].name, 'Shout');
    assert.deepEqual(Object.keys(types.json.ocs.data.types[TYPE].optionalOutputShape), ['file']);
  });

  it('refuses a malformed registration with 400', async () => {
    const bad = { ...PROVIDER_PAYLOAD, id: 'testworker-bad', optional_input_shape: [{ name: 'x' }] };
    const r = await worker.register(bad as never);
    assert.equal(r.status, 200);
    assert.equal(r.json.ocs.meta.statuscode, 400);
    const v2 = await worker.request('POST', '/ocs/v2.php/apps/app_api/api/v1/ai_provider/task_processing', { json: { provider: { id: 3 } } });
    assert.equal(v2.status, 400);
  });

  it('answers next with 204 when nothing is queued: an empty body on v2, statuscode 204 and data null on v1', async () => {
    const v2 = await worker.next([PROVIDER], [TYPE]);
    assert.equal(v2.status, 204);
    assert.equal(v2.text, '');
    const v1 = await worker.next([PROVIDER], [TYPE], { version: 1 });
    assert.equal(v1.status, 200);
    assert.equal(v1.json.ocs.meta.statuscode, 204);
    assert.equal(v1.json.ocs.data, null);
  });

  it('runs a task end to end: claim, input file, progress, output upload, result; the user downloads the output byte for byte', async () => {
    const inputFile = await putFile(alice, 'note.txt', 'input bytes for the worker');
    const id = await schedule({ input: 'hello', attachment: inputFile });

    const next = await worker.next([PROVIDER], [TYPE]);
    assert.equal(next.status, 200, next.text);
    assert.deepEqual(next.json.ocs.data.provider, { name: PROVIDER });
    const task = next.json.ocs.data.task;
    assert.equal(task.id, id);
    assert.equal(task.status, 'STATUS_RUNNING');
    assert.equal(task.startedAt, null, 'an ExApp claim does not set startedAt (upstream)');
    assert.deepEqual(task.input, { input: 'hello', attachment: inputFile });

    const file = await worker.inputFile(id, inputFile);
    assert.equal(file.status, 200);
    assert.equal(file.bytes.toString(), 'input bytes for the worker');
    assert.equal((await worker.inputFile(id, inputFile + 1000)).status, 404);

    const progress = await worker.progress(id, 0.5);
    assert.equal(progress.status, 200, progress.text);
    assert.equal(progress.json.ocs.data.task.progress, 0.5);

    const bytes = Buffer.from([0, 1, 2, 250, 251, 252, 10, 13]);
    const up = await worker.upload(id, bytes, 'result.bin');
    assert.equal(up.status, 201, up.text);
    const fileId = up.json.ocs.data.fileId;
    assert.equal(typeof fileId, 'number');

    const done = await worker.result(id, { output: 'HELLO', file: fileId });
    assert.equal(done.status, 200, done.text);
    assert.equal(done.json.ocs.data.task.status, 'STATUS_SUCCESSFUL');
    assert.deepEqual(done.json.ocs.data.task.output, { output: 'HELLO', file: fileId });
    assert.equal(done.json.ocs.data.task.progress, 1);

    const download = await fetch(`${s.url}${V2}/tasks/${id}/file/${fileId}`, { headers: { authorization: alice.auth } });
    assert.equal(download.status, 200);
    assert.deepEqual(Buffer.from(await download.arrayBuffer()), bytes);
    assert.equal((await userTask(id)).status, 'STATUS_SUCCESSFUL');
  });

  it('a parked next (wait) receives a task scheduled meanwhile, long before its wait ends', async () => {
    const started = Date.now();
    const pending = worker.next([PROVIDER], [TYPE], { wait: 20 });
    await until('the worker to park', () => s.app.waiters.size === 1);
    const id = await schedule();
    const r = await pending;
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.ocs.data.task.id, id);
    assert.ok(Date.now() - started < 20_000, 'answered when the task arrived, not at the end of the wait');
    assert.equal((await worker.result(id, { output: 'HELLO' })).status, 200);
  });

  it('a wait with nothing to claim ends with 204 at its deadline; a client that goes away ends its wait', async () => {
    const timedOut = await worker.next([PROVIDER], [TYPE], { wait: 0.2 });
    assert.equal(timedOut.status, 204);

    const controller = new AbortController();
    const gone = worker.next([PROVIDER], [TYPE], { wait: 20, signal: controller.signal }).catch((err: Error) => err);
    await until('the worker to park', () => s.app.waiters.size === 1);
    controller.abort();
    assert.ok((await gone) instanceof Error);
    await until('the wait to end', () => s.app.waiters.size === 0);
    // Nobody claimed on the gone client's behalf: the next task stays queued for a live worker.
    const id = await schedule();
    assert.equal((await userTask(id)).status, 'STATUS_SCHEDULED');
    await claim();
    assert.equal((await worker.result(id, { output: 'HELLO' })).status, 200);
  });

  it('next_batch hands out numberOfTasks at most, with has_more, and a plain provider id', async () => {
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await schedule({ input: `t${i}` }));
    const first = await worker.nextBatch([PROVIDER], [TYPE], 3);
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(
      first.json.ocs.data.tasks.map((e: any) => e.task.id),
      ids.slice(0, 3),
    );
    assert.equal(first.json.ocs.data.tasks[0].provider, PROVIDER);
    assert.equal(first.json.ocs.data.has_more, true);
    const second = await worker.nextBatch([PROVIDER], [TYPE], 3);
    assert.deepEqual(
      second.json.ocs.data.tasks.map((e: any) => e.task.id),
      ids.slice(3),
    );
    assert.equal(second.json.ocs.data.has_more, false);
    const empty = await worker.nextBatch([PROVIDER], [TYPE], 3);
    assert.deepEqual(empty.json.ocs.data, { tasks: [], has_more: false });
    for (const id of ids) assert.equal((await worker.result(id, { output: 'X' })).status, 200);

    for (const n of [0, 1001, 'abc', 1.5]) {
      const r = await worker.request('GET', `${V2}/tasks_provider/next_batch`, { json: { providerIds: [PROVIDER], taskTypeIds: [TYPE], numberOfTasks: n } });
      assert.equal(r.status, 400, `numberOfTasks ${n}`);
      assert.match(r.json.ocs.data.message, /numberOfTasks.*1 to 1000/);
    }
  });

  it('caps a next_batch answer at 50 MiB of JSON and hands the claims beyond it back to the queue', async () => {
    const big = 'a'.repeat(7.5 * 1024 * 1024);
    const ids = [];
    for (let i = 0; i < 7; i++) ids.push(await schedule({ input: `${i}${big}` }));
    const r = await worker.nextBatch([PROVIDER], [TYPE], 7);
    assert.equal(r.status, 200);
    assert.ok(r.bytes.length < 50 * 1024 * 1024 + 1024, `${r.bytes.length} bytes`);
    assert.deepEqual(
      r.json.ocs.data.tasks.map((e: any) => e.task.id),
      ids.slice(0, 6),
    );
    assert.equal(r.json.ocs.data.has_more, true);
    const handedBack = await s.app.store.tasks.getTask(ids[6] as number);
    assert.equal(handedBack?.status, 1);
    assert.equal(handedBack?.attempts, 0, 'a claim the worker never saw does not count as an attempt');
    const rest = await worker.nextBatch([PROVIDER], [TYPE], 7);
    assert.deepEqual(
      rest.json.ocs.data.tasks.map((e: any) => e.task.id),
      [ids[6]],
    );
    // Deleted rather than finished: every answer about these tasks carries their 7.5 MiB again.
    for (const id of ids) assert.equal((await s.ocs('DELETE', `${V2}/task/${id}`, { auth: alice.auth })).status, 200);
  });

  it('accepts the lists in the query-array form too', async () => {
    const id = await schedule();
    const r = await worker.request('GET', `${V2}/tasks_provider/next?providerIds[]=${PROVIDER}&taskTypeIds[]=${encodeURIComponent(TYPE)}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.ocs.data.task.id, id);
    assert.equal((await worker.result(id, { output: 'X' })).status, 200);
  });

  it("matches nothing, without an error, for unknown providers or types and for another ExApp's provider", async () => {
    const id = await schedule();
    assert.equal((await worker.next(['nope'], [TYPE])).status, 204);
    assert.equal((await worker.next([PROVIDER], ['no:such:type'])).status, 204);
    assert.equal((await worker.next([], [])).status, 204);
    assert.deepEqual((await worker.nextBatch(['nope'], [TYPE], 5)).json.ocs.data, { tasks: [], has_more: false });
    assert.equal((await other.next([PROVIDER], [TYPE])).status, 204, 'only the ExApp that registered a provider claims its tasks');
    await claim();
    assert.equal((await worker.result(id, { output: 'X' })).status, 200);
  });

  it('refuses a wait below 0, above the limit or not a number with 400 naming the limit', async () => {
    for (const wait of [-1, 1_000_000_000, 'abc', 31]) {
      const r = await worker.request('GET', `${V2}/tasks_provider/next`, { json: { providerIds: [PROVIDER], taskTypeIds: [TYPE], wait } });
      assert.equal(r.status, 400, `wait ${wait}`);
      assert.equal(r.json.ocs.data.message, 'Parameter "wait" must be a number of seconds from 0 to 30');
    }
    const batch = await worker.request('GET', `${V2}/tasks_provider/next_batch?wait=-1`, { json: { providerIds: [PROVIDER], taskTypeIds: [TYPE] } });
    assert.equal(batch.status, 400);
  });

  it('answers 412 {"message":"ExApp required"} without the AppAPI headers or with a wrong secret', async () => {
    const paths: [string, string][] = [
      ['GET', `${V2}/tasks_provider/next`],
      ['GET', `${V2}/tasks_provider/next_batch`],
      ['POST', `${V2}/tasks_provider/1/progress`],
      ['POST', `${V2}/tasks_provider/1/result`],
      ['POST', `${V2}/tasks_provider/1/file`],
      ['GET', `${V2}/tasks_provider/1/file/2`],
      ['GET', `${V2}/tasks_consumer/tasktypes`],
    ];
    for (const [method, path] of paths) {
      const r = await worker.request(method, path, { headers: null });
      assert.equal(r.status, 412, `${method} ${path}`);
      assert.equal(r.text, '{"message":"ExApp required"}');
    }
    const wrong = new HttpWorker(s.url, 'shouter', 'not-the-secret');
    const r = await wrong.next([PROVIDER], [TYPE]);
    wrong.close();
    assert.equal(r.status, 412);
    assert.equal(r.text, '{"message":"ExApp required"}');
  });

  it('refuses progress outside 0..1 or not a number with 400, leaving the task as it was', async () => {
    const id = await schedule();
    await claim();
    for (const p of [1.5, -0.1, 'abc']) {
      const r = await worker.progress(id, p);
      assert.equal(r.status, 400, `progress ${p}`);
      assert.equal(r.json.ocs.data.message, 'Parameter "progress" must be a number from 0 to 1');
    }
    assert.equal((await worker.progress(id, '0.25')).json.ocs.data.task.progress, 0.25);
    const missing = await worker.request('POST', `${V2}/tasks_provider/${id}/progress`, { json: {} });
    assert.equal(missing.status, 400);
    assert.equal((await userTask(id)).progress, 0.25);
    assert.equal((await worker.result(id, { output: 'X' })).status, 200);
    assert.equal((await worker.progress(999_999, 0.5)).status, 404);
  });

  for (const [what, output] of [
    ['a missing output slot', { other: 'x' }],
    ['a value of the wrong type', { output: ['not', 'text'] }],
  ] as const) {
    it(`answers 200 with the FAILED task to a result with ${what}, its lease cleared, as upstream`, async () => {
      const id = await schedule();
      await claim();
      const r = await worker.result(id, output);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.ocs.data.task.status, 'STATUS_FAILED');
      assert.equal(r.json.ocs.data.task.userFacingErrorMessage, null);
      const stored = await s.app.store.tasks.getTask(id);
      assert.equal(stored?.status, 4);
      assert.equal(stored?.leaseOwner, null);
      assert.equal(stored?.progress, 1);
      assert.match(stored?.errorMessage ?? '', /doesn't pass validation/);
      const seen = await userTask(id);
      assert.equal(seen.status, 'STATUS_FAILED');
      assert.equal(seen.output, null);
      // Consistent: a retry of the result changes nothing more.
      assert.equal((await worker.result(id, { output: 'X' })).json.ocs.data.task.status, 'STATUS_FAILED');
    });
  }

  it("fails the task on a result naming a file not uploaded for that task (another task's, a user's, none), answering 200", async () => {
    const a = await schedule();
    await claim();
    const foreign = (await worker.upload(a, Buffer.from('for a'))).json.ocs.data.fileId;
    const usersOwn = await putFile(alice, 'private.txt', 'alice only');
    for (const fileId of [foreign, usersOwn, 987_654]) {
      const b = await schedule();
      await claim();
      const r = await worker.result(b, { output: 'X', file: fileId });
      assert.equal(r.status, 200, `file ${fileId}: ${r.text}`);
      assert.equal(r.json.ocs.data.task.status, 'STATUS_FAILED');
      assert.equal((await userTask(b)).status, 'STATUS_FAILED');
      // Upstream's validateFileId throws a ValidationException: the validation text, not "could not be found".
      assert.match(
        (await s.app.store.tasks.getTask(b))?.errorMessage ?? '',
        new RegExp(`doesn't pass validation.*file ${fileId} was not uploaded for task ${b}`),
      );
    }
    assert.equal((await worker.result(a, { output: 'X', file: foreign })).status, 200);
  });

  it('answers 409 to another ExApp reporting on a task it does not hold, changing nothing', async () => {
    const id = await schedule();
    await claim();
    const before = await s.app.store.tasks.getTask(id);
    assert.equal((await other.result(id, { output: 'stolen' })).status, 409);
    assert.equal((await other.progress(id, 0.9)).status, 409);
    assert.equal((await other.upload(id, Buffer.from('x'))).status, 409);
    assert.equal((await other.streamResult(id, { output: 'x' })).status, 409);
    const r = await other.result(id, null, 'I failed it');
    assert.equal(r.status, 409);
    assert.equal(r.json.ocs.data.message, "The task is not running under this ExApp's lease");
    assert.deepEqual(await s.app.store.tasks.getTask(id), before);
    assert.equal((await worker.result(id, { output: 'X' })).status, 200);
  });

  it('answers 409 to progress, upload or result on a task still scheduled (not claimed)', async () => {
    const id = await schedule();
    for (const r of [await worker.progress(id, 0.5), await worker.result(id, { output: 'X' }), await worker.upload(id, Buffer.from('x'))]) {
      assert.equal(r.status, 409);
      assert.match(r.json.ocs.data.message, /scheduled, not running/);
    }
    assert.equal((await userTask(id)).status, 'STATUS_SCHEDULED');
    await claim();
    assert.equal((await worker.result(id, { output: 'X' })).status, 200);
  });

  it('fails a task on an error message, keeping the user-facing one', async () => {
    const id = await schedule();
    await claim();
    const r = await worker.result(id, null, 'CUDA out of memory', 'The model is busy, try again later');
    assert.equal(r.status, 200);
    assert.equal(r.json.ocs.data.task.status, 'STATUS_FAILED');
    assert.equal(r.json.ocs.data.task.userFacingErrorMessage, 'The model is busy, try again later');
    assert.equal((await s.app.store.tasks.getTask(id))?.errorMessage, 'CUDA out of memory');
  });

  it('leaves a task alone on a result with neither output nor error', async () => {
    const id = await schedule();
    await claim();
    const r = await worker.result(id, null, null);
    assert.equal(r.status, 200);
    assert.equal(r.json.ocs.data.task.status, 'STATUS_RUNNING');
    assert.equal((await worker.result(id, { output: 'X' })).status, 200);
  });

  it('answers progress and result on a task the user cancelled while it ran with 200 and the unchanged CANCELLED task', async () => {
    const id = await schedule();
    await claim();
    const cancel = await s.ocs('POST', `${V2}/tasks/${id}/cancel`, { auth: alice.auth });
    assert.equal(cancel.json.ocs.data.task.status, 'STATUS_CANCELLED');
    const before = await s.app.store.tasks.getTask(id);
    const progress = await worker.progress(id, 0.7);
    assert.equal(progress.status, 200);
    assert.equal(progress.json.ocs.data.task.status, 'STATUS_CANCELLED');
    assert.equal(progress.json.ocs.data.task.progress, null);
    const result = await worker.result(id, { output: 'late' });
    assert.equal(result.status, 200);
    assert.equal(result.json.ocs.data.task.status, 'STATUS_CANCELLED');
    assert.equal(result.json.ocs.data.task.output, null);
    assert.deepEqual(await s.app.store.tasks.getTask(id), before);
  });

  it('P4: 404 for an unknown task, 400 "Bad request" without a file part', async () => {
    assert.equal((await worker.upload(999_999, Buffer.from('x'))).status, 404);
    const id = await schedule();
    await claim();
    const wrongPart = await worker.request('POST', `${V2}/tasks_provider/${id}/file`, {
      file: { field: 'other', data: Buffer.from('x'), filename: 'x', mime: 'text/plain' },
    });
    assert.equal(wrongPart.status, 400);
    assert.equal(wrongPart.json.ocs.data.message, 'Bad request');
    const noMultipart = await worker.request('POST', `${V2}/tasks_provider/${id}/file`, { json: { file: 'x' } });
    assert.equal(noMultipart.status, 400);
    assert.equal((await worker.result(id, { output: 'X' })).status, 200);
  });

  it("stream-result keeps the latest intermediate output, shown to the task's owner only", async () => {
    const id = await schedule();
    const partial = (user: TestUser) => s.ocs('GET', `/ocs/v2.php/apps/taskproc/api/v1/tasks/${id}/partial`, { auth: user.auth });
    assert.deepEqual((await partial(alice)).json.ocs.data, { taskId: id, partialOutput: null });
    await claim();
    assert.equal((await worker.streamResult(id, { output: 'HEL' })).status, 200);
    const r = await worker.streamResult(id, { output: 'HELLO WOR' });
    assert.equal(r.json.ocs.data.task.status, 'STATUS_RUNNING');
    assert.deepEqual((await partial(alice)).json.ocs.data, { taskId: id, partialOutput: { output: 'HELLO WOR' } });
    assert.equal((await partial(bob)).status, 404);
    assert.equal((await worker.request('POST', `${V2}/tasks_provider/${id}/stream-result`, { json: {} })).status, 400);
    assert.equal((await worker.result(id, { output: 'HELLO WORLD' })).status, 200);
  });

  it("serves the documentation page's forms: POST task/{id}/result and GET task/{id}/progress", async () => {
    const id = await schedule();
    await claim();
    const progress = await worker.request('GET', `${V2}/task/${id}/progress?progress=0.4`);
    assert.equal(progress.status, 200, progress.text);
    assert.equal(progress.json.ocs.data.task.progress, 0.4);
    const result = await worker.request('POST', `/ocs/v1.php/taskprocessing/task/${id}/result`, { json: { output: { output: 'X' } } });
    assert.equal(result.json.ocs.meta.statuscode, 100);
    assert.equal(result.json.ocs.data.task.status, 'STATUS_SUCCESSFUL');
  });

  it("serves the OpenAPI document of taskproc's extensions", async () => {
    const r = await fetch(`${s.url}/ocs/v2.php/apps/taskproc/api/v1/openapi`);
    assert.equal(r.status, 200);
    const doc = (await r.json()) as any;
    assert.equal(doc.openapi, '3.0.3');
    assert.ok(doc.paths['/ocs/v2.php/taskprocessing/tasks_provider/next'].get.parameters.some((p: any) => p.name === 'wait'));
    assert.ok(doc.paths['/ocs/v2.php/apps/taskproc/api/v1/tasks/{id}/partial']);
  });

  describe('ExApps as clients (tasks_consumer)', () => {
    it("schedules, reads, cancels and deletes without a user; such tasks are no user's", async () => {
      const consumer = await exAppWorker(s, 'consumer');
      const types = await consumer.request('GET', `${V2}/tasks_consumer/tasktypes`);
      assert.ok(types.json.ocs.data.types[TYPE]);
      const r = await consumer.request('POST', `${V2}/tasks_consumer/schedule`, { json: { type: TYPE, appId: 'bot', input: { input: 'hi' } } });
      assert.equal(r.status, 200, r.text);
      const task = r.json.ocs.data.task;
      assert.equal(task.userId, null);
      assert.equal((await consumer.request('GET', `${V2}/tasks_consumer/task/${task.id}`)).json.ocs.data.task.id, task.id);
      assert.equal((await s.ocs('GET', `${V2}/task/${task.id}`, { auth: alice.auth })).status, 404);
      const cancel = await consumer.request('POST', `${V2}/tasks_consumer/tasks/${task.id}/cancel`);
      assert.equal(cancel.json.ocs.data.task.status, 'STATUS_CANCELLED');
      assert.equal((await consumer.request('DELETE', `${V2}/tasks_consumer/task/${task.id}`)).status, 200);
      assert.equal((await consumer.request('GET', `${V2}/tasks_consumer/task/${task.id}`)).status, 404);

      const withFile = await consumer.request('POST', `${V2}/tasks_consumer/schedule`, {
        json: { type: TYPE, appId: 'bot', input: { input: 'hi', attachment: 1 } },
      });
      assert.equal(withFile.status, 401);
      assert.equal(withFile.json.ocs.data.message, 'Cannot schedule task with files referenced without user context');
      consumer.close();
    });

    it('acts for the user named in the AppAPI header, with no rate limit', async () => {
      await s.app.settings.set('rateLimitEnabled', true);
      const forAlice = await exAppWorker(s, 'consumer', { userId: 'alice' });
      const ids = [];
      for (let i = 0; i < 25; i++) {
        const r = await forAlice.request('POST', `${V2}/tasks_consumer/schedule`, { json: { type: TYPE, appId: 'bot', input: { input: `m${i}` } } });
        assert.equal(r.status, 200, r.text);
        ids.push(r.json.ocs.data.task.id);
      }
      await s.app.settings.set('rateLimitEnabled', false);
      assert.equal((await userTask(ids[0])).userId, 'alice');
      assert.equal((await forAlice.request('GET', `${V2}/tasks_consumer/task/${ids[0]}`)).status, 200);
      for (const id of ids) await forAlice.request('POST', `${V2}/tasks_consumer/tasks/${id}/cancel`);
      forAlice.close();
    });
  });
});
