import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { secretHash } from '../../src/auth/appapi.js';
import { HttpWorker, providerPayload, SHAPE } from '../helpers/http-worker.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';
import { until } from '../helpers/until.js';

// GET task/{id}?wait=N (our long-poll extension) through the real server, with a simulated ExApp
// worker so that the built-in runner never touches the tasks. Every long-poll here asks for far
// longer than a test may take (the server's cap is raised to 600 s): an answer at all shows that
// it woke on the change rather than at the end of its wait.

const V2 = '/ocs/v2.php/taskprocessing';
const V1 = '/ocs/v1.php/taskprocessing';
const TYPE = 'longpoll:shout';
const PROVIDER = 'longpoll-shout';
const APP = 'longpoller';
const SECRET = `${APP}-secret-0123456789`;
const LONG = 600;
const CUSTOM_TYPE = {
  id: TYPE,
  name: 'Shout',
  description: 'Upper-cases the text',
  input_shape: [{ name: 'input', description: 'Text', shape_type: SHAPE.Text }],
  output_shape: [{ name: 'output', description: 'Loud text', shape_type: SHAPE.Text }],
};

async function registerExApp(s: TestServer): Promise<HttpWorker> {
  await s.app.store.exapps.createExApp({
    appId: APP,
    version: '1.0.0',
    secretHash: secretHash(SECRET),
    sealedSecret: null,
    baseUrl: null,
    enabled: true,
    createdAt: 0,
  });
  const worker = new HttpWorker(s.url, APP, SECRET);
  const r = await worker.register(providerPayload({ id: PROVIDER, name: 'Shouter', task_type: TYPE, expected_runtime: 10 }), CUSTOM_TYPE);
  assert.equal(r.status, 200, r.text);
  return worker;
}

describe('GET task?wait=N: a client long-polls its task', { timeout: 60_000 }, () => {
  let s: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let worker: HttpWorker;

  const schedule = async (user: TestUser = alice): Promise<number> => {
    const r = await s.ocs('POST', `${V2}/schedule`, { auth: user.auth, body: { type: TYPE, appId: 'long-poll-test', input: { input: 'hello' } } });
    assert.equal(r.status, 200, r.text);
    return r.json.ocs.data.task.id as number;
  };
  const claim = async (id: number): Promise<void> => {
    const r = await worker.next([PROVIDER], [TYPE]);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.ocs.data.task.id, id);
  };
  const plainGet = async (id: number) => (await s.ocs('GET', `${V2}/task/${id}`, { auth: alice.auth })).json.ocs.data.task;
  /** Starts a long-poll and resolves once it is parked on the server, with its answer still to come. */
  const parked = async <T>(poll: () => Promise<T>): Promise<{ answer: Promise<T> }> => {
    const before = s.app.taskWatchers.size;
    const answer = poll();
    await until('the long-poll is parked', () => s.app.taskWatchers.size > before);
    return { answer };
  };

  before(async () => {
    s = await startServer({ config: { runnerConcurrency: 0, maxWait: LONG } });
    alice = await s.addUser('alice');
    bob = await s.addUser('bob');
    await s.app.settings.set('rateLimitEnabled', false);
    worker = await registerExApp(s);
  });
  after(async () => {
    worker.close();
    await s.close();
  });

  it('answers at once for a task that has ended', async () => {
    const id = await schedule();
    await claim(id);
    assert.equal((await worker.result(id, { output: 'HELLO' })).status, 200);
    const r = await s.ocs('GET', `${V2}/task/${id}?wait=${LONG}`, { auth: alice.auth });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.ocs.data.task.status, 'STATUS_SUCCESSFUL');
    assert.deepEqual(r.json.ocs.data.task.output, { output: 'HELLO' });
  });

  it('answers when the worker claims the task, reports progress, and posts its result', async () => {
    const id = await schedule();
    const poll = () => s.ocs('GET', `${V2}/task/${id}?wait=${LONG}`, { auth: alice.auth });

    let { answer } = await parked(poll);
    await claim(id);
    assert.equal((await answer).json.ocs.data.task.status, 'STATUS_RUNNING');

    ({ answer } = await parked(poll));
    assert.equal((await worker.progress(id, 0.5)).status, 200);
    const progressed = (await answer).json.ocs.data.task;
    assert.equal(progressed.status, 'STATUS_RUNNING');
    assert.equal(progressed.progress, 0.5);

    ({ answer } = await parked(poll));
    assert.equal((await worker.result(id, { output: 'HELLO' })).status, 200);
    const done = (await answer).json.ocs.data.task;
    assert.equal(done.status, 'STATUS_SUCCESSFUL');
    assert.deepEqual(done.output, { output: 'HELLO' });
    assert.equal(s.app.taskWatchers.size, 0);
  });

  it('answers on v1 when the worker streams a partial output', async () => {
    const id = await schedule();
    await claim(id);
    const { answer } = await parked(() => s.ocs('GET', `${V1}/task/${id}?wait=${LONG}`, { auth: alice.auth }));
    assert.equal((await worker.streamResult(id, { output: 'HEL' })).status, 200);
    const r = await answer;
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.ocs.meta.statuscode, 100);
    assert.deepEqual(r.json.ocs.data.task.output, { output: 'HEL' });
    await worker.result(id, { output: 'HELLO' });
  });

  it('answers when the user cancels the task', async () => {
    const id = await schedule();
    const { answer } = await parked(() => s.ocs('GET', `${V2}/task/${id}?wait=${LONG}`, { auth: alice.auth }));
    assert.equal((await s.ocs('POST', `${V2}/tasks/${id}/cancel`, { auth: alice.auth })).status, 200);
    assert.equal((await answer).json.ocs.data.task.status, 'STATUS_CANCELLED');
  });

  it('sees a change made without an event on this node (another node, the CLI) by reading the task again', async () => {
    const id = await schedule();
    const { answer } = await parked(() => s.ocs('GET', `${V2}/task/${id}?wait=${LONG}`, { auth: alice.auth }));
    // Straight to the store, as another process sharing the database would: nothing here is told.
    assert.ok(await s.app.store.tasks.cancelTask(id, { userId: alice.uid, anonKey: null }, Math.floor(Date.now() / 1000)));
    assert.equal((await answer).json.ocs.data.task.status, 'STATUS_CANCELLED');
  });

  it('answers after N seconds with the task unchanged', async () => {
    const id = await schedule();
    const before = await plainGet(id);
    const r = await s.ocs('GET', `${V2}/task/${id}?wait=1`, { auth: alice.auth });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.ocs.data.task, before);
    assert.equal(r.json.ocs.data.task.status, 'STATUS_SCHEDULED');
    await s.ocs('DELETE', `${V2}/task/${id}`, { auth: alice.auth });
  });

  it("answers 404 at once for another user's task, and for a task that is deleted while the client waits", async () => {
    const id = await schedule();
    const r = await s.ocs('GET', `${V2}/task/${id}?wait=${LONG}`, { auth: bob.auth });
    assert.equal(r.status, 404, r.text);
    assert.equal(r.json.ocs.meta.statuscode, 404);
    const missing = await s.ocs('GET', `${V2}/task/${id + 1000}?wait=${LONG}`, { auth: alice.auth });
    assert.equal(missing.status, 404, missing.text);

    const { answer } = await parked(() => s.ocs('GET', `${V2}/task/${id}?wait=${LONG}`, { auth: alice.auth }));
    assert.equal((await s.ocs('DELETE', `${V2}/task/${id}`, { auth: alice.auth })).status, 200);
    assert.equal((await answer).status, 404);
  });

  it('refuses a negative or non-numeric wait with 400 in the envelope, on v2 and v1', async () => {
    const id = await schedule();
    for (const wait of ['-1', 'abc', '', '1e999']) {
      const r = await s.ocs('GET', `${V2}/task/${id}?wait=${encodeURIComponent(wait)}`, { auth: alice.auth });
      assert.equal(r.status, 400, `wait=${wait}: ${r.text}`);
      assert.equal(r.json.ocs.meta.statuscode, 400);
      assert.equal(r.json.ocs.data.message, 'Parameter "wait" must be a number of seconds, 0 or more');
    }
    const v1 = await s.ocs('GET', `${V1}/task/${id}?wait=-5`, { auth: alice.auth });
    assert.equal(v1.json.ocs.meta.statuscode, 400, v1.text);
    assert.equal(v1.json.ocs.data.message, 'Parameter "wait" must be a number of seconds, 0 or more');
    await s.ocs('DELETE', `${V2}/task/${id}`, { auth: alice.auth });
  });

  it('serves the tasks_consumer route for an ExApp acting for a user', async () => {
    const consumer = new HttpWorker(s.url, APP, SECRET, { userId: alice.uid });
    try {
      const id = await schedule();
      const path = `${V2}/tasks_consumer/task/${id}?wait=${LONG}`;
      const { answer } = await parked(() => consumer.request('GET', path));
      await claim(id);
      const r = await answer;
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.ocs.data.task.status, 'STATUS_RUNNING');
      const bad = await consumer.request('GET', `${V2}/tasks_consumer/task/${id}?wait=nope`);
      assert.equal(bad.status, 400, bad.text);
      const others = await new HttpWorker(s.url, APP, SECRET, { userId: bob.uid }).request('GET', path);
      assert.equal(others.status, 404, others.text);
      await worker.result(id, { output: 'HELLO' });
    } finally {
      consumer.close();
    }
  });

  it("is described in the OpenAPI document of taskproc's extensions", async () => {
    const doc = (await (await fetch(`${s.url}/ocs/v2.php/apps/taskproc/api/v1/openapi`)).json()) as any;
    for (const path of ['/ocs/v2.php/taskprocessing/task/{id}', '/ocs/v2.php/taskprocessing/tasks_consumer/task/{id}']) {
      assert.ok(
        doc.paths[path].get.parameters.some((p: any) => p.name === 'wait'),
        path,
      );
    }
  });

  it('frees the waiter as soon as the client disconnects', async () => {
    const id = await schedule();
    const gone = new AbortController();
    const url = new URL(`${V2}/task/${id}?wait=${LONG}&format=json`, s.url);
    const { answer } = await parked(() =>
      fetch(url, { headers: { authorization: alice.auth, 'OCS-APIRequest': 'true' }, signal: gone.signal }).catch((err: Error) => err),
    );
    gone.abort();
    assert.ok((await answer) instanceof Error);
    await until('the waiter is freed', () => s.app.taskWatchers.size === 0);
  });
});

describe('GET task?wait=N above the server limit', { timeout: 60_000 }, () => {
  let s: TestServer;
  let alice: TestUser;

  before(async () => {
    s = await startServer({ config: { runnerConcurrency: 0, maxWait: 1 } });
    alice = await s.addUser('alice');
    await registerExApp(s);
  });
  after(() => s.close());

  it('is capped to TASKPROC_MAX_WAIT: it answers with the task as it is', async () => {
    const r0 = await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body: { type: TYPE, appId: 'long-poll-test', input: { input: 'hi' } } });
    const id = r0.json.ocs.data.task.id;
    const r = await s.ocs('GET', `${V2}/task/${id}?wait=100000`, { auth: alice.auth });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.ocs.data.task.status, 'STATUS_SCHEDULED');
  });
});
