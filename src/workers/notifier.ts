import type { TaskIO } from '../core/shapes.js';
import type { TaskEvents } from '../core/task-events.js';

/** PostgreSQL's payload limit, less room for the node id and schema in front (store/pg-notify.ts). */
const MAX_LIVE_MESSAGE_BYTES = 7000;

/** The transport between nodes (store/pg-notify.ts on PostgreSQL); kept abstract so workers/ holds no SQL. */
export interface ScheduledChannel {
  start(onType: (type: string) => void, onLive?: (message: string) => void): Promise<void>;
  notify(type: string): void;
  /** A task's change for the other nodes' watchers; a newer message with the same key replaces a waiting one. */
  notifyLive(key: string, message: string): void;
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
  private offs: (() => void)[] = [];

  constructor(
    private readonly events: TaskEvents,
    readonly channel: ScheduledChannel,
  ) {}

  async start(): Promise<void> {
    const { events, channel } = this;
    const changed = (id: number) => channel.notifyLive(`c${id}`, `c ${id}`);
    this.offs = [
      events.onScheduled((task) => channel.notify(task.type)),
      // Changes made here reach the other nodes' watchers (event streams, long-polls on a task): an id to
      // read again, or a partial output itself when it is small enough to travel in the notification.
      events.onChanged((id, origin) => origin === 'local' && changed(id)),
      events.onEnded((task) => changed(task.id)),
      events.onDeleted((task) => changed(task.id)),
      events.onPartial((id, output, origin) => {
        if (origin !== 'local') return;
        const message = `p ${id} ${JSON.stringify(output)}`;
        // A bigger one is read from the database once its coalesced write is there (and notified as a change then).
        if (Buffer.byteLength(message) <= MAX_LIVE_MESSAGE_BYTES) channel.notifyLive(`p${id}`, message);
      }),
    ];
    await channel.start(
      (type) => {
        this.wakeups++;
        events.scheduledElsewhere(type);
      },
      (message) => this.received(message),
    );
  }

  /** `c <id>` (read the task again) or `p <id> <output JSON>` (a partial output). */
  private received(message: string): void {
    const m = /^([cp]) ([1-9][0-9]{0,15})(?: ([\s\S]*))?$/.exec(message);
    if (!m) return;
    const id = Number(m[2]);
    if (m[1] === 'c') {
      this.events.changed(id, 'remote');
      return;
    }
    try {
      const output = JSON.parse(m[3] ?? '') as unknown;
      if (typeof output === 'object' && output !== null && !Array.isArray(output)) this.events.partial(id, output as TaskIO, 'remote');
    } catch {
      // Not ours to fail on: the next change or the re-read brings the task.
    }
  }

  async close(): Promise<void> {
    for (const off of this.offs) off();
    this.offs = [];
    await this.channel.close();
  }
}
