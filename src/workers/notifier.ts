import type { TaskEvents } from '../core/task-events.js';

/** The transport between nodes (store/pg-notify.ts on PostgreSQL); kept abstract so workers/ holds no SQL. */
export interface ScheduledChannel {
  start(onType: (type: string) => void): Promise<void>;
  notify(type: string): void;
  close(): Promise<void>;
  readonly listening: boolean;
}

/**
 * Wake-ups across nodes: every task scheduled here is announced to the other nodes, and their
 * announcements wake this node's long-polls and runner as a local schedule would (`scheduledElsewhere`).
 * Only a hint: the receiver still claims through the database, and a lost announcement only delays
 * pickup until the waiters' and runner's periodic re-check. SQLite (one node) has no notifier.
 */
export class Notifier {
  /** Wake-ups delivered from other nodes' notifications (tests and diagnostics). */
  wakeups = 0;
  private off: (() => void) | null = null;

  constructor(
    private readonly events: TaskEvents,
    readonly channel: ScheduledChannel,
  ) {}

  async start(): Promise<void> {
    this.off = this.events.onScheduled((task) => this.channel.notify(task.type));
    await this.channel.start((type) => {
      this.wakeups++;
      this.events.scheduledElsewhere(type);
    });
  }

  async close(): Promise<void> {
    this.off?.();
    this.off = null;
    await this.channel.close();
  }
}
