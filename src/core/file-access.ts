import { DomainError, validationFailed } from './errors.js';

/**
 * How scheduling checks the file ids of an input (SEMANTICS.md §4). The real file store arrives
 * with the files issue; until then no file id exists.
 */
export interface FileAccess {
  /**
   * Throws validation_failed when an id does not exist or is a folder, and file_access_denied when
   * `userId` may not read it.
   */
  checkReadable(fileIds: number[], userId: string): Promise<void>;
}

export const NO_FILES: FileAccess = Object.freeze({
  async checkReadable(fileIds: number[]): Promise<void> {
    if (fileIds.length > 0) throw validationFailed(`Could not find file ${fileIds[0]}`);
  },
});

export const FILES_DENIED_MESSAGE = 'User does not have access to the files mentioned in the task input';
export const NO_USER_FILES_MESSAGE = 'Cannot schedule task with files referenced without user context';

export const fileAccessDenied = (message = FILES_DENIED_MESSAGE) => new DomainError('file_access_denied', message);
