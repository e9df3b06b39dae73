import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { secretHash } from '../../src/auth/appapi.js';
import { basic, startServer, type TestServer, type TestUser } from '../helpers/server.js';

const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const EXPECTED = {
  version: { major: 33, minor: 0, micro: 0, string: '33.0.0', edition: '', extendedSupport: false },
  capabilities: {
    core: { pollinterval: 60, 'webdav-root': 'remote.php/webdav' },
    app_api: { loglevel: 2, version: '33.0.0' },
    taskprocessing: { taskproc: true, version: PACKAGE_VERSION, extensions: ['wait', 'stream-result', 'partial-output', 'openapi'] },
  },
};

/** The headers nc_py_api sends as an ExApp without a user, which is how it asks before registering. */
const EXAPP_HEADERS = {
  'EX-APP-ID': 'llm2',
  'EX-APP-VERSION': '1.0.0',
  'AUTHORIZATION-APP-API': Buffer.from(':s3cret').toString('base64'),
  'AA-VERSION': '32.0.0',
  'OCS-APIRequest': 'true',
};

describe('GET /ocs/v{1,2}.php/cloud/capabilities', () => {
  let s: TestServer;
  let alice: TestUser;
  before(async () => {
    s = await startServer({ config: { runnerConcurrency: 0 } });
    alice = await s.addUser('alice');
    await s.app.store.exapps.createExApp({
      appId: 'llm2',
      version: '1.0.0',
      secretHash: secretHash('s3cret'),
      sealedSecret: null,
      baseUrl: null,
      enabled: true,
      createdAt: 0,
    });
  });
  after(() => s.close());

  for (const version of [1, 2]) {
    const path = `/ocs/v${version}.php/cloud/capabilities`;
    const okMeta =
      version === 1 ? { status: 'ok', statuscode: 100, message: 'OK', totalitems: '', itemsperpage: '' } : { status: 'ok', statuscode: 200, message: 'OK' };

    it(`v${version}: answers the version and capabilities without credentials`, async () => {
      const r = await s.ocs('GET', path, { auth: null });
      assert.equal(r.status, 200);
      assert.deepEqual(r.json.ocs.meta, okMeta);
      assert.deepEqual(r.json.ocs.data, EXPECTED);
    });

    it(`v${version}: answers the same to a user and to an ExApp without a user (as nc_py_api asks)`, async () => {
      assert.deepEqual((await s.ocs('GET', path, { auth: alice.auth })).json.ocs.data, EXPECTED);
      const r = await s.ocs('GET', path, { headers: EXAPP_HEADERS });
      assert.equal(r.status, 200);
      assert.deepEqual(r.json.ocs.data, EXPECTED);
    });

    it(`v${version}: refuses wrong credentials with 401 rather than answering anonymously`, async () => {
      assert.equal((await s.ocs('GET', path, { auth: basic('alice', 'wrong') })).status, 401);
      const r = await s.ocs('GET', path, { headers: { ...EXAPP_HEADERS, 'AUTHORIZATION-APP-API': Buffer.from(':wrong').toString('base64') } });
      assert.equal(r.status, 401);
      assert.equal(r.json.ocs.meta.statuscode, 997);
    });

    it(`v${version}: answers XML by default, as every OCS route`, async () => {
      const r = await s.ocs('GET', path, { auth: null, format: null });
      assert.match(r.headers.get('content-type') ?? '', /application\/xml/);
      assert.match(r.text, /<major>33<\/major>/);
      assert.match(r.text, /<app_api>\n\s+<loglevel>2<\/loglevel>/);
    });
  }
});
