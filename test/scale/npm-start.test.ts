import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { runCli } from '../cli/run-cli.js';
import { startFakeOpenAI } from '../helpers/fake-openai.js';
import { type NpmStart, startNpmStart } from '../helpers/node-process.js';
import { until } from '../helpers/until.js';

/**
 * Issue 18, item 9: systemd and Docker stop `npm start` by signalling npm. npm passes the signal
 * to its child, which was a shell running `build && serve`: the shell died and the server kept
 * listening, its tasks leased. Here the stop goes to npm (and, as Ctrl-C does, to the whole group),
 * and the server must shut down in order: the port closes, every process of the group exits, and
 * the task its runner was working on goes back to the queue.
 */

const PASSWORD = 'npm-start-admin-password';
const TYPE = 'core:text2text';
/** How long a stopped server may take to be gone; an orderly shutdown takes a few seconds at most. */
const GONE_MS = 30_000;

/** Whether something accepts connections on the URL's port. */
function accepts(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The task as the admin CLI lists it (the server is gone by then: nothing releases leases on start). */
async function taskStatus(dir: string, id: number): Promise<string | undefined> {
  const r = await runCli(['task:list', '--output', 'json', '--data-dir', dir]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { id: number; status: string }[]).find((t) => t.id === id)?.status;
}

/**
 * Starts `npm start` with the only task type served by an OpenAI-compatible back end that never
 * answers, schedules one task, waits until the runner is at work on it, then runs `stop`, and
 * checks what an operator and the task's owner see afterwards.
 */
async function stopWhileRunning(t: TestContext, stop: (npm: NpmStart) => void): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'taskproc-npm-start-'));
  const fake = await startFakeOpenAI();
  fake.script('chat', { kind: 'hang' });
  let npm: NpmStart | undefined;
  try {
    npm = await startNpmStart({
      TASKPROC_DATA_DIR: dir,
      TASKPROC_ADMIN_PASSWORD: PASSWORD,
      TASKPROC_OPENAI_BASE_URL: `${fake.url}/v1`,
      TASKPROC_OPENAI_MODEL: 'fake-model',
      TASKPROC_OFFLINE_PROVIDERS: 'false',
      TASKPROC_LOG_LEVEL: 'warn',
    });
    const server = npm;
    const auth = `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`;
    const headers = { authorization: auth, 'ocs-apirequest': 'true', accept: 'application/json' };
    const scheduled = await fetch(`${server.url}/ocs/v2.php/taskprocessing/schedule`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ type: TYPE, appId: 'npm-start', input: { input: 'Say something.' } }),
    });
    const body = (await scheduled.json()) as { ocs: { data: { task: { id: number } } } };
    assert.equal(scheduled.status, 200, JSON.stringify(body));
    const id = body.ocs.data.task.id;
    await until('the runner to call the back end for the task', () => fake.requestsTo('chat').length > 0, 20_000, { describe: server.output });
    const running = await fetch(`${server.url}/ocs/v2.php/taskprocessing/task/${id}`, { headers });
    assert.equal(((await running.json()) as { ocs: { data: { task: { status: string } } } }).ocs.data.task.status, 'STATUS_RUNNING');

    stop(server);

    await until('the port to close', async () => !(await accepts(server.url)), GONE_MS, { describe: server.output });
    await until('every process of the group to exit', () => !server.groupAlive(), GONE_MS, { describe: server.output });
    const { code } = await server.exited;
    t.diagnostic(`npm exited with ${code}; output:\n${server.output()}`);
    assert.equal(code, 0, server.output());
    assert.match(server.output(), /SIG(TERM|INT): shutting down/);
    assert.equal(fake.requestsTo('chat')[0]?.aborted, true, 'the provider call was aborted');
    assert.equal(await taskStatus(dir, id), 'STATUS_SCHEDULED', 'the task went back to the queue');
  } finally {
    npm?.killGroup();
    await fake.close();
    await rm(dir, { recursive: true, force: true });
  }
}

describe('npm start', { timeout: 180_000 }, () => {
  it('SIGTERM to npm (systemd, Docker): the port closes, every process exits, and the running task goes back to the queue', async (t) => {
    await stopWhileRunning(t, (npm) => process.kill(npm.pid, 'SIGTERM'));
  });

  it('SIGINT to the whole process group (Ctrl-C in a terminal), which npm passes on again: the repeat does not cut the shutdown short', async (t) => {
    await stopWhileRunning(t, (npm) => process.kill(-npm.pgid, 'SIGINT'));
  });
});
