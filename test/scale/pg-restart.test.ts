import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HttpWorker } from '../helpers/http-worker.js';
import { startNode, type NodeProcess } from '../helpers/node-process.js';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres.js';
import { addUser, admin, doubleClaims, doubleResults, EchoWorker, Hang, listTasks, ocs, type OcsReply, registerEcho, sleep, until, Users, V2 } from './load.js';

/**
 * Issue 6, faults: PostgreSQL goes away under load and comes back. On a cluster of the test's
 * own (the shared server must not restart under other tests). While it is away every answer is a
 * 503 in the OCS envelope or a 200, never a 500 and never a hang; afterwards the same process
 * serves again by itself, its LISTEN connection included, and no task that got a 200 is lost.
 */

const APP = 'pgrestart';
const SECRET = 'pgrestart-secret-0123456789abcdef01234';
const ECHO = { type: 'restart:echo', provider: 'restart-echo' };
const LEASE_SECONDS = 5;
const NODE_NAME = 'taskproc_restart';

describe('PostgreSQL restarted under load', { timeout: 180_000 }, () => {
  let db: PrivatePostgres;
  let dir: string;
  let node: NodeProcess;
  let users: { uid: string; auth: string }[];
  let cli: Record<string, string>;
  let adminAuth: string;
  const diagnostics = () => `${node?.output().slice(-5000) ?? ''}\n--- PostgreSQL log ---\n${db?.log().slice(-3000) ?? ''}`;

  /** The node's LISTEN connection, as PostgreSQL sees it: its last statement is LISTEN or a NOTIFY it sent. */
  const listenBackends = async (): Promise<number> => {
    const { rows } = await db.query(
      `select count(*)::int as n from pg_stat_activity where application_name = '${NODE_NAME}' and (query ilike 'listen %' or query ilike '%pg_notify%')`,
    );
    return rows[0].n;
  };

  before(async () => {
    db = await startPrivatePostgres();
    dir = await mkdtemp(join(tmpdir(), 'taskproc-pgrestart-'));
    // The documented setup: a database URL, tables in the connection's default schema (public).
    cli = { TASKPROC_DATABASE_URL: db.url('postgres'), TASKPROC_DATA_DIR: dir };
    node = await startNode('N', {
      ...cli,
      TASKPROC_DATABASE_URL: db.url('postgres', 'postgres', { application_name: NODE_NAME }),
      TASKPROC_ADMIN_PASSWORD: 'restart-admin-password',
      TASKPROC_RUNNER_CONCURRENCY: '0',
      TASKPROC_OFFLINE_PROVIDERS: 'false',
      TASKPROC_LEASE_SECONDS: String(LEASE_SECONDS),
      TASKPROC_LOG_LEVEL: 'warn',
    });
    await admin(cli, 'config:set', 'ratelimit_enabled', 'false');
    await admin({ ...cli, TASKPROC_APP_SECRET: SECRET }, 'app:register', APP, '--secret-from-env');
    users = await Promise.all(['ivy', 'jon'].map(async (uid) => ({ uid, auth: await addUser(cli, uid) })));
    const token = (await admin(cli, 'user:app-password', 'admin')).trim().split('\n').pop() as string;
    adminAuth = `Basic ${Buffer.from(`admin:${token}`).toString('base64')}`;
    const registrar = new HttpWorker(node.url, APP, SECRET);
    await registerEcho(registrar, ECHO.provider, ECHO.type, 0);
    registrar.close();
    await until('the LISTEN connection', async () => (await listenBackends()) === 1, 10_000, diagnostics);
  });

  after(async () => {
    await node?.stop();
    await db?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('answers 503 in the envelope while it is down, serves again by itself, and loses no task that got a 200', async (t) => {
    const [ivy] = users as [{ uid: string; auth: string }];
    const workers = [0, 1].map((i) => new EchoWorker(`w${i}`, [node.url], 0, APP, SECRET, ECHO.provider, ECHO.type));
    for (const w of workers) w.start();
    const load = new Users(users, () => [node.url], 'load', ECHO.type);
    // Readers poll tasks that got a 200 all along: a 200 or a 503, nothing else.
    const readerErrors: string[] = [];
    let reads = 0;
    let stopReading = false;
    const reader = (async () => {
      while (!stopReading) {
        const known = load.scheduled;
        const task = known[Math.floor(Math.random() * known.length)];
        if (task === undefined) {
          await sleep(20);
          continue;
        }
        const user = users.find((u) => u.uid === task.user) as { auth: string };
        try {
          const r = await ocs(node.url, user.auth, 'GET', `${V2}/task/${task.id}`);
          reads++;
          if (!(r.status === 200 || (r.status === 503 && r.json?.ocs?.meta?.statuscode === 503)))
            readerErrors.push(`GET task ${task.id}: ${r.status} ${r.text}`);
        } catch (err) {
          readerErrors.push(`GET task ${task.id}: ${(err as Error).message}`);
        }
        await sleep(5);
      }
    })();

    /** While PostgreSQL is down: each kind of request, once, must be a 503 in the envelope with Retry-After. */
    const duringOutage: { what: string; r: OcsReply }[] = [];
    const probeOutage = async () => {
      const w = new HttpWorker(node.url, APP, SECRET);
      try {
        duringOutage.push({
          what: 'schedule',
          r: await ocs(node.url, ivy.auth, 'POST', `${V2}/schedule`, { type: ECHO.type, appId: 'probe', input: { input: 'x' } }),
        });
        duringOutage.push({ what: 'get task', r: await ocs(node.url, ivy.auth, 'GET', `${V2}/task/1`) });
        duringOutage.push({ what: 'list tasks', r: await ocs(node.url, ivy.auth, 'GET', `${V2}/tasks`) });
        duringOutage.push({ what: 'task types', r: await ocs(node.url, ivy.auth, 'GET', `${V2}/tasktypes`) });
        // A worker's long-poll: it must not wait out its `wait` against a dead database, nor hang.
        const poll = await w.request('GET', `${V2}/tasks_provider/next_batch`, {
          json: { providerIds: [ECHO.provider], taskTypeIds: [ECHO.type], numberOfTasks: 4, wait: 5 },
          signal: AbortSignal.timeout(25_000),
        });
        duringOutage.push({
          what: 'next_batch with wait',
          r: { status: poll.status, json: poll.json, text: poll.text, headers: new Headers(poll.headers as Record<string, string>) },
        });
      } catch (err) {
        if (err instanceof Hang || (err as Error).name === 'TimeoutError')
          throw new Error(`a request hung while PostgreSQL was down: ${(err as Error).message}\n${diagnostics()}`);
        throw err;
      } finally {
        w.close();
      }
    };

    let unavailableBefore = 0;
    try {
      let progress = 0;
      const scheduling = load.schedule(1200, 6, 'echo', (n) => (progress = n));
      await until('part of the load to be scheduled', () => progress >= 300 || load.errors.length > 0, 60_000, diagnostics);
      unavailableBefore = load.unavailable;
      await db.stop();
      await probeOutage();
      await sleep(1000);
      await db.start();
      // And once more, the way an administrator restarts it: `pg_ctl restart -m fast`, under load.
      await until('more of the load to be scheduled', () => progress >= 800 || load.errors.length > 0, 60_000, diagnostics);
      await db.restart();
      await scheduling;
      assert.deepEqual(load.errors, [], diagnostics());
      await until(
        'the workers to finish every task',
        async () => {
          const r = await ocs(node.url, adminAuth, 'GET', `${V2}/queue_stats?taskTypeIds[]=${encodeURIComponent(ECHO.type)}`);
          return r.status === 200 && r.json.ocs.data.scheduled === 0 && r.json.ocs.data.running === 0;
        },
        60_000,
        () => `${JSON.stringify(workers.map((w) => [w.name, w.claims.length, w.effective.length, w.unavailable, w.errors]))}\n${diagnostics()}`,
      );
    } finally {
      stopReading = true;
      await reader;
      await Promise.all(workers.map((w) => w.stop()));
    }

    t.diagnostic(
      `tasks answered 200: ${load.scheduled.length}; 503s: schedules ${load.unavailable}, workers ${workers.reduce((n, w) => n + w.unavailable, 0)}; reads ${reads}; ` +
        `claims repeated after a lease ran out: ${workers.flatMap((w) => w.claims).length - new Set(workers.flatMap((w) => w.claims.map((c) => c.id))).size}`,
    );
    // During the outage: 503 with the envelope and Retry-After, for users and workers alike.
    for (const { what, r } of duringOutage) {
      if (what === 'task types' && r.status === 200) {
        // Needs no query when the user row (TASKPROC_AUTH_CACHE_SECONDS), the settings and the
        // providers were all read within the last second: a right answer from memory is fine.
        assert.ok(r.json?.ocs?.data?.types?.[ECHO.type], `task types from memory: ${r.text}`);
        continue;
      }
      assert.equal(r.status, 503, `${what} while PostgreSQL was down: ${r.status} ${r.text}`);
      assert.equal(r.json?.ocs?.meta?.statuscode, 503, `${what}: the OCS envelope`);
      assert.equal(r.json.ocs.data.message, 'The database is not reachable; try again shortly', `${what}: ${r.text}`);
      assert.equal(r.headers.get('retry-after'), '5', `${what}: Retry-After`);
    }
    assert.ok(load.unavailable > unavailableBefore, 'users met the outage under load');
    assert.deepEqual(readerErrors, []);
    assert.deepEqual(
      workers.flatMap((w) => w.errors),
      [],
    );

    // The same process, never restarted, serves again, its LISTEN connection back too.
    assert.ok(node.running, `the node kept running\n${diagnostics()}`);
    assert.equal(node.stderr(), '', 'no crash report or warning on stderr');
    assert.equal((await ocs(node.url, ivy.auth, 'GET', `${V2}/tasktypes`)).status, 200);
    await until('the LISTEN connection to come back', async () => (await listenBackends()) === 1, 15_000, diagnostics);

    // Every task that got a 200 exists and ended once, with the output of the worker whose result took.
    assert.deepEqual(doubleClaims(workers, (LEASE_SECONDS - 1) * 1000), []);
    assert.deepEqual(doubleResults(workers), []);
    const byWorker = new Map(workers.map((w) => [w.name, new Set(w.effective)]));
    const listed = new Map<number, any>();
    for (const user of users) for (const task of await listTasks(node.url, user.auth, 'load')) listed.set(task.id, task);
    for (const s of load.scheduled) {
      const task = listed.get(s.id);
      assert.ok(task, `task ${s.id} got a 200 and exists`);
      assert.equal(task.status, 'STATUS_SUCCESSFUL', `task ${s.id}`);
      const [echoed, worker] = String(task.output.output).split('|');
      assert.equal(echoed, s.input);
      assert.ok(byWorker.get(worker as string)?.has(s.id));
    }
    // A schedule answered 503 may still have been stored (the answer was lost, not the insert); no other task may exist.
    assert.ok(listed.size - load.scheduled.length <= load.unavailable, `${listed.size - load.scheduled.length} tasks without a 200`);
    for (const task of listed.values()) assert.equal(task.status, 'STATUS_SUCCESSFUL', `task ${task.id}`);
  });
});
