import type { TaskEvents } from '../core/task-events.js';
import { isFinal, type Task, TASK_STATUS } from '../core/task.js';
import type { TaskStore } from '../store/store.js';
import type { LiveOutputs } from './live-outputs.js';

/** A scheduled task's place in the queue and when it is expected to start (null: no data to say). */
export interface QueueInfo {
  queuePosition: number | null;
  estimatedStartAt: number | null;
}

export interface QueueEstimates {
  estimate(task: Task): Promise<QueueInfo>;
}

export interface FeedListener {
  /** The task as it shows now (the newest partial output included), or null once it is deleted. */
  task(task: Task | null): void;
  /** A scheduled task's queue position or estimate changed. */
  queue?(info: QueueInfo): void;
}

export interface TaskFeedsDeps {
  store: Pick<TaskStore, 'getTask'>;
  events: TaskEvents;
  live: Pick<LiveOutputs, 'overlay'>;
  estimates: QueueEstimates;
  /** A followed task is read again at least this often, for changes no event announced (the CLI, retention, a lost notification). */
  recheckMs: number;
  log: { warn(obj: object, msg: string): void };
}

/** A scheduled task's estimate is refreshed at least this often even when no queue moved (its start slides with time). */
const ESTIMATE_MS = 5000;

class Feed {
  readonly listeners = new Set<FeedListener>();
  task: Task | null | undefined = undefined;
  queue: QueueInfo | undefined = undefined;
  reading = false;
  readAgain = false;
  lastReadMs = 0;
  estimating = false;
  /** queueMoves and the time at the last estimate. */
  estimatedAtMove = -1;
  estimatedAtMs = 0;
  constructor(readonly id: number) {}
}

/**
 * What each followed task shows now, per task and shared by every watcher of it on this node (event
 * streams, issue 20): one read per change, whatever the number of watchers. Changes made on this node
 * arrive as events (a partial output straight from memory, no read); other nodes' as `remote` events
 * through workers/notifier.ts; anything else within `recheckMs`. Scheduled tasks also get their queue
 * position and estimated start, looked at once per tick and passed on when they change.
 */
export class TaskFeeds {
  private readonly feeds = new Map<number, Feed>();
  private readonly timer: NodeJS.Timeout;
  private readonly offs: (() => void)[] = [];
  /** Counts events that may move queue places; a feed estimates again only after one (or every ESTIMATE_MS). */
  private queueMoves = 0;

  constructor(private readonly deps: TaskFeedsDeps) {
    const { events } = deps;
    // Anything that may move a queue place: scheduled tasks are estimated again on the next tick.
    const moved = () => {
      this.queueMoves++;
    };
    this.offs.push(
      events.onScheduled(moved),
      events.onScheduledElsewhere(moved),
      events.onClaimed(moved),
      events.onRequeued((ids) => {
        moved();
        for (const id of ids) this.refresh(id);
      }),
      events.onChanged((id) => {
        moved();
        this.refresh(id);
      }),
      events.onEnded(moved),
      events.onDeleted(moved),
      events.onEnded((task) => this.deliver(task.id, task)),
      events.onDeleted((task) => this.deliver(task.id, null)),
      events.onPartial((id, output) => {
        const feed = this.feeds.get(id);
        if (!feed) return;
        // The claim that made it RUNNING may still be being read here: then the read brings both.
        if (feed.task?.status === TASK_STATUS.RUNNING) this.deliver(id, { ...feed.task, output });
        else this.refresh(id);
      }),
    );
    // One timer for every feed: re-reads what has not been read for a while, and refreshes queue places.
    this.timer = setInterval(() => this.tick(), Math.min(1000, deps.recheckMs));
    this.timer.unref();
  }

  /** Follows a task: the listener hears its state now (once read) and at every change, until unsubscribed. */
  subscribe(taskId: number, listener: FeedListener): () => void {
    let feed = this.feeds.get(taskId);
    if (!feed) {
      feed = new Feed(taskId);
      this.feeds.set(taskId, feed);
    }
    feed.listeners.add(listener);
    const f = feed;
    if (f.task !== undefined && !f.reading) queueMicrotask(() => f.listeners.has(listener) && listener.task(f.task ?? null));
    else this.refresh(taskId);
    return () => {
      f.listeners.delete(listener);
      if (f.listeners.size === 0 && this.feeds.get(taskId) === f) this.feeds.delete(taskId);
    };
  }

  /** Tasks followed now. */
  get size(): number {
    return this.feeds.size;
  }

  close(): void {
    clearInterval(this.timer);
    for (const off of this.offs) off();
    this.feeds.clear();
  }

  private deliver(id: number, task: Task | null): void {
    const feed = this.feeds.get(id);
    if (!feed) return;
    feed.task = task;
    if (task === null || task.status !== TASK_STATUS.SCHEDULED) feed.queue = undefined;
    for (const l of [...feed.listeners]) l.task(task);
    if (task?.status === TASK_STATUS.SCHEDULED) this.estimate(feed);
  }

  private refresh(id: number): void {
    const feed = this.feeds.get(id);
    if (!feed) return;
    if (feed.reading) {
      feed.readAgain = true;
      return;
    }
    feed.reading = true;
    feed.lastReadMs = performance.now();
    this.deps.store
      .getTask(id)
      .then(
        (task) => {
          feed.reading = false;
          this.deliver(id, task ? this.deps.live.overlay(task) : null);
        },
        (err) => {
          feed.reading = false;
          // A database outage: the next tick reads again.
          this.deps.log.warn({ err, taskId: id }, 'reading a followed task failed; trying again');
        },
      )
      .finally(() => {
        if (feed.readAgain) {
          feed.readAgain = false;
          this.refresh(id);
        }
      });
  }

  private estimate(feed: Feed): void {
    const task = feed.task;
    if (!task || task.status !== TASK_STATUS.SCHEDULED || feed.estimating || ![...feed.listeners].some((l) => l.queue)) return;
    feed.estimating = true;
    feed.estimatedAtMove = this.queueMoves;
    feed.estimatedAtMs = performance.now();
    this.deps.estimates
      .estimate(task)
      .then(
        (info) => {
          const before = feed.queue;
          if (feed.task?.status !== TASK_STATUS.SCHEDULED) return;
          if (before && before.queuePosition === info.queuePosition && before.estimatedStartAt === info.estimatedStartAt) return;
          feed.queue = info;
          for (const l of [...feed.listeners]) l.queue?.(info);
        },
        (err) => this.deps.log.warn({ err, taskId: feed.id }, 'estimating a queue position failed'),
      )
      .finally(() => {
        feed.estimating = false;
      });
  }

  private tick(): void {
    const now = performance.now();
    for (const feed of this.feeds.values()) {
      if (feed.task && isFinal(feed.task.status)) continue;
      if (now - feed.lastReadMs >= this.deps.recheckMs) this.refresh(feed.id);
      else if (feed.estimatedAtMove !== this.queueMoves || now - feed.estimatedAtMs >= ESTIMATE_MS) this.estimate(feed);
    }
  }
}
