import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../helpers/clock.js';
import { type CustomTaskTypePayload, type HttpWorker, providerPayload, SHAPE } from '../helpers/http-worker.js';
import { startServer, type OcsResponse, type TestServer, type TestUser } from '../helpers/server.js';
import { at, child, parseXml, type XmlElement } from '../helpers/xml.js';

// Issue 18 item 3: slot names that are not XML names. New registrations are refused; rows stored
// before that rule keep working, and no answer in XML (the default format) fails because of them.

const V2 = '/ocs/v2.php/taskprocessing';
const REGISTER_V2 = '/ocs/v2.php/apps/app_api/api/v1/ai_provider/task_processing';
const TYPE = 'legacy:odd';
const PROVIDER_ID = 'legacy:odd-provider';

const ODD_TYPE: CustomTaskTypePayload = {
  id: TYPE,
  name: 'Odd names',
  description: 'Registered before slot names had to be XML names',
  input_shape: [{ name: 'my input', description: 'A text', shape_type: SHAPE.Text }],
  output_shape: [{ name: 'my output', description: 'A text', shape_type: SHAPE.Text }],
};
const ODD_PROVIDER = providerPayload({
  id: PROVIDER_ID,
  task_type: TYPE,
  optional_input_shape: [
    { name: '0abc', description: 'A number', shape_type: SHAPE.Number },
    { name: '@tone', description: 'A tone', shape_type: SHAPE.Enum },
  ],
  optional_input_shape_defaults: { '0abc': 3 },
  optional_input_shape_enum_values: { '@tone': [{ name: 'Friendly', value: 'friendly' }] },
});

describe('slot names that are not XML names', () => {
  let s: TestServer;
  let alice: TestUser;
  let worker: HttpWorker;
  const clock = new ManualClock();

  /** A client that sends again when the answer is a 5xx, as HTTP clients with retries do. */
  async function scheduleRetrying(input: Record<string, unknown>): Promise<OcsResponse[]> {
    const answers: OcsResponse[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const body = { type: TYPE, appId: 'test', input };
      const r = await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, format: null, body });
      answers.push(r);
      if (r.status < 500) break;
    }
    return answers;
  }

  /** GET in the default format (XML: no format parameter, no Accept), checked well-formed. */
  async function getXml(path: string): Promise<XmlElement> {
    const r = await s.ocs('GET', path, { auth: alice.auth, format: null });
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type') ?? '', /^application\/xml/);
    return parseXml(r.text);
  }

  before(async () => {
    s = await startServer({ clock, config: { runnerConcurrency: 0 } });
    alice = await s.addUser('alice');
    await s.app.settings.set('rateLimitEnabled', false);
    worker = await s.addExApp('legacy');
  });
  after(async () => {
    worker.close();
    await s.close();
  });

  describe('registration', () => {
    it('refuses slot names that are not XML names: 400, a message naming the slot and the rule, nothing stored', async () => {
      const r = await worker.register(ODD_PROVIDER, ODD_TYPE);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.ocs.meta.statuscode, 400);
      assert.deepEqual(r.json.ocs.data, []);
      assert.equal(
        r.json.ocs.meta.message,
        '"optional_input_shape": the slot name "0abc" is not a valid XML name (a letter, "_" or ":" first, ' +
          'then only letters, digits, "_", "-", "." or ":"); XML answers write it as an element name',
      );
      const withoutOptional = { ...ODD_PROVIDER, optional_input_shape: [], optional_input_shape_defaults: {}, optional_input_shape_enum_values: {} };
      const spaced = await worker.register(withoutOptional, ODD_TYPE);
      assert.equal(spaced.json.ocs.meta.statuscode, 400);
      assert.match(spaced.json.ocs.meta.message, /^"input_shape": the slot name "my input" is not a valid XML name \(a letter, "_" or ":" first/);
      assert.equal((await worker.request('GET', REGISTER_V2, { json: { name: PROVIDER_ID } })).status, 404);
    });

    it('answers the refusal in XML too, as a 400 in the envelope', async () => {
      const provider = providerPayload({ id: 'legacy:x', task_type: 'core:text2text', input_shape_defaults: { 'a b': 1 } });
      const r = await worker.request('POST', REGISTER_V2, { json: { provider }, format: false });
      assert.equal(r.status, 400);
      const meta = at(parseXml(r.text), 'meta');
      assert.equal(child(meta, 'statuscode').text, '400');
      assert.match(child(meta, 'message').text, /^"input_shape_defaults": the slot name "a b" is not a valid XML name/);
    });

    it('refuses a custom task type id that is not an XML name (/tasktypes is keyed by it)', async () => {
      const type = { ...ODD_TYPE, id: 'legacy odd', input_shape: [], output_shape: [] };
      const r = await worker.register(providerPayload({ id: PROVIDER_ID, task_type: 'legacy odd' }), type);
      assert.equal(r.json.ocs.meta.statuscode, 400);
      assert.match(r.json.ocs.meta.message, /^"customTaskType" key "id": the task type id "legacy odd" is not a valid XML name/);
    });

    it('refuses a default of 1e400, which JSON parsing makes Infinity', async () => {
      const provider = JSON.stringify(providerPayload({ id: 'legacy:inf', task_type: 'core:text2text' }));
      const body = `{"provider":${provider.replace('"input_shape_defaults":{}', '"input_shape_defaults":{"max":1e400}')}}`;
      assert.ok(body.includes('1e400'));
      const headers = { ...worker.appApiHeaders(), 'content-type': 'application/json' };
      const res = await fetch(`${s.url}${REGISTER_V2}?format=json`, { method: 'POST', headers, body });
      assert.equal(res.status, 400);
      assert.equal((await res.json()).ocs.meta.message, '"input_shape_defaults": the default of "max" must be a string or a finite number');
    });

    it('accepts names XML allows: non-ASCII letters, ":", "-", "." and "_"', async () => {
      const type = {
        ...ODD_TYPE,
        id: 'legacy:fine',
        input_shape: [{ name: 'entrée_1', description: 'd', shape_type: SHAPE.Text }],
        output_shape: [{ name: 'a:b-c.d', description: 'd', shape_type: SHAPE.Text }],
      };
      const r = await worker.register(providerPayload({ id: 'legacy:fine', task_type: 'legacy:fine' }), type);
      assert.equal(r.json.ocs.meta.statuscode, 100, r.text);
      const fine = at(await getXml(`${V2}/tasktypes`), 'data', 'types', 'legacy:fine');
      assert.equal(at(fine, 'inputShape', 'entrée_1', 'name').text, 'entrée_1');
      assert.equal(at(fine, 'outputShape', 'a:b-c.d', 'type').text, 'Text');
    });
  });

  describe('a registration stored before the rule', () => {
    let taskId: number;

    before(async () => {
      await s.app.store.exapps.upsertProvider({
        appId: 'legacy',
        providerId: PROVIDER_ID,
        displayName: 'Odd provider',
        taskType: TYPE,
        provider: ODD_PROVIDER as unknown as Record<string, unknown>,
        customTaskType: ODD_TYPE as unknown as Record<string, unknown>,
        registeredAt: 0,
      });
      // The catalog reloads what another node or the CLI changed at most once a second.
      clock.advance(1001);
    });

    it('still serves its type: /tasktypes in XML is well-formed, each odd name encoded', async () => {
      const odd = at(await getXml(`${V2}/tasktypes`), 'data', 'types', TYPE);
      assert.equal(at(odd, 'inputShape', 'my_x0020_input', 'name').text, 'my input');
      assert.equal(at(odd, 'outputShape', 'my_x0020_output', 'name').text, 'my output');
      assert.equal(at(odd, 'optionalInputShape', '_x0030_abc', 'type').text, 'Number');
      assert.equal(at(odd, 'optionalInputShapeDefaults', '_x0030_abc').text, '3');
      // An "@" key is an attribute in OCS XML; one whose value is a list or object is left out.
      assert.deepEqual(child(odd, 'optionalInputShapeEnumValues').attributes, {});

      const json = await s.ocs('GET', `${V2}/tasktypes`, { auth: alice.auth });
      assert.deepEqual(Object.keys(json.json.ocs.data.types[TYPE].inputShape), ['my input'], 'JSON keeps the names as they are');
    });

    it('schedules in XML with one answer, so a retrying client makes one task', async () => {
      const answers = await scheduleRetrying({ 'my input': 'hello', '@tone': 'friendly' });
      assert.deepEqual(
        answers.map((a) => a.status),
        [200],
        answers.at(-1)?.text,
      );
      const task = at(parseXml(answers[0]!.text), 'data', 'task');
      taskId = Number(child(task, 'id').text);
      assert.equal(at(task, 'input', 'my_x0020_input').text, 'hello');
      assert.equal(at(task, 'input', '_x0030_abc').text, '3', 'the default is filled in');
      // "@tone" would be an attribute, but it comes after elements: XMLWriter drops a late attribute.
      assert.deepEqual(child(task, 'input').attributes, {});

      const list = at(await getXml(`${V2}/tasks?taskType=${encodeURIComponent(TYPE)}`), 'data', 'tasks');
      assert.deepEqual(
        list.children.map((t) => child(t, 'id').text),
        [String(taskId)],
      );
    });

    it("answers the owner's task and task list in XML once the worker's output has odd names too", async () => {
      const claimed = await worker.next([PROVIDER_ID], [TYPE]);
      assert.equal(claimed.status, 200, claimed.text);
      assert.equal(claimed.json.ocs.data.task.id, taskId);
      assert.deepEqual(claimed.json.ocs.data.task.input, { '0abc': 3, 'my input': 'hello', '@tone': 'friendly' });
      const done = await worker.result(taskId, { 'my output': 'done' });
      assert.equal(done.status, 200, done.text);

      const task = at(await getXml(`${V2}/task/${taskId}`), 'data', 'task');
      assert.equal(child(task, 'status').text, 'STATUS_SUCCESSFUL');
      assert.equal(at(task, 'output', 'my_x0020_output').text, 'done');
      const listed = at(await getXml(`${V2}/tasks`), 'data', 'tasks', 'element');
      assert.equal(at(listed, 'output', 'my_x0020_output').text, 'done');
    });

    it('writes text XML cannot carry (NUL, a lone surrogate) as U+FFFD in XML, and JSON that strict decoders read', async () => {
      const answers = await scheduleRetrying({ 'my input': 'a\u0000b\ud800c' });
      assert.deepEqual(
        answers.map((a) => a.status),
        [200],
        answers.at(-1)?.text,
      );
      const id = Number(at(parseXml(answers[0]!.text), 'data', 'task', 'id').text);

      const xml = at(await getXml(`${V2}/task/${id}`), 'data', 'task', 'input', 'my_x0020_input');
      assert.equal(xml.text, 'a\ufffdb\ufffdc');

      const json = await s.ocs('GET', `${V2}/task/${id}`, { auth: alice.auth });
      assert.equal(json.status, 200);
      // NUL is a character JSON can escape; a lone surrogate has no UTF-8 form and becomes U+FFFD.
      assert.ok(json.text.includes('"a\\u0000b\\ufffdc"'), json.text);
      assert.equal(json.json.ocs.data.task.input['my input'], 'a\u0000b\ufffdc');
    });
  });
});
