import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.js';
import { HttpWorker, providerPayload } from '../helpers/http-worker.js';
import { startNode, type NodeProcess } from '../helpers/node-process.js';
import { until } from '../helpers/until.js';
import { admin, basic, V2 } from './load.js';

/**
 * Issue 21, logs: a real `taskproc serve` at log level trace, every line captured, goes through
 * what carries secrets (passwords right and wrong, app passwords, an ExApp secret, an anonymous
 * cookie, an OpenAI-compatible back end's API key, which the back end even echoes in an error),
 * then the whole output is searched for each secret and its Basic/AppAPI forms. Also the request
 * id round trip as the log shows it.
 */

const ADMIN_PASSWORD = 'admin-Pw-0f3a9c71e2';
const BOB_PASSWORD = 'bob-Pw-7d21c0e94b';
const APP_SECRET = 'exapp-Secret-5b8e2f10a7c3d9-0123456789';
const API_KEY = 'sk-test-Key-9a8b7c6d5e4f3a2b1c';
const APP = 'logapp';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('what the log holds', { timeout: 120_000 }, () => {
  let dir: string;
  let fake: FakeOpenAI;
  let node: NodeProcess;
  let cli: Record<string, string>;
  let appPassword: string;
  let cookie = '';
  const secrets = () => {
    const list: [string, string][] = [
      ['admin password', ADMIN_PASSWORD],
      ['user password', BOB_PASSWORD],
      ['app password', appPassword],
      ['ExApp secret', APP_SECRET],
      ['API key', API_KEY],
      ['anonymous cookie', cookie],
      ['admin Basic header', b64(`admin:${ADMIN_PASSWORD}`)],
      ['user Basic header', b64(`bob:${BOB_PASSWORD}`)],
      ['app-password Basic header', b64(`bob:${appPassword}`)],
      ['AppAPI header', b64(`bob:${APP_SECRET}`)],
      ['AppAPI header without user', b64(`:${APP_SECRET}`)],
    ];
    return list.filter(([, v]) => v !== '' && v !== undefined);
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'taskproc-logsecrets-'));
    fake = await startFakeOpenAI({ apiKey: API_KEY });
    cli = { TASKPROC_DATA_DIR: dir };
    node = await startNode('L', {
      ...cli,
      TASKPROC_ADMIN_PASSWORD: ADMIN_PASSWORD,
      TASKPROC_LOG_LEVEL: 'trace',
      TASKPROC_LOG_FORMAT: 'json',
      TASKPROC_OFFLINE_PROVIDERS: 'false',
      TASKPROC_OPENAI_BASE_URL: `${fake.url}/v1`,
      TASKPROC_OPENAI_API_KEY: API_KEY,
      TASKPROC_OPENAI_MODEL: 'fake-model',
    });
    await admin(cli, 'config:set', 'anonymous_access', 'true');
    await admin(cli, 'config:set', 'ratelimit_enabled', 'false');
    await admin({ ...cli, TASKPROC_PASS: BOB_PASSWORD }, 'user:add', 'bob', '--password-from-env');
    appPassword = (await admin(cli, 'user:app-password', 'bob')).trim().split('\n').pop() as string;
    await admin({ ...cli, TASKPROC_APP_SECRET: APP_SECRET }, 'app:register', APP, '--secret-from-env');
  });

  after(async () => {
    await node?.stop();
    await fake?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const call = (path: string, init: RequestInit & { headers?: Record<string, string> } = {}) =>
    fetch(`${node.url}${path}`, { ...init, headers: { 'OCS-APIRequest': 'true', ...init.headers } });

  /** The JSON log lines written so far (stdout), parsed. */
  const logLines = (): any[] =>
    node
      .output()
      .split('\n')
      .filter((l) => l.startsWith('[L out] {'))
      .map((l) => JSON.parse(l.slice('[L out] '.length)));

  it('writes no secret, in any form, through a run that handles every kind of credential and a back end that echoes its key', async () => {
    const schedule = (auth: string, input: string) =>
      call(`${V2}/schedule?format=json`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'core:text2text', appId: 'test', input: { input } }),
      });
    // Right and wrong credentials of every kind.
    assert.equal((await call(`${V2}/tasktypes`, { headers: { authorization: basic('admin', ADMIN_PASSWORD) } })).status, 200);
    assert.equal((await call(`${V2}/tasktypes`, { headers: { authorization: basic('bob', BOB_PASSWORD) } })).status, 200);
    assert.equal((await call(`${V2}/tasktypes`, { headers: { authorization: basic('bob', appPassword) } })).status, 200);
    assert.equal((await call(`${V2}/tasktypes`, { headers: { authorization: `Bearer ${appPassword}` } })).status, 200);
    assert.equal((await call(`${V2}/tasktypes`, { headers: { authorization: basic('bob', `${BOB_PASSWORD}x`) } })).status, 401);
    assert.equal((await call(`${V2}/tasktypes`, { headers: { authorization: basic('admin', ADMIN_PASSWORD.slice(0, -1)) } })).status, 401);
    assert.equal((await call('/remote.php/webdav/', { method: 'PROPFIND', headers: { authorization: basic('bob', BOB_PASSWORD) } })).status, 207);
    // An ExApp: right secret (registering, acting for bob), wrong secret.
    const worker = new HttpWorker(node.url, APP, APP_SECRET, { userId: 'bob' });
    assert.equal((await worker.register(providerPayload({ id: 'log-echo', task_type: 'core:text2text:summary' }))).status, 200);
    const wrong = new HttpWorker(node.url, APP, `${APP_SECRET}x`);
    assert.notEqual((await wrong.register(providerPayload({ id: 'log-echo2', task_type: 'core:text2text:summary' }))).status, 200);
    worker.close();
    wrong.close();
    // An anonymous caller gets a cookie and comes back with it.
    // (The setting reaches the server within a second: it re-reads settings at most that often.)
    await until(
      'an anonymous cookie',
      async () => {
        const anon = await call(`${V2}/task/1?format=json`);
        cookie = /taskproc_anon=([0-9a-f]{64})/.exec(anon.headers.get('set-cookie') ?? '')?.[1] ?? '';
        return cookie !== '';
      },
      5000,
    );
    assert.equal((await call(`${V2}/task/1?format=json`, { headers: { cookie: `taskproc_anon=${cookie}` } })).status, 404);
    // A back end that fails: a 500 (retried, then failed) and a 401 whose message quotes the key.
    fake.script('chat', ...Array.from({ length: 3 }, () => ({ kind: 'status' as const, status: 500 })));
    const first = (await (await schedule(basic('bob', BOB_PASSWORD), 'first')).json()).ocs.data.task.id;
    await until('the first task to fail', () => logLines().some((l) => l.msg === 'task failed' && l.taskId === first), 30_000, {
      describe: () => node.output(),
    });
    fake.script('chat', { kind: 'status', status: 401, message: `Incorrect API key provided: ${API_KEY}` });
    const second = (await (await schedule(`Bearer ${appPassword}`, 'second')).json()).ocs.data.task.id;
    await until('the second task to fail', () => logLines().some((l) => l.msg === 'task failed' && l.taskId === second), 30_000, {
      describe: () => node.output(),
    });

    await node.stop();
    const output = node.output();
    for (const [what, value] of secrets()) {
      assert.ok(
        !output.includes(value),
        `the ${what} appears in the log:\n${output
          .split('\n')
          .filter((l) => l.includes(value))
          .join('\n')}`,
      );
    }
    // The lines are there: the run was logged, with who asked and what happened.
    const lines = logLines();
    assert.ok(lines.some((l) => l.msg === 'request' && l.user === 'bob' && l.route === '/remote.php/webdav/*'));
    assert.ok(lines.some((l) => l.msg === 'request' && l.status === 401 && l.user === null));
    assert.ok(lines.some((l) => l.msg === 'request' && l.exApp === APP));
    assert.ok(lines.some((l) => l.msg === 'task scheduled' && l.taskId === first && l.user === 'bob'));
    assert.ok(lines.some((l) => l.msg === 'task claimed' && l.taskId === first && /^runner:/.test(l.by)));
    const failed = lines.find((l) => l.msg === 'task failed' && l.taskId === second);
    assert.match(failed.reason, /Incorrect API key provided: \[redacted\]/);
    assert.equal(failed.status, 'STATUS_FAILED');
  });
});

describe('request ids in the log', { timeout: 60_000 }, () => {
  let dir: string;
  let node: NodeProcess;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'taskproc-reqid-'));
    node = await startNode('Q', {
      TASKPROC_DATA_DIR: dir,
      TASKPROC_ADMIN_PASSWORD: ADMIN_PASSWORD,
      TASKPROC_LOG_FORMAT: 'json',
      TASKPROC_OFFLINE_PROVIDERS: 'false',
    });
  });
  after(async () => {
    await node?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const linesOf = (id: string): any[] =>
    node
      .output()
      .split('\n')
      .filter((l) => l.startsWith('[Q out] {'))
      .map((l) => JSON.parse(l.slice('[Q out] '.length)))
      .filter((l) => l.reqId === id);

  it('logs the request line under the id the client sent, the one it made, never a hostile one', async () => {
    const sent = 'client-trace-7f3e';
    const res = await fetch(`${node.url}${V2}/tasktypes?format=json&secret=in-the-query`, {
      headers: { 'x-request-id': sent, authorization: basic('admin', ADMIN_PASSWORD) },
    });
    assert.equal(res.headers.get('x-request-id'), sent);
    await until('the request line', () => linesOf(sent).length === 1, 5000, { describe: () => node.output() });
    const [line] = linesOf(sent);
    assert.equal(line.msg, 'request');
    assert.equal(line.method, 'GET');
    assert.equal(line.route, '/ocs/v2.php/taskprocessing/tasktypes');
    assert.equal(line.path, '/ocs/v2.php/taskprocessing/tasktypes');
    assert.equal(line.status, 200);
    assert.equal(line.user, 'admin');
    assert.equal(typeof line.durationMs, 'number');
    assert.ok(!node.output().includes('in-the-query'), 'the query string is not logged');

    const made = (await fetch(`${node.url}/healthz`)).headers.get('x-request-id') as string;
    await until('the line of the made id', () => linesOf(made).length === 1, 5000);

    const hostile = 'x" injected\\u000a{"level":60';
    const replaced = (await fetch(`${node.url}/healthz`, { headers: { 'x-request-id': hostile } })).headers.get('x-request-id') as string;
    assert.notEqual(replaced, hostile);
    await until('the line of the replacing id', () => linesOf(replaced).length === 1, 5000);
    assert.ok(!node.output().includes('injected'));
  });
});
