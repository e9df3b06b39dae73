import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { createTestSchema, newTask, TEST_DIALECT, type TestSchema } from '../helpers/store.js';
import { ensureBuilt, runCli } from './run-cli.js';

/**
 * `taskproc tasktype:set-priority` (issue 22) through the built binary, on the database the pass
 * names: a data directory's SQLite file, or a PostgreSQL schema of its own.
 */
describe('taskproc tasktype:set-priority', () => {
  const dir = mkdtempSync(join(tmpdir(), 'taskproc-tt-priority-'));
  let schema: TestSchema | undefined;
  let where: string[];
  let store: Store;
  // The database first: arguments after `--` are all positional.
  const cli = ([command, ...rest]: string[]) => runCli([command as string, ...where, ...rest]);
  const priorities = async () =>
    Object.fromEntries(
      (JSON.parse((await cli(['tasktype:list', '--output', 'json'])).stdout) as { id: string; priority: number }[]).map((t) => [t.id, t.priority]),
    );

  before(async () => {
    ensureBuilt();
    if (TEST_DIALECT === 'postgres') schema = await createTestSchema();
    where = schema ? ['--database-url', schema.url] : ['--data-dir', dir];
    store = await openStore({ dataDir: dir, databaseUrl: schema?.url ?? null });
    await store.migrate();
  });
  after(async () => {
    await store?.close();
    await schema?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sets a type’s priority, says so, and lists it under PRIORITY', async () => {
    assert.equal((await priorities())['core:text2text'], 0, 'every type starts at 0');
    // A negative number is the argument it looks like, as the README writes it (no `--` needed).
    const r = await cli(['tasktype:set-priority', 'core:text2image', '-7']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'Task type "core:text2image" now has priority -7 (was 0); 0 waiting tasks moved with it.');
    assert.equal((await priorities())['core:text2image'], -7);
    const table = await cli(['tasktype:list']);
    assert.equal(table.code, 0, table.stderr);
    const [header, ...lines] = table.stdout.trim().split('\n');
    assert.match(header as string, /^TASK TYPE\s+ENABLED\s+PRIORITY\s+PREFERRED/);
    assert.match(lines.find((l) => l.startsWith('core:text2image ')) as string, /^core:text2image\s+yes\s+-7\s/);
    assert.equal((await cli(['tasktype:set-priority', 'core:text2image', '0'])).code, 0);
    assert.equal((await priorities())['core:text2image'], 0);
  });

  it('refuses a priority that is not a whole number from -100 to 100, and an unknown type, with exit 1 and a message', async () => {
    for (const bad of ['abc', '1.5', '101', '-101', '1e2', '']) {
      const r = await cli(['tasktype:set-priority', 'core:text2text', '--', bad]);
      assert.equal(r.code, 1, bad);
      assert.equal(r.stderr.trim(), `Error: Priority must be a whole number from -100 to 100, got "${bad}"`);
    }
    const unknown = await cli(['tasktype:set-priority', 'no:such', '5']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^Error: .*no:such/);
    assert.equal((await priorities())['core:text2text'], 0, 'nothing was changed');
  });

  it('moves the waiting tasks of the type by the same step, keeping a lowered one behind; others stay', async () => {
    const claimed = await store.tasks.createTask(newTask());
    const got = await store.tasks.claimTasks({ types: ['core:text2text'], limit: 1, leaseOwner: 'worker', leaseExpiresAt: 2e9, now: 1e9 });
    assert.deepEqual(
      got.map((t) => t.id),
      [claimed.id],
    );
    const plain = await store.tasks.createTask(newTask());
    const lowered = await store.tasks.createTask(newTask({ priority: -2 }));
    const other = await store.tasks.createTask(newTask({ type: 'core:text2image', input: { input: 'x', numberOfImages: 1 } }));
    const up = await cli(['tasktype:set-priority', 'core:text2text', '5']);
    assert.equal(up.code, 0, up.stderr);
    assert.equal(up.stdout.trim(), 'Task type "core:text2text" now has priority 5 (was 0); 2 waiting tasks moved with it.');
    const down = await cli(['tasktype:set-priority', 'core:text2text', '1']);
    assert.equal(down.stdout.trim(), 'Task type "core:text2text" now has priority 1 (was 5); 2 waiting tasks moved with it.');
    const priorityOf = async (id: number) => (await store.tasks.getTask(id))?.priority;
    assert.equal(await priorityOf(plain.id), 1);
    assert.equal(await priorityOf(lowered.id), -1);
    assert.equal(await priorityOf(other.id), 0, 'another type stays');
    assert.equal(await priorityOf(claimed.id), 0, 'a claimed task stays as it was claimed');
  });
});
