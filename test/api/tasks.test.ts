import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { echoProvider, translateProvider } from '../helpers/providers.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';

const V2 = '/ocs/v2.php/taskprocessing';
const V1 = '/ocs/v1.php/taskprocessing';

describe('task routes: get, list, cancel, delete', () => {
  let s: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  const schedule = async (user: TestUser, body: Record<string, unknown>) => {
    const r = await s.ocs('POST', `${V2}/schedule`, { auth: user.auth, body: { type: 'core:text2text', appId: 'app1', input: { input: 'x' }, ...body } });
    assert.equal(r.status, 200, r.text);
    return r.json.ocs.data.task;
  };
  before(async () => {
    s = await startServer({ providers: [echoProvider(), translateProvider()], config: { runnerConcurrency: 0 } });
    alice = await s.addUser('alice');
    // Many schedules per user here; the limit has its own tests.
    await s.app.settings.set('rateLimitEnabled', false);
    bob = await s.addUser('bob');
  });
  after(() => s.close());

  it("GET task/{id} returns the owner's task on v1 and v2, and POST works as the documentation page has it", async () => {
    const t = await schedule(alice, { customId: 'get-1' });
    for (const [method, prefix] of [
      ['GET', V2],
      ['GET', V1],
      ['POST', V2],
      ['POST', V1],
    ] as const) {
      const r = await s.ocs(method, `${prefix}/task/${t.id}`, { auth: alice.auth });
      assert.equal(r.status, 200);
      assert.equal(r.json.ocs.data.task.id, t.id);
      assert.equal(r.json.ocs.data.task.customId, 'get-1');
    }
  });

  it('answers 404 "Task not found" for another user\'s task, a missing id, a non-numeric and a negative id', async () => {
    const t = await schedule(alice, {});
    for (const id of [String(t.id), '999999', 'abc', '-3']) {
      const r = await s.ocs('GET', `${V2}/task/${id}`, { auth: bob.auth });
      assert.equal(r.status, 404, id);
      assert.deepEqual(r.json.ocs.data, { message: 'Task not found' });
      const r1 = await s.ocs('GET', `${V1}/task/${id}`, { auth: bob.auth });
      assert.equal(r1.status, 200);
      assert.equal(r1.json.ocs.meta.statuscode, 404);
    }
  });

  it("lists the caller's tasks filtered by taskType and customId, by id", async () => {
    const a = await schedule(alice, { customId: 'list' });
    const b = await schedule(alice, { customId: 'list', type: 'core:text2text:translate', input: { input: 'y', target_language: 'de' } });
    await schedule(bob, { customId: 'list' });
    const all = await s.ocs('GET', `${V2}/tasks?customId=list`, { auth: alice.auth });
    assert.deepEqual(
      all.json.ocs.data.tasks.map((t: { id: number }) => t.id),
      [a.id, b.id],
    );
    const typed = await s.ocs('GET', `${V2}/tasks?customId=list&taskType=core:text2text:translate`, { auth: alice.auth });
    assert.deepEqual(
      typed.json.ocs.data.tasks.map((t: { id: number }) => t.id),
      [b.id],
    );
    const none = await s.ocs('GET', `${V1}/tasks?customId=nothing-here`, { auth: alice.auth });
    assert.deepEqual(none.json.ocs.data.tasks, []);
  });

  it('lists by app with an optional customId', async () => {
    const a = await schedule(alice, { appId: 'byapp', customId: 'one' });
    const b = await schedule(alice, { appId: 'byapp', customId: 'two' });
    await schedule(bob, { appId: 'byapp' });
    const r = await s.ocs('GET', `${V2}/tasks/app/byapp`, { auth: alice.auth });
    assert.deepEqual(
      r.json.ocs.data.tasks.map((t: { id: number }) => t.id),
      [a.id, b.id],
    );
    const one = await s.ocs('GET', `${V2}/tasks/app/byapp?customId=two`, { auth: alice.auth });
    assert.deepEqual(
      one.json.ocs.data.tasks.map((t: { id: number }) => t.id),
      [b.id],
    );
  });

  it('cancels through both paths; a final task comes back unchanged; another user gets 404 "Not found"', async () => {
    const a = await schedule(alice, {});
    const r = await s.ocs('POST', `${V2}/tasks/${a.id}/cancel`, { auth: alice.auth });
    assert.equal(r.status, 200);
    assert.equal(r.json.ocs.data.task.status, 'STATUS_CANCELLED');
    assert.ok(r.json.ocs.data.task.endedAt >= a.scheduledAt);
    const again = await s.ocs('POST', `${V2}/task/${a.id}/cancel`, { auth: alice.auth });
    assert.equal(again.status, 200);
    assert.equal(again.json.ocs.data.task.endedAt, r.json.ocs.data.task.endedAt);
    const b = await schedule(alice, {});
    const other = await s.ocs('POST', `${V2}/tasks/${b.id}/cancel`, { auth: bob.auth });
    assert.equal(other.status, 404);
    assert.deepEqual(other.json.ocs.data, { message: 'Not found' });
    const still = await s.ocs('GET', `${V2}/task/${b.id}`, { auth: alice.auth });
    assert.equal(still.json.ocs.data.task.status, 'STATUS_SCHEDULED');
  });

  it("deletes the owner's task; deleting another user's task answers 200 and leaves it", async () => {
    const a = await schedule(alice, {});
    const byBob = await s.ocs('DELETE', `${V2}/task/${a.id}`, { auth: bob.auth });
    assert.equal(byBob.status, 200);
    assert.equal(byBob.json.ocs.data, null);
    assert.equal((await s.ocs('GET', `${V2}/task/${a.id}`, { auth: alice.auth })).status, 200);
    const del = await s.ocs('DELETE', `${V1}/task/${a.id}`, { auth: alice.auth });
    assert.equal(del.status, 200);
    assert.equal(del.json.ocs.meta.statuscode, 100);
    assert.equal((await s.ocs('GET', `${V2}/task/${a.id}`, { auth: alice.auth })).status, 404);
  });

  it("GET tasktypes lists only types with a provider, with the provider's enums and defaults, in upstream key order", async () => {
    const r = await s.ocs('GET', `${V2}/tasktypes`, { auth: alice.auth });
    assert.equal(r.status, 200);
    const types = r.json.ocs.data.types;
    assert.deepEqual(Object.keys(types), ['core:text2text', 'core:text2text:translate']);
    const tr = types['core:text2text:translate'];
    assert.deepEqual(Object.keys(tr), [
      'name',
      'description',
      'optionalInputShape',
      'inputShapeEnumValues',
      'inputShapeDefaults',
      'inputShape',
      'optionalInputShapeEnumValues',
      'optionalInputShapeDefaults',
      'outputShape',
      'outputShapeEnumValues',
      'optionalOutputShape',
      'optionalOutputShapeEnumValues',
      'isInternal',
    ]);
    assert.equal(tr.name, 'Translate');
    assert.equal(tr.isInternal, false);
    assert.deepEqual(tr.inputShape.target_language, {
      name: 'Target language',
      description: 'The desired language to translate the origin text in',
      type: 'Enum',
    });
    assert.deepEqual(tr.inputShapeDefaults, { origin_language: 'detect_language' });
    assert.deepEqual(tr.optionalOutputShape, {});
    assert.ok(r.text.includes('"optionalOutputShape":{}'), 'empty maps are written {}');
  });

  it('GET queue_stats answers admins and refuses others with 403', async () => {
    await schedule(alice, {});
    const r = await s.ocs('GET', `${V2}/queue_stats?taskTypeIds[]=core:text2text`, { auth: s.admin.auth });
    assert.equal(r.status, 200);
    assert.ok(r.json.ocs.data.scheduled >= 1);
    assert.equal(r.json.ocs.data.running, 0);
    const no = await s.ocs('GET', `${V2}/queue_stats`, { auth: alice.auth });
    assert.equal(no.status, 403);
    assert.equal(no.json.ocs.meta.message, 'Logged in account must be an admin');
    assert.deepEqual(no.json.ocs.data, []);
    const no1 = await s.ocs('GET', `${V1}/queue_stats`, { auth: alice.auth });
    assert.equal(no1.status, 200);
    assert.equal(no1.json.ocs.meta.statuscode, 403);
  });
});
