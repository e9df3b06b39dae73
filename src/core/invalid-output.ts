import type { TaskResult } from '../store/store.js';
import { TASK_STATUS } from './task.js';
import { ERROR_MESSAGE_MAX_BYTES, truncateUtf8 } from './text-limits.js';
import { OUTPUT_VALIDATION_FAILED } from './validation.js';

/**
 * How a task ends when its provider's output fails validation, whoever ran it (the built-in runner
 * or an ExApp's result), as upstream's Manager::setTaskResult does (nextcloud/server 9fc5fdd):
 * FAILED, progress 1, no output, no user-facing message. The stored error message is upstream's
 * text, followed by `detail` for the admin who reads it (`task:show`); no client ever sees it.
 * A missing or foreign output file is a validation failure too, as upstream's validateFileId.
 */
export function invalidOutputResult(detail: string, now: number): TaskResult {
  return {
    status: TASK_STATUS.FAILED,
    output: null,
    errorMessage: truncateUtf8(`${OUTPUT_VALIDATION_FAILED}: ${detail}`, ERROR_MESSAGE_MAX_BYTES),
    userFacingErrorMessage: null,
    progress: 1,
    now,
  };
}
