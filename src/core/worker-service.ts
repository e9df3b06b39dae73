import type { Readable } from 'node:stream';
import type { LiveOutputs } from '../workers/live-outputs.js';
import { type Clock, unixSeconds } from './clock.js';
import { badRequest, DomainError, notFound, taskNotFound } from './errors.js';
import type { FileHandle, TaskFiles } from './file-access.js';
import { invalidOutputResult } from './invalid-output.js';
import type { RegisteredProvider } from './provider-registry.js';
import type { TaskIO } from './shapes.js';
import type { TaskEvents } from './task-events.js';
import type { Caller, TaskService } from './task-service.js';
import { owns } from './task-service.js';
import type { TaskTypeRegistry } from './task-types.js';
import { isFinal, type Task, TASK_STATUS } from './task.js';
import { ERROR_MESSAGE_MAX_BYTES, truncateUtf8 } from './text-limits.js';
import { fileIdsIn, validateOutput } from './validation.js';
import type { FileStore, TaskResult, TaskStore } from '../store/store.js';
import { completionEstimate, leaseSeconds } from '../workers/leases.js';

/** Upstream's cap on one next_batch answer (SEMANTICS.md §6): 50 MiB of JSON. */
const BATCH_OUTPUT_CAP_BYTES = 50 * 1024 * 1024;
/** Most tasks one next_batch may ask for; upstream has no bound, but one answer must stay reasonable. */
const MAX_BATCH_SIZE = 1000;
/** A parked long-poll looks again this often, for tasks that another process scheduled or a sweeper re-queued. */
const RECHECK_MS = 1000;
/** Claimed tasks whose type and provider this node remembers for their result (oldest dropped first). */
const CLAIMED_FACTS_MAX = 10_000;

/** A claimed task and the provider (the type's preferred one) it was claimed for. */
export interface ClaimedTask {
  task: Task;
  providerId: string;
}

/** Where long-polls park (workers/waiters.ts): woken when a task of one of the types is scheduled. */
export interface TaskWaiters {
  wait(types: ReadonlySet<string>, ms: number, signal?: AbortSignal): Promise<void>;
  /** A point in the stream of scheduled events, and whether one of `types` came after it. */
  mark(): number;
  scheduledSince(mark: number, types: ReadonlySet<string>): boolean;
}

export interface UploadedFile {
  stream: Readable;
  filename: string;
  mimeType: string;
}

export interface WorkerResult {
  output: TaskIO | null;
  errorMessage: string | null;
  userFacingErrorMessage: string | null;
}

export interface WorkerServiceDeps {
  tasks: TaskStore;
  /** File rows: an output file id must name a file uploaded for that very task. */
  fileRecords: Pick<FileStore, 'getFiles'>;
  files: TaskFiles;
  service: TaskService;
  taskTypes: TaskTypeRegistry;
  events: TaskEvents;
  waiters: TaskWaiters;
  /** The ExApp that registered a provider (ExAppCatalog.appIdOf); undefined for in-process and unknown ones. */
  providerOwner: (providerId: string) => string | undefined;
  clock: Clock;
  /** Longest long-poll a worker may ask for, in seconds (config maxWait). */
  maxWaitSeconds: number;
  /** The shortest lease a claim gets, in seconds (config leaseSeconds). */
  minLeaseSeconds: number;
  /** Partial outputs: shown to watchers at once, written coalesced (workers/live-outputs.ts). */
  live: Pick<LiveOutputs, 'put' | 'putFast' | 'flush' | 'latest'>;
  /** Where an ExApp's invalid output is reported: its worker gets a 200, so only the log tells the admin. */
  log: { warn(obj: object, msg: string): void };
}

/** The lease owner of an ExApp's claims; progress, files and results must come under it. */
const exAppLeaseOwner = (appId: string): string => `exapp:${appId}`;

/** What never changes about a task and is all an output's validation needs. */
type TaskFacts = Pick<Task, 'id' | 'type' | 'providerId'>;

/**
 * The worker side of the API (API.md §4.4, SEMANTICS.md §5–§7) for ExApps, without HTTP.
 * Stricter than upstream where upstream lets tasks go wrong: a claim is a lease held by the
 * claiming ExApp, and only that ExApp may report progress, files or the result while it holds
 * it; finished tasks are never resurrected; output files must have been uploaded for the task.
 */
export class WorkerService {
  private readonly closing = new AbortController();
  /**
   * The type and provider of tasks claimed through this node, until their result: a successful
   * result then needs no read of the task before its conditional update (one query of four per
   * task on PostgreSQL). Both are fixed when the task is scheduled. A result through another node,
   * or after this one forgot, reads the task first as before.
   */
  private readonly claimedFacts = new Map<number, TaskFacts>();

  constructor(private readonly deps: WorkerServiceDeps) {}

  /** Checks a requested long-poll time; returns milliseconds. */
  waitMs(seconds: number): number {
    if (!(Number.isFinite(seconds) && seconds >= 0 && seconds <= this.deps.maxWaitSeconds)) {
      throw badRequest(`Parameter "wait" must be a number of seconds from 0 to ${this.deps.maxWaitSeconds}`);
    }
    return Math.round(seconds * 1000);
  }

  /**
   * P1: the oldest claimable task, claimed (RUNNING under this ExApp's lease), or null. Unknown
   * providers or types simply match nothing. With `waitMs`, a request that finds nothing parks
   * until a task arrives, the time is up, or `signal` aborts.
   */
  async next(appId: string, providerIds: string[], taskTypeIds: string[], waitMs = 0, signal?: AbortSignal): Promise<ClaimedTask | null> {
    const askedAtMs = this.deps.clock.nowMs();
    const [claimed] = await this.untilClaimed(taskTypeIds, waitMs, signal, () => this.claim(appId, providerIds, taskTypeIds, 1, askedAtMs));
    return claimed ?? null;
  }

  /**
   * P2: up to `n` claimed tasks, oldest first, whose JSON (each entry measured by `entryBytes`)
   * stays within 50 MiB; at least one is returned whatever its size, or it could never be
   * fetched in a batch. Claims over the cap go back to the queue at once. `hasMore`: tasks of
   * these types are still waiting.
   */
  async nextBatch(
    appId: string,
    providerIds: string[],
    taskTypeIds: string[],
    n: number,
    entryBytes: (claimed: ClaimedTask) => number,
    waitMs = 0,
    signal?: AbortSignal,
  ): Promise<{ claimed: ClaimedTask[]; hasMore: boolean }> {
    if (!(Number.isSafeInteger(n) && n >= 1 && n <= MAX_BATCH_SIZE)) {
      throw badRequest(`Parameter "numberOfTasks" must be a whole number from 1 to ${MAX_BATCH_SIZE}`);
    }
    const askedAtMs = this.deps.clock.nowMs();
    const all = await this.untilClaimed(taskTypeIds, waitMs, signal, () => this.claim(appId, providerIds, taskTypeIds, n, askedAtMs));
    const kept: ClaimedTask[] = [];
    // The answer's brackets and commas count too; the bound is on what the worker receives.
    let total = 0;
    for (const c of all) {
      const size = entryBytes(c) + 1;
      if (kept.length > 0 && total + size > BATCH_OUTPUT_CAP_BYTES) break;
      kept.push(c);
      total += size;
    }
    const over = all.slice(kept.length).map((c) => c.task.id);
    if (over.length > 0) await this.release(appId, over);
    const hasMore = over.length > 0 || (await this.deps.tasks.hasScheduled(await this.eligibleTypes(appId, providerIds, taskTypeIds)));
    return { claimed: kept, hasMore };
  }

  /** Claims that nobody received (the client went away meanwhile): back to the queue at once. */
  async giveBack(appId: string, taskIds: number[]): Promise<void> {
    await this.release(appId, taskIds);
  }

  /** Claims back to the queue; clients watching those tasks see them SCHEDULED again. */
  private async release(appId: string, taskIds: number[]): Promise<void> {
    await this.deps.tasks.releaseClaims(taskIds, exAppLeaseOwner(appId), this.now());
    for (const id of taskIds) this.deps.events.changed(id);
    this.deps.events.requeued(taskIds, 'given back');
  }

  /** P5: progress in 0..1 from the ExApp holding the task's lease; it also renews the lease. */
  async progress(appId: string, taskId: number, progress: number): Promise<Task> {
    if (!(Number.isFinite(progress) && progress >= 0 && progress <= 1)) {
      throw badRequest('Parameter "progress" must be a number from 0 to 1');
    }
    const task = await this.load(taskId);
    if (isFinal(task.status)) return task;
    const owner = this.checkLease(task, appId);
    const now = this.now();
    const updated = await this.deps.tasks.setProgress(
      taskId,
      progress,
      now,
      owner,
      now + this.leaseOf(task),
      completionEstimate(task.startedAt, now, progress),
    );
    if (!updated) return this.afterLostRace(taskId, appId);
    this.deps.events.changed(taskId);
    return updated;
  }

  /**
   * Upstream's setIntermediateResult (PR #60500) and llm2's stream-result, one route: the output of a
   * RUNNING task, unvalidated, shown as its `output` until the result replaces it and kept as its
   * partial output; it renews the lease. Upstream acts on RUNNING tasks only and answers every other
   * one unchanged, and so do we (a chunk after a cancel or a lost lease matters to nobody). A RUNNING
   * task under another lease is refused with lease_mismatch: upstream would show that worker's
   * chunk to the user instead of the real worker's.
   */
  async streamResult(appId: string, taskId: number, partialOutput: TaskIO): Promise<Task> {
    // Later chunks of a task this node already wrote for the same lease: from memory, written coalesced.
    const fast = this.deps.live.putFast(taskId, exAppLeaseOwner(appId), partialOutput);
    if (fast) return fast;
    const task = await this.load(taskId);
    if (task.status !== TASK_STATUS.RUNNING) return task;
    const owner = this.checkLease(task, appId);
    const updated = await this.deps.live.put(taskId, owner, this.leaseOf(task), partialOutput);
    if (updated) return updated;
    // Changed meanwhile: answered by the same rule against what the task is now.
    const current = await this.load(taskId);
    if (current.status !== TASK_STATUS.RUNNING) return current;
    this.checkLease(current, appId);
    throw new DomainError('lease_mismatch', "The task is not running under this ExApp's lease");
  }

  /**
   * P6. An error message fails the task; an output is validated against the task type and the
   * provider, and its file ids must be files uploaded for this task. An invalid output fails the
   * task, which comes back FAILED as upstream answers it (200): the task has ended, and an error
   * answer would only make the worker's client raise in its loop; the reason goes to the log.
   * Neither given: nothing changes. A cancelled or finished task comes back unchanged; a task this
   * ExApp does not hold (lease expired and re-queued, another worker's) is refused with
   * `lease_mismatch` and left as it is.
   */
  async result(appId: string, taskId: number, r: WorkerResult): Promise<Task> {
    // The last streamed chunk goes to the database first: a failure keeps it as the output (upstream's
    // rule), and the partial-output route shows it after any result.
    await this.deps.live.flush(taskId);
    const facts = this.claimedFacts.get(taskId);
    this.claimedFacts.delete(taskId);
    // An output for a task claimed here: validate it, then the update checks status and lease in
    // one statement. If it finds the task changed, afterLostRace answers as the path below would:
    // the final task unchanged, else lease_mismatch with the reason.
    if (facts !== undefined && r.errorMessage === null && r.output !== null) return this.finishWithOutput(facts, appId, r.output);
    const task = await this.load(taskId);
    if (isFinal(task.status)) return task;
    this.checkLease(task, appId);
    const now = this.now();
    if (r.errorMessage !== null) {
      return this.finish(task, appId, {
        status: TASK_STATUS.FAILED,
        output: null,
        errorMessage: truncateUtf8(r.errorMessage, ERROR_MESSAGE_MAX_BYTES),
        userFacingErrorMessage: r.userFacingErrorMessage === null ? null : truncateUtf8(r.userFacingErrorMessage, ERROR_MESSAGE_MAX_BYTES),
        progress: task.progress,
        now,
      });
    }
    // Upstream only touches lastUpdated (and fires the webhook) here; a result without either
    // field changes nothing, so we leave the task alone and fire nothing.
    if (r.output === null) return task;
    return this.finishWithOutput(task, appId, r.output);
  }

  /** An output validated against the task's type and provider, then the task finished with it, or failed for it. */
  private async finishWithOutput(task: TaskFacts, appId: string, output: TaskIO): Promise<Task> {
    const now = this.now();
    const checked = await this.checkOutput(task, output);
    if (checked.ok) {
      return this.finish(task, appId, {
        status: TASK_STATUS.SUCCESSFUL,
        output: checked.output,
        errorMessage: null,
        userFacingErrorMessage: null,
        progress: 1,
        now,
      });
    }
    const failed = await this.tryFinish(task, appId, invalidOutputResult(checked.reason, now));
    // Cancelled meanwhile: the result no longer matters, and the answer is the cancelled task (or
    // lease_mismatch when the lease was lost).
    if (!failed) return this.afterLostRace(task.id, appId);
    this.deps.log.warn({ taskId: task.id, appId, reason: checked.reason }, 'ExApp result: the output fails validation, so the task failed');
    // The uploads can never be reached now: the failed task has no output.
    await this.deps.files.deleteTaskFiles([task.id]);
    return failed;
  }

  /** P4, first step: the task must exist and be running under this ExApp's lease. */
  async uploadTarget(appId: string, taskId: number): Promise<Task> {
    const task = await this.load(taskId);
    this.checkLease(task, appId);
    return task;
  }

  /** P4, second step: stores an output file for the task (bounded by maxUpload); returns its id. */
  async storeUpload(task: Task, file: UploadedFile): Promise<number> {
    const name = file.filename.split(/[\\/]/).pop() ?? '';
    const stored = await this.deps.files.storeTaskOutput(
      { id: task.id, userId: task.userId },
      { data: file.stream, mime: file.mimeType, ...(name !== '' && { name }) },
    );
    return stored.id;
  }

  /** P3: a file the task's input or output references, for any worker (as upstream: no ownership). */
  async inputFile(taskId: number, fileId: number): Promise<FileHandle> {
    const task = await this.deps.tasks.getTask(taskId);
    if (!task) throw notFound();
    return this.deps.service.referencedFile(task, fileId);
  }

  /** The latest intermediate output of the caller's task (null when none); 404 for others' tasks. */
  async partialOutput(caller: Caller, taskId: number): Promise<TaskIO | null> {
    const task = await this.deps.tasks.getTask(taskId);
    if (!task || !owns(caller, task)) throw taskNotFound();
    return this.deps.live.latest(taskId) ?? (await this.deps.tasks.getPartialOutput(taskId)) ?? null;
  }

  /** Ends every parked long-poll (server shutdown), so closing does not wait for them. */
  close(): void {
    this.closing.abort();
  }

  /**
   * SEMANTICS.md §6 intersect: a requested type counts when its preferred provider is among the
   * requested providers. Unlike upstream, only providers this ExApp registered count: another
   * app's tasks (and their users' inputs) are not its to take, and in-process providers belong to
   * the built-in runner. Real workers only ever ask for their own providers.
   */
  private async eligible(appId: string, providerIds: string[], taskTypeIds: string[]): Promise<Map<string, RegisteredProvider>> {
    const providers = new Set(providerIds);
    const types = new Set(taskTypeIds);
    const out = new Map<string, RegisteredProvider>();
    if (providers.size === 0 || types.size === 0) return out;
    for (const { type, provider } of await this.deps.service.availableTypes()) {
      const id = provider.info.id;
      if (types.has(type.id) && providers.has(id) && provider.inProcess === null && this.deps.providerOwner(id) === appId) out.set(type.id, provider);
    }
    return out;
  }

  private async eligibleTypes(appId: string, providerIds: string[], taskTypeIds: string[]): Promise<string[]> {
    return [...(await this.eligible(appId, providerIds, taskTypeIds)).keys()];
  }

  /** `askedAtMs`: when the poll began asking (before any long-poll wait), for pickup latency. */
  private async claim(appId: string, providerIds: string[], taskTypeIds: string[], limit: number, askedAtMs: number): Promise<ClaimedTask[]> {
    const eligible = await this.eligible(appId, providerIds, taskTypeIds);
    if (eligible.size === 0) return [];
    const now = this.now();
    // One lease for the whole claim: the longest of the types', which only delays recovery a little.
    const lease = Math.max(...[...eligible.values()].map((p) => leaseSeconds(p.info.expectedRuntime, this.deps.minLeaseSeconds)));
    // No startedAt: upstream's lock leaves it null (SEMANTICS.md §5).
    const tasks = await this.deps.tasks.claimTasks({
      types: [...eligible.keys()],
      limit,
      leaseOwner: exAppLeaseOwner(appId),
      leaseExpiresAt: now + lease,
      now,
    });
    for (const task of tasks) {
      this.rememberClaimed(task);
      this.deps.events.changed(task.id);
      this.deps.events.claimed(task, exAppLeaseOwner(appId), askedAtMs);
    }
    return tasks.map((task) => ({ task, providerId: (eligible.get(task.type) as RegisteredProvider).info.id }));
  }

  private rememberClaimed(task: Task): void {
    if (this.claimedFacts.size >= CLAIMED_FACTS_MAX) this.claimedFacts.delete(this.claimedFacts.keys().next().value as number);
    this.claimedFacts.set(task.id, { id: task.id, type: task.type, providerId: task.providerId });
  }

  /**
   * Tries `attempt`; while it finds nothing and time is left, parks on the waiters (woken by a
   * schedule of one of the types) and tries again, at least every second. Real time, not the
   * injected clock: this is how long an HTTP request stays open.
   */
  private async untilClaimed<T>(types: string[], waitMs: number, signal: AbortSignal | undefined, attempt: () => Promise<T[]>): Promise<T[]> {
    const deadline = performance.now() + waitMs;
    const stop = signal ? AbortSignal.any([signal, this.closing.signal]) : this.closing.signal;
    const typeSet = new Set(types);
    for (;;) {
      const mark = this.deps.waiters.mark();
      const got = await attempt();
      if (got.length > 0) return got;
      const left = deadline - performance.now();
      if (left <= 0 || stop.aborted) return got;
      // Scheduled while the claim was in flight: that wake-up found nobody parked; try again now.
      if (this.deps.waiters.scheduledSince(mark, typeSet)) continue;
      await this.deps.waiters.wait(typeSet, Math.min(RECHECK_MS, left), stop);
      // Nobody to answer (client gone, server closing): claim nothing more.
      if (stop.aborted) return [];
    }
  }

  private async load(taskId: number): Promise<Task> {
    const task = await this.deps.tasks.getTask(taskId);
    if (!task) throw notFound();
    return task;
  }

  /** The lease owner name when this ExApp holds the task; lease_mismatch otherwise. */
  private checkLease(task: Task, appId: string): string {
    const owner = exAppLeaseOwner(appId);
    if (task.status === TASK_STATUS.SCHEDULED) {
      throw new DomainError('lease_mismatch', 'The task is scheduled, not running: claim it through next or next_batch first');
    }
    if (task.status !== TASK_STATUS.RUNNING || task.leaseOwner !== owner) {
      throw new DomainError('lease_mismatch', "The task is not running under this ExApp's lease");
    }
    return owner;
  }

  /** A conditional update found the task changed: final (e.g. cancelled) comes back as it is, anything else lost the lease. */
  private async afterLostRace(taskId: number, appId: string): Promise<Task> {
    const now = await this.load(taskId);
    if (isFinal(now.status)) return now;
    this.checkLease(now, appId);
    throw new DomainError('lease_mismatch', "The task is not running under this ExApp's lease");
  }

  private async finish(task: TaskFacts, appId: string, result: TaskResult): Promise<Task> {
    return (await this.tryFinish(task, appId, result)) ?? this.afterLostRace(task.id, appId);
  }

  /** The finished task, or undefined when the task was no longer running under this ExApp's lease. */
  private async tryFinish(task: TaskFacts, appId: string, result: TaskResult): Promise<Task | undefined> {
    const done = await this.deps.tasks.finishTask(task.id, exAppLeaseOwner(appId), result);
    if (done) this.deps.events.ended(done);
    return done;
  }

  private async checkOutput(task: TaskFacts, output: TaskIO): Promise<{ ok: true; output: TaskIO } | { ok: false; reason: string }> {
    const type = this.deps.taskTypes.get(task.type);
    if (!type) return { ok: false, reason: `the task type "${task.type}" is no longer registered` };
    const provider = this.deps.service.providerInfoOf(task);
    const checked = validateOutput(type, provider, output);
    if (!checked.ok) return { ok: false, reason: checked.error };
    const ids = fileIdsIn(type, provider, checked.output, 'output');
    if (ids.length === 0) return checked;
    const found = new Map((await this.deps.fileRecords.getFiles(ids)).map((f) => [f.id, f]));
    for (const id of ids) {
      const file = found.get(id);
      // Any other file would hand the task's owner someone else's data: only this task's uploads count.
      if (!file || file.isFolder || file.taskId !== task.id) {
        return { ok: false, reason: `file ${id} was not uploaded for task ${task.id}` };
      }
    }
    return checked;
  }

  private leaseOf(task: Task): number {
    return leaseSeconds(this.deps.service.providerInfoOf(task).expectedRuntime, this.deps.minLeaseSeconds);
  }

  private now(): number {
    return unixSeconds(this.deps.clock);
  }
}
