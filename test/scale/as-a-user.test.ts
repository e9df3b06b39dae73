import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HttpWorker } from '../helpers/http-worker.js';
import { startNode, type NodeProcess } from '../helpers/node-process.js';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres.js';
import { addUser, admin, doubleClaims, doubleResults, EchoWorker, listTasks, ocs, registerEcho, until, Users, V2 } from './load.js';

/**
 * Issue 6, "as a new user would": a database and a role made for taskproc, two nodes started as
 * docs/SEVERAL-NODES.md says, users and workers through both; then, one after the other while the
 * load runs, a worker dies holding tasks, node A is killed, and PostgreSQL is restarted. Then
 * count: every task that got a 200 ends exactly once. The restart needs a cluster of the test's
 * own; everything else is what the other files in this folder check one at a time.
 */

const APP = 'assistant_worker';
const SECRET = 'as-a-user-secret-0123456789abcdef0123';
const ECHO = { type: 'user:echo', provider: 'user-echo' };
const LEASE_SECONDS = 5;
const TASKS = 1200;
const USERS = ['kim', 'lou', 'max'];

describe('as a new user would: two nodes, a dead worker, a killed node, a PostgreSQL restart', { timeout: 180_000 }, () => {
  let db: PrivatePostgres;
  let dir: string;
  const nodes: NodeProcess[] = [];
  const diagnostics = () =>
    `${nodes
      .map((n) => n.output())
      .join('\n')
      .slice(-5000)}\n--- PostgreSQL log ---\n${db?.log().slice(-2000) ?? ''}`;

  before(async () => {
    db = await startPrivatePostgres();
    dir = await mkdtemp(join(tmpdir(), 'taskproc-user-'));
    // What an administrator sets up first: a role and a database it owns.
    await db.query(`create role taskproc login password 'taskproc-db-password'`);
    await db.query('create database taskproc owner taskproc');
  });

  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await db?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('every task that got a 200 ends exactly once', async (t) => {
    const T = Date.now();
    const url = new URL(db.url('taskproc', 'taskproc'));
    url.password = 'taskproc-db-password';
    // The same settings on every node; a shared data directory.
    const settings = { TASKPROC_DATABASE_URL: url.toString(), TASKPROC_DATA_DIR: dir };
    const env = { ...settings, TASKPROC_ADMIN_PASSWORD: 'as-a-user-admin', TASKPROC_LEASE_SECONDS: String(LEASE_SECONDS), TASKPROC_LOG_LEVEL: 'warn' };
    const a = await startNode('A', env);
    nodes.push(a);
    const b = await startNode('B', env);
    nodes.push(b);
    await admin(settings, 'config:set', 'ratelimit_enabled', 'false');
    await admin({ ...settings, TASKPROC_APP_SECRET: SECRET }, 'app:register', APP, '--secret-from-env');
    const users = await Promise.all(USERS.map(async (uid) => ({ uid, auth: await addUser(settings, uid) })));
    const registrar = new HttpWorker(a.url, APP, SECRET);
    await registerEcho(registrar, ECHO.provider, ECHO.type, 0);
    registrar.close();
    await until(
      'B to offer the type',
      async () => (await ocs(b.url, users[0]!.auth, 'GET', `${V2}/tasktypes`)).json.ocs.data.types[ECHO.type] !== undefined,
      10_000,
    );

    t.diagnostic(`set up in ${((Date.now() - T) / 1000).toFixed(1)} s`);
    const urls = [a.url, b.url];
    const workers = Array.from({ length: 6 }, (_, i) => new EchoWorker(`w${i}`, urls, i, APP, SECRET, ECHO.provider, ECHO.type));
    for (const w of workers) w.start();
    const load = new Users(users, () => urls, 'load', ECHO.type);
    const steps: string[] = [];
    const started = Date.now();
    const step = (what: string) => steps.push(`${what} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    let progress = 0;
    const reach = (n: number) => until(`${n} schedules`, () => progress >= n || load.errors.length > 0, 60_000, diagnostics);
    try {
      const scheduling = load.schedule(TASKS, 6, 'task', (n) => (progress = n));
      await reach(TASKS / 4);
      await workers[1]!.dieAfterNextClaim();
      step(`worker w1 died holding ${workers[1]!.abandoned.length} tasks at ${progress}`);
      await reach(TASKS / 2);
      await a.kill();
      step(`node A killed at ${progress}`);
      await reach((TASKS * 3) / 4);
      await db.restart();
      step(`PostgreSQL restarted at ${progress}`);
      await scheduling;
      step('all scheduled');
      assert.deepEqual(load.errors, [], diagnostics());
      // Done when every task that exists has ended (ended: not scheduled, not running, for any user).
      await until(
        'every task to end',
        async () => {
          for (const user of users) {
            const r = await ocs(b.url, user.auth, 'GET', `${V2}/tasks/app/load`);
            if (r.status !== 200 || r.json.ocs.data.tasks.some((task: any) => task.status === 'STATUS_SCHEDULED' || task.status === 'STATUS_RUNNING'))
              return false;
          }
          return true;
        },
        90_000,
        () =>
          `${steps.join('; ')}\n${JSON.stringify(workers.map((w) => [w.name, w.claims.length, w.effective.length, w.switches, w.unavailable, w.errors]))}\n${diagnostics()}`,
      );
      step('all ended');
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
    t.diagnostic(`${steps.join('; ')}; answered 200: ${load.scheduled.length}; cut off by the kill: ${load.lost}; 503s: ${load.unavailable}`);
    assert.deepEqual(
      workers.flatMap((w) => w.errors),
      [],
    );
    assert.ok(workers[1]!.abandoned.length > 0, 'the worker died holding tasks');
    assert.ok(b.running, 'B kept running through the kill and the restart');

    // Count.
    assert.deepEqual(doubleClaims(workers, (LEASE_SECONDS - 1) * 1000), [], 'a task went to a second worker only after its lease ran out');
    assert.deepEqual(doubleResults(workers), [], 'one result stored per task');
    const listed = new Map<number, any>();
    for (const user of users) for (const task of await listTasks(b.url, user.auth, 'load')) listed.set(task.id, task);
    const byWorker = new Map(workers.map((w) => [w.name, new Set(w.effective)]));
    for (const s of load.scheduled) {
      const task = listed.get(s.id);
      assert.ok(task, `task ${s.id} got a 200 and exists`);
      assert.equal(task.status, 'STATUS_SUCCESSFUL', `task ${s.id}`);
      const [echoed, worker] = String(task.output.output).split('|');
      assert.equal(echoed, s.input, `task ${s.id} has its own output`);
      assert.ok(byWorker.get(worker as string)?.has(s.id), `task ${s.id} was ended by the worker its output names`);
    }
    for (const id of workers[1]!.abandoned) {
      if (listed.has(id)) assert.notEqual(listed.get(id).output.output.split('|')[1], 'w1', `task ${id}, abandoned by w1, was finished by another worker`);
    }
    // Tasks nobody got a 200 for come only from requests the kill or the restart cut off.
    assert.ok(listed.size - load.scheduled.length <= load.lost + load.unavailable, `${listed.size - load.scheduled.length} tasks without a 200`);
    assert.deepEqual(
      [...listed.values()].filter((task) => task.status !== 'STATUS_SUCCESSFUL').map((task) => task.id),
      [],
    );
    assert.equal(b.stderr(), '', 'B: no crash report or warning on stderr');
  });
});
