import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { removeOldTasks } from '../../src/workers/maintenance.js';
import { ManualClock } from '../helpers/clock.js';
import { echoProvider } from '../helpers/providers.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';

const V2 = '/ocs/v2.php/taskprocessing';

describe('retention', () => {
  let s: TestServer;
  let alice: TestUser;
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  before(async () => {
    s = await startServer({ providers: [echoProvider()], clock, config: { runnerConcurrency: 0 } });
    alice = await s.addUser('alice');
  });
  after(() => s.close());

  it('removes tasks last updated longer ago than the retention setting (default 6 months), keeps newer ones', async () => {
    const old = await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body: { type: 'core:text2text', appId: 'r', input: { input: 'old' } } });
    clock.advance((60 * 60 * 24 * 31 * 6 - 10) * 1000);
    const recent = await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body: { type: 'core:text2text', appId: 'r', input: { input: 'new' } } });
    assert.equal(await removeOldTasks(s.app.store.tasks, s.app.settings, clock, s.app.files), 0, 'not yet 6 months old');
    clock.advance(11_000);
    assert.equal(await removeOldTasks(s.app.store.tasks, s.app.settings, clock, s.app.files), 1);
    assert.equal((await s.ocs('GET', `${V2}/task/${old.json.ocs.data.task.id}`, { auth: alice.auth })).status, 404);
    assert.equal((await s.ocs('GET', `${V2}/task/${recent.json.ocs.data.task.id}`, { auth: alice.auth })).status, 200);

    await s.app.settings.set('retentionSeconds', 60);
    clock.advance(61_000);
    assert.equal(await removeOldTasks(s.app.store.tasks, s.app.settings, clock, s.app.files), 1, 'the period is a setting');
  });
});
