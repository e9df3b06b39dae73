import type { Clock } from './clock.js';
import { unixSeconds } from './clock.js';
import { taskPriority } from './dispatch.js';
import { badRequest, notFound, providerUnavailable, taskNotFound, taskNotScheduled } from './errors.js';
import { type FileHandle, fileAccessDenied, NO_USER_FILES_MESSAGE, type TaskFiles } from './file-access.js';
import { type ProviderInfo, providerInfo } from './provider.js';
import type { ProviderRegistry, RegisteredProvider } from './provider-registry.js';
import type { SettingsService } from './settings.js';
import type { TaskEvents } from './task-events.js';
import type { TaskTypeDefinition, TaskTypeRegistry } from './task-types.js';
import { isFinal, type Task, TASK_STATUS } from './task.js';
import { fileIdsIn, taskTypeJson, validateInput } from './validation.js';
import type { TaskOwner, TaskStore } from '../store/store.js';
import type { TaskWatchers } from '../workers/waiters.js';

/** A scheduled task's place: what the queue-position route says, and when it is expected to start (null: no data). */
export interface QueuePlace {
  queuePosition: number;
  estimatedStartAt: number | null;
}

/** Who is asking: a user, an anonymous caller (by cookie hash), or an ExApp without a user (all null). */
export interface Caller extends TaskOwner {
  isGuest: boolean;
}

export interface ScheduleParams {
  type: string;
  input: Record<string, unknown>;
  appId: string;
  customId: string;
  webhookUri: string | null;
  webhookMethod: string | null;
  includeWatermark: boolean;
  /** Upstream 35 (PR #61197): stored and returned; streaming providers stream. */
  preferStreaming: boolean;
  /** taskproc's `priority` (issue 22): null when not asked, NaN when not a number. */
  priority?: number | null;
  /** Whose rules bound it: a user may only lower it, an ExApp on tasks_consumer may raise it as the admin allows. */
  priorityFor?: 'user' | 'exapp';
}

/** Column widths kept from upstream's schema, so data moves between the two without truncation. */
const LIMITS = { appId: 255, customId: 255, webhookUri: 4000, webhookMethod: 64, type: 255 } as const;

/** A parked `GET task?wait=` reads the task again this often, for changes made on another node or by the CLI. */
const RECHECK_MS = 1000;

export interface TaskServiceDeps {
  store: TaskStore;
  taskTypes: TaskTypeRegistry;
  providers: ProviderRegistry;
  settings: SettingsService;
  files: TaskFiles;
  events: TaskEvents;
  clock: Clock;
  /**
   * Brings providers registered elsewhere (ExApps, through another node or process) into the
   * registries; called before every decision that depends on which providers exist.
   */
  catalog: { sync(): Promise<void> };
  /** The newest partial output of a running task, when memory has one newer than the database (workers/live-outputs.ts). */
  live?: { overlay(task: Task): Task };
  /** Queue position and estimated start of a scheduled task (workers/queue-estimator.ts). */
  estimates?: { estimate(task: Task): Promise<{ queuePosition: number | null; estimatedStartAt: number | null }> };
  /** Where clients' long-polls on a task park (workers/waiters.ts). */
  watchers: Pick<TaskWatchers, 'watch' | 'isClosed'>;
  /** Longest long-poll, in seconds (config maxWait, the same cap as the workers' `wait`). */
  maxWaitSeconds: number;
}

/** The user-side operations of the API (SEMANTICS.md §1, §2, §5, §14). No HTTP here. */
export class TaskService {
  constructor(private readonly deps: TaskServiceDeps) {}

  /** Task types that have an available provider and are not disabled, with the preferred provider's details. */
  async availableTypes(): Promise<{ type: TaskTypeDefinition; provider: RegisteredProvider }[]> {
    await this.deps.catalog.sync();
    const settings = await this.deps.settings.get();
    const out: { type: TaskTypeDefinition; provider: RegisteredProvider }[] = [];
    for (const type of this.deps.taskTypes.all()) {
      if (settings.typePreferences[type.id] === false) continue;
      const provider = this.deps.providers.preferred(type.id, settings);
      if (provider) out.push({ type, provider });
    }
    return out;
  }

  /** The /tasktypes map; guests get nothing unless the admin allows them. */
  async taskTypesJson(caller: Caller): Promise<Record<string, unknown>> {
    if (caller.isGuest && !(await this.deps.settings.get()).guestsAllowed) return {};
    const out: Record<string, unknown> = {};
    for (const { type, provider } of await this.availableTypes()) out[type.id] = taskTypeJson(type, provider.info);
    return out;
  }

  async schedule(caller: Caller, params: ScheduleParams): Promise<Task> {
    checkLength('type', params.type, LIMITS.type);
    checkLength('appId', params.appId, LIMITS.appId);
    checkLength('customId', params.customId, LIMITS.customId);
    if (params.webhookUri !== null) checkLength('webhookUri', params.webhookUri, LIMITS.webhookUri);
    if (params.webhookMethod !== null) checkLength('webhookMethod', params.webhookMethod, LIMITS.webhookMethod);

    await this.deps.catalog.sync();
    const settings = await this.deps.settings.get();
    if (caller.isGuest && !settings.guestsAllowed) throw providerUnavailable();
    const type = this.deps.taskTypes.get(params.type);
    const provider = type && settings.typePreferences[type.id] !== false ? this.deps.providers.preferred(type.id, settings) : undefined;
    if (!type || !provider) throw providerUnavailable();

    const input = validateInput(type, provider.info, params.input);
    const fileIds = fileIdsIn(type, provider.info, input, 'input');
    if (fileIds.length > 0) {
      if (caller.userId === null) throw fileAccessDenied(NO_USER_FILES_MESSAGE);
      if (caller.isGuest) throw fileAccessDenied();
      await this.deps.files.checkReadable(fileIds, caller.userId);
    }

    const priority = taskPriority(
      Object.hasOwn(settings.typePriorities, type.id) ? (settings.typePriorities[type.id] as number) : 0,
      params.priority ?? null,
      params.priorityFor ?? 'user',
      settings.exAppPriorityBoost,
    );
    const now = unixSeconds(this.deps.clock);
    const task = await this.deps.store.createTask({
      priority,
      type: type.id,
      userId: caller.userId,
      anonKey: caller.anonKey,
      appId: params.appId,
      customId: params.customId,
      input,
      webhookUri: params.webhookUri,
      webhookMethod: params.webhookMethod,
      includeWatermark: params.includeWatermark,
      preferStreaming: params.preferStreaming,
      providerId: provider.info.id,
      scheduledAt: now,
      lastUpdated: now,
      completionExpectedAt: now + provider.info.expectedRuntime,
    });
    this.deps.events.scheduled(task);
    return task;
  }

  async get(caller: Caller, id: number): Promise<Task> {
    const task = await this.deps.store.getTask(id);
    if (!task || !owns(caller, task)) throw taskNotFound();
    return this.deps.live ? this.deps.live.overlay(task) : task;
  }

  /**
   * Our `wait` on GET task: seconds, as a number (NaN when the parameter was not numeric). Bad values
   * are refused; more than the cap is capped, since a client asking for long only wants to wait.
   */
  clientWaitMs(seconds: number): number {
    if (!(Number.isFinite(seconds) && seconds >= 0)) throw badRequest('Parameter "wait" must be a number of seconds, 0 or more');
    return Math.round(Math.min(seconds, this.deps.maxWaitSeconds) * 1000);
  }

  /**
   * GET task with a long-poll: the caller's task at once when it has ended (or `waitMs` is 0), else
   * as soon as what GET task shows of it changes, or its queue position or estimated start, or after
   * `waitMs` as it is then. 404 for others' tasks before any wait, and when the task is deleted
   * meanwhile. Woken by this node's events and re-read every second for changes made elsewhere (and
   * the queue moving); `signal` (the client went away) ends it at once. A scheduled task comes with
   * its queue place.
   */
  async waitForChange(caller: Caller, id: number, waitMs: number, signal?: AbortSignal): Promise<{ task: Task; queue: QueuePlace | null }> {
    // Registered before the read: a change committed while the read is in flight still wakes us.
    let watch = this.deps.watchers.watch(id);
    try {
      const first = await this.get(caller, id);
      let answer = { task: first, queue: await this.queuePlace(first) };
      if (waitMs <= 0 || isFinal(first.status)) return answer;
      const seen = changeKey(answer);
      const deadline = performance.now() + waitMs;
      for (;;) {
        const left = deadline - performance.now();
        if (left <= 0 || signal?.aborted || this.deps.watchers.isClosed) return answer;
        await watch.wait(Math.min(RECHECK_MS, left), signal);
        // Nobody is left to answer: no more reads.
        if (signal?.aborted) return answer;
        watch = this.deps.watchers.watch(id);
        const read = await this.deps.store.getTask(id);
        if (!read) throw taskNotFound();
        const now = this.deps.live ? this.deps.live.overlay(read) : read;
        answer = { task: now, queue: await this.queuePlace(now) };
        if (isFinal(now.status) || changeKey(answer) !== seen) return answer;
      }
    } finally {
      watch.cancel();
    }
  }

  /** Where a scheduled task stands in the queue; null for any other task, or when nobody estimates. */
  async queuePlace(task: Task): Promise<QueuePlace | null> {
    if (task.status !== TASK_STATUS.SCHEDULED || !this.deps.estimates) return null;
    const place = await this.deps.estimates.estimate(task);
    return place.queuePosition === null ? null : { queuePosition: place.queuePosition, estimatedStartAt: place.estimatedStartAt };
  }

  /** Upstream answers 200 whether or not the task existed or was the caller's. */
  async delete(caller: Caller, id: number): Promise<void> {
    const task = await this.deps.store.getTask(id);
    if (!task || !owns(caller, task)) return;
    if (await this.deps.store.deleteTask(id, caller)) {
      this.deps.events.deleted(task);
      await this.deps.files.deleteTaskFiles([id]);
    }
  }

  /**
   * A file of the caller's task, for download: only ids that the task's input or output file slots
   * reference (U7). Everything else is 404 "Not found", as upstream answers.
   */
  async taskFile(caller: Caller, taskId: number, fileId: number): Promise<FileHandle> {
    const task = await this.deps.store.getTask(taskId);
    if (!task || !owns(caller, task)) throw notFound();
    return this.referencedFile(task, fileId);
  }

  /** A file referenced by the task's input or output, whoever asks (workers' P3 and providers). */
  async referencedFile(task: Task, fileId: number): Promise<FileHandle> {
    if (!this.taskFileIds(task).includes(fileId)) throw notFound();
    const handle = await this.deps.files.open(fileId);
    if (!handle) throw notFound();
    return handle;
  }

  /** File ids in the task's input and output file slots (mandatory and the provider's optional ones). */
  taskFileIds(task: Task): number[] {
    const type = this.deps.taskTypes.get(task.type);
    if (!type) return [];
    const provider = this.providerInfoOf(task);
    const ids = fileIdsIn(type, provider, task.input, 'input');
    if (task.output) ids.push(...fileIdsIn(type, provider, task.output, 'output'));
    return [...new Set(ids)];
  }

  /** The provider chosen at schedule time; if it is gone, the type's shapes alone. */
  providerInfoOf(task: Pick<Task, 'type' | 'providerId'>): ProviderInfo {
    return this.deps.providers.get(task.providerId ?? '')?.info ?? providerInfo({ id: '', name: '', taskType: task.type });
  }

  /** Cancels a scheduled or running task; a final task comes back unchanged. */
  async cancel(caller: Caller, id: number): Promise<Task> {
    const before = await this.deps.store.getTask(id);
    if (!before || !owns(caller, before)) throw notFound();
    const task = await this.deps.store.cancelTask(id, caller, unixSeconds(this.deps.clock));
    if (!task) throw notFound();
    if (task.status === TASK_STATUS.CANCELLED && before.status !== TASK_STATUS.CANCELLED) this.deps.events.ended(task);
    return task;
  }

  /**
   * The caller's SCHEDULED task's place in the queue, from 1 (upstream PR #62414): 404 for a task
   * that is not the caller's, 412 once it is no longer scheduled. The count is the store's.
   */
  async queuePosition(caller: Caller, id: number): Promise<number> {
    const task = await this.deps.store.getTask(id);
    if (!task || !owns(caller, task)) throw taskNotFound();
    // The store checks SCHEDULED again in the statement that counts: a claim may come in between.
    const position = task.status === TASK_STATUS.SCHEDULED ? await this.deps.store.queuePosition(id) : undefined;
    if (position === undefined) throw taskNotScheduled();
    return position;
  }

  async list(caller: Caller, filter: { type?: string; customId?: string }): Promise<Task[]> {
    return this.overlaid(await this.deps.store.listTasks({ owner: caller, ...filter }));
  }

  async listByApp(caller: Caller, appId: string, customId?: string): Promise<Task[]> {
    return this.overlaid(await this.deps.store.listTasks({ owner: caller, appId, ...(customId !== undefined ? { customId } : {}) }));
  }

  /** Running tasks with the newest partial output this node has in memory (the database gets it coalesced). */
  private overlaid(tasks: Task[]): Task[] {
    const live = this.deps.live;
    return live ? tasks.map((t) => live.overlay(t)) : tasks;
  }
}

/** Ownership as the store matches it: the user, else the anonymous cookie, else the user-less ExApp context. */
export function owns(caller: TaskOwner, task: Task): boolean {
  if (caller.userId !== null) return task.userId === caller.userId;
  return task.userId === null && task.anonKey === caller.anonKey;
}

/** What a long-poll shows of a task that can change while it has not ended. */
function changeKey({ task: t, queue }: { task: Task; queue: QueuePlace | null }): string {
  return JSON.stringify([t.status, t.progress, t.output, t.lastUpdated, t.startedAt, t.completionExpectedAt, t.userFacingErrorMessage, queue]);
}

function checkLength(name: string, value: string, max: number): void {
  if (value.length > max) throw badRequest(`Parameter "${name}" must be at most ${max} characters`);
}
