import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { EventSource } from 'eventsource';
import { secretHash } from '../../src/auth/appapi.js';
import { PgScheduledChannel } from '../../src/store/pg-notify.js';
import { HttpWorker, providerPayload, SHAPE } from '../helpers/http-worker.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';
import { adminQuery, createTestSchema, type TestSchema } from '../helpers/store.js';
import { until } from '../helpers/until.js';

/**
 * Two nodes on one PostgreSQL schema. Cross-node wake-ups exist only on PostgreSQL, so this file
 * runs there in both passes of the suite (SQLite too): it makes its own schema instead of
 * following TASKPROC_TEST_DIALECT.
 */

const V2 = '/ocs/v2.php/taskprocessing';
const TYPE = 'crossnode:shout';
const PROVIDER = 'crossnode-shout';
const CUSTOM_TYPE = {
  id: TYPE,
  name: 'Shout',
  description: 'Upper-cases the text',
  input_shape: [{ name: 'input', description: 'Text', shape_type: SHAPE.Text }],
  output_shape: [{ name: 'output', description: 'Loud text', shape_type: SHAPE.Text }],
};

/** The schema's URL with an application_name of its own, so the test can find one node's connections in pg_stat_activity. */
function nodeUrl(schema: TestSchema, name: string): string {
  const url = new URL(schema.url);
  url.searchParams.set('application_name', name);
  return url.toString();
}

describe('two nodes on one PostgreSQL database', () => {
  let schema: TestSchema;
  let a: TestServer;
  let b: TestServer;
  let alice: TestUser;
  let worker: HttpWorker;
  const tag = randomBytes(4).toString('hex');
  const bName = `taskproc_b_${tag}`;

  const schedule = async (): Promise<number> => {
    const r = await a.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body: { type: TYPE, appId: 'cross-node', input: { input: 'hello' } } });
    assert.equal(r.status, 200, r.text);
    return r.json.ocs.data.task.id as number;
  };

  /** A worker parked on B gets a task scheduled through A; returns B's LISTEN wake-ups it took. */
  const parkOnBAndScheduleOnA = async (): Promise<number> => {
    const notifierA = a.app.notifier!;
    const notifierB = b.app.notifier!;
    const pending = worker.next([PROVIDER], [TYPE], { wait: 20 });
    await until('the worker to park on B', () => b.app.waiters.size === 1);
    const wakeupsA = notifierA.wakeups;
    const wakeupsB = notifierB.wakeups;
    const started = Date.now();
    const id = await schedule();
    const r = await pending;
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.ocs.data.task.id, id);
    // A correctness bound, not a performance target: far below the 20 s wait.
    assert.ok(Date.now() - started < 3000, `answered after ${Date.now() - started} ms`);
    await until('B to count the wake-up', () => notifierB.wakeups > wakeupsB);
    assert.equal(notifierA.wakeups, wakeupsA, 'a node ignores its own notifications');
    assert.equal((await worker.result(id, { output: 'HELLO' })).status, 200);
    return notifierB.wakeups - wakeupsB;
  };

  before(async () => {
    schema = await createTestSchema();
    const base = { runnerConcurrency: 0 };
    a = await startServer({ config: { ...base, databaseUrl: nodeUrl(schema, `taskproc_a_${tag}`) } });
    b = await startServer({ config: { ...base, databaseUrl: nodeUrl(schema, bName) } });
    alice = await a.addUser('alice');
    await a.app.settings.set('rateLimitEnabled', false);
    const secret = 'crossnode-secret-0123456789';
    await a.app.store.exapps.createExApp({
      appId: 'crossnode',
      version: '1.0.0',
      secretHash: secretHash(secret),
      sealedSecret: null,
      baseUrl: null,
      enabled: true,
      createdAt: 0,
    });
    worker = new HttpWorker(b.url, 'crossnode', secret);
    const reg = await worker.register(providerPayload({ id: PROVIDER, task_type: TYPE }), CUSTOM_TYPE);
    assert.equal(reg.status, 200, reg.text);
    // A learns of the registration made on B from the database, within its catalog's reload time.
    await until('A to know the type', async () => (await a.ocs('GET', `${V2}/tasktypes`, { auth: alice.auth })).json.ocs.data.types[TYPE] !== undefined);
    await until('both LISTEN connections', () => a.app.notifier?.channel.listening === true && b.app.notifier?.channel.listening === true);
  });
  after(async () => {
    worker?.close();
    await a?.close();
    await b?.close();
    await schema?.drop();
  });

  it('a worker long-polling on B is woken by a task scheduled on A, through LISTEN/NOTIFY', async () => {
    assert.ok((await parkOnBAndScheduleOnA()) >= 1);
  });

  it('a cancel on A is seen on B', async () => {
    const id = await schedule();
    const cancel = await a.ocs('POST', `${V2}/tasks/${id}/cancel`, { auth: alice.auth });
    assert.equal(cancel.status, 200, cancel.text);
    const seen = await b.ocs('GET', `${V2}/task/${id}`, { auth: alice.auth });
    assert.equal(seen.json.ocs.data.task.status, 'STATUS_CANCELLED');
  });

  it('a watcher on A sees the status, progress and text deltas a worker sends through B, in order, then the final task', async () => {
    const id = await schedule();
    const got: { type: string; data: Record<string, unknown> }[] = [];
    const es = new EventSource(`${a.url}/ocs/v2.php/apps/taskproc/api/v1/tasks/${id}/events`, {
      fetch: (input, init) => fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), authorization: alice.auth } }),
    });
    for (const type of ['status', 'progress', 'output', 'task']) es.addEventListener(type, (e) => got.push({ type, data: JSON.parse(e.data) }));
    try {
      await until('the first status on A', () => got.length > 0);
      const claimed = await worker.next([PROVIDER], [TYPE]);
      assert.equal(claimed.json.ocs.data.task.id, id);
      await until('RUNNING on A', () => got.some((g) => g.data.status === 'STATUS_RUNNING'));
      assert.equal((await worker.progress(id, 0.5)).status, 200);
      for (const text of ['Cross', 'Cross-node', 'Cross-node text']) assert.equal((await worker.streamResult(id, { output: text })).status, 200);
      const deltas = () => got.filter((g) => g.type === 'output').map((g) => g.data.delta ?? g.data.value);
      await until('the deltas on A', () => deltas().join('') === 'Cross-node text', 5000, { describe: () => JSON.stringify(got) });
      assert.deepEqual(deltas(), ['Cross', '-node', ' text']);
      assert.ok(got.some((g) => g.type === 'progress' && g.data.progress === 0.5));
      assert.equal((await worker.result(id, { output: 'CROSS-NODE TEXT' })).status, 200);
      await until('the final event on A', () => got.some((g) => g.type === 'task'));
      assert.equal((got.at(-1)?.data.task as { status: string } | undefined)?.status, 'STATUS_SUCCESSFUL');
    } finally {
      es.close();
    }
  });

  it('a file uploaded through one node is served by another that shares its data directory', async () => {
    const c = await startServer({ dir: a.dir, config: { runnerConcurrency: 0, databaseUrl: nodeUrl(schema, `taskproc_c_${tag}`) } });
    try {
      const put = await fetch(`${a.url}/remote.php/dav/files/alice/shared.txt`, {
        method: 'PUT',
        headers: { authorization: alice.auth },
        body: 'written on A',
      });
      assert.equal(put.status, 201, await put.text());
      const got = await fetch(`${c.url}/remote.php/dav/files/alice/shared.txt`, { headers: { authorization: alice.auth } });
      assert.equal(got.status, 200);
      assert.equal(await got.text(), 'written on A');
    } finally {
      await c.stop();
    }
  });

  it('the LISTEN connection comes back by itself after PostgreSQL drops it', async () => {
    // Its last query is its LISTEN, or a NOTIFY it sent since (only that connection sends them).
    const listen = await adminQuery(
      `select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = $1 and (query ilike 'listen %' or query ilike 'select pg_notify%')`,
      [bName],
    );
    assert.equal(listen.rowCount, 1, "B's LISTEN connection");
    await until(
      'B to listen again',
      () => b.app.notifier?.channel.listening === true && b.app.notifier.channel instanceof PgScheduledChannel && b.app.notifier.channel.connects === 2,
    );
    assert.ok((await parkOnBAndScheduleOnA()) >= 1);
  });
});
