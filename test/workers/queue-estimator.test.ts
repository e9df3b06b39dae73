import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { unixSeconds } from '../../src/core/clock.js';
import { TASK_STATUS, type Task } from '../../src/core/task.js';
import { TaskEvents } from '../../src/core/task-events.js';
import type { TaskStore } from '../../src/store/store.js';
import { QueueEstimator } from '../../src/workers/queue-estimator.js';
import { ManualClock } from '../helpers/clock.js';
import { createTestStore, newTask, TEST_DIALECTS, type TestDialect } from '../helpers/store.js';

const RUNNER = 'runner-provider';
const EXAPP = 'exapp-provider';

interface World {
  tasks: TaskStore;
  events: TaskEvents;
  clock: ManualClock;
  estimator: QueueEstimator;
  /** How often the estimator asked the store for the running tasks. */
  samples: () => number;
  now: () => number;
  schedule: (type: string, providerId: string) => Promise<Task>;
  /** Claims and finishes the oldest task of `type` after `seconds`, emitting what the runner or worker-service emits. */
  run: (type: string, seconds: number, opts?: { exApp?: boolean; fail?: boolean }) => Promise<Task>;
  claim: (type: string, exApp?: boolean) => Promise<Task>;
  newEstimator: () => QueueEstimator;
}

async function setup(t: TestContext, dialect: TestDialect): Promise<World> {
  const s = await createTestStore(dialect);
  t.after(s.cleanup);
  const clock = new ManualClock();
  const events = new TaskEvents();
  let samples = 0;
  // The real store, with its running-task reads counted.
  const tasks = new Proxy(s.store.tasks, {
    get(target, key, receiver) {
      if (key === 'runningByProvider') samples++;
      const value = Reflect.get(target, key, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const now = () => unixSeconds(clock);
  const newEstimator = () => {
    const estimator = new QueueEstimator({ store: tasks, events, clock, inProcessConcurrency: (id) => (id === RUNNER ? 1 : null) });
    t.after(() => estimator.close());
    return estimator;
  };
  const claim = async (type: string, exApp = false) => {
    const [task] = await tasks.claimTasks({
      types: [type],
      limit: 1,
      leaseOwner: 'w',
      leaseExpiresAt: now() + 600,
      now: now(),
      // The runner sets started_at; an ExApp's claim does not (as upstream).
      ...(!exApp && { startedAt: now() }),
    });
    assert.ok(task, `a ${type} task to claim`);
    events.changed(task.id);
    return task;
  };
  const run = async (type: string, seconds: number, opts: { exApp?: boolean; fail?: boolean } = {}) => {
    const task = await claim(type, opts.exApp);
    clock.advance(seconds * 1000);
    const ended = await tasks.finishTask(task.id, 'w', {
      status: opts.fail ? TASK_STATUS.FAILED : TASK_STATUS.SUCCESSFUL,
      output: opts.fail ? null : { output: 'done' },
      errorMessage: opts.fail ? 'failed' : null,
      userFacingErrorMessage: null,
      progress: 1,
      now: now(),
    });
    assert.ok(ended);
    events.ended(ended);
    return ended;
  };
  const schedule = (type: string, providerId: string) => tasks.createTask(newTask({ type, providerId, scheduledAt: now(), lastUpdated: now() }));
  return { tasks, events, clock, estimator: newEstimator(), samples: () => samples, now, schedule, run, claim, newEstimator };
}

for (const dialect of TEST_DIALECTS) {
  describe(`${dialect}: QueueEstimator`, () => {
    it(`${dialect}: gives the queue position of the route and no start time while no run was measured`, async (t) => {
      const w = await setup(t, dialect);
      const other = await w.schedule('b', RUNNER);
      const first = await w.schedule('a', RUNNER);
      const second = await w.schedule('a', RUNNER);
      for (const task of [other, first, second]) {
        const position = await w.tasks.queuePosition(task.id);
        assert.deepEqual(await w.estimator.estimate(task), { queuePosition: position, estimatedStartAt: null });
      }
      assert.equal((await w.estimator.estimate(second)).queuePosition, 3);
      // A failed run measures nothing.
      await w.run('a', 4, { fail: true });
      assert.deepEqual(await w.estimator.estimate(second), { queuePosition: 2, estimatedStartAt: null });
    });

    it(`${dialect}: a task that is not scheduled, or was claimed since it was read, has neither`, async (t) => {
      const w = await setup(t, dialect);
      await w.schedule('a', RUNNER);
      await w.run('a', 3);
      const read = await w.schedule('a', RUNNER);
      const running = await w.claim('a');
      assert.deepEqual(await w.estimator.estimate(running), { queuePosition: null, estimatedStartAt: null });
      // `read` is the task as read while it was scheduled; the store says it runs now.
      assert.equal(read.id, running.id);
      assert.deepEqual(await w.estimator.estimate(read), { queuePosition: null, estimatedStartAt: null });
    });

    it(`${dialect}: after runs of the type ended, estimates from their mean and the runner's one slot`, async (t) => {
      const w = await setup(t, dialect);
      await w.schedule('a', RUNNER);
      await w.schedule('a', RUNNER);
      await w.run('a', 4);
      await w.run('a', 8);
      const other = await w.schedule('b', RUNNER);
      const queued = [await w.schedule('a', RUNNER), await w.schedule('a', RUNNER), await w.schedule('a', RUNNER)];
      const now = w.now();
      const estimates = await Promise.all(queued.map((task) => w.estimator.estimate(task)));
      // Positions as the route gives them (the type b task counts); starts 6 s (the mean) apart.
      assert.deepEqual(estimates, [
        { queuePosition: 2, estimatedStartAt: now },
        { queuePosition: 3, estimatedStartAt: now + 6 },
        { queuePosition: 4, estimatedStartAt: now + 12 },
      ]);
      for (const [i, task] of queued.entries()) assert.equal(estimates[i]?.queuePosition, await w.tasks.queuePosition(task.id));
      // Another type, or the same type by another provider, has no runs of its own.
      assert.equal((await w.estimator.estimate(other)).estimatedStartAt, null);
      // The first is claimed: the runner's slot is busy, its task taken to be half done.
      w.clock.advance(1000);
      await w.claim('a');
      assert.deepEqual(await w.estimator.estimate(queued[1] as Task), { queuePosition: 2, estimatedStartAt: w.now() + 3 });
      assert.deepEqual(await w.estimator.estimate(queued[2] as Task), { queuePosition: 3, estimatedStartAt: w.now() + 9 });
    });

    it(`${dialect}: a new estimator knows the runs from the store, and takes the latest ones`, async (t) => {
      const w = await setup(t, dialect);
      for (let i = 0; i < 25; i++) await w.schedule('a', RUNNER);
      // 5 slow runs, then 20 of 2 s: only the last 20 count.
      for (let i = 0; i < 25; i++) await w.run('a', i < 5 ? 100 : 2);
      const queued = [await w.schedule('a', RUNNER), await w.schedule('a', RUNNER)];
      const fresh = w.newEstimator();
      assert.deepEqual(await fresh.estimate(queued[1] as Task), { queuePosition: 2, estimatedStartAt: w.now() + 2 });
    });

    it(`${dialect}: an ExApp provider's run times count from the claim, its parallelism from what it ran at once`, async (t) => {
      const w = await setup(t, dialect);
      for (let i = 0; i < 6; i++) await w.schedule('x', EXAPP);
      // The worker takes two at once; nothing has ended yet: no run time, but the parallelism is seen.
      await w.claim('x', true);
      await w.claim('x', true);
      const queued = await w.schedule('x', EXAPP);
      assert.deepEqual(await w.estimator.estimate(queued), { queuePosition: 5, estimatedStartAt: null });
      // Both end 10 s after their claim (no startedAt on the tasks: ExApps' claims set none).
      w.clock.advance(10_000);
      for (const id of (await w.tasks.adminListTasks({ status: TASK_STATUS.RUNNING, limit: 10 })).map((x) => x.id)) {
        const ended = await w.tasks.finishTask(id, 'w', {
          status: 3,
          output: { output: 'ok' },
          errorMessage: null,
          userFacingErrorMessage: null,
          progress: 1,
          now: w.now(),
        });
        assert.ok(ended && ended.startedAt === null);
        w.events.ended(ended);
      }
      // 4 ahead, 2 slots seen busy within ten minutes, none now: two rounds of 10 s.
      w.clock.advance(1000);
      assert.deepEqual(await w.estimator.estimate(queued), { queuePosition: 5, estimatedStartAt: w.now() + 20 });
      // Ten minutes without the worker running anything: its parallelism is no longer known.
      w.clock.advance(11 * 60_000);
      assert.deepEqual(await w.estimator.estimate(queued), { queuePosition: 5, estimatedStartAt: null });
    });

    it(`${dialect}: an ExApp task claimed before this estimator listened is not measured`, async (t) => {
      const w = await setup(t, dialect);
      await w.schedule('x', EXAPP);
      const [task] = await w.tasks.claimTasks({ types: ['x'], limit: 1, leaseOwner: 'w', leaseExpiresAt: w.now() + 60, now: w.now() });
      assert.ok(task);
      w.clock.advance(5000);
      const ended = await w.tasks.finishTask(task.id, 'w', {
        status: 3,
        output: { output: 'ok' },
        errorMessage: null,
        userFacingErrorMessage: null,
        progress: 1,
        now: w.now(),
      });
      assert.ok(ended);
      w.events.ended(ended);
      const queued = await w.schedule('x', EXAPP);
      await w.claim('x', true); // seen running: parallelism 1
      const next = await w.schedule('x', EXAPP);
      assert.deepEqual(await w.estimator.estimate(next), { queuePosition: 1, estimatedStartAt: null });
      assert.notEqual(queued.id, next.id);
    });

    it(`${dialect}: reads the running tasks once a second however many tasks it estimates`, async (t) => {
      const w = await setup(t, dialect);
      await w.schedule('a', RUNNER);
      await w.run('a', 2);
      const queued = [];
      for (let i = 0; i < 5; i++) queued.push(await w.schedule('a', RUNNER));
      const before = w.samples();
      await Promise.all(queued.map((task) => w.estimator.estimate(task)));
      for (const task of queued) await w.estimator.estimate(task);
      assert.equal(w.samples() - before, 1);
      w.clock.advance(1000);
      await Promise.all(queued.map((task) => w.estimator.estimate(task)));
      assert.equal(w.samples() - before, 2);
    });
  });
}
