import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../helpers/clock.js';
import { echoProvider } from '../helpers/providers.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';

const V2 = '/ocs/v2.php/taskprocessing';
const body = { input: { input: 'x' }, type: 'core:text2text', appId: 'anon' };

describe('anonymous callers', () => {
  let s: TestServer;
  let alice: TestUser;
  const clock = new ManualClock(Date.UTC(2026, 5, 1));
  before(async () => {
    s = await startServer({ providers: [echoProvider()], clock, config: { runnerConcurrency: 0 } });
    alice = await s.addUser('alice');
  });
  after(() => s.close());

  it('are refused with 401 while the admin has not allowed them', async () => {
    const r = await s.ocs('POST', `${V2}/schedule`, { auth: null, body });
    assert.equal(r.status, 401);
    assert.equal(r.json.ocs.meta.statuscode, 997);
  });

  it('when allowed, schedule with a session cookie and only that cookie reads the task', async () => {
    await s.app.settings.set('anonymousAccess', true);
    const r = await s.ocs('POST', `${V2}/schedule`, { auth: null, body });
    assert.equal(r.status, 200);
    const task = r.json.ocs.data.task;
    assert.equal(task.userId, null);
    const cookie = (r.headers.get('set-cookie') ?? '').split(';')[0] as string;
    assert.match(cookie, /^taskproc_anon=[0-9a-f]{64}$/);

    const mine = await s.ocs('GET', `${V2}/task/${task.id}`, { auth: null, headers: { cookie } });
    assert.equal(mine.status, 200);
    assert.equal(mine.json.ocs.data.task.id, task.id);

    const stranger = await s.ocs('GET', `${V2}/task/${task.id}`, { auth: null });
    assert.equal(stranger.status, 404, 'another anonymous caller does not see it');
    const other = await s.ocs('GET', `${V2}/task/${task.id}`, { auth: null, headers: { cookie: `taskproc_anon=${'0'.repeat(64)}` } });
    assert.equal(other.status, 404);
    const user = await s.ocs('GET', `${V2}/task/${task.id}`, { auth: alice.auth });
    assert.equal(user.status, 404, 'a user does not see anonymous tasks');
    const list = await s.ocs('GET', `${V2}/tasks`, { auth: null, headers: { cookie } });
    assert.equal(list.status, 401, 'listing is for users only, as in upstream 30.0');
  });

  it('a cookie request without OCS-APIRequest: true fails the CSRF check with 412', async () => {
    const r = await s.ocs('POST', `${V2}/schedule`, { auth: null, body });
    const cookie = (r.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const res = await fetch(`${s.url}${V2}/task/${r.json.ocs.data.task.id}?format=json`, { headers: { cookie } });
    assert.equal(res.status, 412);
    assert.equal(await res.text(), '{"message":"CSRF check failed"}');
  });

  it("do not see users' tasks", async () => {
    const t = await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body });
    const r = await s.ocs('GET', `${V2}/task/${t.json.ocs.data.task.id}`, { auth: null });
    assert.equal(r.status, 404);
  });

  it('are limited to 5 schedules per 120 s per address', async () => {
    clock.advance(200_000);
    for (let i = 0; i < 5; i++) assert.equal((await s.ocs('POST', `${V2}/schedule`, { auth: null, body })).status, 200);
    const r = await s.ocs('POST', `${V2}/schedule`, { auth: null, body });
    assert.equal(r.status, 429);
    assert.equal(r.headers.get('x-ratelimit-limit'), '5');
  });
});

describe('guest users', () => {
  let s: TestServer;
  let guest: TestUser;
  before(async () => {
    s = await startServer({ providers: [echoProvider()], config: { runnerConcurrency: 0 } });
    guest = await s.addUser('guest1', { guest: true });
  });
  after(() => s.close());

  it('see no task types and get 412 on schedule unless the admin allows guests', async () => {
    // API.md §4.1 (upstream's empty PHP array) wins over the OpenAPI file, which only knows the object form.
    const types = await s.ocs('GET', `${V2}/tasktypes`, { auth: guest.auth, spec: false });
    assert.equal(types.status, 200);
    assert.deepEqual(types.json.ocs.data.types, []);
    const r = await s.ocs('POST', `${V2}/schedule`, { auth: guest.auth, body });
    assert.equal(r.status, 412);
    assert.equal(r.json.ocs.data.message, 'The given provider is not available');
    await s.app.settings.set('guestsAllowed', true);
    assert.deepEqual(Object.keys((await s.ocs('GET', `${V2}/tasktypes`, { auth: guest.auth })).json.ocs.data.types), ['core:text2text']);
    assert.equal((await s.ocs('POST', `${V2}/schedule`, { auth: guest.auth, body })).status, 200);
  });
});
