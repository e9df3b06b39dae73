import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer as readAll } from 'node:stream/consumers';
import { type Clock, unixSeconds } from '../core/clock.js';
import { DomainError, notFound, validationFailed } from '../core/errors.js';
import { fileAccessDenied } from '../core/file-access.js';
import type { OpsCounters } from '../core/ops-counters.js';
import { FOLDER_MIME, notEnoughSpace, type FileContent, type FileRecord, type FileStore, type UserStore } from '../store/store.js';
import { type BlobStorage, uploadTooLarge, type WrittenBlob } from './blob-store.js';
import type { FileOutput, FileService, OpenedFile, StoredFile } from './file-service.js';
import { extensionFor, guessMime, OCTET_STREAM, sniffMime } from './mime.js';
import { normalizePath, parentOf, validateName } from './paths.js';

export interface LocalFileServiceDeps {
  files: FileStore;
  /** For the early quota refusal by declared size; the binding check is the file store's (see put). */
  users: Pick<UserStore, 'getUser'>;
  /** Contents: on disk (BlobStore) or in the database (DbBlobStore). */
  blobs: BlobStorage;
  clock: Clock;
  /** Largest file accepted, in bytes: uploads and task outputs alike. */
  maxUpload: number;
  /** Told of each upload refused for the owner's quota (507), early or by the file store. */
  counters?: OpsCounters;
}

/**
 * How often a PUT re-reads and retries when a concurrent request changed the same path between
 * its read and its write. Each retry means another request committed, so a few are plenty.
 */
const MAX_COMMIT_ATTEMPTS = 5;

/**
 * The file store: metadata in the database (FileStore), contents as blobs in a BlobStorage (this
 * node's disk, or the database). Contents are written completely before any metadata points at
 * them, and blobs are removed only after the metadata that pointed at them is gone, so a reader
 * never meets a row without its contents. A crash between the two steps can leave an unreferenced
 * blob behind, never a dangling row.
 */
export class LocalFileService implements FileService {
  constructor(private readonly deps: LocalFileServiceDeps) {}

  async stat(owner: string, path: string): Promise<StoredFile | undefined> {
    const normalized = normalizePath(path);
    if (normalized === '') return rootFolder(owner);
    const record = await this.deps.files.getByPath(owner, normalized);
    return record && toStoredFile(record);
  }

  async list(owner: string, folderPath: string): Promise<StoredFile[]> {
    const path = normalizePath(folderPath);
    if (path !== '') {
      const folder = await this.deps.files.getByPath(owner, path);
      if (!folder) throw notLocated(path);
      if (!folder.isFolder) throw notAFolder(path);
    }
    return (await this.deps.files.listChildren(owner, path)).map(toStoredFile);
  }

  async put(owner: string, path: string, body: Readable, opts: { expectedSize?: number; mime?: string }): Promise<{ file: StoredFile; created: boolean }> {
    try {
      return await this.putChecked(owner, path, body, opts);
    } catch (error) {
      // The quota is decided in two places (the early check by declared size, the file store's
      // in the write's transaction); both refusals come out here.
      if (error instanceof DomainError && error.code === 'insufficient_storage') this.deps.counters?.refused('quota');
      throw error;
    }
  }

  private async putChecked(
    owner: string,
    path: string,
    body: Readable,
    opts: { expectedSize?: number; mime?: string },
  ): Promise<{ file: StoredFile; created: boolean }> {
    const target = normalizePath(path);
    if (target === '') throw new DomainError('method_not_allowed', 'The root folder cannot be replaced by a file');
    const { maxUpload } = this.deps;
    if (opts.expectedSize !== undefined && opts.expectedSize > maxUpload) throw uploadTooLarge(maxUpload);
    // Everything that can be refused without the contents is refused before reading them.
    const existing = await this.deps.files.getByPath(owner, target);
    if (existing?.isFolder) throw putOntoFolder(target);
    if (!existing) {
      const problem = await this.parentProblem(owner, target);
      if (problem) throw problem;
    }
    if (opts.expectedSize !== undefined) await this.refuseEarlyOverQuota(owner, existing?.size ?? 0, opts.expectedSize);

    const blob = await this.deps.blobs.write(body, { maxBytes: maxUpload });
    const mime = usefulMime(opts.mime) ?? guessMime(target);
    let committed: { file: StoredFile; created: boolean; freedKey: string | null };
    try {
      // The quota is decided here, by the file store, in the transaction that writes the row: of
      // uploads racing for the last free bytes, those that no longer fit get 507 and their blob goes.
      committed = await this.commitPut(owner, target, blob, mime);
    } catch (error) {
      await this.deps.blobs.remove([blob.storageKey]);
      throw error;
    }
    if (committed.freedKey !== null) await this.deps.blobs.remove([committed.freedKey]);
    return { file: committed.file, created: committed.created };
  }

  async mkdir(owner: string, path: string): Promise<StoredFile> {
    const target = normalizePath(path);
    if (target === '') throw alreadyExists();
    // An existing path fails inside createFolder (unique index), after the parent check: Sabre
    // also answers 409 for a missing parent before anything else.
    const folder = await this.deps.files.createFolder(owner, target, newEtag(), unixSeconds(this.deps.clock));
    if (!folder) throw (await this.parentProblem(owner, target)) ?? missingParent(parentOf(target));
    return toStoredFile(folder);
  }

  async delete(owner: string, path: string): Promise<void> {
    const target = normalizePath(path);
    if (target === '') throw new DomainError('forbidden', 'The root folder cannot be deleted');
    const { deleted, storageKeys } = await this.deps.files.deleteTree(owner, target);
    if (deleted === 0) throw notLocated(target);
    await this.deps.blobs.remove(storageKeys);
  }

  async open(id: number): Promise<OpenedFile | undefined> {
    const record = await this.deps.files.getFile(id);
    if (!record || record.isFolder) return undefined;
    const key = contentKey(record);
    const { blobs } = this.deps;
    return { file: toStoredFile(record), stream: () => blobs.read(key), buffer: () => readAll(blobs.read(key)) };
  }

  async checkReadable(fileIds: number[], userId: string): Promise<void> {
    const found = new Map((await this.deps.files.getFiles(fileIds)).map((f) => [f.id, f]));
    // Id by id, each through all three checks, in upstream's order (Manager::validateUserAccessToFile).
    for (const id of fileIds) {
      const file = found.get(id);
      if (!file) throw validationFailed(`Could not find file ${id}`);
      if (file.isFolder) throw validationFailed(`File with id "${id}" is not a file`);
      // A task's outputs belong to the task's user, so they may feed that user's next task.
      if (file.owner !== userId) throw fileAccessDenied();
    }
  }

  /**
   * Outputs do not count toward the user's quota, and none is checked: a finished task must be
   * able to hand over its result, and outputs are bounded otherwise (maxUpload per file) and go
   * with their task (deleted, or by retention).
   */
  async storeTaskOutput(task: { id: number; userId: string | null }, output: FileOutput): Promise<StoredFile> {
    const { data } = output;
    const { maxUpload } = this.deps;
    if (output.name !== undefined) validateName(output.name);
    if (data instanceof Uint8Array && data.byteLength > maxUpload) throw uploadTooLarge(maxUpload);
    const source = data instanceof Uint8Array ? Readable.from([Buffer.from(data.buffer, data.byteOffset, data.byteLength)]) : data;
    let blob: WrittenBlob;
    try {
      blob = await this.deps.blobs.write(source, { maxBytes: maxUpload });
    } catch (error) {
      // Unlike an upload's request, a provider's stream has no one else to close it.
      source.destroy();
      throw error;
    }
    try {
      const mime = usefulMime(output.mime) ?? sniffMime(blob.head) ?? (output.name === undefined ? OCTET_STREAM : guessMime(output.name));
      const name = output.name ?? (await this.outputName(task.id, mime));
      const record = await this.deps.files.createTaskFile(task.userId, task.id, name, content(blob, mime), unixSeconds(this.deps.clock));
      return toStoredFile(record);
    } catch (error) {
      await this.deps.blobs.remove([blob.storageKey]);
      throw error;
    }
  }

  async deleteUserFiles(owner: string): Promise<void> {
    await this.deps.blobs.remove(await this.deps.files.deleteOwnerFiles(owner));
  }

  async deleteTaskFiles(taskIds: number[]): Promise<void> {
    if (taskIds.length === 0) return;
    await this.deps.blobs.remove(await this.deps.files.deleteTaskFiles(taskIds));
  }

  /**
   * Points `path` at the new blob: creates the file, or replaces the contents of the one there
   * (keeping its id, as Nextcloud does). A concurrent writer that got there first makes the
   * conditional insert or update fail, and the loop reads again; the last writer wins. Both
   * writes check the owner's quota atomically with the real size (notEnoughSpace).
   */
  private async commitPut(
    owner: string,
    path: string,
    blob: WrittenBlob,
    mime: string,
  ): Promise<{ file: StoredFile; created: boolean; freedKey: string | null }> {
    const { files, clock } = this.deps;
    for (let attempt = 0; attempt < MAX_COMMIT_ATTEMPTS; attempt++) {
      const current = await files.getByPath(owner, path);
      if (current?.isFolder) throw putOntoFolder(path);
      const now = unixSeconds(clock);
      if (current) {
        const previousKey = contentKey(current);
        const replaced = await files.replaceContent(current.id, previousKey, content(blob, mime), now);
        if (replaced) return { file: toStoredFile(replaced), created: false, freedKey: previousKey };
        continue;
      }
      let created: FileRecord | undefined;
      try {
        created = await files.createFile(owner, path, content(blob, mime), now);
      } catch (error) {
        if (error instanceof DomainError && error.code === 'method_not_allowed') continue;
        throw error;
      }
      if (!created) throw (await this.parentProblem(owner, path)) ?? missingParent(parentOf(path));
      return { file: toStoredFile(created), created: true, freedKey: null };
    }
    throw new DomainError('conflict', `"${path}" is being changed by other requests; try again`);
  }

  /** Why a new entry cannot go at `path`: its parent is missing or is a file. Undefined when the parent is a folder. */
  private async parentProblem(owner: string, path: string): Promise<DomainError | undefined> {
    const parent = parentOf(path);
    if (parent === '') return undefined;
    const folder = await this.deps.files.getByPath(owner, parent);
    if (!folder) return missingParent(parent);
    return folder.isFolder ? undefined : notAFolder(parent);
  }

  /**
   * Refuses a declared size that cannot fit before a byte is read, so a client is not made to send
   * a body only to hear 507 at the end. Only a shortcut: it reads outside any transaction, and a
   * concurrent upload may still take the space before this one commits, where the file store
   * refuses it. Only growth is refused, as there.
   */
  private async refuseEarlyOverQuota(owner: string, oldSize: number, newSize: number): Promise<void> {
    if (newSize <= oldSize) return;
    const quota = (await this.deps.users.getUser(owner))?.quotaBytes ?? null;
    if (quota === null) return;
    const available = quota - ((await this.deps.files.usedBytes(owner)) - oldSize);
    if (newSize > available) throw notEnoughSpace(newSize, available);
  }

  /** `<taskId>-<n>.<ext>`, n counting the task's output files from 1; no extension for an unknown type. */
  private async outputName(taskId: number, mime: string): Promise<string> {
    const n = (await this.deps.files.countTaskFiles(taskId)) + 1;
    const ext = extensionFor(mime);
    return ext === undefined ? `${taskId}-${n}` : `${taskId}-${n}.${ext}`;
  }
}

/** A random 13-hex-digit etag, the length of the ones Nextcloud hands out. */
const newEtag = (): string => randomBytes(7).toString('hex').slice(0, 13);

const content = (blob: WrittenBlob, mime: string): FileContent => ({
  storageKey: blob.storageKey,
  size: blob.size,
  sha256: blob.sha256,
  mime,
  etag: newEtag(),
});

/** A client's type without parameters, unless it says nothing (empty or application/octet-stream). */
function usefulMime(mime: string | undefined): string | undefined {
  const type = mime?.split(';')[0]?.trim().toLowerCase();
  return type === undefined || type === '' || type === OCTET_STREAM ? undefined : type;
}

function contentKey(file: FileRecord): string {
  if (file.storageKey === null) throw new Error(`File ${file.id} has no contents`);
  return file.storageKey;
}

function toStoredFile(r: FileRecord): StoredFile {
  return {
    id: r.id,
    owner: r.owner,
    path: r.path,
    name: r.name,
    isFolder: r.isFolder,
    mime: r.mime,
    size: r.size,
    sha256: r.sha256,
    etag: r.etag,
    taskId: r.taskId,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

/**
 * The root has no row (it always exists and cannot change), hence id 0, which no row has, and an
 * etag fixed per owner.
 */
function rootFolder(owner: string): StoredFile {
  const etag = createHash('sha256').update(`root:${owner}`).digest('hex').slice(0, 13);
  return { id: 0, owner, path: '', name: '', isFolder: true, mime: FOLDER_MIME, size: 0, sha256: null, etag, taskId: null, createdAt: 0, updatedAt: 0 };
}

const alreadyExists = () => new DomainError('method_not_allowed', 'The resource you tried to create already exists');
const putOntoFolder = (path: string) => new DomainError('method_not_allowed', `"${path}" is a folder; a file cannot replace it`);
const missingParent = (parent: string) => new DomainError('conflict', `The parent folder "${parent}" does not exist`);
const notAFolder = (path: string) => new DomainError('conflict', `"${path}" is not a folder`);
// Sabre's wording for a missing node.
const notLocated = (path: string) => notFound(`File with name ${path} could not be located`);
