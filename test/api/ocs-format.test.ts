import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { echoProvider } from '../helpers/providers.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';

const V2 = '/ocs/v2.php/taskprocessing';
const V1 = '/ocs/v1.php/taskprocessing';

describe('OCS envelope formats and unknown routes', () => {
  let s: TestServer;
  let alice: TestUser;
  let taskId: number;
  before(async () => {
    s = await startServer({ providers: [echoProvider()], config: { runnerConcurrency: 0 } });
    alice = await s.addUser('alice');
    const r = await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body: { type: 'core:text2text', appId: 'x', input: { input: 'a & b' } } });
    taskId = r.json.ocs.data.task.id;
  });
  after(() => s.close());

  it("answers XML by default and with format=xml, as PHP's XMLWriter writes it", async () => {
    const v2 = await s.ocs('GET', `${V2}/task/${taskId}`, { auth: alice.auth, format: null });
    assert.ok(
      v2.text.startsWith(
        '<?xml version="1.0"?>\n<ocs>\n <meta>\n  <status>ok</status>\n  <statuscode>200</statuscode>\n  <message>OK</message>\n </meta>\n <data>\n  <task>\n   <id>',
      ),
      v2.text,
    );
    for (const format of [null, 'xml'] as const) {
      const r = await s.ocs('GET', `${V1}/task/${taskId}`, { auth: alice.auth, format });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-type'), 'application/xml; charset=utf-8');
      assert.ok(
        r.text.startsWith(
          '<?xml version="1.0"?>\n<ocs>\n <meta>\n  <status>ok</status>\n  <statuscode>100</statuscode>\n  <message>OK</message>\n  <totalitems></totalitems>\n  <itemsperpage></itemsperpage>\n </meta>\n <data>\n  <task>\n   <id>',
        ),
        r.text,
      );
      assert.ok(r.text.includes('   <input>\n    <input>a &amp; b</input>\n   </input>\n'), r.text);
      assert.ok(r.text.includes('   <output/>\n'));
      assert.ok(r.text.includes('   <allowCleanup>1</allowCleanup>\n'));
      assert.ok(r.text.endsWith(' </data>\n</ocs>\n'));
    }
  });

  it('answers JSON for Accept: application/json and XML for */*', async () => {
    const json = await s.ocs('GET', `${V2}/tasks`, { auth: alice.auth, format: null, headers: { accept: 'application/json' } });
    assert.equal(json.headers.get('content-type'), 'application/json; charset=utf-8');
    const xml = await s.ocs('GET', `${V2}/tasks`, { auth: alice.auth, format: null, headers: { accept: '*/*' } });
    assert.equal(xml.headers.get('content-type'), 'application/xml; charset=utf-8');
  });

  it('writes v1 errors in XML with statuscode and data.message', async () => {
    const r = await s.ocs('GET', `${V1}/task/999999`, { auth: alice.auth, format: 'xml' });
    assert.equal(r.status, 200);
    assert.equal(
      r.text,
      '<?xml version="1.0"?>\n<ocs>\n <meta>\n  <status>failure</status>\n  <statuscode>404</statuscode>\n  <message></message>\n  <totalitems></totalitems>\n  <itemsperpage></itemsperpage>\n </meta>\n <data>\n  <message>Task not found</message>\n </data>\n</ocs>\n',
    );
  });

  it('answers an unknown route in the envelope: v2 404, v1 statuscode 998', async () => {
    const r2 = await s.ocs('GET', `${V2}/nope`, { auth: alice.auth });
    assert.equal(r2.status, 404);
    assert.equal(r2.json.ocs.meta.statuscode, 404);
    assert.match(r2.json.ocs.meta.message, /^Invalid query, please check the syntax/);
    const r1 = await s.ocs('GET', `${V1}/nope`, { auth: alice.auth });
    assert.equal(r1.status, 200);
    assert.equal(r1.json.ocs.meta.statuscode, 998);
    assert.equal(r1.json.ocs.meta.status, 'failure');
  });

  it('answers a wrong verb with 405 in the envelope and an Allow header', async () => {
    const r = await s.ocs('PUT', `${V2}/schedule`, { auth: alice.auth, body: {} });
    assert.equal(r.status, 405);
    assert.equal(r.json.ocs.meta.statuscode, 405);
    assert.equal(r.headers.get('allow'), 'POST');
    const d = await s.ocs('PATCH', `${V1}/task/1`, { auth: alice.auth });
    assert.equal(d.status, 405);
    assert.match(d.headers.get('allow') ?? '', /GET/);
  });

  it('accepts the OCS-APIRequest header being absent for Basic-authenticated requests', async () => {
    const res = await fetch(`${s.url}${V2}/tasks?format=json`, { headers: { authorization: alice.auth } });
    assert.equal(res.status, 200);
  });
});
