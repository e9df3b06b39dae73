import { type Task, statusName } from '../core/task.js';
import { encodeOnce, PhpFloat } from './php-json.js';

/**
 * A task as upstream's Task::jsonSerialize writes it (API.md §6.1): these keys in this order.
 * The technical errorMessage is never included. Empty input/output maps are PHP empty arrays, `[]`.
 */
export function taskJson(task: Task): Record<string, unknown> {
  if (!Object.isFrozen(task)) return build(task);
  // A frozen task comes from the task cache and is handed out on every hit until it changes: its
  // JSON form is built, and encoded, once (php-json's encodeOnce), and lives as long as it does.
  let json = ofCachedTask.get(task);
  if (json === undefined) {
    // Copied, not build's own object, for the reason the cache copies its tasks (task-queries.ts):
    // objects kept from an allocation site teach V8 to allocate all of that site's objects in the
    // old generation, lists and claims included.
    json = { ...build(task) };
    if (task.progress !== null) json.progress = Object.freeze(new PhpFloat(task.progress));
    ofCachedTask.set(task, encodeOnce(json));
  }
  return json;
}

const ofCachedTask = new WeakMap<Task, Record<string, unknown>>();

function build(task: Task): Record<string, unknown> {
  return {
    id: task.id,
    type: task.type,
    lastUpdated: task.lastUpdated,
    status: statusName(task.status),
    userId: task.userId,
    appId: task.appId,
    input: phpArray(task.input),
    output: task.output === null ? null : phpArray(task.output),
    customId: task.customId,
    completionExpectedAt: task.completionExpectedAt,
    progress: task.progress === null ? null : new PhpFloat(task.progress),
    scheduledAt: task.scheduledAt,
    startedAt: task.startedAt,
    endedAt: task.endedAt,
    allowCleanup: task.allowCleanup,
    includeWatermark: task.includeWatermark,
    userFacingErrorMessage: task.userFacingErrorMessage,
    preferStreaming: task.preferStreaming,
  };
}

/** PHP's empty array: one shared, frozen instance (it is only ever encoded). */
const EMPTY: readonly unknown[] = Object.freeze([]);

function phpArray(io: Record<string, unknown>): Record<string, unknown> | readonly unknown[] {
  return Object.keys(io).length === 0 ? EMPTY : io;
}
