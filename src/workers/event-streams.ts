import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { DomainError } from '../core/errors.js';
import { diffView, emptyView, type TaskView, viewFromData, viewToData } from '../core/live-view.js';
import type { TaskEvents } from '../core/task-events.js';
import { type Caller, owns } from '../core/task-service.js';
import { isFinal, type Task, TASK_STATUS } from '../core/task.js';
import type { TaskFilter, TaskStore } from '../store/store.js';
import type { FeedListener, QueueInfo, TaskFeeds } from './task-feeds.js';

/** Where a stream's bytes go: the HTTP response (api/routes/event-routes.ts). */
export interface SseSink {
  /** False when the client is not keeping up: nothing more is written until `onDrain`. */
  write(chunk: string): boolean;
  onDrain(listener: () => void): void;
  /** The client went away (or the response ended). */
  onClose(listener: () => void): void;
  end(): void;
}

export interface EventStreamLimits {
  /** Open streams per user (or anonymous session, or user-less ExApp). */
  perCaller: number;
  /** Open streams on this node. */
  total: number;
  /** A comment line this often keeps proxies from closing an idle stream. */
  heartbeatMs: number;
  /** Tasks one stream of all of a caller's tasks follows at most (the oldest unfinished ones). */
  maxFollowed: number;
}

export interface EventStreamsDeps {
  feeds: TaskFeeds;
  events: TaskEvents;
  store: Pick<TaskStore, 'listTasks'>;
  limits: EventStreamLimits;
  /** The final event's data: the task as GET task answers it (`{"task": …}`), encoded. */
  encodeTask(task: Task): string;
  /** Tasks of a caller stream whose queue position is looked at (the ones nearest to start). */
  queueWatched?: number;
}

/** A stream of all of a caller's tasks, narrowed as `tasks?customId=` and `tasks_app?appId=` narrow lists. */
export interface CallerFilter {
  appId?: string;
  customId?: string;
}

const TASK_ID_PREFIX = 't1.';
const CALLER_ID_PREFIX = 'c1.';
/** How long a browser waits before reconnecting after the connection drops (the stream's `retry:`). */
const RETRY_MS = 2000;

/**
 * Open event streams of this node (issue 20, item 2): the limits on them, their heartbeat, and their end
 * on shutdown. A stream writes events derived from what its tasks show (core/live-view.ts); a client that
 * does not keep up is not buffered for: the stream stops writing, and once the client drains it is sent
 * one `skipped` event and then what changed since what it last got, computed from state, so nothing is
 * lost and memory stays bounded by one event per stream.
 */
export class EventStreams {
  private readonly perCaller = new Map<string, number>();
  private readonly streams = new Set<LiveStream>();
  private closed = false;

  constructor(private readonly deps: EventStreamsDeps) {}

  /** A place for one more stream of this caller, or 429 in the envelope. Release it when the stream ends. */
  reserve(caller: Caller, appId: string | null): () => void {
    const key = callerKey(caller, appId);
    const { perCaller, total } = this.deps.limits;
    if (this.closed) throw new DomainError('service_unavailable', 'The server is shutting down');
    if (this.reserved >= total) throw tooMany(`This server has ${total} event streams open, its limit; try again later`);
    const mine = this.perCaller.get(key) ?? 0;
    if (mine >= perCaller) throw tooMany(`You have ${perCaller} event streams open, the limit per user; close one first`);
    this.perCaller.set(key, mine + 1);
    this.reserved++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.reserved--;
      const n = (this.perCaller.get(key) ?? 1) - 1;
      if (n <= 0) this.perCaller.delete(key);
      else this.perCaller.set(key, n);
    };
  }

  /** Places taken: open streams and those being opened. */
  private reserved = 0;

  /** Streams the events of one task until it ends (then the final event, and the stream closes). */
  openTask(sink: SseSink, task: Task, view: TaskView | null, release: () => void): LiveStream {
    const stream = new TaskStream(sink, this.deps, task.id, view, () => this.ended(stream, release));
    return this.start(stream);
  }

  /** Streams the events of every unfinished task of the caller (and those scheduled later) until the client leaves. */
  openCaller(sink: SseSink, caller: Caller, filter: CallerFilter, cursor: CallerCursor | null, release: () => void): LiveStream {
    const stream = new CallerStream(sink, this.deps, caller, filter, cursor, () => this.ended(stream, release));
    return this.start(stream);
  }

  /** Shutdown: every stream ends now (a comment says why), and no new one opens. */
  close(): void {
    this.closed = true;
    for (const s of [...this.streams]) s.stop('server shutting down');
  }

  get size(): number {
    return this.streams.size;
  }

  private start(stream: LiveStream): LiveStream {
    this.streams.add(stream);
    stream.begin();
    return stream;
  }

  private ended(stream: LiveStream, release: () => void): void {
    this.streams.delete(stream);
    release();
  }
}

function tooMany(message: string): DomainError {
  const err = new DomainError('rate_limited', message);
  err.retryAfter = 10;
  return err;
}

function callerKey(caller: Caller, appId: string | null): string {
  if (caller.userId !== null) return `u:${caller.userId}`;
  if (caller.anonKey !== null) return `a:${caller.anonKey}`;
  return `x:${appId ?? ''}`;
}

/** Parses a per-task stream's Last-Event-ID: the view it names, or undefined when it is none of ours. */
export function parseTaskEventId(id: string): TaskView | undefined {
  if (!id.startsWith(TASK_ID_PREFIX)) return undefined;
  try {
    return viewFromData(JSON.parse(Buffer.from(id.slice(TASK_ID_PREFIX.length), 'base64url').toString('utf8')));
  } catch {
    return undefined;
  }
}

function taskEventId(view: TaskView): string {
  return TASK_ID_PREFIX + Buffer.from(JSON.stringify(viewToData(view))).toString('base64url');
}

/** What a caller stream's client had: the tasks it followed, and what it was shown of each. */
export interface CallerCursor {
  /** The highest task id the stream had looked at: tasks above it are new to the client. */
  since: number;
  /** Every unfinished task it followed, with what it was shown (a plain scheduled task when absent from `shown`). */
  followed: number[];
  shown: Map<number, TaskView>;
}

/** Parses a caller stream's Last-Event-ID; undefined when it is none of ours. */
export function parseCallerEventId(id: string): CallerCursor | undefined {
  if (!id.startsWith(CALLER_ID_PREFIX)) return undefined;
  const [setPart, shownPart] = id.slice(CALLER_ID_PREFIX.length).split('.');
  if (setPart === undefined || shownPart === undefined) return undefined;
  try {
    const set = JSON.parse(inflateRawSync(Buffer.from(setPart, 'base64url'), { maxOutputLength: 4 << 20 }).toString('utf8')) as unknown;
    const shown = JSON.parse(Buffer.from(shownPart, 'base64url').toString('utf8')) as unknown;
    if (!Array.isArray(set) || set.length !== 2 || !Number.isSafeInteger(set[0]) || !Array.isArray(set[1])) return undefined;
    const followed: number[] = [];
    let last = 0;
    for (const d of set[1] as unknown[]) {
      if (!Number.isSafeInteger(d) || (d as number) <= 0) return undefined;
      last += d as number;
      followed.push(last);
    }
    if (typeof shown !== 'object' || shown === null || Array.isArray(shown)) return undefined;
    const views = new Map<number, TaskView>();
    for (const [k, v] of Object.entries(shown)) {
      const view = viewFromData(v);
      if (!/^[1-9][0-9]{0,15}$/.test(k) || !view) return undefined;
      views.set(Number(k), view);
    }
    return { since: set[0] as number, followed, shown: views };
  } catch {
    return undefined;
  }
}

/** A plain scheduled task as a watcher sees it once told its status: what a caller cursor leaves out. */
const scheduledView = (): TaskView => ({ status: TASK_STATUS.SCHEDULED, progress: -1, slots: new Map() });

function isPlainScheduled(view: TaskView): boolean {
  return view.status === TASK_STATUS.SCHEDULED && view.progress === -1 && view.slots.size === 0;
}

/** A stream: SSE framing, heartbeats, the slow-reader rule. Subclasses say what to send. */
abstract class LiveStream {
  private blocked = false;
  private ended = false;
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(
    protected readonly sink: SseSink,
    protected readonly deps: EventStreamsDeps,
    private readonly onEnd: () => void,
  ) {}

  begin(): void {
    this.sink.onClose(() => this.stop());
    this.write(`retry: ${RETRY_MS}\n\n`);
    this.heartbeat = setInterval(() => !this.blocked && this.write(': keep-alive\n\n'), this.deps.limits.heartbeatMs);
    this.heartbeat.unref();
    this.sink.onDrain(() => {
      if (!this.blocked || this.ended) return;
      this.blocked = false;
      this.send('skipped', { reason: 'The client did not keep up; what changed meanwhile follows, as of now' }, null);
      this.catchUp();
    });
    this.started();
  }

  /** The client left, or the server closes: everything is freed at once. */
  stop(reason?: string): void {
    if (this.ended) return;
    this.ended = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.released();
    if (reason) this.sink.write(`: ${reason}\n\n`);
    this.sink.end();
    this.onEnd();
  }

  protected get isBlocked(): boolean {
    return this.blocked || this.ended;
  }

  /** One event; false when the client is behind (the subclass catches up later from state). */
  protected send(event: string, data: unknown, id: string | null): boolean {
    return this.write(`${id === null ? '' : `id: ${id}\n`}event: ${event}\ndata: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
  }

  private write(chunk: string): boolean {
    if (this.ended) return false;
    if (!this.sink.write(chunk)) this.blocked = true;
    return !this.blocked;
  }

  protected abstract started(): void;
  /** Sends what changed since what the client last got (after it was behind). */
  protected abstract catchUp(): void;
  protected abstract released(): void;
}

/** What a stream knows of one task: the client's view, the newest state, the queue info last sent. */
class Tracked {
  task: Task | null | undefined = undefined;
  queue: QueueInfo | null = null;
  queueSent: string | null = null;
  unsubscribe: () => void = () => undefined;
  constructor(
    readonly id: number,
    public view: TaskView,
  ) {}
}

/** The events of one task. */
class TaskStream extends LiveStream {
  private readonly tracked: Tracked;

  constructor(sink: SseSink, deps: EventStreamsDeps, taskId: number, view: TaskView | null, onEnd: () => void) {
    super(sink, deps, onEnd);
    this.tracked = new Tracked(taskId, view ?? emptyView());
  }

  protected started(): void {
    const t = this.tracked;
    const listener: FeedListener = {
      task: (task) => {
        t.task = task;
        if (!this.isBlocked) this.catchUp();
      },
      queue: (info) => {
        t.queue = info;
        if (!this.isBlocked) this.catchUp();
      },
    };
    t.unsubscribe = this.deps.feeds.subscribe(t.id, listener);
  }

  protected catchUp(): void {
    const t = this.tracked;
    if (t.task === undefined) return;
    if (t.task === null) {
      this.send('deleted', { taskId: t.id }, taskEventId(t.view));
      this.stop();
      return;
    }
    const { events, view } = diffView(t.view, t.task, t.task.output);
    for (const e of events) {
      t.view = e.view;
      if (!this.send(e.event, e.data, taskEventId(e.view))) return;
    }
    t.view = view;
    if (isFinal(t.task.status)) {
      this.send('task', this.deps.encodeTask(t.task), taskEventId(t.view));
      this.stop();
      return;
    }
    sendQueue(this, t, () => taskEventId(t.view));
  }

  protected released(): void {
    this.tracked.unsubscribe();
  }

  /** For sendQueue, which both stream kinds share. */
  emit(event: string, data: unknown, id: string): boolean {
    return this.send(event, data, id);
  }
}

function sendQueue(stream: { emit(event: string, data: unknown, id: string): boolean }, t: Tracked, id: () => string): void {
  if (t.task?.status !== TASK_STATUS.SCHEDULED || t.queue === null) return;
  if (t.queue.queuePosition === null) return;
  const data = { taskId: t.id, position: t.queue.queuePosition, estimatedStartAt: t.queue.estimatedStartAt };
  const key = JSON.stringify(data);
  if (key === t.queueSent) return;
  if (stream.emit('queue', data, id())) t.queueSent = key;
}

/**
 * The events of every unfinished task of a caller that match the filter: the ones open when it
 * starts (or that its Last-Event-ID names) and the ones scheduled later, each until its final event.
 * Its event ids carry what the client was shown of every followed task, so a reconnect resumes each
 * exactly; the set of followed ids is deflated, since a caller may have thousands queued.
 */
class CallerStream extends LiveStream {
  private readonly tracked = new Map<number, Tracked>();
  private since: number;
  private setPart: string | null = null;
  private poll: NodeJS.Timeout | null = null;
  private offScheduled: () => void = () => undefined;
  private listing = false;

  constructor(
    sink: SseSink,
    deps: EventStreamsDeps,
    private readonly caller: Caller,
    private readonly filter: CallerFilter,
    private readonly cursor: CallerCursor | null,
    onEnd: () => void,
  ) {
    super(sink, deps, onEnd);
    this.since = cursor?.since ?? 0;
  }

  protected started(): void {
    this.offScheduled = this.deps.events.onScheduled((task) => {
      if (task.id > this.since && owns(this.caller, task) && this.matches(task)) this.listNew();
    });
    // Tasks scheduled on other nodes or by other processes are found by looking every second.
    this.poll = setInterval(() => this.listNew(), 1000);
    this.poll.unref();
    void this.startFollowing();
  }

  private matches(task: Task): boolean {
    return (
      (this.filter.appId === undefined || task.appId === this.filter.appId) && (this.filter.customId === undefined || task.customId === this.filter.customId)
    );
  }

  private baseFilter(): TaskFilter {
    return { owner: this.caller, ...this.filter, unfinished: true };
  }

  private async startFollowing(): Promise<void> {
    try {
      if (this.cursor) {
        // Resumed: the tasks it followed (ended ones get their final event), then anything newer.
        for (const id of this.cursor.followed) this.follow(id, this.cursor.shown.get(id) ?? scheduledView());
        await this.listNew();
      } else {
        const open = await this.deps.store.listTasks({ ...this.baseFilter(), limit: this.deps.limits.maxFollowed });
        for (const task of open) this.follow(task.id, emptyView());
        // Ended tasks are not followed; what is new from here on is anything above the highest id now.
        this.since = Math.max(this.since, ...open.map((t) => t.id));
        await this.listNew(true);
      }
    } catch {
      this.stop('reading the tasks failed');
    }
  }

  private async listNew(first = false): Promise<void> {
    if (this.listing || this.isBlocked) return;
    this.listing = true;
    try {
      const room = this.deps.limits.maxFollowed - this.tracked.size;
      if (room <= 0 && !first) return;
      const fresh = await this.deps.store.listTasks({ owner: this.caller, ...this.filter, afterId: this.since, limit: Math.max(1, room) });
      for (const task of fresh) {
        this.since = Math.max(this.since, task.id);
        this.setPart = null;
        // A task that ended before the client heard of it still gets its events and its final event.
        this.follow(task.id, emptyView());
      }
    } catch {
      // The next look tries again.
    } finally {
      this.listing = false;
    }
  }

  private follow(id: number, view: TaskView): void {
    if (this.tracked.has(id)) return;
    const t = new Tracked(id, view);
    this.tracked.set(id, t);
    this.setPart = null;
    t.unsubscribe = this.deps.feeds.subscribe(id, {
      task: (task) => {
        t.task = task;
        if (!this.isBlocked) this.update(t);
      },
      queue: (info) => {
        t.queue = info;
        if (!this.isBlocked) this.update(t);
      },
    });
  }

  private unfollow(t: Tracked): void {
    t.unsubscribe();
    this.tracked.delete(t.id);
    this.setPart = null;
  }

  protected catchUp(): void {
    for (const t of [...this.tracked.values()]) {
      if (this.isBlocked) return;
      this.update(t);
    }
    void this.listNew();
  }

  private update(t: Tracked): void {
    if (t.task === undefined) return;
    // An id in a Last-Event-ID that is not the caller's task reads as gone, as a deleted one does: no
    // difference to tell whether it exists.
    if (t.task === null || !owns(this.caller, t.task) || !this.matches(t.task)) {
      this.unfollow(t);
      this.send('deleted', { taskId: t.id }, this.eventId());
      return;
    }
    const { events, view } = diffView(t.view, t.task, t.task.output);
    for (const e of events) {
      t.view = e.view;
      if (!this.send(e.event, e.data, this.eventId())) return;
    }
    t.view = view;
    if (isFinal(t.task.status)) {
      const task = t.task;
      this.unfollow(t);
      this.send('task', this.deps.encodeTask(task), this.eventId());
      return;
    }
    if (this.queueWatched().has(t.id)) sendQueue(this, t, () => this.eventId());
  }

  /** Queue places are looked up for the oldest few scheduled tasks only: each costs a count. */
  private queueWatched(): Set<number> {
    const ids = [...this.tracked.values()]
      .filter((t) => t.task?.status === TASK_STATUS.SCHEDULED)
      .map((t) => t.id)
      .sort((a, b) => a - b);
    return new Set(ids.slice(0, this.deps.queueWatched ?? 20));
  }

  emit(event: string, data: unknown, id: string): boolean {
    return this.send(event, data, id);
  }

  private eventId(): string {
    if (this.setPart === null) {
      const ids = [...this.tracked.keys()].sort((a, b) => a - b);
      const deltas = ids.map((id, i) => id - (i === 0 ? 0 : (ids[i - 1] as number)));
      this.setPart = deflateRawSync(Buffer.from(JSON.stringify([this.since, deltas]))).toString('base64url');
    }
    const shown: Record<string, unknown> = {};
    for (const t of this.tracked.values()) if (!isPlainScheduled(t.view)) shown[t.id] = viewToData(t.view);
    return `${CALLER_ID_PREFIX}${this.setPart}.${Buffer.from(JSON.stringify(shown)).toString('base64url')}`;
  }

  protected released(): void {
    this.offScheduled();
    if (this.poll) clearInterval(this.poll);
    for (const t of this.tracked.values()) t.unsubscribe();
    this.tracked.clear();
  }
}
