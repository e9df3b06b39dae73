import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { HttpWorker } from '../helpers/http-worker.js';
import { assertMatchesSpec } from '../helpers/openapi.js';
import { echoProvider } from '../helpers/providers.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';
import { at, parseXml } from '../helpers/xml.js';

const V2 = '/ocs/v2.php/taskprocessing';
const V1 = '/ocs/v1.php/taskprocessing';
const TASK = { type: 'core:text2text', appId: 'streaming', input: { input: 'Hi' } };

/**
 * What `preferStreaming` values mean, as upstream's Dispatcher casts a `bool` parameter: the string
 * "false" is false, otherwise PHP truthiness; absent is the default, false (PR #61197).
 */
const JSON_CASES: [string, unknown, boolean][] = [
  ['absent', undefined, false],
  ['true', true, true],
  ['false', false, false],
  ['"false"', 'false', false],
  ['"0"', '0', false],
  ['"1"', '1', true],
  ['"true"', 'true', true],
  ['""', '', false],
  ['0', 0, false],
  ['1', 1, true],
  ['null', null, false],
];
/** The same values in a form body or a query string, where every value is a string. */
const TEXT_CASES: [string | undefined, boolean][] = [
  [undefined, false],
  ['1', true],
  ['0', false],
  ['true', true],
  ['false', false],
  ['', false],
  ['yes', true],
];

const form = (value: string | undefined) =>
  `type=core%3Atext2text&appId=streaming&input%5Binput%5D=Hi${value === undefined ? '' : `&preferStreaming=${encodeURIComponent(value)}`}`;

describe('preferStreaming on schedule (upstream PR #61197)', () => {
  let s: TestServer;
  let alice: TestUser;
  let consumer: HttpWorker;

  before(async () => {
    // runnerConcurrency 0: tasks stay scheduled, so every answer shows the stored task.
    s = await startServer({ providers: [echoProvider()], config: { runnerConcurrency: 0 } });
    alice = await s.addUser('alice');
    await s.app.settings.set('rateLimitEnabled', false);
    consumer = await s.addExApp('consumer', { userId: 'alice' });
  });
  after(async () => {
    consumer.close();
    await s.close();
  });

  const fetchTask = async (id: number) => (await s.ocs('GET', `${V2}/task/${id}`, { auth: alice.auth })).json.ocs.data.task;

  for (const base of [V1, V2]) {
    for (const [name, value, expected] of JSON_CASES) {
      it(`${base}: a JSON body with preferStreaming ${name} gives ${expected}, stored and shown by GET task`, async () => {
        const body = value === undefined ? TASK : { ...TASK, preferStreaming: value };
        const r = await s.ocs('POST', `${base}/schedule`, { auth: alice.auth, body });
        assert.equal(r.status, 200, r.text);
        const task = r.json.ocs.data.task;
        assert.equal(task.preferStreaming, expected);
        assert.equal(Object.keys(task).at(-1), 'preferStreaming', "upstream's last key");
        assert.equal((await s.ocs('GET', `${base}/task/${task.id}`, { auth: alice.auth })).json.ocs.data.task.preferStreaming, expected);
      });
    }
  }

  for (const [value, expected] of TEXT_CASES) {
    it(`a form body with preferStreaming ${JSON.stringify(value ?? 'absent')} gives ${expected}`, async () => {
      const r = await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, form: form(value) });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.ocs.data.task.preferStreaming, expected);
      assert.equal((await fetchTask(r.json.ocs.data.task.id)).preferStreaming, expected);
    });

    it(`a query string with preferStreaming ${JSON.stringify(value ?? 'absent')} gives ${expected}`, async () => {
      const r = await s.ocs('POST', `${V1}/schedule?${form(value)}`, { auth: alice.auth });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.ocs.meta.statuscode, 100);
      assert.equal(r.json.ocs.data.task.preferStreaming, expected);
      assert.equal((await fetchTask(r.json.ocs.data.task.id)).preferStreaming, expected);
    });
  }

  it('writes it in XML as PHP does a bool: 1 or empty', async () => {
    for (const base of [V1, V2]) {
      for (const [value, text] of [
        [true, '1'],
        [false, ''],
      ] as const) {
        const r = await s.ocs('POST', `${base}/schedule`, { auth: alice.auth, body: { ...TASK, preferStreaming: value }, format: 'xml' });
        assert.equal(r.status, 200, r.text);
        const task = at(parseXml(r.text), 'data', 'task');
        assert.equal(at(task, 'preferStreaming').text, text);
        assert.equal(task.children.at(-1)?.name, 'preferStreaming');
        const id = at(task, 'id').text;
        const read = await s.ocs('GET', `${base}/task/${id}`, { auth: alice.auth, format: 'xml' });
        assert.equal(at(parseXml(read.text), 'data', 'task', 'preferStreaming').text, text);
      }
    }
  });

  it("shows each task's own value in the lists (tasks, tasks/app/{appId})", async () => {
    const on = (await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body: { ...TASK, appId: 'listed', preferStreaming: true } })).json.ocs.data.task;
    const off = (await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body: { ...TASK, appId: 'listed' } })).json.ocs.data.task;
    for (const base of [V1, V2]) {
      const byApp = await s.ocs('GET', `${base}/tasks/app/listed`, { auth: alice.auth });
      assert.deepEqual(
        byApp.json.ocs.data.tasks.map((t: any) => [t.id, t.preferStreaming]),
        [
          [on.id, true],
          [off.id, false],
        ],
      );
      const all = await s.ocs('GET', `${base}/tasks?taskType=core:text2text`, { auth: alice.auth });
      const mine = all.json.ocs.data.tasks.filter((t: any) => t.id === on.id || t.id === off.id);
      assert.deepEqual(
        mine.map((t: any) => t.preferStreaming),
        [true, false],
      );
    }
  });

  it('is accepted by tasks_consumer/schedule in JSON, form and query, and shown by tasks_consumer/task/{id}', async () => {
    const cases: [string, Parameters<HttpWorker['request']>[2], boolean][] = [
      ['', { json: TASK }, false],
      ['', { json: { ...TASK, preferStreaming: true } }, true],
      ['', { json: { ...TASK, preferStreaming: 'false' } }, false],
      ['', { json: { ...TASK, preferStreaming: '1' } }, true],
      ['', { form: form('0') }, false],
      ['', { form: form('1') }, true],
      [`?${form('true')}`, {}, true],
      [`?${form('false')}`, {}, false],
    ];
    for (const base of [V1, V2]) {
      for (const [query, options, expected] of cases) {
        const path = `${base}/tasks_consumer/schedule${query}`;
        const r = await consumer.request('POST', path, options);
        assert.equal(r.status, 200, r.text);
        assertMatchesSpec('POST', path, 200, r.json);
        const task = r.json.ocs.data.task;
        assert.equal(task.preferStreaming, expected, `${path} ${JSON.stringify(options)}`);
        const read = await consumer.request('GET', `${base}/tasks_consumer/task/${task.id}`);
        assert.equal(read.json.ocs.data.task.preferStreaming, expected);
        // The ExApp scheduled for alice: she sees the same.
        assert.equal((await fetchTask(task.id)).preferStreaming, expected);
      }
    }
  });
});
