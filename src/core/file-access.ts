import type { Readable } from 'node:stream';
import { DomainError, validationFailed } from './errors.js';

/** A file handed to a provider or a downloader: metadata plus its contents on demand. */
export interface FileHandle {
  file: { id: number; name: string; mime: string; size: number };
  /** A fresh read stream of the contents each call. */
  stream(): Readable;
  /** The whole contents in memory (for providers that need a buffer; mind the size). */
  buffer(): Promise<Buffer>;
}

/** What a provider may put in a file slot of its output: bytes, a stream, or either with a name and type. */
export type FileOutputValue = Buffer | Uint8Array | Readable | { data: Buffer | Uint8Array | Readable; name?: string; mime?: string };

/**
 * What task handling needs from the file store (SEMANTICS.md §4, §8): access checks for inputs,
 * contents for providers and downloads, and output files that live and die with their task.
 */
export interface TaskFiles {
  /**
   * Throws validation_failed when an id does not exist or is a folder, and file_access_denied when
   * `userId` may not read it.
   */
  checkReadable(fileIds: number[], userId: string): Promise<void>;
  /** A file by id (no ownership check: callers check); undefined for missing ids and folders. */
  open(id: number): Promise<FileHandle | undefined>;
  storeTaskOutput(
    task: { id: number; userId: string | null },
    output: { data: Buffer | Uint8Array | Readable; name?: string; mime?: string },
  ): Promise<{ id: number }>;
  deleteTaskFiles(taskIds: number[]): Promise<void>;
}

/** For a server built without a file store (some tests): no file id exists. */
export const NO_FILES: TaskFiles = Object.freeze({
  async checkReadable(fileIds: number[]): Promise<void> {
    if (fileIds.length > 0) throw validationFailed(`Could not find file ${fileIds[0]}`);
  },
  async open() {
    return undefined;
  },
  async storeTaskOutput(): Promise<{ id: number }> {
    throw new Error('This server has no file store for output files');
  },
  async deleteTaskFiles(): Promise<void> {},
});

/** The access check alone, as the file store implements it. */
export type FileAccess = Pick<TaskFiles, 'checkReadable'>;

export const FILES_DENIED_MESSAGE = 'User does not have access to the files mentioned in the task input';
export const NO_USER_FILES_MESSAGE = 'Cannot schedule task with files referenced without user context';

export const fileAccessDenied = (message = FILES_DENIED_MESSAGE) => new DomainError('file_access_denied', message);
