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
