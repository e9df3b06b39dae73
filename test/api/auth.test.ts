import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { echoProvider } from '../helpers/providers.js';
import { basic, startServer, type TestServer, type TestUser } from '../helpers/server.js';

const V2 = '/ocs/v2.php/taskprocessing';
const V1 = '/ocs/v1.php/taskprocessing';

describe('authentication', () => {
  let s: TestServer;
  let alice: TestUser;
  before(async () => {
    s = await startServer({ providers: [echoProvider()], config: { runnerConcurrency: 0 }, loginThrottle: { maxFailures: 3, windowSeconds: 900 } });
    alice = await s.addUser('alice');
  });
  after(() => s.close());

  it('accepts the login password, an app password through Basic, and an app password as Bearer', async () => {
    for (const auth of [alice.passwordAuth, alice.auth, `Bearer ${alice.appPassword}`]) {
      const r = await s.ocs('GET', `${V2}/tasktypes`, { auth });
      assert.equal(r.status, 200, auth);
    }
  });

  it('answers 401 with OCS status 997 on v1 and v2 without credentials', async () => {
    for (const prefix of [V1, V2]) {
      const r = await s.ocs('GET', `${prefix}/tasks`, { auth: null });
      assert.equal(r.status, 401);
      const meta = { status: 'failure', statuscode: 997, message: 'Current user is not logged in' };
      assert.deepEqual(r.json.ocs.meta, prefix === V1 ? { ...meta, totalitems: '', itemsperpage: '' } : meta);
      assert.deepEqual(r.json.ocs.data, []);
    }
    const v2 = await s.ocs('GET', `${V2}/tasks`, { auth: null });
    assert.equal(v2.json.ocs.meta.statuscode, 997, 'v2 keeps 997 in the body as upstream maps it only through HTTP 401');
  });

  it('refuses an app password presented with another login name', async () => {
    const bob = await s.addUser('bob');
    const r = await s.ocs('GET', `${V2}/tasks`, { auth: basic('alice', bob.appPassword) });
    assert.equal(r.status, 401);
  });

  it('refuses a disabled user, even with the right password, and accepts again once enabled', async () => {
    const carol = await s.addUser('carol');
    assert.equal((await s.ocs('GET', `${V2}/tasks`, { auth: carol.auth })).status, 200);
    await s.app.store.users.updateUser('carol', { enabled: false });
    const r = await s.ocs('GET', `${V2}/tasks`, { auth: carol.auth });
    assert.equal(r.status, 401);
    assert.match(r.json.ocs.meta.message, /disabled/);
    await s.app.store.users.updateUser('carol', { enabled: true });
    assert.equal((await s.ocs('GET', `${V2}/tasks`, { auth: carol.auth })).status, 200);
  });

  it('refuses a revoked app password at once, though it was cached', async () => {
    const dave = await s.addUser('dave');
    assert.equal((await s.ocs('GET', `${V2}/tasks`, { auth: dave.auth })).status, 200);
    await s.app.store.users.revokeAppPasswords('dave');
    assert.equal((await s.ocs('GET', `${V2}/tasks`, { auth: dave.auth })).status, 401);
  });
});

describe('failed-login throttling', () => {
  let s: TestServer;
  let alice: TestUser;
  before(async () => {
    s = await startServer({ config: { runnerConcurrency: 0 }, loginThrottle: { maxFailures: 3, windowSeconds: 900 } });
    alice = await s.addUser('alice');
  });
  after(() => s.close());

  it('throttles an address after repeated wrong passwords with 429 and Retry-After, in the envelope', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await s.ocs('GET', `${V2}/tasks`, { auth: basic('alice', `wrong-${i}`) });
      assert.equal(r.status, 401);
    }
    const blocked = await s.ocs('GET', `${V2}/tasks`, { auth: basic('alice', 'wrong-again') });
    assert.equal(blocked.status, 429);
    assert.equal(blocked.json.ocs.meta.statuscode, 429);
    assert.match(blocked.json.ocs.data.message, /Too many failed login attempts/);
    assert.ok(Number(blocked.headers.get('retry-after')) > 0);
    const v1 = await s.ocs('GET', `${V1}/tasks`, { auth: basic('alice', 'wrong-again') });
    assert.equal(v1.status, 429, 'a throttle answers HTTP 429 on v1 too');
    // Even the right password waits until the window passes: the throttle is per address.
    assert.equal((await s.ocs('GET', `${V2}/tasks`, { auth: alice.passwordAuth })).status, 429);
  });
});
