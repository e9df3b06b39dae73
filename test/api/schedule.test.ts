import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { echoProvider, translateProvider } from '../helpers/providers.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';

const V2 = '/ocs/v2.php/taskprocessing';
const V1 = '/ocs/v1.php/taskprocessing';

describe('POST /ocs/v{1,2}.php/taskprocessing/schedule', () => {
  let s: TestServer;
  let alice: TestUser;
  before(async () => {
    // runnerConcurrency 0: tasks stay scheduled, so the answers show the scheduled state.
    s = await startServer({ providers: [echoProvider(), translateProvider()], config: { runnerConcurrency: 0 } });
    alice = await s.addUser('alice');
    // Many schedules per user here; the limit has its own tests.
    await s.app.settings.set('rateLimitEnabled', false);
  });
  after(() => s.close());

  it('schedules a task and answers with the task in upstream key order', async () => {
    const r = await s.ocs('POST', `${V2}/schedule`, {
      auth: alice.auth,
      body: { input: { input: 'Hi' }, type: 'core:text2text', appId: 'assistant', customId: 'c1' },
    });
    assert.equal(r.status, 200);
    // V2Response writes only these three meta keys unless it paginates; v1 adds totalitems and itemsperpage.
    assert.deepEqual(r.json.ocs.meta, { status: 'ok', statuscode: 200, message: 'OK' });
    const task = r.json.ocs.data.task;
    assert.deepEqual(Object.keys(task), [
      'id',
      'type',
      'lastUpdated',
      'status',
      'userId',
      'appId',
      'input',
      'output',
      'customId',
      'completionExpectedAt',
      'progress',
      'scheduledAt',
      'startedAt',
      'endedAt',
      'allowCleanup',
      'includeWatermark',
      'userFacingErrorMessage',
      'preferStreaming',
    ]);
    assert.equal(task.status, 'STATUS_SCHEDULED');
    assert.equal(task.userId, 'alice');
    assert.deepEqual(task.input, { input: 'Hi' });
    assert.equal(task.output, null);
    assert.equal(task.customId, 'c1');
    assert.equal(task.completionExpectedAt, task.scheduledAt + 10);
    assert.equal(task.includeWatermark, true);
  });

  it('answers v1 with statuscode 100 and HTTP 200', async () => {
    const r = await s.ocs('POST', `${V1}/schedule`, { auth: alice.auth, body: { input: { input: 'x' }, type: 'core:text2text', appId: 'a' } });
    assert.equal(r.status, 200);
    assert.equal(r.json.ocs.meta.statuscode, 100);
    assert.equal(r.json.ocs.data.task.customId, '');
  });

  it('accepts form-encoded bodies and query-string parameters as upstream does', async () => {
    const form = 'type=core%3Atext2text&appId=forms&input%5Binput%5D=from+a+form&includeWatermark=false';
    const r = await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, form });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.ocs.data.task.input, { input: 'from a form' });
    assert.equal(r.json.ocs.data.task.includeWatermark, false);
    const q = await s.ocs('POST', `${V2}/schedule?type=core:text2text&appId=q&input[input]=from%20the%20query`, { auth: alice.auth });
    assert.equal(q.status, 200);
    assert.deepEqual(q.json.ocs.data.task.input, { input: 'from the query' });
  });

  it('fills defaults, keeps optional slots, drops unknown keys and does not cast values', async () => {
    const r = await s.ocs('POST', `${V2}/schedule`, {
      auth: alice.auth,
      body: { input: { input: 'Hallo', target_language: 'en', extra: 'dropped' }, type: 'core:text2text:translate', appId: 'a' },
    });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.ocs.data.task.input, { input: 'Hallo', target_language: 'en', origin_language: 'detect_language', max_tokens: 1234 });
    const n = await s.ocs('POST', `${V2}/schedule`, {
      auth: alice.auth,
      body: { input: { input: 'x', target_language: 'de', max_tokens: '5' }, type: 'core:text2text:translate', appId: 'a' },
    });
    assert.equal(n.json.ocs.data.task.input.max_tokens, '5');
  });

  const bad: [string, unknown, number, string][] = [
    ['a missing mandatory slot', { input: {}, type: 'core:text2text', appId: 'a' }, 400, 'Missing key: "input"'],
    [
      'a number in a text slot',
      { input: { input: 5 }, type: 'core:text2text', appId: 'a' },
      400,
      'Failed to validate input key "input": Non-text item provided for Text slot',
    ],
    [
      'a value outside the enum',
      { input: { input: 'x', target_language: 'fr' }, type: 'core:text2text:translate', appId: 'a' },
      400,
      'Failed to validate input key "target_language": Wrong value given for Enum slot. Got "fr", but expected one of the provided enum values: "en", "de"',
    ],
    [
      'text in an optional number slot',
      { input: { input: 'x', target_language: 'de', max_tokens: 'many' }, type: 'core:text2text:translate', appId: 'a' },
      400,
      'Failed to validate input key "max_tokens": Non-numeric item provided for Number slot',
    ],
    ['an unknown task type', { input: { input: 'x' }, type: 'core:nope', appId: 'a' }, 412, 'The given provider is not available'],
    ['a type without a provider', { input: { input: 'x' }, type: 'core:text2image', appId: 'a' }, 412, 'The given provider is not available'],
    ['no input', { type: 'core:text2text', appId: 'a' }, 400, 'Missing parameter: input'],
    ['no type', { input: { input: 'x' }, appId: 'a' }, 400, 'Missing parameter: type'],
    ['no appId', { input: { input: 'x' }, type: 'core:text2text' }, 400, 'Missing parameter: appId'],
    ['input that is not an object', { input: 'text', type: 'core:text2text', appId: 'a' }, 400, 'Parameter "input" must be an array'],
    [
      'a customId over 255 characters',
      { input: { input: 'x' }, type: 'core:text2text', appId: 'a', customId: 'c'.repeat(256) },
      400,
      'Parameter "customId" must be at most 255 characters',
    ],
  ];
  for (const [what, body, status, message] of bad) {
    it(`answers ${status} with a message for ${what}, on v2 and v1`, async () => {
      const r2 = await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body });
      assert.equal(r2.status, status);
      assert.equal(r2.json.ocs.meta.status, 'failure');
      assert.equal(r2.json.ocs.meta.statuscode, status);
      assert.equal(r2.json.ocs.data.message, message);
      const r1 = await s.ocs('POST', `${V1}/schedule`, { auth: alice.auth, body });
      assert.equal(r1.status, 200);
      assert.equal(r1.json.ocs.meta.statuscode, status);
      assert.equal(r1.json.ocs.data.message, message);
    });
  }

  it('answers 400 for a malformed JSON body', async () => {
    const r = await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body: '{"input": {' });
    assert.equal(r.status, 400);
    assert.match(r.json.ocs.data.message, /not valid JSON/);
  });

  it('answers 413 in the envelope for a 10 MB body and keeps serving', async () => {
    const big = JSON.stringify({ input: { input: 'x'.repeat(10 * 1024 * 1024) }, type: 'core:text2text', appId: 'a' });
    const r = await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body: big });
    assert.equal(r.status, 413);
    assert.equal(r.json.ocs.meta.statuscode, 413);
    assert.match(r.json.ocs.data.message, /larger than/);
    const ok = await s.ocs('GET', `${V2}/tasktypes`, { auth: alice.auth });
    assert.equal(ok.status, 200);
  });

  it('accepts a 1 MB string in a text slot (under the documented body limit)', async () => {
    const text = 'ä'.repeat(512 * 1024);
    const r = await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body: { input: { input: text }, type: 'core:text2text', appId: 'a' } });
    assert.equal(r.status, 200);
    const back = await s.ocs('GET', `${V2}/task/${r.json.ocs.data.task.id}`, { auth: alice.auth });
    assert.equal(back.json.ocs.data.task.input.input, text);
  });

  it('writes JSON the way PHP does: escaped slashes, non-ASCII and tags', async () => {
    const r = await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body: { input: { input: 'a/b <i>é😀' }, type: 'core:text2text', appId: 'a' } });
    assert.ok(r.text.includes('"input":{"input":"a\\/b \\u003Ci\\u003E\\u00e9\\ud83d\\ude00"}'), r.text.slice(0, 400));
  });
});
