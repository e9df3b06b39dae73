import type { Clock } from '../core/clock.js';
import { unixSeconds } from '../core/clock.js';
import { ProviderError, type InProcessProvider } from '../core/provider.js';
import type { LiveOutputs } from './live-outputs.js';
import type { TaskEvents } from '../core/task-events.js';
import type { TaskService } from '../core/task-service.js';
import type { TaskTypeRegistry } from '../core/task-types.js';
import { type Task, TASK_STATUS } from '../core/task.js';
import { ERROR_MESSAGE_MAX_BYTES, truncateUtf8 } from '../core/text-limits.js';
import { validateOutput } from '../core/validation.js';
import { invalidOutputResult } from '../core/invalid-output.js';
import type { ProviderRegistry } from '../core/provider-registry.js';
import type { TaskStore } from '../store/store.js';
import type { TaskFiles } from '../core/file-access.js';
import { storeOutputFiles } from './output-files.js';
import { completionEstimate, leaseSeconds } from './leases.js';

export interface RunnerLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface RunnerDeps {
  store: TaskStore;
  service: TaskService;
  taskTypes: TaskTypeRegistry;
  providers: ProviderRegistry;
  events: TaskEvents;
  /** Where partial outputs of streaming providers go (shown at once, written coalesced). */
  live: Pick<LiveOutputs, 'put' | 'flush'>;
  files: TaskFiles;
  clock: Clock;
  log: RunnerLog;
  concurrency: number;
  /** Lease owner name of this runner; unique per node. */
  leaseOwner: string;
  /** The shortest lease (seconds; config `leaseSeconds`). */
  minLeaseSeconds: number;
  /** How often to look for work that no event announced (tasks scheduled by another process). */
  pollMs?: number;
}

interface Running {
  task: Task;
  controller: AbortController;
  done: Promise<void>;
}

/**
 * Processes scheduled tasks whose preferred provider runs in this server, a bounded number at a
 * time. Claims go through the same conditional update as workers' claims, so a task is never run
 * twice; a lease (renewed while the provider works) lets another node take over if this one dies.
 */
export class Runner {
  private readonly running = new Map<number, Running>();
  private pumping = false;
  private pumpAgain = false;
  private pumpDone: Promise<void> = Promise.resolve();
  private stopped = true;
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void)[] = [];

  constructor(private readonly deps: RunnerDeps) {}

  start(): void {
    if (this.deps.concurrency === 0) return;
    this.stopped = false;
    this.unsubscribe = [
      this.deps.events.onScheduled(() => void this.pump()),
      this.deps.events.onScheduledElsewhere(() => void this.pump()),
      this.deps.events.onEnded((task) => this.running.get(task.id)?.controller.abort(new Error('The task was cancelled'))),
      this.deps.events.onDeleted((task) => this.running.get(task.id)?.controller.abort(new Error('The task was deleted'))),
    ];
    this.timer = setInterval(() => void this.pump(), this.deps.pollMs ?? 1000);
    this.timer.unref();
    void this.pump();
  }

  /** Aborts running work and gives its tasks back to the queue, so the next start runs them again. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    for (const off of this.unsubscribe) off();
    // A claim in flight finishes first: its tasks would otherwise start after the release below
    // (or after the store closed) and keep their lease until it lapsed.
    await this.pumpDone;
    for (const r of this.running.values()) r.controller.abort(new Error('The server is shutting down'));
    await Promise.allSettled([...this.running.values()].map((r) => r.done));
    await this.deps.store.releaseLeases(this.deps.leaseOwner, unixSeconds(this.deps.clock));
  }

  get active(): number {
    return this.running.size;
  }

  private pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true;
      return this.pumpDone;
    }
    this.pumping = true;
    this.pumpDone = this.pumpLoop();
    return this.pumpDone;
  }

  private async pumpLoop(): Promise<void> {
    try {
      do {
        this.pumpAgain = false;
        await this.claimWhileFree();
      } while (this.pumpAgain && !this.stopped);
    } catch (err) {
      this.deps.log.error({ err }, 'runner: claiming tasks failed; will retry');
    } finally {
      this.pumping = false;
    }
  }

  private async claimWhileFree(): Promise<void> {
    while (!this.stopped && this.running.size < this.deps.concurrency) {
      const types = (await this.deps.service.availableTypes()).filter((t) => t.provider.inProcess).map((t) => t.type.id);
      if (types.length === 0) return;
      const askedAtMs = this.deps.clock.nowMs();
      const now = unixSeconds(this.deps.clock);
      const claimed = await this.deps.store.claimTasks({
        types,
        limit: this.deps.concurrency - this.running.size,
        leaseOwner: this.deps.leaseOwner,
        // The real lease is set per task in run(); this one only covers the moment in between.
        leaseExpiresAt: now + this.deps.minLeaseSeconds,
        now,
        startedAt: now,
      });
      if (claimed.length === 0) return;
      for (const task of claimed) {
        this.deps.events.changed(task.id);
        this.deps.events.claimed(task, this.deps.leaseOwner, askedAtMs);
        this.run(task);
      }
    }
  }

  private run(task: Task): void {
    const controller = new AbortController();
    const entry: Running = { task, controller, done: Promise.resolve() };
    this.running.set(task.id, entry);
    entry.done = this.process(task, controller.signal)
      .catch((err) => this.deps.log.error({ err, taskId: task.id }, 'runner: recording a result failed'))
      .finally(() => {
        this.running.delete(task.id);
        void this.pump();
      });
  }

  private async process(task: Task, signal: AbortSignal): Promise<void> {
    const { store, clock, leaseOwner } = this.deps;
    const type = this.deps.taskTypes.get(task.type);
    const provider = this.deps.providers.get(task.providerId ?? '')?.inProcess ?? this.preferredInProcess(task.type);
    if (!type || !provider) {
      await this.fail(task, `No in-process provider is registered for task type ${task.type} any more`, null);
      return;
    }
    const lease = leaseSeconds(provider.expectedRuntime, this.deps.minLeaseSeconds);
    const renew = setInterval(
      () => {
        const now = unixSeconds(clock);
        store.extendLease(task.id, leaseOwner, now + lease, now).catch(() => undefined);
      },
      (lease * 1000) / 3,
    );
    renew.unref();
    try {
      await store.extendLease(task.id, leaseOwner, unixSeconds(clock) + lease, unixSeconds(clock));
      const startedAt = task.startedAt ?? unixSeconds(clock);
      const output = await provider.process(task.input, {
        taskId: task.id,
        userId: task.userId,
        signal,
        inputFile: (id) => this.deps.service.referencedFile(task, id),
        preferStreaming: task.preferStreaming,
        reportPartialOutput: (partial) => {
          if (signal.aborted) return;
          this.deps.live
            .put(task.id, leaseOwner, lease, partial)
            .catch((err) => this.deps.log.warn({ err, taskId: task.id }, 'runner: saving partial output failed'));
        },
        reportProgress: (progress) => {
          if (!(progress >= 0 && progress <= 1)) return;
          const now = unixSeconds(clock);
          store
            .setProgress(task.id, progress, now, leaseOwner, now + lease, completionEstimate(startedAt, now, progress))
            .then((updated) => updated && this.deps.events.changed(task.id))
            .catch((err) => this.deps.log.warn({ err, taskId: task.id }, 'runner: saving progress failed'));
        },
      });
      if (signal.aborted) return;
      const withIds = await storeOutputFiles(type, provider, output, task, this.deps.files);
      const checked = validateOutput(type, provider, withIds);
      if (!checked.ok) {
        await this.deps.files.deleteTaskFiles([task.id]);
        const failed = await store.finishTask(task.id, leaseOwner, invalidOutputResult(checked.error, unixSeconds(clock)));
        if (!failed) return;
        this.deps.log.warn({ taskId: task.id, providerId: provider.id, reason: checked.error }, 'runner: the output fails validation, so the task failed');
        this.deps.events.ended(failed);
        return;
      }
      const done = await store.finishTask(task.id, leaseOwner, {
        status: TASK_STATUS.SUCCESSFUL,
        output: checked.output,
        errorMessage: null,
        userFacingErrorMessage: null,
        progress: 1,
        now: unixSeconds(clock),
      });
      if (done) this.deps.events.ended(done);
      else await this.deps.files.deleteTaskFiles([task.id]);
    } catch (err) {
      // A cancelled or deleted task already ended; a shutdown hands the task back in stop().
      if (signal.aborted) return;
      const message = err instanceof Error ? err.message : String(err);
      await this.fail(task, message || 'The provider failed without a message', err instanceof ProviderError ? err.userFacingMessage : null);
    } finally {
      clearInterval(renew);
    }
  }

  private preferredInProcess(type: string): InProcessProvider | undefined {
    return this.deps.providers.availableFor(type).find((p) => p.inProcess)?.inProcess ?? undefined;
  }

  private async fail(task: Task, message: string, userFacing: string | null): Promise<void> {
    await this.deps.live.flush(task.id);
    const done = await this.deps.store.finishTask(task.id, this.deps.leaseOwner, {
      status: TASK_STATUS.FAILED,
      output: null,
      errorMessage: truncateUtf8(message, ERROR_MESSAGE_MAX_BYTES),
      userFacingErrorMessage: userFacing === null ? null : truncateUtf8(userFacing, ERROR_MESSAGE_MAX_BYTES),
      progress: null,
      now: unixSeconds(this.deps.clock),
    });
    if (done) this.deps.events.ended(done);
  }
}
