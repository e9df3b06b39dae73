import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { secretHash } from '../../src/auth/appapi.js';
import { HttpWorker, providerPayload, SHAPE } from '../helpers/http-worker.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';

const V2 = '/ocs/v2.php/taskprocessing';
const TYPE = 'loadtest:upper';
const PROVIDER = 'loadtest-upper';
const TASKS = 2000;
const WORKERS = 16;

type Mode = 'next' | 'batch' | 'wait';

describe('16 HTTP workers on one task type', () => {
  let s: TestServer;
  let users: TestUser[];
  const workers: HttpWorker[] = [];

  before(async () => {
    s = await startServer({ config: { runnerConcurrency: 0 } });
    await s.app.settings.set('rateLimitEnabled', false);
    users = [await s.addUser('u1'), await s.addUser('u2'), await s.addUser('u3'), await s.addUser('u4')];
    const secret = 'loadtest-secret-0123456789';
    await s.app.store.exapps.createExApp({
      appId: 'loadtest',
      version: '1.0.0',
      secretHash: secretHash(secret),
      sealedSecret: null,
      baseUrl: null,
      enabled: true,
      createdAt: 0,
    });
    for (let i = 0; i < WORKERS; i++) workers.push(new HttpWorker(s.url, 'loadtest', secret));
    const r = await workers[0]?.register(providerPayload({ id: PROVIDER, task_type: TYPE }), {
      id: TYPE,
      name: 'Upper',
      description: 'Upper-cases',
      input_shape: [{ name: 'input', description: 'Text', shape_type: SHAPE.Text }],
      output_shape: [{ name: 'output', description: 'Text', shape_type: SHAPE.Text }],
    });
    assert.equal(r?.status, 200, r?.text);
  });
  after(async () => {
    for (const w of workers) w.close();
    await s.close();
  });

  it(`processes each of ${TASKS} tasks exactly once, whether workers use next, next_batch or a long-poll`, async () => {
    const claimedBy: number[][] = workers.map(() => []);
    let finished = 0;
    const errors: string[] = [];

    const process = async (w: HttpWorker, task: any): Promise<void> => {
      const r = await w.result(task.id, { output: `${String(task.input.input).toUpperCase()}#${task.id}` });
      if (r.status !== 200 || r.json.ocs.data.task.status !== 'STATUS_SUCCESSFUL') errors.push(`result ${task.id}: ${r.status} ${r.text}`);
      finished++;
    };

    const run = async (index: number, mode: Mode): Promise<void> => {
      const w = workers[index] as HttpWorker;
      const mine = claimedBy[index] as number[];
      while (finished < TASKS && errors.length === 0) {
        let tasks: any[] = [];
        if (mode === 'batch') {
          const r = await w.nextBatch([PROVIDER], [TYPE], 7);
          if (r.status !== 200) errors.push(`next_batch: ${r.status} ${r.text}`);
          tasks = r.json.ocs.data.tasks.map((e: any) => e.task);
        } else {
          const r = await w.next([PROVIDER], [TYPE], mode === 'wait' ? { wait: 1 } : {});
          if (r.status === 200) tasks = [r.json.ocs.data.task];
          else if (r.status !== 204) errors.push(`next: ${r.status} ${r.text}`);
        }
        // A polling worker without a long-poll idles briefly, as nc_py_api's loop does (for seconds).
        if (tasks.length === 0 && mode !== 'wait') await new Promise((r) => setTimeout(r, 5));
        for (const task of tasks) {
          mine.push(task.id);
          await process(w, task);
        }
      }
    };

    const modes: Mode[] = ['next', 'batch', 'wait', 'wait'];
    const running = workers.map((_, i) => run(i, modes[i % modes.length] as Mode));

    // Users schedule while the workers already run: 4 users, 8 requests in flight.
    const scheduled: number[] = [];
    let n = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (n < TASKS) {
          const k = n++;
          const user = users[k % users.length] as TestUser;
          const r = await s.ocs('POST', `${V2}/schedule`, {
            auth: user.auth,
            body: { type: TYPE, appId: 'load', customId: `c${k}`, input: { input: `task-${k}` } },
            spec: false,
          });
          assert.equal(r.status, 200, r.text);
          scheduled.push(r.json.ocs.data.task.id);
        }
      }),
    );
    await Promise.all(running);
    assert.deepEqual(errors, []);

    const all = claimedBy.flat();
    assert.equal(all.length, TASKS, 'as many claims as tasks');
    assert.equal(new Set(all).size, TASKS, "no task claimed twice: the workers' sets are disjoint");
    assert.deepEqual(
      [...all].sort((a, b) => a - b),
      [...scheduled].sort((a, b) => a - b),
      'every scheduled task was claimed',
    );
    assert.ok(claimedBy.filter((ids) => ids.length > 0).length > 1, 'the work was shared');

    for (const user of users) {
      const list = await s.ocs('GET', `${V2}/tasks/app/load`, { auth: user.auth, spec: false });
      const tasks = list.json.ocs.data.tasks as any[];
      assert.equal(tasks.length, TASKS / users.length);
      for (const task of tasks) {
        assert.equal(task.status, 'STATUS_SUCCESSFUL');
        assert.deepEqual(task.output, { output: `${String(task.input.input).toUpperCase()}#${task.id}` });
      }
    }
  });
});
