import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { secretHash } from '../../src/auth/appapi.js';
import { loadServerKey, sealSecret } from '../../src/auth/sealed-secret.js';
import { HttpWorker, providerPayload } from '../helpers/http-worker.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';
import { until } from '../helpers/until.js';

const V2 = '/ocs/v2.php/taskprocessing';
const PROVIDER = 'hook-test';
const TYPE = 'core:text2text';

interface Received {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A loopback receiver: records every call; `/fail-twice/<key>` answers 500 twice then 200, `/hang` never answers. */
async function startReceiver() {
  const received: Received[] = [];
  const failures = new Map<string, number>();
  const hanging: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '';
      received.push({ method: req.method ?? '', path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (path.startsWith('/hang')) {
        hanging.push(res);
        return;
      }
      if (path.startsWith('/fail-twice/')) {
        const n = (failures.get(path) ?? 0) + 1;
        failures.set(path, n);
        res.statusCode = n <= 2 ? 500 : 200;
      }
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    received,
    hanging,
    calls: (path: string) => received.filter((r) => r.path === path),
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('webhooks when tasks end', () => {
  let s: TestServer;
  let alice: TestUser;
  let worker: HttpWorker;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  const schedule = async (webhookUri: string, webhookMethod: string): Promise<number> => {
    const r = await s.ocs('POST', `${V2}/schedule`, {
      auth: alice.auth,
      body: { type: TYPE, appId: 'hooks', input: { input: 'x' }, webhookUri, webhookMethod },
    });
    assert.equal(r.status, 200, r.text);
    return r.json.ocs.data.task.id;
  };
  const claim = async (id: number) => {
    const r = await worker.next([PROVIDER], [TYPE]);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.ocs.data.task.id, id);
  };
  const finish = async (id: number, output: string) => {
    await claim(id);
    const r = await worker.result(id, { output });
    assert.equal(r.status, 200, r.text);
  };

  before(async () => {
    receiver = await startReceiver();
    s = await startServer({ config: { runnerConcurrency: 0 }, webhook: { attempts: 3, backoffMs: 10, timeoutMs: 300 } });
    alice = await s.addUser('alice');
    await s.app.settings.set('rateLimitEnabled', false);
    const secret = 'hook-secret-0123456789';
    const sealed = sealSecret(secret, await loadServerKey(s.app.config, process.env));
    await s.app.store.exapps.createExApp({
      appId: 'hooked',
      version: '2.1.0',
      secretHash: secretHash(secret),
      sealedSecret: sealed,
      baseUrl: `${receiver.url}/exapp/`,
      enabled: true,
      createdAt: 0,
    });
    worker = new HttpWorker(s.url, 'hooked', secret);
    assert.equal((await worker.register(providerPayload({ id: PROVIDER, task_type: TYPE }))).status, 200);
  });
  after(async () => {
    worker.close();
    await s.close();
    await receiver.close();
  });

  it('POSTs {"task": …} as JSON when a task succeeds', async () => {
    const id = await schedule(`${receiver.url}/ok/post`, 'HTTP:POST');
    await finish(id, 'done');
    await until('the webhook', () => receiver.calls('/ok/post').length === 1);
    const call = receiver.calls('/ok/post')[0] as Received;
    assert.equal(call.method, 'POST');
    assert.equal(call.headers['content-type'], 'application/json');
    const body = JSON.parse(call.body);
    assert.equal(body.task.id, id);
    assert.equal(body.task.status, 'STATUS_SUCCESSFUL');
    assert.deepEqual(body.task.output, { output: 'done' });
  });

  it('sends a GET with the JSON body too, when the task fails', async () => {
    const id = await schedule(`${receiver.url}/ok/get`, 'HTTP:GET');
    await claim(id);
    assert.equal((await worker.result(id, null, 'it broke')).status, 200);
    await until('the webhook', () => receiver.calls('/ok/get').length === 1);
    const call = receiver.calls('/ok/get')[0] as Received;
    assert.equal(call.method, 'GET');
    assert.equal(JSON.parse(call.body).task.status, 'STATUS_FAILED');
  });

  it('fires on cancel, and on an output that fails validation, but not on delete', async () => {
    const cancelled = await schedule(`${receiver.url}/ok/cancel`, 'HTTP:POST');
    await s.ocs('POST', `${V2}/tasks/${cancelled}/cancel`, { auth: alice.auth });
    await until('the cancel webhook', () => receiver.calls('/ok/cancel').length === 1);
    assert.equal(JSON.parse((receiver.calls('/ok/cancel')[0] as Received).body).task.status, 'STATUS_CANCELLED');

    const invalid = await schedule(`${receiver.url}/ok/invalid`, 'HTTP:PUT');
    await claim(invalid);
    assert.equal((await worker.result(invalid, { nope: 1 })).status, 200);
    await until('the invalid-output webhook', () => receiver.calls('/ok/invalid').length === 1);
    assert.equal(JSON.parse((receiver.calls('/ok/invalid')[0] as Received).body).task.status, 'STATUS_FAILED');

    const deleted = await schedule(`${receiver.url}/ok/delete`, 'HTTP:POST');
    await s.ocs('DELETE', `${V2}/task/${deleted}`, { auth: alice.auth });
    await s.app.webhooks.idle();
    assert.equal(receiver.calls('/ok/delete').length, 0);
  });

  it('retries a receiver that answers 500, with backoff, until it accepts', async () => {
    const id = await schedule(`${receiver.url}/fail-twice/a`, 'HTTP:POST');
    await finish(id, 'retry me');
    await until('three attempts', () => receiver.calls('/fail-twice/a').length === 3);
    await s.app.webhooks.idle();
    assert.equal(receiver.calls('/fail-twice/a').length, 3, 'no call after the one that succeeded');
  });

  it('does not let a receiver that never answers hold up other tasks or their webhooks', async () => {
    const stuck = await schedule(`${receiver.url}/hang`, 'HTTP:POST');
    await finish(stuck, 'first');
    await until('the hanging call', () => receiver.hanging.length === 1);
    const others: number[] = [];
    for (let i = 0; i < 4; i++) others.push(await schedule(`${receiver.url}/ok/other-${i}`, 'HTTP:POST'));
    for (const id of others) await finish(id, 'later');
    await until('the other webhooks', () => others.every((_, i) => receiver.calls(`/ok/other-${i}`).length === 1));
    assert.ok(receiver.calls('/hang').length < 3, 'the other deliveries did not wait for the stuck one to give up');
    // The stuck one times out and is retried, then given up; nothing else waits for it.
    await until('the stuck delivery to give up', () => receiver.calls('/hang').length === 3);
    await s.app.webhooks.idle();
  });

  it("calls an ExApp through AppAPI with its address and headers, as the task's user", async () => {
    const id = await schedule('/callback/done', 'AppAPI:hooked:POST');
    await finish(id, 'via appapi');
    await until('the AppAPI webhook', () => receiver.calls('/exapp/callback/done').length === 1);
    const call = receiver.calls('/exapp/callback/done')[0] as Received;
    assert.equal(call.method, 'POST');
    assert.equal(call.headers['ex-app-id'], 'hooked');
    assert.equal(call.headers['ex-app-version'], '2.1.0');
    assert.equal(call.headers['authorization-app-api'], Buffer.from('alice:hook-secret-0123456789').toString('base64'));
    assert.ok(call.headers['aa-version']);
    assert.ok(call.headers['aa-request-id']);
    assert.equal(JSON.parse(call.body).task.id, id);

    // An unknown ExApp is skipped, and delivery carries on for others.
    const skipped = await schedule('/callback/none', 'AppAPI:nobody:POST');
    await finish(skipped, 'nowhere');
    await s.app.webhooks.idle();
    assert.equal(receiver.received.filter((r) => r.path.includes('/callback/none')).length, 0);
  });
});
