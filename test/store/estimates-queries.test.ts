import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { TASK_STATUS, type Task } from '../../src/core/task.js';
import type { TaskResult, TaskStore } from '../../src/store/store.js';
import { createTestStore, newTask, T0, TEST_DIALECTS, type TestDialect, type TestStore } from '../helpers/store.js';

async function setup(t: TestContext, dialect: TestDialect): Promise<TestStore> {
  const s = await createTestStore(dialect);
  t.after(s.cleanup);
  return s;
}

const result = (status: 3 | 4, now: number): TaskResult => ({
  status,
  output: status === TASK_STATUS.SUCCESSFUL ? { output: 'done' } : null,
  errorMessage: status === TASK_STATUS.FAILED ? 'failed' : null,
  userFacingErrorMessage: null,
  progress: 1,
  now,
});

/** Claims the oldest task of `type`, as the runner does (startedAt set) or as an ExApp does (none). */
async function claim(tasks: TaskStore, type: string, now: number, runner = true): Promise<Task> {
  const [task] = await tasks.claimTasks({
    types: [type],
    limit: 1,
    leaseOwner: 'w',
    leaseExpiresAt: now + 600,
    now,
    ...(runner && { startedAt: now }),
  });
  assert.ok(task, `a ${type} task to claim`);
  return task;
}

for (const dialect of TEST_DIALECTS) {
  describe(`${dialect}: queue estimate queries`, () => {
    it(`${dialect}: scheduledAhead counts the type's scheduled tasks ahead of the task in dispatch order, of every owner`, async (t) => {
      const { store } = await setup(t, dialect);
      const a1 = await store.tasks.createTask(newTask({ type: 'a' }));
      await store.tasks.createTask(newTask({ type: 'b' }));
      const a2 = await store.tasks.createTask(newTask({ type: 'a', userId: 'bob' }));
      const a3 = await store.tasks.createTask(newTask({ type: 'a', userId: null, anonKey: 'k'.repeat(64) }));
      const a4 = await store.tasks.createTask(newTask({ type: 'a' }));
      assert.equal(await store.tasks.scheduledAhead('a', a1.id), 0);
      assert.equal(await store.tasks.scheduledAhead('a', a4.id), 3);
      // A running task is no longer ahead; an id of no task, or an impossible one, has nothing ahead.
      assert.equal((await claim(store.tasks, 'a', T0 + 1)).id, a1.id);
      assert.equal(await store.tasks.scheduledAhead('a', a4.id), 2);
      assert.equal(await store.tasks.scheduledAhead('a', a4.id + 100), 0);
      assert.equal(await store.tasks.scheduledAhead('a', a3.id), 1);
      assert.equal(await store.tasks.scheduledAhead('a', 2 ** 70), 0);
      assert.equal(await store.tasks.scheduledAhead('b', a2.id), 1);
      assert.equal(await store.tasks.scheduledAhead('c', a4.id), 0);
    });

    it(`${dialect}: runningByProvider counts the running tasks per provider, and nothing else`, async (t) => {
      const { store } = await setup(t, dialect);
      assert.deepEqual(await store.tasks.runningByProvider(), new Map());
      for (const providerId of ['p1', 'p1', 'p1', 'p2', null]) await store.tasks.createTask(newTask({ type: `t-${providerId}`, providerId }));
      await store.tasks.createTask(newTask({ type: 't-p1', providerId: 'p1' })); // stays scheduled
      await claim(store.tasks, 't-p1', T0 + 1);
      const ended = await claim(store.tasks, 't-p1', T0 + 1);
      await claim(store.tasks, 't-p1', T0 + 1, false);
      await claim(store.tasks, 't-p2', T0 + 1, false);
      await claim(store.tasks, 't-null', T0 + 1);
      await store.tasks.finishTask(ended.id, 'w', result(TASK_STATUS.SUCCESSFUL, T0 + 2));
      assert.deepEqual(
        await store.tasks.runningByProvider(),
        new Map([
          ['p1', 2],
          ['p2', 1],
        ]),
      );
    });

    it(`${dialect}: recentRunTimes gives the successful runs with a start, oldest end first, among the newest rows`, async (t) => {
      const { store } = await setup(t, dialect);
      assert.deepEqual(await store.tasks.recentRunTimes(100), []);
      // Runner tasks (started) end after 5, 3 and 7 s; one fails; an ExApp's (no start) succeeds.
      const made: Task[] = [];
      for (const type of ['a', 'a', 'b', 'a', 'c']) made.push(await store.tasks.createTask(newTask({ type, providerId: `p-${type}` })));
      const [first, second, third, failed] = [
        await claim(store.tasks, 'a', T0 + 10),
        await claim(store.tasks, 'a', T0 + 10),
        await claim(store.tasks, 'b', T0 + 12),
        await claim(store.tasks, 'a', T0 + 12),
      ];
      const exApp = await claim(store.tasks, 'c', T0 + 12, false);
      await store.tasks.finishTask(second.id, 'w', result(TASK_STATUS.SUCCESSFUL, T0 + 13));
      await store.tasks.finishTask(first.id, 'w', result(TASK_STATUS.SUCCESSFUL, T0 + 15));
      await store.tasks.finishTask(third.id, 'w', result(TASK_STATUS.SUCCESSFUL, T0 + 19));
      await store.tasks.finishTask(failed.id, 'w', result(TASK_STATUS.FAILED, T0 + 20));
      await store.tasks.finishTask(exApp.id, 'w', result(TASK_STATUS.SUCCESSFUL, T0 + 21));
      await store.tasks.createTask(newTask({ type: 'a', providerId: 'p-a', lastUpdated: T0 + 30 }));
      assert.deepEqual(await store.tasks.recentRunTimes(100), [
        { taskId: second.id, type: 'a', providerId: 'p-a', seconds: 3 },
        { taskId: first.id, type: 'a', providerId: 'p-a', seconds: 5 },
        { taskId: third.id, type: 'b', providerId: 'p-b', seconds: 7 },
      ]);
      // Only the newest rows are read: the scheduled one, the ExApp's, the failed one, then `third`.
      assert.deepEqual(
        (await store.tasks.recentRunTimes(4)).map((r) => r.taskId),
        [third.id],
      );
      assert.deepEqual(await store.tasks.recentRunTimes(3), []);
      assert.deepEqual(await store.tasks.recentRunTimes(0), []);
    });
  });
}
