import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import Ajv from 'ajv';
import { EXTENSIONS_OPENAPI } from '../../src/api/routes/extensions-openapi.js';
import { type HttpWorker, providerPayload, SHAPE } from '../helpers/http-worker.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';
import { at, parseXml } from '../helpers/xml.js';

const TP = '/ocs/v2.php/taskprocessing';
const QUEUE = '/apps/taskproc/api/v1/queue';
const APP = 'queueapp';
const ECHO = 'q:echo';
const OTHER = 'q:other';
const MANY = 'q:many';
const TYPES = [ECHO, OTHER, MANY];

const customType = (id: string) => ({
  id,
  name: id,
  description: 'Echoes its input',
  input_shape: [{ name: 'input', description: 'Text', shape_type: SHAPE.Text }],
  output_shape: [{ name: 'output', description: 'Text', shape_type: SHAPE.Text }],
});

/** The 200 answer's schema in the extension OpenAPI document the server serves. */
const ajv = new Ajv.default({ strict: false, allErrors: true });
ajv.addSchema(EXTENSIONS_OPENAPI, 'ext');
const pointer = ['paths', `/ocs/v2.php${QUEUE}`, 'get', 'responses', '200', 'content', 'application/json', 'schema']
  .map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1'))
  .join('/');
const validateAnswer = ajv.compile<any>({ $ref: `ext#/${pointer}` });

/**
 * `GET /apps/taskproc/api/v1/queue` (issue 22): per type, the waiting tasks per priority and per
 * party, and the running ones, for admins. Tasks are scheduled through the API by users, anonymous
 * sessions and an ExApp without a user, for types an ExApp serves; the built-in runner takes
 * nothing, so only the test's own claim starts a task.
 */
describe('GET /ocs/v{1,2}.php/apps/taskproc/api/v1/queue', () => {
  let s: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let worker: HttpWorker;
  const consumers: HttpWorker[] = [];

  const schedule = async (auth: { user?: TestUser; cookie?: string }, type: string, extra: Record<string, unknown> = {}) => {
    const r = await s.ocs('POST', `${TP}/schedule`, {
      auth: auth.user?.auth ?? null,
      ...(auth.cookie !== undefined && { headers: { cookie: auth.cookie } }),
      body: { type, appId: 'queue-test', input: { input: 'x' }, ...extra },
    });
    assert.equal(r.status, 200, r.text);
    return { id: r.json.ocs.data.task.id as number, cookie: (r.headers.get('set-cookie') ?? auth.cookie ?? '').split(';')[0] as string };
  };
  const consumerSchedule = async (c: HttpWorker, type: string) => {
    const r = await c.request('POST', `${TP}/tasks_consumer/schedule`, { json: { type, appId: 'queue-test', input: { input: 'x' } } });
    assert.equal(r.status, 200, r.text);
    return r.json.ocs.data.task.id as number;
  };
  /** The admin's answer on v2 and v1, which must agree; v2's checked against the extension OpenAPI. */
  const queues = async (query = '') => {
    const v2 = await s.ocs('GET', `/ocs/v2.php${QUEUE}${query}`, { auth: s.admin.auth });
    assert.equal(v2.status, 200, v2.text);
    assert.equal(v2.json.ocs.meta.statuscode, 200);
    assert.ok(validateAnswer(v2.json), ajv.errorsText(validateAnswer.errors));
    const v1 = await s.ocs('GET', `/ocs/v1.php${QUEUE}${query}`, { auth: s.admin.auth });
    assert.equal(v1.status, 200, v1.text);
    assert.equal(v1.json.ocs.meta.statuscode, 100);
    assert.deepEqual(v1.json.ocs.data, v2.json.ocs.data);
    return { data: v2.json.ocs.data as { types: any[] }, text: v2.text };
  };
  const refused = async (auth: string | null, query: string, status: number, message: string, body?: unknown) => {
    for (const version of [2, 1]) {
      const path = `/ocs/v${version}.php${QUEUE}${query}`;
      const r = body === undefined ? await s.ocs('GET', path, { auth }) : await getWithBody(path, auth as string, body);
      assert.equal(r.status, version === 2 || status === 401 ? status : 200, `v${version}: ${r.text}`);
      assert.equal(r.json.ocs.meta.statuscode, status === 401 ? 997 : status, r.text);
      if (status === 403) assert.equal(r.json.ocs.meta.message, message);
      else if (status !== 401) assert.deepEqual(r.json.ocs.data, { message });
    }
  };

  /** A GET with a JSON body, which fetch cannot send. */
  const getWithBody = (path: string, auth: string, body: unknown): Promise<{ status: number; json: any; text: string }> =>
    new Promise((resolve, reject) => {
      const data = Buffer.from(JSON.stringify(body));
      const headers = { authorization: auth, 'OCS-APIRequest': 'true', 'content-type': 'application/json', 'content-length': String(data.length) };
      const req = http.request(new URL(`${path}?format=json`, s.url), { method: 'GET', headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(text), text });
        });
      });
      req.on('error', reject);
      req.end(data);
    });

  before(async () => {
    s = await startServer({ config: { runnerConcurrency: 0 } });
    await s.app.settings.set('rateLimitEnabled', false);
    await s.app.settings.set('anonymousAccess', true);
    alice = await s.addUser('alice');
    bob = await s.addUser('bob');
    worker = await s.addExApp(APP);
    for (const type of TYPES) {
      const r = await worker.register(providerPayload({ id: `${type}-provider`, task_type: type }), customType(type));
      assert.equal(r.status, 200, r.text);
    }
  });
  after(async () => {
    worker.close();
    for (const c of consumers) c.close();
    await s.close();
  });

  it('counts the waiting tasks per priority and per party (anonymous sessions as one, user-less ExApps by app) and the running ones', async () => {
    assert.deepEqual((await queues()).data, { types: [] });

    await schedule({ user: alice }, ECHO);
    const anon = await schedule({}, ECHO);
    await schedule({ cookie: anon.cookie }, ECHO);
    const otherSession = await schedule({}, ECHO);
    assert.notEqual(otherSession.cookie, anon.cookie);
    await schedule({ user: alice }, ECHO, { priority: -5 });
    await schedule({ user: alice }, ECHO);
    await schedule({ user: bob }, ECHO, { priority: -5 });
    const userless = await s.addExApp(APP);
    consumers.push(userless);
    await consumerSchedule(userless, ECHO);
    await consumerSchedule(userless, ECHO);
    const running = await schedule({ user: bob }, OTHER);
    const claimed = await worker.next([`${OTHER}-provider`], [OTHER]);
    assert.equal(claimed.json.ocs.data.task.id, running.id);

    const { data, text } = await queues();
    assert.deepEqual(data.types, [
      {
        taskTypeId: ECHO,
        scheduled: 9,
        running: 0,
        byPriority: [
          { priority: 0, scheduled: 7 },
          { priority: -5, scheduled: 2 },
        ],
        // alice and the anonymous sessions wait with 3 each: alice's oldest task is older.
        byParty: [
          { party: 'alice', kind: 'user', scheduled: 3 },
          { party: 'anonymous', kind: 'anonymous', scheduled: 3 },
          // The task's appId, as the fair queue keys a user-less ExApp's tasks (core/dispatch.ts).
          { party: 'app:queue-test', kind: 'app', scheduled: 2 },
          { party: 'bob', kind: 'user', scheduled: 1 },
        ],
        otherParties: 0,
        otherPartiesScheduled: 0,
      },
      { taskTypeId: OTHER, scheduled: 0, running: 1, byPriority: [], byParty: [], otherParties: 0, otherPartiesScheduled: 0 },
    ]);
    // The sessions' cookies (and their hashes) stay out of the answer.
    assert.ok(!text.includes(anon.cookie.split('=')[1] as string));
    assert.doesNotMatch(text, /[0-9a-f]{64}/);

    // A claim moves a task from waiting to running; the answer follows.
    const next = await worker.next([`${ECHO}-provider`], [ECHO]);
    assert.equal(next.status, 200, next.text);
    const echo = (await queues()).data.types.find((t) => t.taskTypeId === ECHO);
    assert.deepEqual([echo.scheduled, echo.running, echo.byParty[0]], [8, 1, { party: 'anonymous', kind: 'anonymous', scheduled: 3 }]);

    // XML, as every OCS route: the lists as elements.
    const xml = await s.ocs('GET', `/ocs/v2.php${QUEUE}`, { auth: s.admin.auth, format: 'xml' });
    assert.equal(xml.status, 200, xml.text);
    assert.equal(at(parseXml(xml.text), 'data', 'types', 'element', 'taskTypeId').text, ECHO);
  });

  it('answers only the types named by taskTypeIds, with zeros where nothing waits', async () => {
    const { data } = await queues(`?taskTypeIds[]=${OTHER}&taskTypeIds[]=q:none&taskTypeIds[]=${OTHER}`);
    assert.deepEqual(
      data.types.map((t) => [t.taskTypeId, t.scheduled, t.running]),
      [
        ['q:none', 0, 0],
        [OTHER, 0, 1],
      ],
    );
    assert.deepEqual(
      (await queues(`?taskTypeIds=${OTHER}`)).data.types.map((t) => t.taskTypeId),
      [OTHER],
    );
  });

  it('lists the 100 parties with the most waiting and counts the others', async () => {
    // 103 users, each through an ExApp acting for them (no password to hash); u000 waits with two.
    const uids = Array.from({ length: 103 }, (_, i) => `u${String(i).padStart(3, '0')}`);
    for (const uid of uids) {
      await s.app.store.users.createUser({ id: uid, displayName: uid, passwordHash: 'unused', isAdmin: false, isGuest: false, enabled: true, createdAt: 0 });
      const c = await s.addExApp(APP, { userId: uid });
      consumers.push(c);
      await consumerSchedule(c, MANY);
      if (uid === 'u000') await consumerSchedule(c, MANY);
    }
    const [many] = (await queues(`?taskTypeIds[]=${MANY}`)).data.types;
    assert.equal(many.scheduled, 104);
    assert.equal(many.byParty.length, 100);
    assert.deepEqual(many.byParty[0], { party: 'u000', kind: 'user', scheduled: 2 });
    // Among equals, the party waiting longest first: the same on both databases.
    assert.deepEqual(
      many.byParty.map((p: { party: string }) => p.party),
      uids.slice(0, 100),
    );
    assert.equal(many.otherParties, 3);
    assert.equal(many.otherPartiesScheduled, 3);
  });

  it('refuses callers who are not admins with 403, and anonymous ones with 401, in the envelope', async () => {
    await refused(alice.auth, '', 403, 'Logged in account must be an admin');
    await refused(null, '', 401, '');
  });

  it('answers 400 for a taskTypeIds that is not a list of strings, or names more than 1000 types', async () => {
    await refused(s.admin.auth, '?taskTypeIds[a][]=x', 400, 'Parameter "taskTypeIds" must be a list of strings');
    // In a GET body (as OCS clients may send one): 1001 ids would not fit in the request line.
    const many = Array.from({ length: 1001 }, (_, i) => `t${i}`);
    await refused(s.admin.auth, '', 400, 'Parameter "taskTypeIds" must name at most 1000 task types', { taskTypeIds: many });
    assert.equal((await queues(`?taskTypeIds[]=${OTHER}`)).data.types.length, 1);
    const atMost = await getWithBody(`/ocs/v2.php${QUEUE}`, s.admin.auth, { taskTypeIds: many.slice(0, 1000) });
    assert.equal(atMost.status, 200, atMost.text);
    assert.equal(atMost.json.ocs.data.types.length, 1000);
  });
});
