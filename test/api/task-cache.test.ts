import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { buildConfig, ConfigError } from '../../src/config.js';
import { echoProvider } from '../helpers/providers.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';

const V2 = '/ocs/v2.php/taskprocessing';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OPEN_STORE = fileURLToPath(new URL('../../src/store/open-store.ts', import.meta.url));
const execFileAsync = promisify(execFile);

describe('TASKPROC_TASK_CACHE_ROWS', () => {
  it('is 10 000 unless the environment or --task-cache-rows says otherwise (0 turns it off); the flag wins', () => {
    assert.equal(buildConfig({}, {}).taskCacheRows, 10_000);
    assert.equal(buildConfig({}, { TASKPROC_TASK_CACHE_ROWS: '0' }).taskCacheRows, 0);
    assert.equal(buildConfig({ 'task-cache-rows': '50' }, { TASKPROC_TASK_CACHE_ROWS: '0' }).taskCacheRows, 50);
    assert.throws(
      () => buildConfig({}, { TASKPROC_TASK_CACHE_ROWS: 'many' }),
      (error: unknown) => error instanceof ConfigError && /TASKPROC_TASK_CACHE_ROWS/.test(error.message),
    );
  });
});

/** The task cache, on by default: what a polling client sees through the real server stays current. */
describe('GET task/{id} with the task cache (default settings)', () => {
  let s: TestServer;
  let alice: TestUser;
  before(async () => {
    s = await startServer({ providers: [echoProvider()], config: { runnerConcurrency: 0 } });
    alice = await s.addUser('alice');
  });
  after(() => s.close());

  const schedule = async () => {
    const r = await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body: { type: 'core:text2text', appId: 'app1', input: { input: 'x' } } });
    assert.equal(r.status, 200, r.text);
    return r.json.ocs.data.task.id as number;
  };
  const status = async (id: number) => {
    const r = await s.ocs('GET', `${V2}/task/${id}`, { auth: alice.auth });
    return r.status === 200 ? r.json.ocs.data.task.status : r.status;
  };

  it('shows a cancel through the API on the next read', async () => {
    const id = await schedule();
    assert.equal(await status(id), 'STATUS_SCHEDULED');
    assert.equal(await status(id), 'STATUS_SCHEDULED');
    assert.equal((await s.ocs('POST', `${V2}/tasks/${id}/cancel`, { auth: alice.auth })).status, 200);
    assert.equal(await status(id), 'STATUS_CANCELLED');
  });

  it('shows a change made by another process (the admin CLI, another store) on the next read', async () => {
    const id = await schedule();
    assert.equal(await status(id), 'STATUS_SCHEDULED');
    // In another process, as the admin CLI would be: a second SQLite connection in this one would
    // wait synchronously for the server's write lock and so block the very event loop that must
    // commit to release it.
    const script = `
      const { openStore } = await import(${JSON.stringify(OPEN_STORE)});
      const store = await openStore(JSON.parse(process.argv[1]));
      const deleted = await store.tasks.deleteTask(${id}, { userId: 'alice', anonKey: null });
      await store.close();
      if (!deleted) process.exit(3);`;
    const target = JSON.stringify({ dataDir: s.app.config.dataDir, databaseUrl: s.app.config.databaseUrl });
    await execFileAsync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, target], { cwd: ROOT });
    assert.equal(await status(id), 404);
  });
});
