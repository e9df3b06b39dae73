import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TASK_STATUS } from '../../src/core/task.js';
import { createTestStore, newTask, TEST_DIALECT, type TestStore } from '../helpers/store.js';
import { type CliResult, ensureBuilt, runCli } from './run-cli.js';

interface Row {
  position: number;
  id: number;
  type: string;
  priority: number;
  userId: string | null;
  anonymous: boolean;
  appId: string;
}

/**
 * `taskproc task:list --scheduled` (issue 22): the waiting tasks in dispatch order, on the database
 * TASKPROC_TEST_DIALECT names (the CLI is pointed at the test schema on PostgreSQL). The tasks are
 * stored as the schedule path stores them, so their vtimes come from the fair queue itself.
 */
describe(`${TEST_DIALECT}: taskproc task:list --scheduled`, () => {
  let t: TestStore;
  const ids: Record<string, number> = {};
  const cli = (args: string[]): Promise<CliResult> =>
    runCli([...args, '--data-dir', t.dir], t.databaseUrl === null ? {} : { TASKPROC_DATABASE_URL: t.databaseUrl });
  const rows = async (args: string[]): Promise<Row[]> => {
    const r = await cli(['task:list', '--scheduled', ...args, '--output', 'json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Row[];
  };

  before(async () => {
    ensureBuilt();
    t = await createTestStore(TEST_DIALECT);
    const add = async (name: string, over: Parameters<typeof newTask>[0]) => {
      ids[name] = (await t.store.tasks.createTask(newTask(over))).id;
    };
    // alice schedules three at once, then bob one, an anonymous session one, an ExApp one without a
    // user; alice's third is put behind (priority -5), and a summary of the urgent kind goes first.
    await add('a1', { userId: 'alice' });
    await add('a2', { userId: 'alice' });
    await add('a3', { userId: 'alice', priority: -5 });
    await add('b1', { userId: 'bob' });
    await add('anon', { userId: null, anonKey: 'k'.repeat(64) });
    await add('app', { userId: null, appId: 'llm2' });
    await add('urgent', { userId: 'bob', type: 'core:text2text:summary', priority: 10 });
    await add('b2', { userId: 'bob' });
    const [claimed] = await t.store.tasks.claimTasks({ types: ['core:text2text'], limit: 1, leaseOwner: 'w', leaseExpiresAt: 2e9, now: 1 });
    assert.equal(claimed?.id, ids.a1, 'the first of the queue is claimed and leaves it');
    assert.ok(
      await t.store.tasks.finishTask(ids.a1 as number, 'w', {
        status: TASK_STATUS.SUCCESSFUL,
        output: {},
        errorMessage: null,
        userFacingErrorMessage: null,
        progress: 1,
        now: 2,
      }),
    );
  });
  after(() => t?.cleanup());

  it('lists only the waiting tasks, by priority, then each party in turn, then age, with their positions', async () => {
    const all = await rows([]);
    // alice's second task waits behind bob's, the anonymous session's and the app's first ones:
    // each party's n-th task comes after every other party's n-th.
    assert.deepEqual(
      all.map((r) => [r.position, r.id]),
      [
        [1, ids.urgent],
        [2, ids.b1],
        [3, ids.anon],
        [4, ids.app],
        [5, ids.a2],
        [6, ids.b2],
        [7, ids.a3],
      ],
    );
    assert.deepEqual(all[0], { ...all[0], type: 'core:text2text:summary', priority: 10, userId: 'bob', anonymous: false });
    assert.deepEqual(
      all.slice(2, 4).map((r) => [r.userId, r.anonymous, r.appId]),
      [
        [null, true, 'assistant'],
        [null, false, 'llm2'],
      ],
    );
    assert.equal(all[6]?.priority, -5);
  });

  it('agrees with the queue_position count for every task', async () => {
    for (const r of await rows([])) assert.equal(await t.store.tasks.queuePosition(r.id), r.position, `task ${r.id}`);
  });

  it('narrows to one type (positions in its own queue) and stops at --limit', async () => {
    assert.deepEqual(
      (await rows(['--type', 'core:text2text'])).map((r) => [r.position, r.id]),
      [
        [1, ids.b1],
        [2, ids.anon],
        [3, ids.app],
        [4, ids.a2],
        [5, ids.b2],
        [6, ids.a3],
      ],
    );
    assert.deepEqual(
      (await rows(['--limit', '2'])).map((r) => r.id),
      [ids.urgent, ids.b1],
    );
    assert.deepEqual(await rows(['--type', 'core:none']), []);
  });

  it('prints a table with POSITION, PRIORITY and USER columns', async () => {
    const r = await cli(['task:list', '--scheduled', '--limit', '3']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0] as string, /^POSITION +ID +TYPE +PRIORITY +USER +APP +SCHEDULED AT$/);
    assert.match(lines[1] as string, new RegExp(`^1 +${ids.urgent} +core:text2text:summary +10 +bob +assistant `));
    assert.match(lines[3] as string, new RegExp(`^3 +${ids.anon} +core:text2text +0 +\\(anonymous\\) `));
    assert.equal(lines.length, 4);
  });

  it('refuses --user and --status beside --scheduled with a usage error', async () => {
    for (const extra of [
      ['--user', 'alice'],
      ['--status', 'running'],
    ]) {
      const r = await cli(['task:list', '--scheduled', ...extra]);
      assert.equal(r.code, 2, r.stdout);
      assert.match(r.stderr, new RegExp(`^Error: --scheduled lists the whole queue in dispatch order: ${extra[0]} cannot narrow it`));
    }
  });
});
