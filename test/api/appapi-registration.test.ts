import { providerPayload as workerProviderPayload } from '../helpers/http-worker.js';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { secretHash } from '../../src/auth/appapi.js';
import { ManualClock } from '../helpers/clock.js';
import { echoProvider } from '../helpers/providers.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';

const REGISTER_V1 = '/ocs/v1.php/apps/app_api/api/v1/ai_provider/task_processing';
const REGISTER_V2 = '/ocs/v2.php/apps/app_api/api/v1/ai_provider/task_processing';
const TASKTYPES = '/ocs/v2.php/taskprocessing/tasktypes';
const SECRET = 's3cret';

interface AppApiCall {
  appId?: string;
  secret?: string;
  user?: string;
  /** null: no EX-APP-VERSION header. */
  version?: string | null;
  body?: unknown;
  query?: Record<string, string>;
}

/** The headers nc_py_api sends on every request of an ExApp. */
function appApiHeaders(c: AppApiCall): Record<string, string> {
  const headers: Record<string, string> = {
    'EX-APP-ID': c.appId ?? 'llm2',
    'AUTHORIZATION-APP-API': Buffer.from(`${c.user ?? ''}:${c.secret ?? SECRET}`).toString('base64'),
    'AA-VERSION': '32.0.0',
    'OCS-APIRequest': 'true',
  };
  if (c.version !== null) headers['EX-APP-VERSION'] = c.version ?? '1.0.0';
  return headers;
}

/** A full provider payload as nc_py_api's TaskProcessingProvider dumps it: every key, `{}` for empty maps. */
function providerPayload(over: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...workerProviderPayload({ id: 'llm2:translate', name: 'Local translation', task_type: 'core:text2text:translate' }), ...over };
}

const LANGUAGES = [
  { name: 'English', value: 'en' },
  { name: 'German', value: 'de' },
];

const TRANSLATE = providerPayload({
  expected_runtime: 30,
  optional_input_shape: [{ name: 'max_tokens', description: 'Maximum output words', shape_type: 0 }],
  optional_output_shape: [{ name: 'alternatives', description: 'Other translations', shape_type: 11 }],
  input_shape_enum_values: { origin_language: [{ name: 'Detect language', value: 'detect_language' }, ...LANGUAGES], target_language: LANGUAGES },
  input_shape_defaults: { origin_language: 'detect_language' },
  optional_input_shape_defaults: { max_tokens: 1234 },
});

const BULLETS_TYPE = {
  id: 'llm2:bullets',
  name: 'Bullet points',
  description: 'Turns a text into bullet points',
  input_shape: [{ name: 'input', description: 'The text', shape_type: 1 }],
  output_shape: [{ name: 'output', description: 'The bullet points', shape_type: 11 }],
};
const BULLETS = providerPayload({ id: 'llm2:bullets-provider', name: 'Bullets by LLM', task_type: 'llm2:bullets' });

describe('AppAPI provider registration (/apps/app_api/api/v1/ai_provider/task_processing)', () => {
  let s: TestServer;
  let alice: TestUser;
  const clock = new ManualClock();

  /** An ExApp request the way nc_py_api makes it: `?format=json` on every OCS URL, a JSON body. */
  async function call(method: string, path: string, c: AppApiCall = {}): Promise<{ status: number; json: any }> {
    const url = new URL(`${s.url}${path}`);
    for (const [k, v] of Object.entries(c.query ?? {})) url.searchParams.set(k, v);
    url.searchParams.set('format', 'json');
    const headers = appApiHeaders(c);
    if (c.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(url, { method, headers, body: c.body === undefined ? undefined : JSON.stringify(c.body) });
    const text = await res.text();
    return { status: res.status, json: text === '' ? undefined : JSON.parse(text) };
  }

  const register = (provider: unknown, customTaskType?: unknown, c: AppApiCall = {}) =>
    call('POST', REGISTER_V1, { ...c, body: customTaskType === undefined ? { provider } : { provider, customTaskType } });

  async function taskTypes(): Promise<Record<string, any>> {
    const r = await s.ocs('GET', TASKTYPES, { auth: alice.auth });
    assert.equal(r.status, 200);
    const types = r.json.ocs.data.types;
    return Array.isArray(types) ? {} : types;
  }

  function assertOk(r: { status: number; json: any }, data: unknown = []): void {
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.ocs.meta.statuscode, 100);
    assert.deepEqual(r.json.ocs.data, data);
  }

  /** v1: HTTP 200 with the status in meta.statuscode and upstream's bare `data: []`. */
  function assertV1Failure(r: { status: number; json: any }, statuscode: number, reason?: RegExp): void {
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.ocs.meta.status, 'failure');
    assert.equal(r.json.ocs.meta.statuscode, statuscode);
    assert.deepEqual(r.json.ocs.data, []);
    if (reason) assert.match(r.json.ocs.meta.message, reason);
  }

  before(async () => {
    s = await startServer({
      clock,
      providers: [echoProvider()],
      config: { runnerConcurrency: 0 },
      loginThrottle: { maxFailures: 1000, windowSeconds: 900 },
    });
    alice = await s.addUser('alice');
    for (const appId of ['llm2', 'other']) {
      await s.app.store.exapps.createExApp({
        appId,
        version: '1.0.0',
        secretHash: secretHash(SECRET),
        sealedSecret: null,
        baseUrl: null,
        enabled: true,
        createdAt: 0,
      });
    }
  });
  after(() => s.close());

  it('registers a provider for a core type, which then serves it in /tasktypes with its shapes, enums and defaults', async () => {
    assert.equal((await taskTypes())['core:text2text:translate'], undefined);
    assertOk(await register(TRANSLATE));
    const type = (await taskTypes())['core:text2text:translate'];
    assert.ok(type, 'core:text2text:translate is offered');
    assert.equal(type.name, 'Translate');
    assert.deepEqual(type.optionalInputShape, { max_tokens: { name: 'max_tokens', description: 'Maximum output words', type: 'Number' } });
    assert.deepEqual(type.optionalOutputShape, { alternatives: { name: 'alternatives', description: 'Other translations', type: 'ListOfTexts' } });
    assert.deepEqual(type.inputShapeEnumValues, TRANSLATE.input_shape_enum_values);
    assert.deepEqual(type.inputShapeDefaults, { origin_language: 'detect_language' });
    assert.deepEqual(type.optionalInputShapeDefaults, { max_tokens: 1234 });
    assert.deepEqual(type.outputShapeEnumValues, {});
  });

  it('registers a provider with a custom task type, which users can see and schedule', async () => {
    assertOk(await register(BULLETS, BULLETS_TYPE));
    const type = (await taskTypes())['llm2:bullets'];
    assert.deepEqual(type.name, 'Bullet points');
    assert.deepEqual(type.description, 'Turns a text into bullet points');
    assert.deepEqual(type.inputShape, { input: { name: 'input', description: 'The text', type: 'Text' } });
    assert.deepEqual(type.outputShape, { output: { name: 'output', description: 'The bullet points', type: 'ListOfTexts' } });
    const scheduled = await s.ocs('POST', '/ocs/v2.php/taskprocessing/schedule', {
      auth: alice.auth,
      body: { type: 'llm2:bullets', input: { input: 'one. two.' }, appId: 'test' },
    });
    assert.equal(scheduled.status, 200, scheduled.text);
    assert.equal(scheduled.json.ocs.data.task.type, 'llm2:bullets');
  });

  it('answers GET with the record as AppAPI serializes it, the payloads as JSON strings', async () => {
    const r = await call('GET', REGISTER_V1, { query: { name: 'llm2:bullets-provider' } });
    assert.equal(r.status, 200);
    const record = r.json.ocs.data;
    assert.deepEqual(Object.keys(record), ['id', 'app_id', 'name', 'display_name', 'task_type', 'provider', 'custom_task_type']);
    assert.equal(typeof record.id, 'number');
    assert.equal(record.app_id, 'llm2');
    assert.equal(record.name, 'llm2:bullets-provider');
    assert.equal(record.display_name, 'Bullets by LLM');
    assert.equal(record.task_type, 'llm2:bullets');
    assert.deepEqual(JSON.parse(record.provider), BULLETS);
    assert.deepEqual(JSON.parse(record.custom_task_type), BULLETS_TYPE);

    const core = await call('GET', REGISTER_V1, { query: { name: 'llm2:translate' } });
    assert.equal(core.json.ocs.data.custom_task_type, 'null');
  });

  it("answers 404 with data [] for an unknown provider, and for another app's", async () => {
    assertV1Failure(await call('GET', REGISTER_V1, { query: { name: 'nope' } }), 404);
    assertV1Failure(await call('GET', REGISTER_V1, { appId: 'other', query: { name: 'llm2:translate' } }), 404);
    const v2 = await call('GET', REGISTER_V2, { query: { name: 'nope' } });
    assert.equal(v2.status, 404);
    assert.deepEqual(v2.json.ocs.data, []);
  });

  it('updates a registration in place (same record id) when the app registers the same provider id again', async () => {
    const before = (await call('GET', REGISTER_V1, { query: { name: 'llm2:translate' } })).json.ocs.data;
    assertOk(await register({ ...TRANSLATE, name: 'Renamed translation' }));
    const afterwards = (await call('GET', REGISTER_V1, { query: { name: 'llm2:translate' } })).json.ocs.data;
    assert.equal(afterwards.id, before.id);
    assert.equal(afterwards.display_name, 'Renamed translation');
    assert.ok((await taskTypes())['core:text2text:translate']);
  });

  it('accepts the v2 path and a user in AUTHORIZATION-APP-API', async () => {
    const r = await call('POST', REGISTER_V2, { user: 'alice', body: { provider: providerPayload({ id: 'llm2:v2', task_type: 'core:text2text:headline' }) } });
    assert.equal(r.status, 200);
    assert.equal(r.json.ocs.meta.statuscode, 200);
    assert.deepEqual(r.json.ocs.data, []);
    assert.ok((await taskTypes())['core:text2text:headline']);
    const deleted = await call('DELETE', REGISTER_V2, { user: 'alice', query: { name: 'llm2:v2' } });
    assert.deepEqual([deleted.status, deleted.json.ocs.meta.statuscode, deleted.json.ocs.data], [200, 200, []]);
  });

  it('DELETE removes the provider and its custom type from /tasktypes; a second DELETE is 404', async () => {
    assertOk(await call('DELETE', REGISTER_V1, { query: { name: 'llm2:bullets-provider' } }));
    assert.equal((await taskTypes())['llm2:bullets'], undefined);
    assertV1Failure(await call('DELETE', REGISTER_V1, { query: { name: 'llm2:bullets-provider' } }), 404);
    assertV1Failure(await call('DELETE', REGISTER_V1, { appId: 'other', query: { name: 'llm2:translate' } }), 404);
    assert.ok((await taskTypes())['core:text2text:translate'], "another app cannot delete llm2's provider");
  });

  it('lets a custom type replace a core type and gives the core type back when it goes, in-process providers untouched', async () => {
    const override = { ...BULLETS_TYPE, id: 'core:text2text', name: 'Overridden prompt' };
    assertOk(await register(providerPayload({ id: 'llm2:override', task_type: 'core:text2text' }), override));
    assert.equal((await taskTypes())['core:text2text'].name, 'Overridden prompt');
    assertOk(await call('DELETE', REGISTER_V1, { query: { name: 'llm2:override' } }));
    const restored = (await taskTypes())['core:text2text'];
    assert.equal(restored.name, 'Free text to text prompt', 'the in-process echo provider still serves the core type');
  });

  it('hides the providers of a disabled app after the catalog interval, and shows them again once enabled', async () => {
    assertOk(await register(BULLETS, BULLETS_TYPE));
    assert.ok((await taskTypes())['llm2:bullets']);
    await s.app.store.exapps.updateExApp('llm2', { enabled: false });
    clock.advance(1001);
    const types = await taskTypes();
    assert.equal(types['llm2:bullets'], undefined);
    assert.equal(types['core:text2text:translate'], undefined);
    assert.ok(types['core:text2text'], 'in-process providers stay');
    await s.app.store.exapps.updateExApp('llm2', { enabled: true });
    clock.advance(1001);
    assert.ok((await taskTypes())['llm2:bullets']);
  });

  describe('authentication', () => {
    const cases: [string, AppApiCall][] = [
      ['a wrong secret', { secret: 'wrong' }],
      ['an unknown app', { appId: 'unknown' }],
      ['a missing EX-APP-VERSION', { version: null }],
      ['an unknown user', { user: 'nobody' }],
    ];
    for (const [what, c] of cases) {
      it(`answers 401 in the envelope for ${what}, on v1 and v2`, async () => {
        for (const path of [REGISTER_V1, REGISTER_V2]) {
          const r = await call('POST', path, { ...c, body: { provider: TRANSLATE } });
          assert.equal(r.status, 401, `${path}: ${JSON.stringify(r.json)}`);
          assert.equal(r.json.ocs.meta.statuscode, 997);
          assert.deepEqual(r.json.ocs.data, []);
        }
      });
    }

    it('answers 401 for a disabled app', async () => {
      await s.app.store.exapps.updateExApp('other', { enabled: false });
      try {
        const r = await call('GET', REGISTER_V1, { appId: 'other', query: { name: 'x' } });
        assert.equal(r.status, 401);
        assert.equal(r.json.ocs.meta.statuscode, 997);
      } finally {
        await s.app.store.exapps.updateExApp('other', { enabled: true });
      }
    });

    it('answers 401 to a user login without AppAPI headers', async () => {
      const res = await fetch(`${s.url}${REGISTER_V1}?format=json&name=x`, { headers: { authorization: alice.auth, 'OCS-APIRequest': 'true' } });
      assert.equal(res.status, 401);
    });
  });

  describe('validation', () => {
    const textSlot = (name: string) => [{ name, description: 'd', shape_type: 1 }];
    const notXmlName = (key: string, slot: string) => new RegExp(`^"${key}": the slot name "${slot}" is not a valid XML name \\(a letter, "_" or ":" first`);
    const { expected_runtime: _dropped, ...withoutRuntime } = TRANSLATE;
    const cases: [string, unknown, unknown, RegExp][] = [
      ['a missing key', withoutRuntime, undefined, /"expected_runtime" key must be an integer/],
      ['a non-integer runtime', { ...TRANSLATE, expected_runtime: 1.5 }, undefined, /"expected_runtime" key must be an integer/],
      ['a missing id', { ...TRANSLATE, id: undefined }, undefined, /"id" key must be a string/],
      ['a missing map', { ...TRANSLATE, output_shape_enum_values: undefined }, undefined, /"output_shape_enum_values" should be an array/],
      [
        'an unknown shape_type',
        providerPayload({ optional_input_shape: [{ name: 'x', description: 'd', shape_type: 7 }] }),
        undefined,
        /shape_type 7 .*not a known shape type/,
      ],
      [
        'a slot without description',
        providerPayload({ optional_output_shape: [{ name: 'x', shape_type: 1 }] }),
        undefined,
        /"optional_output_shape" should be an array and must have "name", "description" and "shape_type" keys/,
      ],
      [
        'an enum value without value',
        providerPayload({ input_shape_enum_values: { tone: [{ name: 'Friendly' }] } }),
        undefined,
        /"input_shape_enum_values" should be an array and must have "name" and "value" keys/,
      ],
      ['defaults that are a list', providerPayload({ input_shape_defaults: ['x'] }), undefined, /"input_shape_defaults" key must be an array/],
      ['task_type different from customTaskType.id', BULLETS, { ...BULLETS_TYPE, id: 'llm2:else' }, /Task type and custom task type must be the same/],
      ['a custom type without output_shape', BULLETS, { ...BULLETS_TYPE, output_shape: undefined }, /"output_shape" should be an array/],
      [
        'a custom type with a bad shape_type',
        BULLETS,
        { ...BULLETS_TYPE, input_shape: [{ name: 'input', description: 'd', shape_type: 16 }] },
        /shape_type 16/,
      ],
      ['no provider at all', undefined, undefined, /"provider" must be an object/],
      // Slot names and custom type ids are element names in XML answers, where PHP's XMLWriter throws on anything else.
      ['a slot name with a space', providerPayload({ optional_input_shape: textSlot('my input') }), undefined, notXmlName('optional_input_shape', 'my input')],
      ['a slot name starting with a digit', BULLETS, { ...BULLETS_TYPE, output_shape: textSlot('0abc') }, notXmlName('output_shape', '0abc')],
      ['an empty slot name', BULLETS, { ...BULLETS_TYPE, input_shape: textSlot('') }, notXmlName('input_shape', '')],
      [
        'an enum-values slot that is not an XML name',
        providerPayload({ input_shape_enum_values: { '@tone': LANGUAGES } }),
        undefined,
        notXmlName('input_shape_enum_values', '@tone'),
      ],
      [
        'a defaults slot that is not an XML name',
        providerPayload({ optional_input_shape_defaults: { 'max tokens': 1 } }),
        undefined,
        notXmlName('optional_input_shape_defaults', 'max tokens'),
      ],
      [
        'a custom type id that is not an XML name',
        { ...BULLETS, task_type: 'llm2 bullets' },
        { ...BULLETS_TYPE, id: 'llm2 bullets' },
        /^"customTaskType" key "id": the task type id "llm2 bullets" is not a valid XML name \(a letter/,
      ],
    ];
    for (const [what, provider, custom, reason] of cases) {
      it(`answers 400 with data [] for ${what}, the reason in meta.message`, async () => {
        const body = provider === undefined ? {} : custom === undefined ? { provider } : { provider, customTaskType: custom };
        assertV1Failure(await call('POST', REGISTER_V1, { body }), 400, reason);
        const v2 = await call('POST', REGISTER_V2, { body });
        assert.equal(v2.status, 400);
        assert.deepEqual(v2.json.ocs.data, []);
      });
    }

    it('accepts the `[]` PHP makes of empty maps and the `{}` of empty lists', async () => {
      const php = providerPayload({
        id: 'llm2:php',
        task_type: 'core:text2text:summary',
        optional_input_shape: {},
        input_shape_enum_values: [],
        input_shape_defaults: [],
      });
      assertOk(await register(php));
      assert.ok((await taskTypes())['core:text2text:summary']);
      assertOk(await call('DELETE', REGISTER_V1, { query: { name: 'llm2:php' } }));
    });

    it('refuses a provider id taken by another app or by an in-process provider', async () => {
      assertV1Failure(await register(TRANSLATE, undefined, { appId: 'other' }), 400, /taken by the ExApp "llm2"/);
      assertV1Failure(await register(providerPayload({ id: 'test:echo', task_type: 'core:text2text' })), 400, /taken by a built-in provider/);
    });
  });
});
