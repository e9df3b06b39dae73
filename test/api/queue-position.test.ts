import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type HttpWorker, providerPayload } from '../helpers/http-worker.js';
import { assertMatchesSpec } from '../helpers/openapi.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';
import { at, parseXml } from '../helpers/xml.js';

const V2 = '/ocs/v2.php/taskprocessing';
const V1 = '/ocs/v1.php/taskprocessing';
const TEXT = 'core:text2text';
const SUMMARY = 'core:text2text:summary';

/**
 * `GET tasks/{taskId}/queue_position` (upstream PR #62414): the bare position of the caller's
 * scheduled task, 1 + the scheduled tasks of every user and type that claims hand out before it.
 * The types are served by an ExApp worker, so tasks stay scheduled until the test claims them.
 */
describe('GET /ocs/v{1,2}.php/taskprocessing/tasks/{taskId}/queue_position', () => {
  let s: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let worker: HttpWorker;

  const schedule = async (user: TestUser, type: string): Promise<number> => {
    const r = await s.ocs('POST', `${V2}/schedule`, { auth: user.auth, body: { type, appId: 'queue', input: { input: 'x' } } });
    assert.equal(r.status, 200, r.text);
    return r.json.ocs.data.task.id;
  };
  const ask = (user: TestUser, id: number | string, base = V2, format: 'json' | 'xml' = 'json') =>
    s.ocs('GET', `${base}/tasks/${id}/queue_position`, { auth: user.auth, format });
  /** The position on v1 and v2, in JSON and XML, all four required to agree; JSON checked against the OpenAPI. */
  const position = async (user: TestUser, id: number): Promise<number> => {
    const seen: number[] = [];
    for (const base of [V2, V1]) {
      const r = await ask(user, id, base);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.ocs.meta.statuscode, base === V2 ? 200 : 100);
      assert.equal(typeof r.json.ocs.data, 'number', r.text);
      assertMatchesSpec('GET', `${base}/tasks/${id}/queue_position`, 200, r.json);
      seen.push(r.json.ocs.data);
      const x = await ask(user, id, base, 'xml');
      assert.equal(x.status, 200, x.text);
      assert.equal(x.headers.get('content-type'), 'application/xml; charset=utf-8');
      const data = at(parseXml(x.text), 'data');
      assert.equal(data.children.length, 0, x.text);
      seen.push(Number(data.text));
    }
    assert.ok(
      seen.every((p) => p === seen[0]),
      `v2/v1, JSON/XML disagree: ${seen.join(', ')}`,
    );
    return seen[0] as number;
  };
  /** 404 or 412 with its message, on v2 (HTTP status) and v1 (HTTP 200, the status in meta), JSON and XML. */
  const refused = async (user: TestUser, id: number | string, status: number, message: string) => {
    for (const base of [V2, V1]) {
      const r = await ask(user, id, base);
      assert.equal(r.status, base === V2 ? status : 200, `${base} ${id}: ${r.text}`);
      assert.equal(r.json.ocs.meta.statuscode, status);
      assert.deepEqual(r.json.ocs.data, { message });
      const x = await ask(user, id, base, 'xml');
      assert.equal(x.status, base === V2 ? status : 200, x.text);
      assert.equal(at(parseXml(x.text), 'data', 'message').text, message);
    }
  };
  const claimOne = async (type: string): Promise<number> => {
    const r = await worker.next(['qp-text', 'qp-summary'], [type]);
    assert.equal(r.status, 200, r.text);
    return r.json.ocs.data.task.id;
  };

  before(async () => {
    s = await startServer({ config: { runnerConcurrency: 0 } });
    alice = await s.addUser('alice');
    bob = await s.addUser('bob');
    await s.app.settings.set('rateLimitEnabled', false);
    worker = await s.addExApp('queue-app');
    for (const [id, type] of [
      ['qp-text', TEXT],
      ['qp-summary', SUMMARY],
    ]) {
      const r = await worker.register(providerPayload({ id: id as string, task_type: type as string }));
      assert.equal(r.status, 200, r.text);
    }
  });
  after(async () => {
    worker.close();
    await s.close();
  });

  it("counts the scheduled tasks of every user and type ahead of the caller's own, then drops as they are claimed or cancelled", async () => {
    const a1 = await schedule(alice, TEXT);
    const b2 = await schedule(bob, SUMMARY);
    const a3 = await schedule(alice, SUMMARY);
    const b4 = await schedule(bob, TEXT);
    const a5 = await schedule(alice, TEXT);
    assert.deepEqual(
      [await position(alice, a1), await position(bob, b2), await position(alice, a3), await position(bob, b4), await position(alice, a5)],
      [1, 2, 3, 4, 5],
    );

    // A worker of one type claims its oldest task: a1 leaves the queue, everyone behind it moves up.
    assert.equal(await claimOne(TEXT), a1);
    assert.deepEqual([await position(bob, b2), await position(alice, a3), await position(bob, b4), await position(alice, a5)], [1, 2, 3, 4]);

    // Bob cancels b2: alice's tasks move up though she sees nothing of his.
    assert.equal((await s.ocs('POST', `${V2}/tasks/${b2}/cancel`, { auth: bob.auth })).status, 200);
    assert.deepEqual([await position(alice, a3), await position(bob, b4), await position(alice, a5)], [1, 2, 3]);

    // The next claim of the text type skips a3 (a summary) and takes b4: a5 moves up past it, a3 stays first.
    assert.equal(await claimOne(TEXT), b4);
    assert.deepEqual([await position(alice, a3), await position(alice, a5)], [1, 2]);
    assert.equal(await claimOne(SUMMARY), a3);
    assert.equal(await position(alice, a5), 1);
    await worker.result(a1, { output: 'done' });
    await worker.result(b4, null, 'boom');
    await worker.result(a3, { output: 'done' });
    assert.equal((await s.ocs('POST', `${V2}/tasks/${a5}/cancel`, { auth: alice.auth })).status, 200);
  });

  it('answers 412 "This task is not scheduled" for a running, successful, failed or cancelled task', async () => {
    const running = await schedule(alice, TEXT);
    const successful = await schedule(alice, TEXT);
    const failed = await schedule(alice, TEXT);
    const cancelled = await schedule(alice, TEXT);
    for (const id of [running, successful, failed]) assert.equal(await claimOne(TEXT), id);
    assert.equal((await worker.result(successful, { output: 'done' })).status, 200);
    assert.equal((await worker.result(failed, null, 'boom')).status, 200);
    assert.equal((await s.ocs('POST', `${V2}/tasks/${cancelled}/cancel`, { auth: alice.auth })).status, 200);
    const statuses = await Promise.all(
      [running, successful, failed, cancelled].map(async (id) => (await s.ocs('GET', `${V2}/task/${id}`, { auth: alice.auth })).json.ocs.data.task.status),
    );
    assert.deepEqual(statuses, ['STATUS_RUNNING', 'STATUS_SUCCESSFUL', 'STATUS_FAILED', 'STATUS_CANCELLED']);
    for (const id of [running, successful, failed, cancelled]) await refused(alice, id, 412, 'This task is not scheduled');
    // Another user is told nothing about them: 404, not 412.
    for (const id of [running, cancelled]) await refused(bob, id, 404, 'Task not found');
    await worker.result(running, { output: 'done' });
  });

  it('answers 404 "Task not found" for another user\'s task, unknown ids and ids that are not numbers', async () => {
    const mine = await schedule(alice, SUMMARY);
    for (const id of [String(mine), '999999', '0', '-3', 'abc', '99999999999999999999']) await refused(bob, id, 404, 'Task not found');
    // Bob asking changes nothing for alice.
    assert.equal(await position(alice, mine), 1);
    assert.equal((await s.ocs('POST', `${V2}/tasks/${mine}/cancel`, { auth: alice.auth })).status, 200);
  });

  it('is for logged-in users only, as cancel is: an anonymous caller gets 401, even when anonymous access is allowed', async () => {
    const mine = await schedule(alice, TEXT);
    await s.app.settings.set('anonymousAccess', true);
    try {
      const scheduled = await s.ocs('POST', `${V2}/schedule`, { auth: null, body: { type: TEXT, appId: 'queue', input: { input: 'x' } } });
      assert.equal(scheduled.status, 200, scheduled.text);
      const cookie = (scheduled.headers.get('set-cookie') ?? '').split(';')[0] as string;
      const anonId = scheduled.json.ocs.data.task.id;
      for (const [id, headers] of [
        [mine, {}],
        [anonId, { cookie }],
      ] as const) {
        const r = await s.ocs('GET', `${V2}/tasks/${id}/queue_position`, { auth: null, headers });
        assert.equal(r.status, 401, r.text);
        assert.equal(r.json.ocs.meta.statuscode, 997);
      }
      // The anonymous task still counts for alice's position: it is in the queue, behind hers.
      assert.equal(await position(alice, mine), 1);
    } finally {
      await s.app.settings.set('anonymousAccess', false);
    }
  });
});
