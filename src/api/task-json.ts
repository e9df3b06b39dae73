import { type Task, statusName } from '../core/task.js';
import { PhpFloat } from './php-json.js';

/**
 * A task as upstream's Task::jsonSerialize writes it (API.md §6.1): these keys in this order.
 * The technical errorMessage is never included. Empty input/output maps are PHP empty arrays, `[]`.
 */
export function taskJson(task: Task): Record<string, unknown> {
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
