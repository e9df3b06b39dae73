import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { echoProvider } from '../helpers/providers.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';

/**
 * Every user route on both prefixes in both formats, and a second user and an anonymous caller
 * probing the first user's task through each of them.
 */
describe('every user route, v1 and v2, JSON and XML', () => {
  let s: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let id: number;
  const schedule = async () => {
    const r = await s.ocs('POST', '/ocs/v2.php/taskprocessing/schedule', {
      auth: alice.auth,
      body: { type: 'core:text2text', appId: 'every', customId: 'every', input: { input: 'x' } },
    });
    return r.json.ocs.data.task.id as number;
  };
  before(async () => {
    s = await startServer({ providers: [echoProvider()], config: { runnerConcurrency: 0 } });
    alice = await s.addUser('alice');
    bob = await s.addUser('bob');
    await s.app.settings.set('rateLimitEnabled', false);
    await s.app.settings.set('anonymousAccess', true);
    id = await schedule();
  });
  after(() => s.close());

  const routes = (taskId: () => number): [string, () => string, unknown?][] => [
    ['GET', () => '/tasktypes'],
    ['POST', () => '/schedule', { type: 'core:text2text', appId: 'every', input: { input: 'y' } }],
    ['GET', () => `/task/${taskId()}`],
    ['POST', () => `/task/${taskId()}`],
    ['GET', () => '/tasks?customId=every'],
    ['GET', () => '/tasks/app/every'],
    ['POST', () => `/tasks/${taskId()}/cancel`],
    ['POST', () => `/task/${taskId()}/cancel`],
    ['DELETE', () => `/task/${taskId()}`],
  ];

  for (const version of [1, 2]) {
    for (const format of ['json', 'xml'] as const) {
      it(`answers each route on v${version} in ${format}`, async () => {
        for (const [method, path, body] of routes(() => id)) {
          if (method === 'DELETE') id = await schedule();
          const r = await s.ocs(method, `/ocs/v${version}.php/taskprocessing${path()}`, { auth: alice.auth, body, format });
          assert.equal(r.status, 200, `${method} ${path()}: ${r.text}`);
          if (format === 'json') assert.equal(r.json.ocs.meta.statuscode, version === 1 ? 100 : 200);
          else {
            assert.equal(r.headers.get('content-type'), 'application/xml; charset=utf-8');
            assert.ok(r.text.includes(`<statuscode>${version === 1 ? 100 : 200}</statuscode>`), r.text);
          }
          if (method === 'DELETE') id = await schedule();
        }
      });
    }
  }

  it("a second user and an anonymous caller never see or change the first user's task", async () => {
    const target = await schedule();
    for (const [who, auth] of [
      ['bob', bob.auth],
      ['anonymous', null],
    ] as const) {
      for (const version of [1, 2]) {
        const p = `/ocs/v${version}.php/taskprocessing`;
        const get = await s.ocs('GET', `${p}/task/${target}`, { auth });
        assert.equal(get.json.ocs.meta.statuscode, 404, `${who} GET`);
        const post = await s.ocs('POST', `${p}/task/${target}`, { auth });
        assert.equal(post.json.ocs.meta.statuscode, 404, `${who} POST`);
        if (auth) {
          for (const path of [`${p}/tasks/${target}/cancel`, `${p}/task/${target}/cancel`]) {
            const c = await s.ocs('POST', path, { auth });
            assert.equal(c.json.ocs.meta.statuscode, 404, `${who} cancel`);
          }
          const list = await s.ocs('GET', `${p}/tasks?customId=every`, { auth });
          assert.deepEqual(list.json.ocs.data.tasks, []);
          const byApp = await s.ocs('GET', `${p}/tasks/app/every`, { auth });
          assert.deepEqual(byApp.json.ocs.data.tasks, []);
          await s.ocs('DELETE', `${p}/task/${target}`, { auth });
        } else {
          assert.equal((await s.ocs('POST', `${p}/tasks/${target}/cancel`, { auth })).status, 401);
          assert.equal((await s.ocs('DELETE', `${p}/task/${target}`, { auth })).status, 401);
          assert.equal((await s.ocs('GET', `${p}/tasks`, { auth })).status, 401);
        }
      }
    }
    const still = await s.ocs('GET', `/ocs/v2.php/taskprocessing/task/${target}`, { auth: alice.auth });
    assert.equal(still.json.ocs.data.task.status, 'STATUS_SCHEDULED');
  });
});
