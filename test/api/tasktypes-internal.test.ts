import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type InProcessProvider, providerInfo } from '../../src/core/provider.js';
import { type HttpWorker, providerPayload, SHAPE } from '../helpers/http-worker.js';
import { assertMatchesSpec } from '../helpers/openapi.js';
import { echoProvider } from '../helpers/providers.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';
import { at, child, parseXml } from '../helpers/xml.js';

// Issue 19 item 4: every /tasktypes entry ends with upstream's isInternal (Nextcloud 35 Manager,
// `$taskType instanceof IInternalTaskType`), on the user and the tasks_consumer route alike.

const CUSTOM = 'bots:shout';
const KEY_ORDER = [
  'name',
  'description',
  'optionalInputShape',
  'inputShapeEnumValues',
  'inputShapeDefaults',
  'inputShape',
  'optionalInputShapeEnumValues',
  'optionalInputShapeDefaults',
  'outputShape',
  'outputShapeEnumValues',
  'optionalOutputShape',
  'optionalOutputShapeEnumValues',
  'isInternal',
];
/** What each listed type must say: upstream's internal ones true, the rest (a custom ExApp type too) false. */
const EXPECTED: Record<string, boolean> = {
  'core:text2text': false,
  'core:text2text:chatwithtools': true,
  'core:text2text:multimodal-chatwithtools': true,
  'core:contextagent:interaction': true,
  'core:text2text:reformatparagraphs': true,
  'core:audio2audio:chat': true,
  'core:audio2audio:translate': false,
  'core:contextagent:audio-interaction': true,
  'core:contextagent:multimodal-interaction': true,
  'core:analyze-images': false,
  'core:image2image': false,
  [CUSTOM]: false,
};

/** A provider that is never run: these tests only read /tasktypes. */
function listed(taskType: string): InProcessProvider {
  return {
    ...providerInfo({ id: `test:${taskType}`, name: `Listed ${taskType}`, taskType }),
    async process() {
      throw new Error('not run in these tests');
    },
  };
}

describe('isInternal in /tasktypes', () => {
  let s: TestServer;
  let alice: TestUser;
  let worker: HttpWorker;

  before(async () => {
    const coreTypes = Object.keys(EXPECTED).filter((t) => t.startsWith('core:') && t !== 'core:text2text');
    s = await startServer({ providers: [echoProvider(), ...coreTypes.map(listed)], config: { runnerConcurrency: 0 } });
    alice = await s.addUser('alice');
    worker = await s.addExApp('bots');
    const custom = {
      id: CUSTOM,
      name: 'Shout',
      description: 'Upper-cases the text',
      input_shape: [{ name: 'input', description: 'Text', shape_type: SHAPE.Text }],
      output_shape: [{ name: 'output', description: 'Loud text', shape_type: SHAPE.Text }],
    };
    const r = await worker.register(providerPayload({ id: 'bots-shout', task_type: CUSTOM }), custom);
    assert.equal(r.json.ocs.meta.statuscode, 100, r.text);
  });
  after(async () => {
    worker.close();
    await s.close();
  });

  const checkJson = (types: Record<string, Record<string, unknown>>, where: string) => {
    assert.deepEqual(Object.keys(types).sort(), Object.keys(EXPECTED).sort(), where);
    for (const [id, internal] of Object.entries(EXPECTED)) {
      assert.deepEqual(Object.keys(types[id] ?? {}), KEY_ORDER, `${where} ${id}: isInternal is the last key`);
      assert.equal(types[id]?.isInternal, internal, `${where} ${id}`);
    }
  };

  it('is the last key of every entry, a JSON boolean, on v1 and v2', async () => {
    for (const version of ['v1', 'v2']) {
      const r = await s.ocs('GET', `/ocs/${version}.php/taskprocessing/tasktypes`, { auth: alice.auth });
      assert.equal(r.status, 200);
      checkJson(r.json.ocs.data.types, version);
      assert.match(r.text, /"optionalOutputShapeEnumValues":\{\},"isInternal":true\}/);
    }
  });

  it('is in the tasks_consumer entries too, the same for every type', async () => {
    for (const version of ['v1', 'v2']) {
      const path = `/ocs/${version}.php/taskprocessing/tasks_consumer/tasktypes`;
      const r = await worker.request('GET', path);
      assert.equal(r.status, 200, r.text);
      assertMatchesSpec('GET', path, 200, r.json);
      checkJson(r.json.ocs.data.types, `consumer ${version}`);
    }
  });

  it('is written last in XML, "1" for true and empty for false, as PHP casts booleans', async () => {
    for (const version of ['v1', 'v2']) {
      const r = await s.ocs('GET', `/ocs/${version}.php/taskprocessing/tasktypes`, { auth: alice.auth, format: 'xml' });
      assert.equal(r.status, 200);
      const types = at(parseXml(r.text), 'data', 'types');
      for (const [id, internal] of Object.entries(EXPECTED)) {
        const entry = child(types, id);
        assert.equal(entry.children.at(-1)?.name, 'isInternal', `${version} ${id}`);
        assert.equal(child(entry, 'isInternal').text, internal ? '1' : '', `${version} ${id}`);
      }
    }
  });
});
