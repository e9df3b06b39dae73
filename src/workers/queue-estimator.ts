import { type Clock, unixSeconds } from '../core/clock.js';
import { estimateStartAt, RecentMaximum, RunTimeWindows } from '../core/estimates.js';
import { TASK_STATUS, type Task } from '../core/task.js';
import type { TaskEvents } from '../core/task-events.js';
import type { TaskStore } from '../store/store.js';

export interface QueueEstimatorDeps {
  store: TaskStore;
  events: TaskEvents;
  clock: Clock;
  /** The built-in runner's concurrency for an in-process provider; null for every other provider. */
  inProcessConcurrency: (providerId: string) => number | null;
}

export interface QueueEstimate {
  /** What the queue-position route answers (store.queuePosition); null when the task is not SCHEDULED. */
  queuePosition: number | null;
  /** Unix seconds; null unless run times and parallelism of the task's provider have been measured. */
  estimatedStartAt: number | null;
}

/** The most recently updated tasks read once for run times measured before this process started. */
export const HISTORY_ROWS = 10_000;

/** Claim times kept for tasks without a start time (ExApps'), until their end; the oldest go first. */
const MAX_CLAIM_TIMES = 10_000;

/**
 * A scheduled task's queue position and estimated start (core/estimates.ts has the model), for
 * the events and long-polls that show them. Its measurements:
 *
 * - Run times per (type, provider) of successful tasks: ended − started, from the `ended` events
 *   of this node, and at the first estimate once from the store (recentRunTimes). ExApp claims set
 *   no start time (as upstream), so for theirs the start is when this node first saw the task
 *   change (worker-service emits `changed` after a claim); a task claimed on one node and ended on
 *   another, or re-queued and claimed again, goes unmeasured or counts its wait.
 * - Parallelism: the runner's concurrency for an in-process provider, and for every provider the
 *   most of its tasks seen RUNNING at once in the last ten minutes (several nodes run more than one
 *   runner's worth; an ExApp's workers are known only by what they run). Sampled from the store at
 *   most once a second, and only while some scheduled task is being estimated.
 * - Tasks ahead: the SCHEDULED tasks of the same type with lower ids (claims take the oldest
 *   first; a type's tasks all go to its preferred provider).
 *
 * Each estimate costs the queue-position statements, one count over the claim index, and the
 * shared running sample of that second; everything else is memory.
 */
export class QueueEstimator {
  private readonly runTimes = new RunTimeWindows();
  private readonly parallelism = new RecentMaximum();
  private readonly claimedAt = new Map<number, number>();
  private readonly unsubscribe: (() => void)[];
  private history: Promise<void> | undefined;
  private sample: { second: number; running: Promise<Map<string, number>> } | undefined;

  constructor(private readonly deps: QueueEstimatorDeps) {
    this.unsubscribe = [
      deps.events.onChanged((id) => this.changed(id)),
      deps.events.onEnded((task) => this.ended(task)),
      deps.events.onDeleted((task) => void this.claimedAt.delete(task.id)),
    ];
  }

  async estimate(task: Task): Promise<QueueEstimate> {
    if (task.status !== TASK_STATUS.SCHEDULED) return { queuePosition: null, estimatedStartAt: null };
    // Checked again by the statement that counts: a claim may have come in since the task was read.
    const queuePosition = (await this.deps.store.queuePosition(task.id)) ?? null;
    if (queuePosition === null || task.providerId === null) return { queuePosition, estimatedStartAt: null };
    // Sampled even while the run time is unknown: the parallelism seen meanwhile counts once it is.
    const [running] = await Promise.all([this.runningNow(), this.loadHistory()]);
    const meanRunSeconds = this.runTimes.mean(task.type, task.providerId);
    if (meanRunSeconds === null) return { queuePosition, estimatedStartAt: null };
    const ahead = await this.deps.store.scheduledAhead(task.type, task.id);
    const now = unixSeconds(this.deps.clock);
    const seen = this.parallelism.max(task.providerId, now);
    const configured = this.deps.inProcessConcurrency(task.providerId) ?? 0;
    const estimatedStartAt = estimateStartAt({
      ahead,
      running: running.get(task.providerId) ?? 0,
      // 0 (no runner, no worker seen running anything lately) is unknown: no estimate.
      parallelism: Math.max(configured, seen) || null,
      meanRunSeconds,
      now,
    });
    return { queuePosition, estimatedStartAt };
  }

  /** Stops listening to task events. */
  close(): void {
    for (const off of this.unsubscribe) off();
  }

  private changed(id: number): void {
    if (this.claimedAt.has(id)) return;
    if (this.claimedAt.size >= MAX_CLAIM_TIMES) this.claimedAt.delete(this.claimedAt.keys().next().value as number);
    this.claimedAt.set(id, unixSeconds(this.deps.clock));
  }

  private ended(task: Task): void {
    const claimedAt = this.claimedAt.get(task.id);
    this.claimedAt.delete(task.id);
    if (task.status !== TASK_STATUS.SUCCESSFUL || task.providerId === null || task.endedAt === null) return;
    const startedAt = task.startedAt ?? claimedAt;
    if (startedAt === undefined) return;
    this.runTimes.add({ taskId: task.id, type: task.type, providerId: task.providerId, seconds: task.endedAt - startedAt });
  }

  /** Once per process; a failed read is tried again by the next estimate. */
  private loadHistory(): Promise<void> {
    this.history ??= this.deps.store.recentRunTimes(HISTORY_ROWS).then(
      (runs) => this.runTimes.addOlder(runs),
      (error: unknown) => {
        this.history = undefined;
        throw error;
      },
    );
    return this.history;
  }

  /** RUNNING tasks per provider, read at most once per second however many tasks are watched. */
  private runningNow(): Promise<Map<string, number>> {
    const second = unixSeconds(this.deps.clock);
    if (this.sample?.second === second) return this.sample.running;
    const running = this.deps.store.runningByProvider().then((counts) => {
      for (const [providerId, n] of counts) this.parallelism.record(providerId, n, second);
      return counts;
    });
    this.sample = { second, running };
    // A failed sample is not kept for the rest of the second.
    running.catch(() => {
      if (this.sample?.running === running) this.sample = undefined;
    });
    return running;
  }
}
