import { type Task, statusName } from '../core/task.js';
import { PhpFloat } from './php-json.js';

/** The JSON of frozen tasks (the store's cached ones), built once per task. */
const ofFrozen = new WeakMap<Task, Readonly<Record<string, unknown>>>();

/**
 * A task as upstream's Task::jsonSerialize writes it (API.md §6.1): these keys in this order.
 * The technical errorMessage is never included. Empty input/output maps are PHP empty arrays, `[]`.
 * A frozen task (from the store's cache) gets the same frozen object every time, which lets
 * php-json keep its encoding too.
 */
export function taskJson(task: Task): Readonly<Record<string, unknown>> {
  if (!Object.isFrozen(task)) return build(task);
  let json = ofFrozen.get(task);
  if (json === undefined) {
    json = Object.freeze(build(task));
    ofFrozen.set(task, json);
  }
  return json;
}

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
    preferStreaming: true,
  };
}

function phpArray(io: Record<string, unknown>): Record<string, unknown> | unknown[] {
  return Object.keys(io).length === 0 ? [] : io;
}
