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

  constructor(events: TaskEvents) {
    events.onScheduled((task) => this.wakeOne(task.type));
    // A task scheduled on another node of the same PostgreSQL database (workers/notifier.ts).
    events.onScheduledElsewhere((type) => this.wakeOne(type));
  }

  private wakeOne(type: string): void {
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

  get size(): number {
    return this.waiters.length;
  }
}
