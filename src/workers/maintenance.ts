import type { Clock } from '../core/clock.js';
import { unixSeconds } from '../core/clock.js';
import type { SettingsService } from '../core/settings.js';
import type { TaskEvents } from '../core/task-events.js';
import type { TaskFiles } from '../core/file-access.js';
import type { TaskStore } from '../store/store.js';
import { every } from './periodic.js';

export const LEASE_EXPIRED_MESSAGE = 'The provider stopped reporting on this task and its lease ran out';

/** How many times a task may be claimed before a lapsed lease fails it instead of queueing it again. */
export const MAX_ATTEMPTS = 2;

/**
 * Deletes tasks older than the retention period (upstream: daily, 6 months, only allowCleanup).
 * Returns how many were deleted.
 */
export async function removeOldTasks(
  store: TaskStore,
  settings: SettingsService,
  clock: Clock,
  files: Pick<TaskFiles, 'deleteTaskFiles'>,
  batch = 1000,
): Promise<number> {
  const cutoff = unixSeconds(clock) - (await settings.get()).retentionSeconds;
  let total = 0;
  for (;;) {
    const ids = await store.deleteTasksUpdatedBefore(cutoff, batch);
    // Output files go with their tasks; the users' own files stay.
    if (ids.length > 0) await files.deleteTaskFiles(ids);
    total += ids.length;
    if (ids.length < batch) return total;
  }
}

/** How often the sweeper looks for expired leases by default. */
export const DEFAULT_LEASE_SWEEP_MS = 5000;

/**
 * The sweep interval for a lease floor: the default, or a quarter of a shorter floor (at least
 * 250 ms), so a lapsed lease is found within about a quarter of its length.
 */
export function leaseSweepMs(minimumLeaseSeconds: number): number {
  return Math.max(250, Math.min(DEFAULT_LEASE_SWEEP_MS, Math.floor((minimumLeaseSeconds * 1000) / 4)));
}

/** Expired leases: back to the queue once, then failed with a reason (every task ends). */
export async function expireLeases(store: TaskStore, events: TaskEvents, clock: Clock): Promise<void> {
  const { requeuedIds, failed } = await store.expireLeases(unixSeconds(clock), MAX_ATTEMPTS, LEASE_EXPIRED_MESSAGE);
  events.requeued(requeuedIds, 'lease expired');
  for (const task of failed) events.ended(task);
}

export interface MaintenanceDeps {
  store: TaskStore;
  settings: SettingsService;
  events: TaskEvents;
  files: Pick<TaskFiles, 'deleteTaskFiles'>;
  clock: Clock;
  log: { error(obj: object, msg: string): void };
  retentionIntervalMs?: number;
  leaseIntervalMs?: number;
}

/** Starts the periodic jobs; returns a function that stops them. */
export function startMaintenance(d: MaintenanceDeps): () => void {
  const stops = [
    every(
      d.retentionIntervalMs ?? 60 * 60 * 1000,
      async () => void (await removeOldTasks(d.store, d.settings, d.clock, d.files)),
      (err) => d.log.error({ err }, 'retention: removing old tasks failed'),
    ),
    every(
      d.leaseIntervalMs ?? DEFAULT_LEASE_SWEEP_MS,
      () => expireLeases(d.store, d.events, d.clock),
      (err) => d.log.error({ err }, 'leases: expiring leases failed'),
    ),
  ];
  return () => {
    for (const stop of stops) stop();
  };
}
