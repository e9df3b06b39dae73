import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { secretHash } from '../../src/auth/appapi.js';
import { expireLeases, LEASE_EXPIRED_MESSAGE } from '../../src/workers/maintenance.js';
import { ManualClock } from '../helpers/clock.js';
import { HttpWorker, providerPayload } from '../helpers/http-worker.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';

const V2 = '/ocs/v2.php/taskprocessing';
const PROVIDER = 'lease-test';
const TYPE = 'core:text2text';
// expected_runtime 10 s: the lease is max(4 × 10, 60) = 60 s (workers/leases.ts).
const LEASE_MS = 60_000;

describe('leases on tasks claimed by ExApps', () => {
  const clock = new ManualClock(Date.UTC(2026, 2, 1));
  let s: TestServer;
  let alice: TestUser;
  let first: HttpWorker;
  let second: HttpWorker;

  const schedule = async (): Promise<number> => {
    const r = await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body: { type: TYPE, appId: 'leases', input: { input: 'x' } } });
    assert.equal(r.status, 200, r.text);
    return r.json.ocs.data.task.id;
  };
  const stored = async (id: number) => {
    const task = await s.app.store.tasks.getTask(id);
    assert.ok(task);
    return task;
  };
  /** Lets the real sweeper (every 20 ms, on the manual clock) act, without sleeping for a fixed time. */
  const untilStatus = async (id: number, status: number) => {
    for (let i = 0; i < 500; i++) {
      if ((await stored(id)).status === status) return stored(id);
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`task ${id} never reached status ${status}`);
  };
  const claim = async (w: HttpWorker, id: number) => {
    const r = await w.next([PROVIDER], [TYPE]);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.ocs.data.task.id, id);
  };

  before(async () => {
    s = await startServer({ clock, leaseIntervalMs: 20, config: { runnerConcurrency: 0 } });
    alice = await s.addUser('alice');
    await s.app.settings.set('rateLimitEnabled', false);
    const secret = 'lease-secret-0123456789';
    await s.app.store.exapps.createExApp({
      appId: 'leaser',
      version: '1.0.0',
      secretHash: secretHash(secret),
      sealedSecret: null,
      baseUrl: null,
      enabled: true,
      createdAt: 0,
    });
    // Two processes of the same ExApp: they share its lease name, as nc_py_api sends no worker id.
    first = new HttpWorker(s.url, 'leaser', secret);
    second = new HttpWorker(s.url, 'leaser', secret);
    const r = await first.register(providerPayload({ id: PROVIDER, task_type: TYPE, expected_runtime: 10 }));
    assert.equal(r.status, 200, r.text);
  });
  after(async () => {
    first.close();
    second.close();
    await s.close();
  });

  it("re-queues a silent worker's task once, fails it the second time, and refuses the late result", async () => {
    const id = await schedule();
    await claim(first, id);
    const claimed = await stored(id);
    assert.equal(claimed.leaseOwner, 'exapp:leaser');
    assert.equal(claimed.leaseExpiresAt, Math.floor(clock.nowMs() / 1000) + LEASE_MS / 1000);

    clock.advance(LEASE_MS + 1000);
    const requeued = await untilStatus(id, 1);
    assert.equal(requeued.leaseOwner, null);
    assert.equal(requeued.attempts, 1);

    // The first worker wakes up: its task went back to the queue, so its result is refused and changes nothing.
    const late = await first.result(id, { output: 'too late' });
    assert.equal(late.status, 409);
    assert.match(late.json.ocs.data.message, /not running/);
    assert.deepEqual(await stored(id), requeued);

    await claim(second, id);
    clock.advance(LEASE_MS + 1000);
    const failed = await untilStatus(id, 4);
    assert.equal(failed.errorMessage, LEASE_EXPIRED_MESSAGE);
    assert.equal(failed.leaseOwner, null);
    const seen = (await s.ocs('GET', `${V2}/task/${id}`, { auth: alice.auth })).json.ocs.data.task;
    assert.equal(seen.status, 'STATUS_FAILED');
    assert.equal(seen.output, null);

    // A result for a task that has ended is answered with the task, unchanged.
    const after = await first.result(id, { output: 'much too late' });
    assert.equal(after.status, 200);
    assert.equal(after.json.ocs.data.task.status, 'STATUS_FAILED');
    assert.deepEqual(await stored(id), failed);
  });

  it('keeps a task whose worker reports progress: each report renews the lease', async () => {
    const id = await schedule();
    await claim(first, id);
    for (let i = 0; i < 3; i++) {
      clock.advance(LEASE_MS - 10_000);
      const r = await first.progress(id, (i + 1) / 4);
      assert.equal(r.status, 200, r.text);
      assert.equal((await stored(id)).leaseExpiresAt, Math.floor(clock.nowMs() / 1000) + LEASE_MS / 1000);
      // A sweep now finds nothing expired, though the first lease ran out long ago.
      await expireLeases(s.app.store.tasks, s.app.events, clock);
      assert.equal((await stored(id)).status, 2);
    }
    const streamed = await first.streamResult(id, { output: 'part' });
    assert.equal(streamed.status, 200);
    clock.advance(LEASE_MS - 10_000);
    await expireLeases(s.app.store.tasks, s.app.events, clock);
    assert.equal((await stored(id)).status, 2, 'stream-result renews the lease too');
    const done = await first.result(id, { output: 'made it' });
    assert.equal(done.json.ocs.data.task.status, 'STATUS_SUCCESSFUL');
  });
});
