import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { rm } from 'node:fs/promises';
import { ManualClock } from '../helpers/clock.js';
import { badOutputProvider, blockingProvider, echoProvider, failingProvider } from '../helpers/providers.js';
import { startServer, type TestServer, type TestUser, waitForStatus } from '../helpers/server.js';

const V2 = '/ocs/v2.php/taskprocessing';

describe('the built-in runner', () => {
  let s: TestServer;
  let alice: TestUser;
  const blocking = blockingProvider();
  before(async () => {
    s = await startServer({ providers: [echoProvider(), failingProvider(), badOutputProvider(), blocking] });
    alice = await s.addUser('alice');
  });
  after(() => s.close());

  const schedule = async (type: string) => {
    const r = await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body: { type, appId: 'runner', input: { input: 'Hello runner' } } });
    assert.equal(r.status, 200, r.text);
    return r.json.ocs.data.task;
  };

  it('runs a scheduled task through its provider to SUCCESSFUL with the output', async () => {
    const t = await schedule('core:text2text');
    const done = await waitForStatus(s, alice, t.id, 'STATUS_SUCCESSFUL');
    assert.deepEqual(done.output, { output: 'echo: Hello runner' });
    assert.equal(done.progress, 1);
    assert.ok(done.startedAt !== null && done.endedAt !== null);
    const raw = await s.ocs('GET', `${V2}/task/${t.id}`, { auth: alice.auth });
    // PHP's json_encode writes the float 1.0 as 1 (no JSON_PRESERVE_ZERO_FRACTION upstream).
    assert.ok(raw.text.includes('"progress":1,'), raw.text);
  });

  it('records a failing provider as FAILED with its user-facing message and never the technical one', async () => {
    const t = await schedule('core:text2text:headline');
    const done = await waitForStatus(s, alice, t.id, 'STATUS_FAILED');
    assert.equal(done.userFacingErrorMessage, 'The headline service is unavailable right now');
    const raw = await s.ocs('GET', `${V2}/task/${t.id}`, { auth: alice.auth });
    assert.ok(!raw.text.includes('backend exploded'));
    const stored = await s.app.store.tasks.getTask(t.id);
    assert.equal(stored?.errorMessage, 'backend exploded: HTTP 500 from upstream');
  });

  it('fails a task whose provider output does not match the output shape', async () => {
    const t = await schedule('core:text2text:topics');
    const done = await waitForStatus(s, alice, t.id, 'STATUS_FAILED');
    assert.equal(done.output, null);
    const stored = await s.app.store.tasks.getTask(t.id);
    assert.match(stored?.errorMessage ?? '', /doesn't pass validation/);
  });

  it("cancels a running task and aborts the provider's signal", async () => {
    const t = await schedule('core:text2text:summary');
    await waitForStatus(s, alice, t.id, 'STATUS_RUNNING');
    const r = await s.ocs('POST', `${V2}/tasks/${t.id}/cancel`, { auth: alice.auth });
    assert.equal(r.json.ocs.data.task.status, 'STATUS_CANCELLED');
    for (let i = 0; i < 200 && !blocking.aborted.includes(t.id); i++) await new Promise((res) => setTimeout(res, 10));
    assert.ok(blocking.aborted.includes(t.id), 'the provider saw the abort');
    const after = await waitForStatus(s, alice, t.id, 'STATUS_CANCELLED');
    assert.equal(after.output, null);
  });

  it('deleting a running task aborts it too', async () => {
    const t = await schedule('core:text2text:summary');
    await waitForStatus(s, alice, t.id, 'STATUS_RUNNING');
    await s.ocs('DELETE', `${V2}/task/${t.id}`, { auth: alice.auth });
    for (let i = 0; i < 200 && !blocking.aborted.includes(t.id); i++) await new Promise((res) => setTimeout(res, 10));
    assert.ok(blocking.aborted.includes(t.id));
  });
});

describe('restarting the server', () => {
  it('runs tasks that were scheduled, or running, when it stopped', async () => {
    const clock = new ManualClock();
    const first = await startServer({ providers: [echoProvider()], clock, config: { runnerConcurrency: 0 } });
    const dir = first.dir;
    const alice = await first.addUser('alice');
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await first.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body: { type: 'core:text2text', appId: 'r', input: { input: `n${i}` } } });
      ids.push(r.json.ocs.data.task.id);
    }
    // One task was claimed by the runner of the old process when it died (its lease has run out
    // by the restart: SQLite releases it at start, PostgreSQL's sweeper re-queues it).
    const [claimed] = await first.app.store.tasks.claimTasks({
      types: ['core:text2text'],
      limit: 1,
      leaseOwner: 'runner:old-node:1:abcd',
      leaseExpiresAt: 2,
      now: 1,
    });
    assert.ok(claimed);
    await first.stop();

    const second = await startServer({ providers: [echoProvider()], clock, dir });
    try {
      for (const id of ids) {
        const done = await waitForStatus(second, alice, id, 'STATUS_SUCCESSFUL');
        assert.match(done.output.output, /^echo: n\d$/);
      }
    } finally {
      await second.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
