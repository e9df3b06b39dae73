import assert from 'node:assert/strict';
import { secretHash } from '../../src/auth/appapi.js';
import type { FuzzWorld } from './fuzz-routes.js';
import { providerPayload, SHAPE } from './http-worker.js';
import { echoProvider } from './providers.js';
import { startServer, type TestServer, type TestUser, waitForStatus } from './server.js';

/**
 * The server the fuzz tests talk to, with something behind every route: users (one a guest), an
 * ExApp with a registered provider and custom task type (every kind of slot), a file, tasks
 * scheduled, claimed and finished, an anonymous session.
 */

export const EXAPP = 'fuzzapp';
export const SECRET = 'fuzz-secret-0123456789abcdef';
export const TYPE = 'fuzz:typed';
export const PROVIDER = 'fuzz-provider';
export const V2 = '/ocs/v2.php/taskprocessing';

export const CUSTOM_TYPE = {
  id: TYPE,
  name: 'Fuzz',
  description: 'A type with every kind of slot',
  input_shape: [{ name: 'input', description: 'Text', shape_type: SHAPE.Text }],
  output_shape: [{ name: 'output', description: 'Text', shape_type: SHAPE.Text }],
};

const PROVIDER_PAYLOAD = providerPayload({
  id: PROVIDER,
  name: 'Fuzz provider',
  task_type: TYPE,
  expected_runtime: 10,
  optional_input_shape: [
    { name: 'number', description: 'A number', shape_type: SHAPE.Number },
    { name: 'choice', description: 'A choice', shape_type: SHAPE.Enum },
    { name: 'texts', description: 'Texts', shape_type: SHAPE.ListOfTexts },
    { name: 'file', description: 'A file', shape_type: SHAPE.File },
    { name: 'files', description: 'Files', shape_type: SHAPE.ListOfFiles },
  ],
  optional_output_shape: [
    { name: 'file', description: 'A file', shape_type: SHAPE.File },
    { name: 'files', description: 'Files', shape_type: SHAPE.ListOfFiles },
  ],
  optional_input_shape_enum_values: {
    choice: [
      { name: 'A', value: 'a' },
      { name: 'B', value: 'b' },
    ],
  },
  optional_input_shape_defaults: { number: 7 },
});

export interface FuzzServer {
  s: TestServer;
  alice: TestUser;
  w: FuzzWorld;
  /** A request with the fuzz ExApp's AppAPI headers (no user), `?format=json` and a JSON body. */
  asWorker(path: string, init?: { method?: string; body?: unknown; rawBody?: string }): Promise<Response>;
  schedule(user: TestUser, type: string, input: Record<string, unknown>): Promise<number>;
  /** The server still does its job: OCS, a task run to the end by the runner, WebDAV. */
  assertAnswersNormally(): Promise<void>;
}

const appApiHeaders = (user = ''): [string, string][] => [
  ['EX-APP-ID', EXAPP],
  ['EX-APP-VERSION', '1.0.0'],
  ['AUTHORIZATION-APP-API', Buffer.from(`${user}:${SECRET}`).toString('base64')],
];

export async function startFuzzServer(): Promise<FuzzServer> {
  const s = await startServer({
    providers: [echoProvider()],
    // Wrong passwords are part of the corpus; the address must stay allowed for the valid ones after them.
    loginThrottle: { maxFailures: 1_000_000, windowSeconds: 900 },
    config: { bodyLimit: 256 * 1024, maxUpload: 1024 * 1024, maxWait: 1 },
    // The corpus schedules tasks with webhooks nobody receives: one quick try each.
    webhook: { attempts: 1, timeoutMs: 2000 },
  });
  const asWorker: FuzzServer['asWorker'] = (path, init = {}) =>
    fetch(`${s.url}${path}${path.includes('?') ? '&' : '?'}format=json`, {
      method: init.method ?? 'GET',
      headers: { ...Object.fromEntries(appApiHeaders()), 'OCS-APIRequest': 'true', 'content-type': 'application/json' },
      body: init.rawBody ?? (init.body === undefined ? undefined : JSON.stringify(init.body)),
    });
  const schedule: FuzzServer['schedule'] = async (user, type, input) => {
    const r = await s.ocs('POST', `${V2}/schedule`, { auth: user.auth, body: { type, appId: 'fuzz', customId: 'fuzz', input } });
    assert.equal(r.status, 200, r.text);
    return r.json.ocs.data.task.id as number;
  };

  await s.app.settings.set('rateLimitEnabled', false);
  await s.app.settings.set('anonymousAccess', true);
  const alice = await s.addUser('alice');
  const bob = await s.addUser('bob');
  const guest = await s.addUser('gwen', { guest: true });
  const exApp = { appId: EXAPP, version: '1.0.0', secretHash: secretHash(SECRET), sealedSecret: null, baseUrl: null, enabled: true, createdAt: 0 };
  await s.app.store.exapps.createExApp(exApp);
  const registered = await asWorker('/ocs/v1.php/apps/app_api/api/v1/ai_provider/task_processing', {
    method: 'POST',
    body: { provider: PROVIDER_PAYLOAD, customTaskType: CUSTOM_TYPE },
  });
  assert.equal(registered.status, 200, await registered.text());

  const put = await fetch(`${s.url}/remote.php/dav/files/alice/fuzz.txt`, { method: 'PUT', headers: { authorization: alice.auth }, body: 'fuzz' });
  assert.equal(put.status, 201);
  const fileId = parseInt(put.headers.get('oc-fileid') ?? '', 10);

  const withFile = await schedule(alice, TYPE, { input: 'with a file', file: fileId });
  const scheduled: number[] = [];
  for (let i = 0; i < 4; i++) scheduled.push(await schedule(alice, TYPE, { input: `task ${i}` }));
  const claimed: number[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await asWorker(`${V2}/tasks_provider/next?providerIds[]=${PROVIDER}&taskTypeIds[]=${TYPE}`);
    assert.equal(r.status, 200);
    claimed.push(((await r.json()) as any).ocs.data.task.id);
  }
  const finished = await schedule(alice, 'core:text2text', { input: 'done' });
  await waitForStatus(s, alice, finished, 'STATUS_SUCCESSFUL');
  const bobs = await schedule(bob, 'core:text2text', { input: 'bob' });
  const anon = await s.ocs('POST', `${V2}/schedule`, { auth: null, body: { type: 'core:text2text', appId: 'fuzz', input: { input: 'anon' } } });
  const anonCookie = /taskproc_anon=([0-9a-f]{64})/.exec(anon.headers.get('set-cookie') ?? '')?.[1];
  assert.ok(anonCookie, 'an anonymous session cookie');

  const w: FuzzWorld = {
    port: Number(new URL(s.url).port),
    alice: alice.auth,
    aliceBearer: `Bearer ${alice.appPassword}`,
    alicePassword: alice.passwordAuth,
    bob: bob.auth,
    admin: s.admin.auth,
    guest: guest.auth,
    exApp: (user) => appApiHeaders(user),
    exAppId: EXAPP,
    exAppSecret: SECRET,
    provider: PROVIDER,
    taskType: TYPE,
    ids: { scheduled: scheduled.at(-1) as number, claimed, finished, bob: bobs, withFile },
    fileId,
    anonCookie,
  };

  async function assertAnswersNormally(): Promise<void> {
    const caps = await fetch(`${s.url}/ocs/v2.php/cloud/capabilities?format=json`);
    assert.equal(caps.status, 200);
    const id = await schedule(alice, 'core:text2text', { input: 'still here' });
    const task = await waitForStatus(s, alice, id, 'STATUS_SUCCESSFUL');
    assert.deepEqual(task.output, { output: 'echo: still here' });
    const propfind = await fetch(`${s.url}/remote.php/webdav/`, { method: 'PROPFIND', headers: { authorization: alice.auth, depth: '0' } });
    assert.equal(propfind.status, 207);
  }

  return { s, alice, w, asWorker, schedule, assertAnswersNormally };
}
