import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HttpWorker } from '../helpers/http-worker.js';
import { startNode, type NodeProcess } from '../helpers/node-process.js';
import { createTestSchema, type TestSchema } from '../helpers/store.js';
import { addUser, admin, doubleResults, EchoWorker, listTasks, ocs, registerEcho, until, Users, V2 } from './load.js';

/**
 * Issue 6, scale-out: two `taskproc serve` processes on one PostgreSQL schema, started as
 * docs/SEVERAL-NODES.md says (same settings, any order), users and ExApp workers on both.
 * Everything goes through HTTP and the admin CLI; the test never opens the store itself.
 */

const APP = 'scale';
const SECRET = 'scale-secret-0123456789abcdef0123456789';
/** The load's type: expected runtime 15 s gives a lease of 60 s, which a live worker here never outlasts. */
const ECHO = { type: 'scale:echo', provider: 'scale-echo', runtime: 15 };
/** The dying worker's type: expected runtime 0 gives the floor, TASKPROC_LEASE_SECONDS. */
const MORTAL = { type: 'scale:mortal', provider: 'scale-mortal', runtime: 0 };
const LEASE_SECONDS = 3;
const TASKS = 2000;
const USERS = ['ada', 'bob', 'cyd', 'dee'];

describe('two taskproc processes on one PostgreSQL database', { timeout: 180_000 }, () => {
  let schema: TestSchema;
  let dir: string;
  let cli: Record<string, string>;
  let a: NodeProcess;
  let b: NodeProcess;
  let users: { uid: string; auth: string }[];
  let adminAuth: string;
  const diagnostics = () =>
    [a, b]
      .map((n) => n?.output() ?? '')
      .join('\n')
      .slice(-6000);

  const queue = async (type: string): Promise<{ scheduled: number; running: number }> => {
    const r = await ocs(b.url, adminAuth, 'GET', `${V2}/queue_stats?taskTypeIds[]=${encodeURIComponent(type)}`);
    assert.equal(r.status, 200, r.text);
    return r.json.ocs.data;
  };

  before(async () => {
    schema = await createTestSchema();
    dir = await mkdtemp(join(tmpdir(), 'taskproc-scale-'));
    cli = { TASKPROC_DATABASE_URL: schema.url, TASKPROC_DATA_DIR: dir };
    const node = (name: string) => {
      const url = new URL(schema.url);
      url.searchParams.set('application_name', `taskproc_${name}`);
      return startNode(name, {
        ...cli,
        TASKPROC_DATABASE_URL: url.toString(),
        TASKPROC_ADMIN_PASSWORD: 'scale-admin-password',
        // Only the HTTP workers process tasks: no built-in runner, no offline providers.
        TASKPROC_RUNNER_CONCURRENCY: '0',
        TASKPROC_OFFLINE_PROVIDERS: 'false',
        TASKPROC_LEASE_SECONDS: String(LEASE_SECONDS),
        TASKPROC_LOG_LEVEL: 'warn',
      });
    };
    // At the same moment, on an empty database: both migrate and both try to create the admin
    // user; the docs promise the nodes can start in any order.
    [a, b] = await Promise.all([node('A'), node('B')]);
    await admin(cli, 'config:set', 'ratelimit_enabled', 'false');
    await admin({ ...cli, TASKPROC_APP_SECRET: SECRET }, 'app:register', APP, '--secret-from-env');
    users = await Promise.all(USERS.map(async (uid) => ({ uid, auth: await addUser(cli, uid) })));
    const token = (await admin(cli, 'user:app-password', 'admin')).trim().split('\n').pop() as string;
    adminAuth = `Basic ${Buffer.from(`admin:${token}`).toString('base64')}`;
    // The ExApp registers its providers through A, as it would through any node.
    const registrar = new HttpWorker(a.url, APP, SECRET);
    await registerEcho(registrar, ECHO.provider, ECHO.type, ECHO.runtime);
    await registerEcho(registrar, MORTAL.provider, MORTAL.type, MORTAL.runtime);
    registrar.close();
    // B learns of the registration from the database (its catalog reloads within a second).
    await until(
      'B to offer the registered types',
      async () => {
        const types = (await ocs(b.url, users[0]!.auth, 'GET', `${V2}/tasktypes`)).json.ocs.data.types;
        return types[ECHO.type] !== undefined && types[MORTAL.type] !== undefined;
      },
      10_000,
    );
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await schema?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(`processes each of ${TASKS} tasks scheduled through both nodes exactly once, with 8 workers spread over both`, async () => {
    const nodes = [a.url, b.url];
    // Even workers ask A, odd ones B.
    const workers = Array.from({ length: 8 }, (_, i) => new EchoWorker(`w${i}`, nodes, i, APP, SECRET, ECHO.provider, ECHO.type));
    for (const w of workers) w.start();
    const load = new Users(users, () => nodes, 'load', ECHO.type);
    try {
      await load.schedule(TASKS, 8, 'load');
      assert.deepEqual(load.errors, []);
      await until(
        'the queue to drain',
        async () => {
          const q = await queue(ECHO.type);
          return q.scheduled === 0 && q.running === 0;
        },
        60_000,
        () => `${JSON.stringify(workers.map((w) => [w.name, w.claims.length, w.errors]))}\n${diagnostics()}`,
      );
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
    assert.deepEqual(
      workers.flatMap((w) => w.errors),
      [],
    );
    for (const n of [a, b]) assert.equal(n.stderr(), '', `node ${n.name}: no crash report or warning on stderr`);
    assert.equal(load.scheduled.length, TASKS, 'every schedule was answered 200');
    assert.ok(load.scheduled.some((t) => t.via === a.url) && load.scheduled.some((t) => t.via === b.url), 'both nodes scheduled');

    // Exactly once: no task was claimed twice (no lease ran out here), and one result ended each.
    const claims = workers.flatMap((w) => w.claims.map((c) => c.id));
    assert.equal(new Set(claims).size, claims.length, 'no task was handed to two workers');
    assert.deepEqual(doubleResults(workers), []);
    const ids = load.scheduled.map((t) => t.id).sort((x, y) => x - y);
    assert.deepEqual(
      workers.flatMap((w) => w.effective).sort((x, y) => x - y),
      ids,
      'every task that got a 200 was processed, and nothing else',
    );
    assert.ok(
      workers.every((w) => w.switches === 0),
      'no worker had to leave its node',
    );
    assert.ok(
      [0, 1].every((side) => workers.some((w, i) => i % 2 === side && w.claims.length > 0)),
      'workers on both nodes got work',
    );

    // What the users see: their tasks, listed through A for some users and through B for others.
    const byWorker = new Map(workers.map((w) => [w.name, new Set(w.effective)]));
    const expected = new Map(load.scheduled.map((t) => [t.id, t]));
    for (const [i, user] of users.entries()) {
      const tasks = await listTasks(nodes[(i + 1) % 2] as string, user.auth, 'load');
      assert.equal(tasks.length, TASKS / USERS.length);
      for (const task of tasks) {
        const mine = expected.get(task.id);
        assert.ok(mine, `task ${task.id} was scheduled with a 200`);
        assert.equal(task.status, 'STATUS_SUCCESSFUL');
        const [echoed, worker] = String(task.output.output).split('|');
        assert.equal(echoed, mine.input, "the output is the echo of this task's input");
        assert.ok(byWorker.get(worker as string)?.has(task.id), `the stored output names the worker whose result ended task ${task.id}`);
      }
    }
  });

  it('a cancel through A of a task scheduled through B is seen through B, and no worker gets the task', async () => {
    const [ada] = users as [{ uid: string; auth: string }];
    const scheduled = await ocs(b.url, ada.auth, 'POST', `${V2}/schedule`, { type: ECHO.type, appId: 'cancel', input: { input: 'cancel me' } });
    assert.equal(scheduled.status, 200, scheduled.text);
    const id = scheduled.json.ocs.data.task.id;
    const cancelled = await ocs(a.url, ada.auth, 'POST', `${V2}/tasks/${id}/cancel`);
    assert.equal(cancelled.status, 200, cancelled.text);
    assert.equal(cancelled.json.ocs.data.task.status, 'STATUS_CANCELLED');
    const seen = await ocs(b.url, ada.auth, 'GET', `${V2}/task/${id}`);
    assert.equal(seen.json.ocs.data.task.status, 'STATUS_CANCELLED');
    for (const node of [a.url, b.url]) {
      const w = new HttpWorker(node, APP, SECRET);
      const r = await w.nextBatch([ECHO.provider], [ECHO.type], 10, { wait: 1 });
      w.close();
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json.ocs.data.tasks, [], `a worker on ${node} gets nothing`);
    }

    // A task cancelled while a worker on B runs it: the worker's result changes nothing.
    const running = await ocs(a.url, ada.auth, 'POST', `${V2}/schedule`, { type: ECHO.type, appId: 'cancel', input: { input: 'cancel me while running' } });
    const runningId = running.json.ocs.data.task.id;
    const w = new HttpWorker(b.url, APP, SECRET);
    try {
      const claimed = await w.next([ECHO.provider], [ECHO.type], { wait: 5 });
      assert.equal(claimed.status, 200, claimed.text);
      assert.equal(claimed.json.ocs.data.task.id, runningId);
      assert.equal((await ocs(a.url, ada.auth, 'POST', `${V2}/tasks/${runningId}/cancel`)).json.ocs.data.task.status, 'STATUS_CANCELLED');
      const late = await w.result(runningId, { output: 'too late' });
      assert.equal(late.status, 200, late.text);
      assert.equal(late.json.ocs.data.task.status, 'STATUS_CANCELLED');
      assert.equal(late.json.ocs.data.task.output, null);
    } finally {
      w.close();
    }
    const after = await ocs(b.url, ada.auth, 'GET', `${V2}/task/${runningId}`);
    assert.equal(after.json.ocs.data.task.status, 'STATUS_CANCELLED');
  });

  it('a worker that dies holding claims: its tasks come back when the lease runs out and another worker finishes them', async () => {
    const [, bob] = users as [unknown, { uid: string; auth: string }];
    const ids: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await ocs(a.url, bob.auth, 'POST', `${V2}/schedule`, { type: MORTAL.type, appId: 'mortal', input: { input: `mortal-${i}` } });
      assert.equal(r.status, 200, r.text);
      ids.push(r.json.ocs.data.task.id);
    }
    // The doomed worker takes all six through B, then stops without a word (a crash, a lost network).
    const doomed = new HttpWorker(b.url, APP, SECRET);
    const claimed = await doomed.nextBatch([MORTAL.provider], [MORTAL.type], 6);
    const claimedAt = Date.now();
    doomed.close();
    assert.equal(claimed.status, 200, claimed.text);
    assert.deepEqual(claimed.json.ocs.data.tasks.map((e: any) => e.task.id).sort(), [...ids].sort());
    assert.deepEqual(await queue(MORTAL.type), { scheduled: 0, running: 6 });

    // A survivor long-polls through A; it gets the tasks once a sweeper (either node's) re-queues them.
    const survivor = new EchoWorker('survivor', [a.url], 0, APP, SECRET, MORTAL.provider, MORTAL.type);
    survivor.start();
    try {
      await until(
        "the survivor to finish the dead worker's tasks",
        () => survivor.effective.length === ids.length || survivor.errors.length > 0,
        30_000,
        diagnostics,
      );
    } finally {
      await survivor.stop();
    }
    assert.deepEqual(survivor.errors, []);
    assert.deepEqual([...survivor.effective].sort(), [...ids].sort());
    // Not before the lease ran out (it is counted in whole seconds, hence the one second of slack).
    for (const c of survivor.claims)
      assert.ok(c.atMs - claimedAt >= (LEASE_SECONDS - 1) * 1000, `task ${c.id} re-queued ${c.atMs - claimedAt} ms after the claim`);
    for (const id of ids) {
      const task = (await ocs(b.url, bob.auth, 'GET', `${V2}/task/${id}`)).json.ocs.data.task;
      assert.equal(task.status, 'STATUS_SUCCESSFUL');
      assert.match(task.output.output, /^mortal-\d\|survivor$/);
    }
    // The dead worker comes back and reports: the task has ended, and its result changes nothing.
    const revenant = new HttpWorker(b.url, APP, SECRET);
    const late = await revenant.result(ids[0] as number, { output: 'from beyond' });
    revenant.close();
    assert.equal(late.status, 200, late.text);
    assert.match(late.json.ocs.data.task.output.output, /\|survivor$/);
  });
});
