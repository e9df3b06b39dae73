import type { TaskEvents } from '../core/task-events.js';

interface Waiter {
  types: ReadonlySet<string>;
  wake: () => void;
}

/**
 * Parked long-poll requests (`next`/`next_batch` with `wait`). A scheduled task wakes the
 * longest-waiting request for its type, which then tries a claim; a request that loses the race
 * parks again. Tasks scheduled on other nodes wake them through `scheduledElsewhere`; callers also
 * re-check on a timer, so a missed wake-up only delays pickup.
 */
export class Waiters {
  private readonly waiters: Waiter[] = [];
  /** Counts scheduled events; `lastScheduled` holds the count at each type's latest one. */
  private seq = 0;
  private readonly lastScheduled = new Map<string, number>();

  constructor(events: TaskEvents) {
    events.onScheduled((task) => this.wakeOne(task.type));
    // A task scheduled on another node of the same PostgreSQL database (workers/notifier.ts).
    events.onScheduledElsewhere((type) => this.wakeOne(type));
  }

  private wakeOne(type: string): void {
    this.lastScheduled.set(type, ++this.seq);
    const i = this.waiters.findIndex((w) => w.types.has(type));
    if (i >= 0) this.waiters.splice(i, 1)[0]?.wake();
  }

  /** Resolves when a task of one of `types` is scheduled, after `ms`, or when `signal` aborts. */
  wait(types: ReadonlySet<string>, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve();
      };
      const waiter: Waiter = { types, wake: done };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done);
      this.waiters.push(waiter);
    });
  }

  /**
   * A point in the stream of scheduled events. A long-poll takes one before it tries a claim and
   * asks `scheduledSince` after finding nothing: a task scheduled while its claim query was in
   * flight woke nobody (the request was not parked yet), and would otherwise wait for the re-check.
   */
  mark(): number {
    return this.seq;
  }

  scheduledSince(mark: number, types: ReadonlySet<string>): boolean {
    for (const type of types) if ((this.lastScheduled.get(type) ?? 0) > mark) return true;
    return false;
  }

  get size(): number {
    return this.waiters.length;
  }
}

/** A registration for one task's changes, made before the task is read so that no change slips in between. */
export interface TaskWatch {
  /** Resolves once the task changed since `watch()` (at once if it already did), after `ms`, or when `signal` aborts or the server closes. */
  wait(ms: number, signal?: AbortSignal): Promise<void>;
  /** Unregisters; a watch not waited on must be cancelled. */
  cancel(): void;
}

/**
 * Clients' long-polls on one task (`GET task/{id}?wait=N`), keyed by task id so that an event costs
 * nothing for the other tasks' waiters. Woken by changes made on this node (`changed`, `ended`,
 * `deleted`); changes made elsewhere (another node, the CLI) are found by the caller's re-read
 * every second (TaskService.waitForChange).
 */
export class TaskWatchers {
  private readonly byTask = new Map<number, Set<() => void>>();
  private count = 0;
  private closed = false;

  constructor(events: TaskEvents) {
    events.onChanged((id) => this.wake(id));
    events.onPartial((id) => this.wake(id));
    events.onEnded((task) => this.wake(task.id));
    events.onDeleted((task) => this.wake(task.id));
  }

  private wake(id: number): void {
    const set = this.byTask.get(id);
    if (set) for (const fire of [...set]) fire();
  }

  watch(taskId: number): TaskWatch {
    let fired = this.closed;
    let wakeUp: (() => void) | undefined;
    const fire = () => {
      fired = true;
      wakeUp?.();
    };
    const set = this.byTask.get(taskId) ?? new Set<() => void>();
    this.byTask.set(taskId, set);
    set.add(fire);
    this.count++;
    const remove = () => {
      if (!set.delete(fire)) return;
      this.count--;
      if (set.size === 0 && this.byTask.get(taskId) === set) this.byTask.delete(taskId);
    };
    return {
      wait: (ms, signal) =>
        new Promise<void>((resolve) => {
          if (fired || signal?.aborted) {
            remove();
            resolve();
            return;
          }
          const done = () => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', done);
            wakeUp = undefined;
            remove();
            resolve();
          };
          wakeUp = done;
          const timer = setTimeout(done, ms);
          signal?.addEventListener('abort', done);
        }),
      cancel: remove,
    };
  }

  /** Server shutdown: every parked long-poll answers now, and later ones do not park. */
  close(): void {
    this.closed = true;
    for (const set of [...this.byTask.values()]) for (const fire of [...set]) fire();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Watches registered now (parked or reading the task); 0 when every long-poll has answered or been abandoned. */
  get size(): number {
    return this.count;
  }
}
