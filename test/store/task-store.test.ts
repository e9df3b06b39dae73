import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { describe, it, type TestContext } from 'node:test';
import { TASK_STATUS, type NewTask, type Task } from '../../src/core/task.js';
import type { TaskOwner, TaskResult, TaskStore } from '../../src/store/store.js';
import { createTestStore, TEST_DIALECTS, type TestDialect, type TestStore, newTask, T0 } from '../helpers/store.js';

const ALICE: TaskOwner = { userId: 'alice', anonKey: null };
const BOB: TaskOwner = { userId: 'bob', anonKey: null };
const ANON_A: TaskOwner = { userId: null, anonKey: 'a'.repeat(64) };
const ANON_B: TaskOwner = { userId: null, anonKey: 'b'.repeat(64) };
const NOBODY: TaskOwner = { userId: null, anonKey: null };

const ownerOf = (owner: TaskOwner): Partial<NewTask> => ({ userId: owner.userId, anonKey: owner.anonKey });

function success(now: number, output: Task['output'] = { output: 'done' }): TaskResult {
  return { status: TASK_STATUS.SUCCESSFUL, output, errorMessage: null, userFacingErrorMessage: null, progress: 1, now };
}

async function setup(t: TestContext, dialect: TestDialect): Promise<TestStore> {
  const s = await createTestStore(dialect);
  t.after(s.cleanup);
  return s;
}

async function claimOne(tasks: TaskStore, owner: string, now = T0 + 1, type = 'core:text2text'): Promise<Task> {
  const [task] = await tasks.claimTasks({ types: [type], limit: 1, leaseOwner: owner, leaseExpiresAt: now + 60, now });
  assert.ok(task, 'expected a task to claim');
  return task;
}

for (const dialect of TEST_DIALECTS) {
  describe(`${dialect}: TaskStore`, () => {
    it(`${dialect}: getTask sees at once what this store, another connection or another store changed`, async (t) => {
      const s = await setup(t, dialect);
      const task = await s.store.tasks.createTask(newTask());
      assert.equal((await s.store.tasks.getTask(task.id))?.status, TASK_STATUS.SCHEDULED);
      assert.equal((await s.store.tasks.getTask(task.id))?.status, TASK_STATUS.SCHEDULED); // asked again
      // Every caller gets the task frozen, input included: nothing one caller does reaches the next.
      const read = (await s.store.tasks.getTask(task.id)) as Task;
      assert.throws(() => Object.assign(read, { status: TASK_STATUS.FAILED }), TypeError);
      assert.throws(() => Object.assign(read.input, { extra: 1 }), TypeError);
      // Through another connection, as `taskproc` admin commands in their own process would.
      await s.db.updateTable('tasks').set({ custom_id: 'renamed' }).where('id', '=', task.id).execute();
      assert.equal((await s.store.tasks.getTask(task.id))?.customId, 'renamed');
      // Through this store: claimed, then finished; each read shows the row as it now is.
      const claimed = await claimOne(s.store.tasks, 'w1');
      assert.equal(claimed.id, task.id);
      assert.equal((await s.store.tasks.getTask(task.id))?.status, TASK_STATUS.RUNNING);
      await s.store.tasks.finishTask(task.id, 'w1', success(T0 + 2));
      assert.deepEqual((await s.store.tasks.getTask(task.id))?.output, { output: 'done' });
      // A second store on the same database deletes it.
      const other = await s.open();
      assert.equal(await other.tasks.deleteTask(task.id, ALICE), true);
      assert.equal(await s.store.tasks.getTask(task.id), undefined);
      // Deleting a user through the user store takes their tasks with it, cached or not.
      await s.store.users.createUser({ id: 'alice', displayName: 'Alice', passwordHash: null, isAdmin: false, isGuest: false, enabled: true, createdAt: T0 });
      const owned = await s.store.tasks.createTask(newTask());
      assert.ok(await s.store.tasks.getTask(owned.id));
      assert.equal(await s.store.users.deleteUser('alice'), true);
      assert.equal(await s.store.tasks.getTask(owned.id), undefined);
    });

    it(`${dialect}: a read racing writes of the same task never leaves an old row behind`, async (t) => {
      const s = await setup(t, dialect);
      for (let i = 0; i < 30; i++) {
        const task = await s.store.tasks.createTask(newTask());
        await s.store.tasks.getTask(task.id);
        // Reads and writes of one task in one turn: whatever order they run in, the next read is current.
        const [, claimed] = await Promise.all([
          s.store.tasks.getTask(task.id),
          s.store.tasks.claimTasks({ types: ['core:text2text'], limit: 1, leaseOwner: 'w', leaseExpiresAt: T0 + 60, now: T0 + 1 }),
          s.store.tasks.getTask(task.id),
        ]);
        assert.equal(claimed[0]?.id, task.id);
        assert.equal((await s.store.tasks.getTask(task.id))?.status, TASK_STATUS.RUNNING);
        await Promise.all([s.store.tasks.getTask(task.id), s.store.tasks.setProgress(task.id, 0.5, T0 + 2, 'w', null, null), s.store.tasks.getTask(task.id)]);
        assert.equal((await s.store.tasks.getTask(task.id))?.progress, 0.5);
        await Promise.all([s.store.tasks.getTask(task.id), s.store.tasks.finishTask(task.id, 'w', success(T0 + 3)), s.store.tasks.getTask(task.id)]);
        assert.equal((await s.store.tasks.getTask(task.id))?.status, TASK_STATUS.SUCCESSFUL);
      }
    });

    it(`${dialect}: createTask and getTask round-trip every field`, async (t) => {
      const { store } = await setup(t, dialect);
      const input = { input: 'Grüße 🌍 "quoted"', list: [1, 2.5, 'three'], nested: { deep: [null, true] } };
      const created = await store.tasks.createTask(
        newTask({
          type: 'core:text2image',
          userId: 'alice',
          appId: 'my-app',
          customId: 'custom-7',
          input,
          webhookUri: 'https://example.com/hook',
          webhookMethod: 'AppAPI:my-app:POST',
          includeWatermark: false,
          preferStreaming: true,
          providerId: 'img-provider',
          scheduledAt: T0 + 1,
          lastUpdated: T0 + 2,
          completionExpectedAt: 4_102_444_800, // 2100: past 2^31, so bigint columns must carry it
        }),
      );
      const expected: Task = {
        id: created.id,
        type: 'core:text2image',
        status: TASK_STATUS.SCHEDULED,
        userId: 'alice',
        anonKey: null,
        appId: 'my-app',
        customId: 'custom-7',
        input,
        output: null,
        progress: null,
        errorMessage: null,
        userFacingErrorMessage: null,
        webhookUri: 'https://example.com/hook',
        webhookMethod: 'AppAPI:my-app:POST',
        includeWatermark: false,
        allowCleanup: true,
        providerId: 'img-provider',
        leaseOwner: null,
        leaseExpiresAt: null,
        attempts: 0,
        scheduledAt: T0 + 1,
        startedAt: null,
        endedAt: null,
        lastUpdated: T0 + 2,
        completionExpectedAt: 4_102_444_800,
        preferStreaming: true,
        priority: 0,
        // The first task of its type's queue, with no party before it.
        vtime: 0,
      };
      assert.ok(Number.isInteger(created.id) && created.id > 0);
      assert.deepEqual(created, expected);
      assert.deepEqual(await store.tasks.getTask(created.id), expected);

      const anon = await store.tasks.createTask(newTask({ ...ownerOf(ANON_A), includeWatermark: true, scheduledAt: null, completionExpectedAt: null }));
      const readAnon = await store.tasks.getTask(anon.id);
      assert.equal(readAnon?.userId, null);
      assert.equal(readAnon?.anonKey, ANON_A.anonKey);
      assert.equal(readAnon?.includeWatermark, true);
      assert.equal(readAnon?.scheduledAt, null);
      assert.equal(readAnon?.completionExpectedAt, null);

      const claimed = await claimOne(store.tasks, 'worker', T0 + 5, 'core:text2image');
      const failed = await store.tasks.finishTask(claimed.id, 'worker', {
        status: TASK_STATUS.FAILED,
        output: { partial: ['x'] },
        errorMessage: 'stack trace',
        userFacingErrorMessage: 'Sorry',
        progress: 0.25,
        now: T0 + 6,
      });
      assert.deepEqual(await store.tasks.getTask(created.id), failed);
      assert.deepEqual(
        { ...failed, id: 0 },
        {
          ...expected,
          id: 0,
          status: TASK_STATUS.FAILED,
          output: { partial: ['x'] },
          errorMessage: 'stack trace',
          userFacingErrorMessage: 'Sorry',
          progress: 0.25,
          attempts: 1,
          endedAt: T0 + 6,
          lastUpdated: T0 + 6,
        },
      );
    });

    it(`${dialect}: getTask of an unknown id is undefined`, async (t) => {
      const { store } = await setup(t, dialect);
      assert.equal(await store.tasks.getTask(12345), undefined);
    });

    it(`${dialect}: numbers that cannot be row ids (past 2^53, past bigint, fractional) name no task`, async (t) => {
      const { store } = await setup(t, dialect);
      const task = await store.tasks.createTask(newTask());
      for (const id of [2 ** 63, 1e30, 2 ** 53 + 2, task.id + 0.5, Number.NaN]) {
        assert.equal(await store.tasks.getTask(id), undefined, `getTask(${id})`);
        assert.equal(await store.tasks.deleteTask(id, ALICE), false);
        assert.equal(await store.tasks.cancelTask(id, ALICE, T0), undefined);
        assert.equal(await store.tasks.finishTask(id, null, success(T0)), undefined);
        assert.equal(await store.tasks.setProgress(id, 0.5, T0, null, null, null), undefined);
        assert.equal(await store.tasks.extendLease(id, 'w', T0, T0), false);
        assert.equal(await store.tasks.getPartialOutput(id), undefined);
        assert.equal(await store.tasks.releaseClaims([id], 'w', T0), 0);
        assert.equal(await store.files.getFile(id), undefined);
        assert.deepEqual(await store.files.getFiles([id]), []);
        assert.equal(await store.files.countTaskFiles(id), 0);
        assert.deepEqual(await store.files.deleteTaskFiles([id]), []);
      }
      assert.deepEqual(await store.tasks.getTask(task.id), task);
    });

    it(`${dialect}: text with a NUL character is refused with bad_request, except error messages, which keep U+FFFD`, async (t) => {
      const { store } = await setup(t, dialect);
      const refused = { code: 'bad_request', message: 'Text must not contain the NUL character' };
      await assert.rejects(store.tasks.createTask(newTask({ customId: 'a\0b' })), refused);
      // The insert is compiled once, on the first schedule; later ones are checked on their values.
      await store.tasks.createTask(newTask());
      await assert.rejects(store.tasks.createTask(newTask({ customId: 'a\0b' })), refused);
      await assert.rejects(store.tasks.createTask(newTask({ input: { input: 'fine', other: 'x' }, webhookUri: 'http://h/\0' })), refused);
      await assert.rejects(store.tasks.createTask(newTask({ appId: 'a\0b' })), refused);
      await assert.rejects(store.tasks.listTasks({ owner: ALICE, customId: 'a\0b' }), refused);
      // JSON escapes it, so inputs keep it.
      const task = await store.tasks.createTask(newTask({ input: { input: 'a\0b' } }));
      assert.deepEqual((await store.tasks.getTask(task.id))?.input, { input: 'a\0b' });
      const failed = await store.tasks.finishTask(task.id, null, {
        status: TASK_STATUS.FAILED,
        output: null,
        errorMessage: 'bad\0byte',
        userFacingErrorMessage: 'also\0here',
        progress: null,
        now: T0 + 1,
      });
      assert.equal(failed?.errorMessage, 'bad\uFFFDbyte');
      assert.equal(failed?.userFacingErrorMessage, 'also\uFFFDhere');
    });

    it(`${dialect}: listTasks filters by type, app and custom id, by id ascending`, async (t) => {
      const { store } = await setup(t, dialect);
      const a = await store.tasks.createTask(newTask({ type: 't1', appId: 'app1', customId: 'c1' }));
      const b = await store.tasks.createTask(newTask({ type: 't2', appId: 'app1', customId: 'c2' }));
      const c = await store.tasks.createTask(newTask({ type: 't1', appId: 'app2', customId: 'c1' }));
      const d = await store.tasks.createTask(newTask({ type: 't1', appId: 'app1', customId: 'c2' }));
      const ids = async (filter: Omit<Parameters<TaskStore['listTasks']>[0], 'owner'>) =>
        (await store.tasks.listTasks({ owner: ALICE, ...filter })).map((x) => x.id);
      assert.deepEqual(await ids({}), [a.id, b.id, c.id, d.id]);
      assert.deepEqual(await ids({ type: 't1' }), [a.id, c.id, d.id]);
      assert.deepEqual(await ids({ appId: 'app1' }), [a.id, b.id, d.id]);
      assert.deepEqual(await ids({ customId: 'c1' }), [a.id, c.id]);
      assert.deepEqual(await ids({ type: 't1', customId: 'c2' }), [d.id]);
      assert.deepEqual(await ids({ appId: 'app1', customId: 'c2' }), [b.id, d.id]);
      assert.deepEqual(await ids({ type: 'nope' }), []);
    });

    it(`${dialect}: users, anonymous callers and owner-less tasks never see each other's tasks`, async (t) => {
      const { store } = await setup(t, dialect);
      const owners = [ALICE, BOB, ANON_A, ANON_B, NOBODY];
      const byOwner = new Map<TaskOwner, number[]>();
      for (const owner of owners) {
        const created = [await store.tasks.createTask(newTask(ownerOf(owner))), await store.tasks.createTask(newTask(ownerOf(owner)))];
        byOwner.set(
          owner,
          created.map((x) => x.id),
        );
      }
      for (const owner of owners) {
        const mine = byOwner.get(owner) ?? [];
        assert.deepEqual(
          (await store.tasks.listTasks({ owner })).map((x) => x.id),
          mine,
          JSON.stringify(owner),
        );
        for (const other of owners.filter((o) => o !== owner)) {
          const theirs = byOwner.get(other)?.[0] as number;
          assert.equal(await store.tasks.cancelTask(theirs, owner, T0 + 1), undefined);
          assert.equal(await store.tasks.deleteTask(theirs, owner), false);
        }
      }
      for (const owner of owners) {
        for (const id of byOwner.get(owner) ?? []) assert.equal((await store.tasks.getTask(id))?.status, TASK_STATUS.SCHEDULED);
      }
    });

    it(`${dialect}: deleteTask removes the owner's task once`, async (t) => {
      const { store } = await setup(t, dialect);
      const task = await store.tasks.createTask(newTask(ownerOf(ANON_A)));
      assert.equal(await store.tasks.deleteTask(task.id, ANON_A), true);
      assert.equal(await store.tasks.getTask(task.id), undefined);
      assert.equal(await store.tasks.deleteTask(task.id, ANON_A), false);
    });

    it(`${dialect}: cancelTask cancels SCHEDULED and RUNNING tasks and returns final ones unchanged`, async (t) => {
      const { store } = await setup(t, dialect);
      const scheduled = await store.tasks.createTask(newTask());
      const cancelled = await store.tasks.cancelTask(scheduled.id, ALICE, T0 + 5);
      assert.deepEqual(cancelled, { ...scheduled, status: TASK_STATUS.CANCELLED, endedAt: T0 + 5, lastUpdated: T0 + 5 });

      await store.tasks.createTask(newTask());
      const running = await claimOne(store.tasks, 'worker');
      const cancelledRunning = await store.tasks.cancelTask(running.id, ALICE, T0 + 7);
      assert.deepEqual(cancelledRunning, {
        ...running,
        status: TASK_STATUS.CANCELLED,
        endedAt: T0 + 7,
        lastUpdated: T0 + 7,
        leaseOwner: null,
        leaseExpiresAt: null,
      });

      await store.tasks.createTask(newTask());
      const succeeded = await store.tasks.finishTask((await claimOne(store.tasks, 'worker')).id, 'worker', success(T0 + 3));
      await store.tasks.createTask(newTask());
      const failed = await store.tasks.finishTask((await claimOne(store.tasks, 'worker')).id, null, {
        ...success(T0 + 3, null),
        status: TASK_STATUS.FAILED,
        errorMessage: 'boom',
      });
      for (const final of [cancelled, succeeded, failed]) {
        assert.ok(final);
        assert.deepEqual(await store.tasks.cancelTask(final.id, ALICE, T0 + 100), final);
        assert.deepEqual(await store.tasks.getTask(final.id), final);
      }
      assert.equal(await store.tasks.cancelTask(99_999, ALICE, T0), undefined);
    });

    it(`${dialect}: claimTasks is exclusive under concurrent claimers`, async (t) => {
      const { store } = await setup(t, dialect);
      const created = await Promise.all(Array.from({ length: 100 }, () => store.tasks.createTask(newTask())));
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          store.tasks.claimTasks({ types: ['core:text2text'], limit: 15, leaseOwner: `worker-${i}`, leaseExpiresAt: T0 + 60, now: T0 + 1 }),
        ),
      );
      const claimedIds = results.flat().map((x) => x.id);
      assert.equal(claimedIds.length, 100);
      assert.deepEqual(
        [...claimedIds].sort((a, b) => a - b),
        created.map((x) => x.id).sort((a, b) => a - b),
      );
      for (const [i, batch] of results.entries()) {
        for (const task of batch) {
          const stored = await store.tasks.getTask(task.id);
          assert.equal(stored?.status, TASK_STATUS.RUNNING);
          assert.equal(stored?.leaseOwner, `worker-${i}`);
          assert.equal(stored?.attempts, 1);
        }
      }
      assert.deepEqual(await store.tasks.claimTasks({ types: ['core:text2text'], limit: 10, leaseOwner: 'late', leaseExpiresAt: T0 + 60, now: T0 + 2 }), []);
    });

    it(`${dialect}: claimTasks takes the oldest scheduled tasks of the given types under a lease`, async (t) => {
      const { store } = await setup(t, dialect);
      const other = await store.tasks.createTask(newTask({ type: 'other' }));
      const a1 = await store.tasks.createTask(newTask({ type: 'a' }));
      const b1 = await store.tasks.createTask(newTask({ type: 'b' }));
      const a2 = await store.tasks.createTask(newTask({ type: 'a' }));
      const cancelled = await store.tasks.createTask(newTask({ type: 'a' }));
      await store.tasks.cancelTask(cancelled.id, ALICE, T0);
      const a3 = await store.tasks.createTask(newTask({ type: 'a' }));

      assert.deepEqual(await store.tasks.claimTasks({ types: [], limit: 10, leaseOwner: 'w', leaseExpiresAt: T0 + 60, now: T0 }), []);
      const claimed = await store.tasks.claimTasks({ types: ['a', 'b'], limit: 3, leaseOwner: 'w1', leaseExpiresAt: T0 + 60, now: T0 + 9 });
      assert.deepEqual(
        claimed.map((x) => x.id),
        [a1.id, b1.id, a2.id],
      );
      for (const task of claimed) {
        assert.equal(task.status, TASK_STATUS.RUNNING);
        assert.equal(task.leaseOwner, 'w1');
        assert.equal(task.leaseExpiresAt, T0 + 60);
        assert.equal(task.lastUpdated, T0 + 9);
        assert.equal(task.attempts, 1);
        assert.equal(task.startedAt, null);
      }
      const rest = await store.tasks.claimTasks({ types: ['a', 'b'], limit: 10, leaseOwner: 'w2', leaseExpiresAt: T0 + 60, now: T0 + 9 });
      assert.deepEqual(
        rest.map((x) => x.id),
        [a3.id],
      );
      assert.equal((await store.tasks.getTask(other.id))?.status, TASK_STATUS.SCHEDULED);
      assert.equal((await store.tasks.getTask(cancelled.id))?.status, TASK_STATUS.CANCELLED);
    });

    it(`${dialect}: claims and results compiled once run with each call's own values`, async (t) => {
      // The claim's and the result's SQL is compiled on first use per form and then run with new
      // values: the second and third calls must bind theirs, not the first call's.
      const s = await setup(t, dialect);
      const ids = [];
      for (let i = 0; i < 6; i++) ids.push((await s.store.tasks.createTask(newTask({ type: i % 2 === 0 ? 'core:text2text' : 'core:text2image' }))).id);
      const first = await s.store.tasks.claimTasks({ types: ['core:text2text'], limit: 1, leaseOwner: 'w1', leaseExpiresAt: T0 + 100, now: T0 + 10 });
      const second = await s.store.tasks.claimTasks({ types: ['core:text2text'], limit: 2, leaseOwner: 'w2', leaseExpiresAt: T0 + 200, now: T0 + 20 });
      const third = await s.store.tasks.claimTasks({
        types: ['core:text2image'],
        limit: 3,
        leaseOwner: 'w3',
        leaseExpiresAt: T0 + 300,
        now: T0 + 30,
        startedAt: T0 + 31,
      });
      assert.deepEqual(
        first.map((x) => [x.id, x.leaseOwner, x.leaseExpiresAt, x.lastUpdated, x.attempts, x.startedAt]),
        [[ids[0], 'w1', T0 + 100, T0 + 10, 1, null]],
      );
      assert.deepEqual(
        second.map((x) => [x.id, x.leaseOwner, x.leaseExpiresAt, x.lastUpdated, x.attempts]),
        [ids[2], ids[4]].map((id) => [id, 'w2', T0 + 200, T0 + 20, 1]),
      );
      assert.deepEqual(
        third.map((x) => [x.id, x.leaseOwner, x.startedAt]),
        [ids[1], ids[3], ids[5]].map((id) => [id, 'w3', T0 + 31]),
      );
      const done = await s.store.tasks.finishTask(ids[0] as number, 'w1', success(T0 + 40, { output: 'one' }));
      const wrongOwner = await s.store.tasks.finishTask(ids[2] as number, 'w1', success(T0 + 41));
      const failed = await s.store.tasks.finishTask(ids[2] as number, 'w2', {
        status: TASK_STATUS.FAILED,
        output: null,
        errorMessage: 'boom',
        userFacingErrorMessage: 'Sorry',
        progress: null,
        now: T0 + 42,
      });
      const byAnyone = await s.store.tasks.finishTask(ids[4] as number, null, success(T0 + 43, { output: 'three' }));
      assert.deepEqual([done?.output, done?.endedAt, done?.leaseOwner], [{ output: 'one' }, T0 + 40, null]);
      assert.equal(wrongOwner, undefined);
      assert.deepEqual([failed?.status, failed?.errorMessage, failed?.userFacingErrorMessage, failed?.endedAt], [TASK_STATUS.FAILED, 'boom', 'Sorry', T0 + 42]);
      assert.deepEqual([byAnyone?.output, byAnyone?.endedAt], [{ output: 'three' }, T0 + 43]);
    });

    it(`${dialect}: setProgress needs a RUNNING task and the lease owner when one is given`, async (t) => {
      const { store } = await setup(t, dialect);
      const scheduled = await store.tasks.createTask(newTask({ type: 'idle' }));
      assert.equal(await store.tasks.setProgress(scheduled.id, 0.5, T0 + 1, null, null, null), undefined);
      assert.deepEqual(await store.tasks.getTask(scheduled.id), scheduled);

      await store.tasks.createTask(newTask());
      const running = await claimOne(store.tasks, 'w1');
      assert.equal(await store.tasks.setProgress(running.id, 0.5, T0 + 2, 'w2', T0 + 500, null), undefined);
      assert.deepEqual(await store.tasks.getTask(running.id), running);

      const half = await store.tasks.setProgress(running.id, 0.5, T0 + 3, 'w1', T0 + 500, null);
      assert.deepEqual(half, { ...running, progress: 0.5, lastUpdated: T0 + 3, leaseExpiresAt: T0 + 500 });
      const more = await store.tasks.setProgress(running.id, 0.75, T0 + 4, null, null, null);
      assert.deepEqual(more, { ...running, progress: 0.75, lastUpdated: T0 + 4, leaseExpiresAt: T0 + 500 });
    });

    it(`${dialect}: finishTask with the wrong lease owner changes nothing`, async (t) => {
      const { store } = await setup(t, dialect);
      await store.tasks.createTask(newTask());
      const running = await claimOne(store.tasks, 'w1');
      assert.equal(await store.tasks.finishTask(running.id, 'w2', success(T0 + 2)), undefined);
      assert.deepEqual(await store.tasks.getTask(running.id), running);

      const done = await store.tasks.finishTask(running.id, 'w1', success(T0 + 3));
      assert.deepEqual(done, {
        ...running,
        status: TASK_STATUS.SUCCESSFUL,
        output: { output: 'done' },
        progress: 1,
        endedAt: T0 + 3,
        lastUpdated: T0 + 3,
        leaseOwner: null,
        leaseExpiresAt: null,
      });
      assert.equal(await store.tasks.finishTask(running.id, 'w1', success(T0 + 4)), undefined);
      assert.equal(await store.tasks.finishTask(running.id, null, success(T0 + 4)), undefined);
      assert.deepEqual(await store.tasks.getTask(running.id), done);
    });

    it(`${dialect}: finishTask accepts a SCHEDULED task only without a lease owner, and never a cancelled one`, async (t) => {
      const { store } = await setup(t, dialect);
      const scheduled = await store.tasks.createTask(newTask());
      assert.equal(await store.tasks.finishTask(scheduled.id, 'w1', success(T0 + 1)), undefined);
      assert.equal((await store.tasks.finishTask(scheduled.id, null, success(T0 + 1)))?.status, TASK_STATUS.SUCCESSFUL);

      const toCancel = await store.tasks.createTask(newTask());
      const cancelled = await store.tasks.cancelTask(toCancel.id, ALICE, T0 + 1);
      assert.equal(await store.tasks.finishTask(toCancel.id, null, success(T0 + 2)), undefined);
      assert.deepEqual(await store.tasks.getTask(toCancel.id), cancelled);
    });

    it(`${dialect}: expireLeases re-queues expired leases, then fails them after maxAttempts`, async (t) => {
      const { store } = await setup(t, dialect);
      const task = await store.tasks.createTask(newTask());
      const fresh = await store.tasks.createTask(newTask({ type: 'fresh' }));
      await claimOne(store.tasks, 'w', T0, 'fresh');
      const claim = (now: number) => store.tasks.claimTasks({ types: ['core:text2text'], limit: 1, leaseOwner: 'w', leaseExpiresAt: now + 10, now });

      await claim(T0);
      // The lease ends at T0 + 10: not yet expired at that very second.
      assert.deepEqual(await store.tasks.expireLeases(T0 + 10, 2, 'gave up'), { requeued: 0, requeuedIds: [], failed: [] });
      assert.deepEqual(await store.tasks.expireLeases(T0 + 11, 2, 'gave up'), { requeued: 1, requeuedIds: [task.id], failed: [] });
      const requeued = await store.tasks.getTask(task.id);
      assert.equal(requeued?.status, TASK_STATUS.SCHEDULED);
      assert.equal(requeued?.leaseOwner, null);
      assert.equal(requeued?.leaseExpiresAt, null);
      assert.equal(requeued?.attempts, 1);
      assert.equal(requeued?.lastUpdated, T0 + 11);

      const [second] = await claim(T0 + 20);
      assert.equal(second?.attempts, 2);
      const { requeued: n, failed } = await store.tasks.expireLeases(T0 + 31, 2, 'gave up');
      assert.equal(n, 0);
      assert.equal(failed.length, 1);
      assert.deepEqual(failed[0], {
        ...second,
        status: TASK_STATUS.FAILED,
        errorMessage: 'gave up',
        endedAt: T0 + 31,
        lastUpdated: T0 + 31,
        leaseOwner: null,
        leaseExpiresAt: null,
      });
      assert.deepEqual(await store.tasks.getTask(task.id), failed[0]);
      // 'fresh' was leased until T0 + 60.
      assert.equal((await store.tasks.getTask(fresh.id))?.status, TASK_STATUS.RUNNING);
    });

    it(`${dialect}: releaseLeases re-queues only the tasks leased under the prefix`, async (t) => {
      const { store } = await setup(t, dialect);
      const owners = ['node-a:runner', 'node-a:runner:2', 'node-b:runner', 'NODE-A:runner', 'node_a:runner', 'node-%:x'];
      const claimed = new Map<string, Task>();
      for (const owner of owners) {
        await store.tasks.createTask(newTask());
        claimed.set(owner, await claimOne(store.tasks, owner));
      }
      assert.equal(await store.tasks.releaseLeases('node-a:', T0 + 5), 2);
      for (const [owner, task] of claimed) {
        const now = await store.tasks.getTask(task.id);
        if (owner.startsWith('node-a:')) {
          assert.deepEqual(now, { ...task, status: TASK_STATUS.SCHEDULED, leaseOwner: null, leaseExpiresAt: null, lastUpdated: T0 + 5 });
        } else {
          assert.deepEqual(now, task, owner);
        }
      }
      // % and _ are ordinary characters in a prefix.
      assert.equal(await store.tasks.releaseLeases('node-%', T0 + 6), 1);
      assert.equal(await store.tasks.releaseLeases('node-', T0 + 7), 1);
    });

    it(`${dialect}: deleteTasksUpdatedBefore honours the cutoff, the limit and allowCleanup`, async (t) => {
      const { store, db } = await setup(t, dialect);
      const old = [];
      for (let i = 0; i < 5; i++) old.push(await store.tasks.createTask(newTask({ lastUpdated: T0 + i })));
      const kept = await store.tasks.createTask(newTask({ lastUpdated: T0 }));
      await db.updateTable('tasks').set({ allow_cleanup: 0 }).where('id', '=', kept.id).execute();
      const recent = await store.tasks.createTask(newTask({ lastUpdated: T0 + 100 }));

      assert.deepEqual(await store.tasks.deleteTasksUpdatedBefore(T0 + 100, 3), [old[0]?.id, old[1]?.id, old[2]?.id]);
      assert.deepEqual(await store.tasks.deleteTasksUpdatedBefore(T0 + 100, 10), [old[3]?.id, old[4]?.id]);
      assert.deepEqual(await store.tasks.deleteTasksUpdatedBefore(T0 + 100, 10), []);
      assert.equal((await store.tasks.getTask(kept.id))?.allowCleanup, false);
      assert.ok(await store.tasks.getTask(recent.id));
    });

    it(`${dialect}: queueStats counts scheduled and running tasks`, async (t) => {
      const { store } = await setup(t, dialect);
      assert.deepEqual(await store.tasks.queueStats([]), { scheduled: 0, running: 0 });
      for (const type of ['a', 'a', 'a', 'b', 'b', 'c']) await store.tasks.createTask(newTask({ type }));
      await claimOne(store.tasks, 'w', T0, 'a');
      await claimOne(store.tasks, 'w', T0, 'b');
      const [c] = await store.tasks.claimTasks({ types: ['c'], limit: 1, leaseOwner: 'w', leaseExpiresAt: T0 + 9, now: T0 });
      await store.tasks.finishTask(c?.id ?? 0, 'w', success(T0));
      assert.deepEqual(await store.tasks.queueStats([]), { scheduled: 3, running: 2 });
      assert.deepEqual(await store.tasks.queueStats(['a']), { scheduled: 2, running: 1 });
      assert.deepEqual(await store.tasks.queueStats(['b', 'c']), { scheduled: 1, running: 1 });
      assert.deepEqual(await store.tasks.queueStats(['none']), { scheduled: 0, running: 0 });
    });

    it(`${dialect}: queuePosition is 1 + the scheduled tasks of every type and owner claims hand out first`, async (t) => {
      const { store } = await setup(t, dialect);
      assert.equal(await store.tasks.queuePosition(1), undefined, 'an empty queue');
      const done = await store.tasks.createTask(newTask({ type: 'z' }));
      await store.tasks.finishTask(done.id, null, success(T0));
      const tasks: Task[] = [];
      for (const [type, owner] of [
        ['b', ALICE],
        ['a', BOB],
        ['c', ANON_A],
        ['a', ALICE],
        ['b', NOBODY],
      ] as const) {
        tasks.push(await store.tasks.createTask(newTask({ type, ...ownerOf(owner) })));
      }
      const positions = async () => Promise.all(tasks.map((task) => store.tasks.queuePosition(task.id)));
      assert.deepEqual(await positions(), [1, 2, 3, 4, 5]);
      // A claim of type a takes its oldest (the second task); the others behind it move up.
      assert.equal((await claimOne(store.tasks, 'w', T0, 'a'))?.id, tasks[1]?.id);
      assert.deepEqual(await positions(), [1, undefined, 2, 3, 4]);
      // Back in the queue (released), it is at its old place again: claims go by id.
      assert.equal(await store.tasks.releaseClaims([tasks[1]?.id ?? 0], 'w', T0), 1);
      assert.deepEqual(await positions(), [1, 2, 3, 4, 5]);
      await store.tasks.cancelTask(tasks[0]?.id ?? 0, ALICE, T0);
      assert.deepEqual(await positions(), [undefined, 1, 2, 3, 4]);
      for (const id of [done.id, 0, -1, 2 ** 53 + 2, 1.5, tasks.at(-1)!.id + 1]) assert.equal(await store.tasks.queuePosition(id), undefined, String(id));
    });

    it(`${dialect}: tasks survive closing and reopening the store`, async (t) => {
      const { store, open } = await setup(t, dialect);
      const a = await store.tasks.createTask(newTask());
      const b = await store.tasks.createTask(newTask({ ...ownerOf(ANON_A) }));
      const running = await claimOne(store.tasks, 'w');
      await store.close();

      const again = await open();
      await again.migrate();
      assert.deepEqual(await again.tasks.getTask(a.id), running);
      assert.deepEqual(await again.tasks.getTask(b.id), b);
      const c = await again.tasks.createTask(newTask());
      assert.ok(c.id > b.id);
    });

    // Each database's own way to fail under load: SQLite's -wal file growing without bound,
    // PostgreSQL's concurrent claimers taking a task twice or slowing down as finished rows pile up.
    if (dialect === 'sqlite') {
      it(`${dialect}: the write-ahead log stays bounded under a sustained write load`, async (t) => {
        const { store, file } = await setup(t, dialect);
        assert.ok(file !== null);
        const LIMIT = 70 * 1024 * 1024;
        const walSize = () => {
          try {
            return statSync(`${file}-wal`).size;
          } catch {
            return 0;
          }
        };
        const input = { input: 'x'.repeat(500) };
        let largest = 0;
        let finished = 0;
        for (let batch = 0; batch < 60; batch++) {
          await Promise.all(Array.from({ length: 500 }, () => store.tasks.createTask(newTask({ input }))));
          const claimed = await store.tasks.claimTasks({ types: ['core:text2text'], limit: 100, leaseOwner: 'w', leaseExpiresAt: T0 + 60, now: T0 });
          const done = await Promise.all(claimed.map((task) => store.tasks.finishTask(task.id, 'w', success(T0 + 1))));
          finished += done.filter(Boolean).length;
          largest = Math.max(largest, walSize());
          assert.ok(largest < LIMIT, `-wal grew to ${largest} bytes after batch ${batch}`);
        }
        assert.equal(finished, 6_000);
        assert.deepEqual(await store.tasks.queueStats([]), { scheduled: 24_000, running: 0 });
        assert.ok(walSize() < LIMIT, `-wal is ${walSize()} bytes at the end`);
        t.diagnostic(`largest -wal: ${(largest / 1024 / 1024).toFixed(1)} MiB`);
      });
    } else {
      it(`${dialect}: under a sustained load, concurrent claimers take every task once`, async (t) => {
        const { store } = await setup(t, dialect);
        const WORKERS = 8;
        const ROUNDS = 10;
        const PER_ROUND = 300;
        const claimedBy = new Map<number, string>();
        const medians: number[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          await Promise.all(Array.from({ length: PER_ROUND }, () => store.tasks.createTask(newTask())));
          const times: number[] = [];
          await Promise.all(
            Array.from({ length: WORKERS }, async (_, w) => {
              const owner = `worker-${w}`;
              for (;;) {
                const started = performance.now();
                const batch = await store.tasks.claimTasks({ types: ['core:text2text'], limit: 10, leaseOwner: owner, leaseExpiresAt: T0 + 60, now: T0 });
                times.push(performance.now() - started);
                if (batch.length === 0) return;
                for (const task of batch) {
                  assert.equal(claimedBy.get(task.id), undefined, `task ${task.id} claimed by ${claimedBy.get(task.id)} and ${owner}`);
                  claimedBy.set(task.id, owner);
                }
                const done = await Promise.all(batch.map((task) => store.tasks.finishTask(task.id, owner, success(T0 + 1))));
                assert.ok(done.every(Boolean), 'a claimed task could not be finished by its lease owner');
              }
            }),
          );
          medians.push(times.sort((a, b) => a - b)[Math.floor(times.length / 2)] as number);
        }
        assert.equal(claimedBy.size, ROUNDS * PER_ROUND);
        assert.deepEqual(await store.tasks.queueStats([]), { scheduled: 0, running: 0 });
        // Loose on purpose (other test files share the machine); the trap it guards against, a
        // claim that walks the finished rows, grows with every round. test/store/postgres.test.ts
        // checks the plan itself at 200 000 rows.
        const first = Math.max(...medians.slice(0, 3));
        const last = Math.max(...medians.slice(-3));
        t.diagnostic(`median claim: first rounds ${first.toFixed(2)} ms, last rounds ${last.toFixed(2)} ms`);
        // Speed is the benchmarks' business (npm run bench:claim); the plan is checked by pages read in postgres.test.ts.
      });
    }
  });
}
