import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../helpers/clock.js';
import { echoProvider } from '../helpers/providers.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';

const V2 = '/ocs/v2.php/taskprocessing';
const V1 = '/ocs/v1.php/taskprocessing';
const body = { input: { input: 'x' }, type: 'core:text2text', appId: 'a' };

describe('schedule rate limit: 20 per 120 s per user', () => {
  let s: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  const clock = new ManualClock(Date.UTC(2026, 5, 1));
  before(async () => {
    s = await startServer({ providers: [echoProvider()], clock, config: { runnerConcurrency: 0 } });
    alice = await s.addUser('alice');
    bob = await s.addUser('bob');
  });
  after(() => s.close());

  it('allows 20, refuses the 21st with 429 and rate-limit headers, counts failures too, and frees up after the window', async () => {
    for (let i = 0; i < 19; i++) {
      const r = await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('x-ratelimit-remaining'), String(19 - i));
    }
    const invalid = await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body: { ...body, input: {} } });
    assert.equal(invalid.status, 400, 'the 20th call fails validation but still counts');
    const r = await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body });
    assert.equal(r.status, 429);
    assert.equal(r.json.ocs.meta.statuscode, 429);
    assert.equal(r.json.ocs.data.message, 'Rate limit exceeded');
    assert.equal(r.headers.get('x-ratelimit-limit'), '20');
    assert.equal(r.headers.get('x-ratelimit-remaining'), '0');
    assert.equal(r.headers.get('retry-after'), '120');
    const v1 = await s.ocs('POST', `${V1}/schedule`, { auth: alice.auth, body });
    assert.equal(v1.status, 429, "upstream's middleware answers 429 on v1 too");
    const other = await s.ocs('POST', `${V2}/schedule`, { auth: bob.auth, body });
    assert.equal(other.status, 200, 'the budget is per user');
    assert.equal((await s.ocs('GET', `${V2}/tasks`, { auth: alice.auth })).status, 200, 'other routes are not limited');
    clock.advance(121_000);
    assert.equal((await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body })).status, 200);
  });

  it('can be switched off by the admin setting', async () => {
    await s.app.settings.set('rateLimitEnabled', false);
    for (let i = 0; i < 25; i++) assert.equal((await s.ocs('POST', `${V2}/schedule`, { auth: bob.auth, body })).status, 200);
    await s.app.settings.set('rateLimitEnabled', true);
  });
});
