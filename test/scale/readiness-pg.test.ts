import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startNode, type NodeProcess } from '../helpers/node-process.js';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres.js';
import { until } from '../helpers/until.js';

/**
 * Issue 21, health: a real `taskproc serve` on a PostgreSQL cluster of the test's own, which the
 * test stops and starts. Readiness follows the database within its time bound; liveness does not.
 */

/** The readiness check's own bound (2 s) plus room for a busy test machine. */
const PROBE_BOUND_MS = 4000;

async function probe(base: string, path: string): Promise<{ status: number; body: any; ms: number }> {
  const started = Date.now();
  const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(20_000) });
  const body = await res.json();
  return { status: res.status, body, ms: Date.now() - started };
}

describe('readiness while PostgreSQL is down', { timeout: 120_000 }, () => {
  let db: PrivatePostgres;
  let dir: string;
  let node: NodeProcess;
  const diagnostics = () => `${node?.output().slice(-4000) ?? ''}\n--- PostgreSQL log ---\n${db?.log().slice(-2000) ?? ''}`;

  before(async () => {
    db = await startPrivatePostgres();
    dir = await mkdtemp(join(tmpdir(), 'taskproc-readiness-'));
    node = await startNode('R', {
      TASKPROC_DATABASE_URL: db.url('postgres', 'postgres', { password: 'readiness-db-password' }),
      TASKPROC_DATA_DIR: dir,
      TASKPROC_ADMIN_PASSWORD: 'readiness-admin-password',
      TASKPROC_RUNNER_CONCURRENCY: '0',
      TASKPROC_OFFLINE_PROVIDERS: 'false',
      TASKPROC_LOG_LEVEL: 'warn',
    });
  });

  after(async () => {
    await node?.stop();
    await db?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('answers /readyz 503 with the reason in bounded time while the database is stopped, 200 once it is back; /healthz stays 200', async () => {
    assert.deepEqual(await probe(node.url, '/readyz').then((r) => [r.status, r.body]), [200, { status: 'ok' }]);

    await db.stop();
    // Every probe while it is down: 503 naming the database, answered within the bound; never a hang.
    await until(
      '/readyz to answer 503',
      async () => {
        const r = await probe(node.url, '/readyz');
        assert.ok(r.ms < PROBE_BOUND_MS, `/readyz took ${r.ms} ms\n${diagnostics()}`);
        return r.status === 503;
      },
      10_000,
      { describe: diagnostics },
    );
    for (let i = 0; i < 3; i++) {
      const down = await probe(node.url, '/readyz');
      assert.equal(down.status, 503);
      assert.equal(down.body.status, 'unavailable');
      assert.match(down.body.reason, /^database: /);
      assert.ok(down.ms < PROBE_BOUND_MS, `/readyz took ${down.ms} ms`);
      // The reason names the part, not how to reach it.
      assert.doesNotMatch(down.body.reason, /readiness-db-password|postgres:\/\//);
      const live = await probe(node.url, '/healthz');
      assert.deepEqual([live.status, live.body], [200, { status: 'ok' }]);
    }
    // The status page is constant: clients keep reading it while the database is away.
    assert.equal((await probe(node.url, '/status.php')).status, 200);

    await db.start();
    await until('/readyz to answer 200 again', async () => (await probe(node.url, '/readyz')).status === 200, 30_000, { everyMs: 200, describe: diagnostics });
    assert.equal((await probe(node.url, '/healthz')).status, 200);
    assert.ok(node.running, 'the node kept running');
  });
});
