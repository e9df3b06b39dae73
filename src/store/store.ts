import { DomainError } from '../core/errors.js';
import type { RunTimeSample } from '../core/estimates.js';
import type { TaskIO } from '../core/shapes.js';
import type { NewTask, Task, TaskStatus } from '../core/task.js';

/**
 * Who may see a task: a user, an anonymous caller (by the hash of its session cookie), or nobody
 * in particular (an ExApp acting without a user: userId and anonKey both null).
 */
export interface TaskOwner {
  userId: string | null;
  anonKey: string | null;
}

export interface TaskFilter {
  owner: TaskOwner;
  type?: string;
  appId?: string;
  customId?: string;
  /** Only tasks that have not ended (SCHEDULED, RUNNING). */
  unfinished?: boolean;
  /** Only tasks with a higher id. */
  afterId?: number;
  /** At most this many (the lowest ids). */
  limit?: number;
}

/** What `taskproc task:list` asks for: tasks of every owner, optionally narrowed. */
export interface AdminTaskFilter {
  userId?: string;
  status?: TaskStatus;
  type?: string;
  /** At most this many, newest (highest id) first. */
  limit: number;
}

export interface ClaimRequest {
  /** Task types to claim from; an empty list claims nothing. */
  types: string[];
  limit: number;
  leaseOwner: string;
  leaseExpiresAt: number;
  now: number;
  /** Sets started_at (the built-in runner does, as upstream's synchronous runs do; ExApp claims do not). */
  startedAt?: number;
}

export interface TaskResult {
  status: 3 | 4; // SUCCESSFUL | FAILED
  output: TaskIO | null;
  errorMessage: string | null;
  userFacingErrorMessage: string | null;
  progress: number | null;
  now: number;
}

/**
 * Task persistence. Every status change is a conditional update on the expected current status
 * (and lease owner when given); a method returns undefined when the condition did not hold, so
 * callers turn that into a typed error. No method exposes a connection or a transaction.
 */
export interface TaskStore {
  /** Inserts and commits; the returned task has its id. */
  createTask(task: NewTask): Promise<Task>;
  getTask(id: number): Promise<Task | undefined>;
  /** The owner's tasks matching the filter, by id ascending. */
  listTasks(filter: TaskFilter): Promise<Task[]>;
  /** Tasks of any owner matching the filter, newest first, at most `filter.limit`. For admin commands. */
  adminListTasks(filter: AdminTaskFilter): Promise<Task[]>;
  /** Deletes the task if the owner matches; true when a row was removed. */
  deleteTask(id: number, owner: TaskOwner): Promise<boolean>;
  /** SCHEDULED or RUNNING → CANCELLED for the owner's task. Undefined when it is not the owner's. Final tasks come back unchanged. */
  cancelTask(id: number, owner: TaskOwner, now: number): Promise<Task | undefined>;
  /** Atomically moves up to `limit` of the oldest SCHEDULED tasks of the given types to RUNNING under a lease. */
  claimTasks(req: ClaimRequest): Promise<Task[]>;
  /**
   * Records progress on a RUNNING task (and extends its lease when `leaseExpiresAt` is given).
   * With `leaseOwner` set, only that lease holder may do it. Undefined when the condition failed.
   */
  setProgress(
    id: number,
    progress: number,
    now: number,
    leaseOwner: string | null,
    leaseExpiresAt: number | null,
    completionExpectedAt: number | null,
  ): Promise<Task | undefined>;
  /** Moves the lease end of a RUNNING task held by `leaseOwner`, changing nothing else. False when it is not held. */
  extendLease(id: number, leaseOwner: string, leaseExpiresAt: number, now: number): Promise<boolean>;
  /**
   * Hands claimed tasks back: RUNNING under `leaseOwner` → SCHEDULED, lease cleared, and the
   * claim's attempt not counted (the worker never saw them). Returns how many went back.
   */
  releaseClaims(ids: number[], leaseOwner: string, now: number): Promise<number>;
  /** Whether any SCHEDULED task of these types exists (an empty list: false). */
  hasScheduled(types: string[]): Promise<boolean>;
  /**
   * Stores a worker's intermediate output on a RUNNING task held by `leaseOwner`, as its partial
   * output and as its output until the result (re-queueing clears the output), and extends its
   * lease. Undefined when the condition failed.
   */
  setPartialOutput(id: number, partialOutput: TaskIO, leaseOwner: string, leaseExpiresAt: number, now: number): Promise<Task | undefined>;
  /** The latest intermediate output of a task: null when none, undefined when the task does not exist. */
  getPartialOutput(id: number): Promise<TaskIO | null | undefined>;
  /**
   * RUNNING (or SCHEDULED) → SUCCESSFUL/FAILED, only under the given lease owner when set. A null
   * output leaves the stored one (the last streamed chunk, or null). Undefined when the condition failed.
   */
  finishTask(id: number, leaseOwner: string | null, result: TaskResult): Promise<Task | undefined>;
  /**
   * RUNNING tasks whose lease ended before `now`: back to SCHEDULED when `attempts` < maxAttempts,
   * else FAILED with `failMessage`. Returns the tasks that failed (for webhooks) and the ids (and count) re-queued.
   */
  expireLeases(now: number, maxAttempts: number, failMessage: string): Promise<{ requeued: number; requeuedIds: number[]; failed: Task[] }>;
  /** RUNNING tasks leased by an owner whose name starts with `prefix` go back to SCHEDULED (a restarted single node). */
  releaseLeases(prefix: string, now: number): Promise<number>;
  /** Deletes up to `limit` tasks last updated before `cutoff` with allowCleanup; returns their ids. */
  deleteTasksUpdatedBefore(cutoff: number, limit: number): Promise<number[]>;
  /** Counts SCHEDULED and RUNNING tasks, of the given types or of all when the list is empty. */
  queueStats(types: string[]): Promise<{ scheduled: number; running: number }>;
  /**
   * SCHEDULED and RUNNING tasks of every type, counted by type (types with none are left out): one
   * grouped count per status, each over that status's partial index, so its cost follows the
   * live tasks, not the table. Database-wide (every node's tasks).
   */
  queueDepth(): Promise<{ type: string; status: 1 | 2; count: number }[]>; // SCHEDULED | RUNNING
  /**
   * A SCHEDULED task's place in the queue: 1 + the SCHEDULED tasks of every type and owner that
   * claims hand out before it (lower ids; see claimTasks). Undefined when the task does not exist
   * or is not SCHEDULED. Ownership is the caller's business.
   */
  queuePosition(id: number): Promise<number | undefined>;
  /**
   * SCHEDULED tasks of `type` with an id below `id` (of every owner): those a claim of that type
   * hands out before it. Read from the `(type, id)` claim index, so it costs the queue ahead only.
   */
  scheduledAhead(type: string, id: number): Promise<number>;
  /** Moves a type's waiting tasks' priorities by `delta` (tasktype:set-priority); how many moved. */
  shiftPriority(type: string, delta: number): Promise<number>;
  /** RUNNING tasks per provider id, from the lease index (only running rows); tasks without a provider left out. */
  runningByProvider(): Promise<Map<string, number>>;
  /**
   * Run times (ended_at − started_at) of the SUCCESSFUL tasks that have both times and a provider,
   * among the `rowsToScan` most recently updated tasks, oldest end first. Bounded by `rowsToScan`
   * whatever the table holds; tasks without a start time (ExApps' claims set none) are left out.
   */
  recentRunTimes(rowsToScan: number): Promise<RunTimeSample[]>;
  /**
   * What an admin sees of the queues (issue 22): per type, the SCHEDULED tasks per priority and per
   * party, and the RUNNING count. The given types (each answered, zeros included), or every type with
   * a task waiting or running when the list is empty; by type id. At most `maxParties` parties per
   * type, those with the most waiting first; the rest only counted. Read from the partial indexes
   * (status = 1, status = 2), so its cost follows the live tasks, never the finished ones.
   */
  queueBreakdown(types: string[], maxParties: number): Promise<TypeQueue[]>;
  /**
   * SCHEDULED tasks in dispatch order (priority, then vtime, then id; see claimTasks), the first
   * `limit`: of one type, or of every type merged as queuePosition counts them. Each type's first
   * rows are read from the dispatch index, so it costs `limit` per queued type, not the queue.
   */
  scheduledInDispatchOrder(filter: { type?: string; limit: number }): Promise<Task[]>;
}

/** Who a share of a queue belongs to: a user (`id` its user id), every anonymous session together (`id` null), or an ExApp scheduling without a user. */
export interface QueueParty {
  kind: 'user' | 'anonymous' | 'app';
  id: string | null;
  scheduled: number;
}

/** One task type's queue, counted (TaskStore.queueBreakdown). */
export interface TypeQueue {
  type: string;
  scheduled: number;
  running: number;
  /** Waiting tasks per priority, highest priority first; priorities with none left out. */
  byPriority: { priority: number; scheduled: number }[];
  /** The parties with the most waiting tasks, most first (ties: the one waiting longest first). */
  byParty: QueueParty[];
  /** Parties with waiting tasks beyond `byParty`, and how many tasks they wait with. */
  otherParties: number;
  otherPartiesScheduled: number;
}

export interface User {
  id: string;
  displayName: string;
  passwordHash: string | null;
  isAdmin: boolean;
  isGuest: boolean;
  enabled: boolean;
  /** Bumped whenever credentials or the enabled flag change, so auth caches drop stale entries. */
  authEpoch: number;
  createdAt: number;
  /** Most bytes the user's files may take (task outputs do not count); null for no limit. */
  quotaBytes: number | null;
}

export interface AppPassword {
  id: number;
  userId: string;
  /** sha-256 hex of the token; the token itself is never stored. */
  tokenHash: string;
  name: string;
  createdAt: number;
  lastUsedAt: number | null;
}

export interface UserStore {
  /** Throws DomainError('bad_request') when the id is taken. Without `quotaBytes` the user has no quota. */
  createUser(user: Omit<User, 'authEpoch' | 'quotaBytes'> & { quotaBytes?: number | null }): Promise<User>;
  getUser(id: string): Promise<User | undefined>;
  /** Every user, by id in code-unit order (the same on every database). */
  listUsers(): Promise<User[]>;
  /** Applies the given changes and bumps authEpoch. Undefined when the user does not exist. */
  updateUser(
    id: string,
    changes: Partial<Pick<User, 'displayName' | 'passwordHash' | 'isAdmin' | 'isGuest' | 'enabled' | 'quotaBytes'>>,
  ): Promise<User | undefined>;
  /** Removes the user, its app passwords and its tasks. */
  deleteUser(id: string): Promise<boolean>;
  countUsers(): Promise<number>;
  createAppPassword(p: Omit<AppPassword, 'id' | 'lastUsedAt'>): Promise<AppPassword>;
  findAppPassword(tokenHash: string): Promise<AppPassword | undefined>;
  listAppPasswords(userId: string): Promise<AppPassword[]>;
  /** Deletes one app password (by id) or all of a user's (id omitted), and bumps the user's authEpoch. Returns how many. */
  revokeAppPasswords(userId: string, id?: number): Promise<number>;
  touchAppPassword(id: number, now: number): Promise<void>;
}

/** Admin settings: a key → JSON value map. */
export interface SettingsStore {
  getSetting<T>(key: string): Promise<T | undefined>;
  setSetting(key: string, value: unknown): Promise<void>;
  deleteSetting(key: string): Promise<void>;
  /** Every setting, keys in code-unit order. */
  allSettings(): Promise<Record<string, unknown>>;
}

/**
 * A file or folder row. `storageKey` names the contents (files/blob-store.ts: a blob on disk or
 * chunks in the database) and is null for folders; it stays inside files/ and never reaches the API.
 */
export interface FileRecord {
  id: number;
  owner: string | null;
  /** "a/b/c.txt" in the owner's tree; null for task outputs. */
  path: string | null;
  name: string;
  isFolder: boolean;
  mime: string;
  size: number;
  sha256: string | null;
  etag: string;
  storageKey: string | null;
  taskId: number | null;
  createdAt: number;
  updatedAt: number;
}

/** Every folder's MIME type, as Nextcloud reports it. */
export const FOLDER_MIME = 'httpd/unix-directory';

/** The contents of a file as written to blob storage, with the metadata that changes with them. */
export interface FileContent {
  storageKey: string;
  size: number;
  sha256: string;
  mime: string;
  etag: string;
}

/**
 * The refusal of a write that would take the owner past their quota (507): `needed` bytes of new
 * contents, `available` what the quota leaves once the contents being replaced are counted out.
 */
export const notEnoughSpace = (needed: number, available: number) =>
  new DomainError('insufficient_storage', `Not enough free space: ${needed} bytes needed, ${Math.max(0, available)} available`);

/**
 * File metadata. User files are addressed by (owner, path) and every such query is scoped by
 * owner; task outputs have no path and are addressed by id or task. Paths arrive normalized
 * (files/paths.ts). The file store knows nothing of the contents themselves: deletes hand back the
 * storage keys they freed, and the caller removes those blobs after the commit.
 *
 * The per-user quota (users.quota_bytes) is kept here, where the rows are written: createFile and
 * replaceContent check it and write in one transaction that holds the owner's users row (a row
 * lock on PostgreSQL, so racing requests on any node take turns; SQLite's single writer on
 * SQLite), and throw notEnoughSpace when the owner's files would then take more than the quota.
 * Only growth is checked: a write that does not add bytes always passes. Task outputs do not count.
 */
export interface FileStore {
  getFile(id: number): Promise<FileRecord | undefined>;
  /** The rows with these ids that exist, in no particular order. */
  getFiles(ids: number[]): Promise<FileRecord[]>;
  getByPath(owner: string, path: string): Promise<FileRecord | undefined>;
  /** Direct children of a folder ('' for the root), by name in code-unit order on every database. */
  listChildren(owner: string, folderPath: string): Promise<FileRecord[]>;
  /**
   * Creates a folder at `path`. Undefined when the parent is missing or is a file; throws
   * DomainError('method_not_allowed') when something already exists at `path`.
   */
  createFolder(owner: string, path: string, etag: string, now: number): Promise<FileRecord | undefined>;
  /** Creates a file at `path`; undefined and errors as for createFolder, and notEnoughSpace past the quota. */
  createFile(owner: string, path: string, content: FileContent, now: number): Promise<FileRecord | undefined>;
  /**
   * Swaps a file's contents, keeping its id, only while its storage key is still
   * `expectedStorageKey` (so of two racing writers, the loser sees undefined and retries). Throws
   * notEnoughSpace when the difference in size does not fit the owner's quota.
   */
  replaceContent(id: number, expectedStorageKey: string, content: FileContent, now: number): Promise<FileRecord | undefined>;
  /** Deletes the entry at `path` and everything below it; returns how many rows went and the storage keys they freed. */
  deleteTree(owner: string, path: string): Promise<{ deleted: number; storageKeys: string[] }>;
  /** Bytes taken by the owner's files; task outputs do not count. A snapshot, for early refusals: the writes check again. */
  usedBytes(owner: string): Promise<number>;
  createTaskFile(owner: string | null, taskId: number, name: string, content: FileContent, now: number): Promise<FileRecord>;
  countTaskFiles(taskId: number): Promise<number>;
  /** Deletes every file and folder of a user (its account is going away); returns the blobs to remove. */
  deleteOwnerFiles(owner: string): Promise<string[]>;
  /** Deletes the output files of these tasks; returns the storage keys they freed. */
  deleteTaskFiles(taskIds: number[]): Promise<string[]>;
}

/** An ExApp (AppAPI worker app) known to this server. */
export interface ExApp {
  appId: string;
  version: string;
  /** sha-256 hex of the shared secret; the secret itself is never stored in the clear. */
  secretHash: string;
  /** The secret sealed with the server key, for calls to the app (AppAPI webhooks); null when it has no address. */
  sealedSecret: string | null;
  /** Where the app listens (for AppAPI webhooks), or null. */
  baseUrl: string | null;
  enabled: boolean;
  createdAt: number;
}

/** A task-processing provider registered by an ExApp, with the payloads as it sent them. */
export interface ExAppProvider {
  id: number;
  appId: string;
  providerId: string;
  displayName: string;
  taskType: string;
  provider: Record<string, unknown>;
  customTaskType: Record<string, unknown> | null;
  registeredAt: number;
}

export interface ExAppStore {
  /** Throws DomainError('bad_request') when the id is taken. */
  createExApp(app: ExApp): Promise<ExApp>;
  getExApp(appId: string): Promise<ExApp | undefined>;
  /** Every ExApp, by app id in code-unit order. */
  listExApps(): Promise<ExApp[]>;
  updateExApp(appId: string, changes: Partial<Pick<ExApp, 'version' | 'enabled' | 'secretHash' | 'sealedSecret' | 'baseUrl'>>): Promise<ExApp | undefined>;
  /** Removes the app and its providers. */
  deleteExApp(appId: string): Promise<boolean>;
  /** Registration is an upsert keyed by (appId, providerId), as AppAPI's. */
  upsertProvider(p: Omit<ExAppProvider, 'id'>): Promise<ExAppProvider>;
  getProvider(appId: string, providerId: string): Promise<ExAppProvider | undefined>;
  deleteProvider(appId: string, providerId: string): Promise<boolean>;
  /** Providers of every app, in registration order. */
  listProviders(): Promise<ExAppProvider[]>;
}

/**
 * File contents kept in the database (files/db-blob-store.ts): each blob is chunks 0, 1, … under
 * its storage key, each chunk one row, so no statement carries a whole file. Rows are written
 * once and removed with their blob; the chunk layout is the caller's business.
 */
export interface BlobChunkStore {
  insertChunk(storageKey: string, seq: number, data: Buffer): Promise<void>;
  /** Chunk `seq` of the blob, or undefined when there is no such row. */
  getChunk(storageKey: string, seq: number): Promise<Buffer | undefined>;
  /** Deletes every chunk of these blobs; keys without chunks are fine. */
  deleteBlobs(storageKeys: string[]): Promise<void>;
}

/** A connection pool at a moment, for metrics; read-only numbers. */
export interface PoolUse {
  /** Connections open (idle or lent out). */
  total: number;
  idle: number;
  /** Queries waiting for a connection. */
  waiting: number;
  /** Connections that broke since start, idle or lent out (a database restart, a network cut). */
  errors: number;
}

export interface Store {
  tasks: TaskStore;
  users: UserStore;
  settings: SettingsStore;
  exapps: ExAppStore;
  files: FileStore;
  blobs: BlobChunkStore;
  /** The connection pool's use now (PostgreSQL); absent on SQLite, which has one connection. */
  poolUse?: () => PoolUse;
  /** Applies pending migrations; refuses a schema newer than this code knows. */
  migrate(): Promise<void>;
  /**
   * How the database's migrations compare with this code's, read from the migration table (one
   * small indexed read, cheap enough for a readiness probe every second). Throws what the driver
   * throws when the database does not answer.
   */
  schemaState(): Promise<SchemaState>;
  close(): Promise<void>;
}

/**
 * `current`: every migration this code knows has run, and no other; `behind`: some have not (a
 * database restored from an older backup, or emptied); `ahead`: one this code does not know has
 * (a newer taskproc migrated it).
 */
export type SchemaState = 'current' | 'behind' | 'ahead';
