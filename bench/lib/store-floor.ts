import { TASK_STATUS } from '../../src/core/task.js';
import { openStore } from '../../src/store/open-store.js';
import type { Target } from './server.js';

/** A type no worker or provider knows: the floor's tasks never mix with the scenario's. */
const FLOOR_TYPE = 'bench:store-floor';

/**
 * The storage floor of the pipeline: the four things a task costs the database (the schedule
 * insert, a claim, the result, a read by id), through taskproc's own store in this process,
 * with no HTTP, no auth and no JSON, `group` tasks at a time (each step of a group shares one
 * commit, as concurrent requests do). Returns tasks per second. Run it while the server is idle.
 */
export async function storeFloor(target: Target, n: number, group: number): Promise<number> {
  const store = await openStore({ dataDir: target.dataDir, databaseUrl: target.databaseUrl, poolSize: group });
  try {
    const input = { input: 'x'.repeat(250) };
    const started = performance.now();
    for (let done = 0; done < n; done += group) {
      const now = Math.floor(Date.now() / 1000);
      const size = Math.min(group, n - done);
      const created = await Promise.all(
        Array.from({ length: size }, () =>
          store.tasks.createTask({
            type: FLOOR_TYPE,
            userId: 'bench',
            anonKey: null,
            appId: 'bench',
            customId: 'floor',
            input,
            webhookUri: null,
            webhookMethod: null,
            includeWatermark: true,
            providerId: 'bench:store-floor-provider',
            scheduledAt: now,
            lastUpdated: now,
            completionExpectedAt: now + 10,
          }),
        ),
      );
      const claimed = await store.tasks.claimTasks({ types: [FLOOR_TYPE], limit: size, leaseOwner: 'floor', leaseExpiresAt: now + 60, now });
      if (claimed.length !== size) throw new Error(`store floor: claimed ${claimed.length} of ${size}`);
      const result = { status: TASK_STATUS.SUCCESSFUL, output: { output: 'done' }, errorMessage: null, userFacingErrorMessage: null, progress: 1, now };
      await Promise.all(claimed.map((t) => store.tasks.finishTask(t.id, 'floor', result)));
      const read = await Promise.all(created.map((t) => store.tasks.getTask(t.id)));
      if (read.some((t) => t?.status !== TASK_STATUS.SUCCESSFUL)) throw new Error('store floor: a task did not end successful');
    }
    return n / ((performance.now() - started) / 1000);
  } finally {
    await store.close();
  }
}
