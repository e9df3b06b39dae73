import type { Readable } from 'node:stream';
import type { FileAccess } from '../core/file-access.js';

/**
 * A file or folder as the API sees it. User files live in their owner's tree at `path`
 * ("docs/a.txt", no leading slash); task output files have no path and carry `taskId`.
 */
export interface StoredFile {
  id: number;
  /** The user the file belongs to; null for outputs of tasks without a user. */
  owner: string | null;
  path: string | null;
  name: string;
  isFolder: boolean;
  mime: string;
  size: number;
  /** sha-256 hex of the contents; null for folders. */
  sha256: string | null;
  /** Changes whenever the contents change (quoted in HTTP headers by the caller). */
  etag: string;
  taskId: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface OpenedFile {
  file: StoredFile;
  /** A fresh read stream of the contents each call. */
  stream(): Readable;
  /** The whole contents in memory: for small files only (providers that need a buffer). */
  buffer(): Promise<Buffer>;
}

/** Output bytes a provider hands back for a file slot. */
export interface FileOutput {
  data: Buffer | Uint8Array | Readable;
  name?: string;
  mime?: string;
}

/**
 * The per-user file store behind WebDAV, task inputs and task outputs. Errors are DomainErrors:
 * not_found (404), conflict (409: missing parent, a file where a folder is needed),
 * method_not_allowed (405: MKCOL on an existing path, PUT onto a folder), body_too_large (413),
 * insufficient_storage (507), bad_request (400: a bad name or path).
 */
export interface FileService extends FileAccess {
  /** The file or folder at `path` in the owner's tree; '' is the root folder (always exists). */
  stat(owner: string, path: string): Promise<StoredFile | undefined>;
  /** Children of a folder, by name. */
  list(owner: string, folderPath: string): Promise<StoredFile[]>;
  /**
   * Creates or replaces a file from a stream, storing it as it arrives (never whole in
   * memory), and commits the metadata only once the contents are complete. `expectedSize`
   * (Content-Length) lets an oversized upload fail before any byte is written. The owner's quota
   * is checked atomically with the commit, counting a replaced file's growth only: of concurrent
   * uploads, on any node, those that no longer fit fail with insufficient_storage and keep nothing.
   */
  put(owner: string, path: string, body: Readable, opts: { expectedSize?: number; mime?: string }): Promise<{ file: StoredFile; created: boolean }>;
  mkdir(owner: string, path: string): Promise<StoredFile>;
  /** Deletes a file, or a folder with everything in it. */
  delete(owner: string, path: string): Promise<void>;
  /** Any file by id (no ownership check: callers check). Undefined for missing ids and folders. */
  open(id: number): Promise<OpenedFile | undefined>;
  /** Stores a provider's output for a task; the file belongs to the task's user (outside their quota) and dies with the task. */
  storeTaskOutput(task: { id: number; userId: string | null }, output: FileOutput): Promise<StoredFile>;
  /** Deletes all of a user's files, folders and output files (the account is being deleted). */
  deleteUserFiles(owner: string): Promise<void>;
  /** Deletes the output files of these tasks (contents and metadata). */
  deleteTaskFiles(taskIds: number[]): Promise<void>;
}
