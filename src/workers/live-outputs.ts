import type { Clock } from '../core/clock.js';
import { unixSeconds } from '../core/clock.js';
import type { TaskIO } from '../core/shapes.js';
import type { TaskEvents } from '../core/task-events.js';
import { type Task, TASK_STATUS } from '../core/task.js';
import type { TaskStore } from '../store/store.js';

/** How long a partial output known only in memory overrides what the database shows: longer than any coalesced write takes. */
const OVERLAY_MS = 5000;
/** Running tasks whose newest partial output a node keeps (oldest dropped first). */
const MAX_KEPT = 10_000;

export interface LiveOutputsDeps {
  store: Pick<TaskStore, 'setPartialOutput'>;
  events: TaskEvents;
  clock: Clock;
  /** Longest a partial output waits for its database write, in ms (`TASKPROC_PARTIAL_WRITE_MS`); 0 writes each one. */
  writeMs: number;
  log: { warn(obj: object, msg: string): void };
}

/** A running task whose lease holder streams through this node: what to write next, and under which lease. */
interface Writer {
  owner: string;
  leaseSeconds: number;
  /** The task as last written or answered, with the newest output: what the next stream-result answers. */
  task: Task;
  /** Output not yet written, or null. */
  unwritten: TaskIO | null;
  lastWriteMs: number;
  timer: NodeJS.Timeout | null;
  writing: boolean;
}

/**
 * Partial outputs of running tasks (issue 20, item 3). Each one reaches this node's watchers at once
 * through the `partial` event, from memory; the database gets the newest one at most every `writeMs`
 * per task (a model streaming 100 tokens a second makes a few writes, not 100). The first chunk of a
 * task is written at once, which also proves the lease; later ones from the same lease holder are
 * answered from memory and written coalesced, each write conditional on the lease as before. A write
 * that finds the lease gone (cancelled, re-queued, another node's result) forgets the task here, so the
 * next chunk takes the checked path again; at most `writeMs` of chunks are answered 200 after such a
 * change, and they are dropped, as a chunk after a cancel is anyway.
 *
 * What is in memory and not yet in the database is lost if the process dies: only intermediate output,
 * which the worker's next chunk or its result replaces (upstream skips such writes for 2 s as well).
 */
export class LiveOutputs {
  private readonly writers = new Map<number, Writer>();
  /** The newest partial output of running tasks, made here or announced by another node, with when it came. */
  private readonly newest = new Map<number, { output: TaskIO; atMs: number }>();
  private closed = false;

  constructor(private readonly deps: LiveOutputsDeps) {
    const forget = (task: Task) => this.forget(task.id);
    deps.events.onEnded(forget);
    deps.events.onDeleted(forget);
    deps.events.onPartial((id, output, origin) => {
      if (origin === 'remote') this.keep(id, output);
    });
  }

  /**
   * A chunk from `owner`, which claims to hold the task's lease. Returns the task as it now shows, or
   * undefined when the store refused the write (the caller finds out why, as for any lost race).
   */
  async put(taskId: number, owner: string, leaseSeconds: number, output: TaskIO): Promise<Task | undefined> {
    const fast = this.putFast(taskId, owner, output);
    if (fast) return fast;
    const nowS = unixSeconds(this.deps.clock);
    const updated = await this.deps.store.setPartialOutput(taskId, output, owner, nowS + leaseSeconds, nowS);
    if (!updated) return undefined;
    if (!this.closed) {
      this.writers.set(taskId, { owner, leaseSeconds, task: updated, unwritten: null, lastWriteMs: performance.now(), timer: null, writing: false });
      this.trim(this.writers);
    }
    this.keep(taskId, output);
    this.deps.events.partial(taskId, output);
    return updated;
  }

  /**
   * The fast path alone: when `owner` streamed this task through this node before and its lease was
   * not found gone since, the chunk is taken from memory and the task as it now shows comes back;
   * otherwise undefined, and nothing happened (the caller checks the task and calls `put`).
   */
  putFast(taskId: number, owner: string, output: TaskIO): Task | undefined {
    const writer = this.writers.get(taskId);
    if (!writer || writer.owner !== owner || this.closed) return undefined;
    writer.task = { ...writer.task, output, lastUpdated: unixSeconds(this.deps.clock) };
    writer.unwritten = output;
    this.keep(taskId, output);
    this.deps.events.partial(taskId, output);
    this.scheduleWrite(taskId, writer);
    return writer.task;
  }

  /**
   * Writes a task's unwritten partial output now, before its result is stored: a failure keeps the last
   * chunk as the task's output (upstream's rule), so that chunk must be the newest, not an older one.
   */
  async flush(taskId: number): Promise<void> {
    const writer = this.writers.get(taskId);
    if (!writer) return;
    if (writer.timer) clearTimeout(writer.timer);
    writer.timer = null;
    // A write in flight carries an older chunk; the newest follows it.
    while (writer.writing) await new Promise((r) => setImmediate(r));
    await this.write(taskId, writer);
  }

  /** The task with the newest partial output this node knows, when that is newer than what was read. */
  overlay(task: Task): Task {
    if (task.status !== TASK_STATUS.RUNNING) return task;
    const known = this.newest.get(task.id);
    if (!known || performance.now() - known.atMs > OVERLAY_MS) return task;
    return { ...task, output: known.output };
  }

  /** The newest partial output this node knows of a task (for watchers that already hold the task). */
  latest(taskId: number): TaskIO | undefined {
    const known = this.newest.get(taskId);
    return known && performance.now() - known.atMs <= OVERLAY_MS ? known.output : undefined;
  }

  /** Writes what is still unwritten (server shutdown), then takes no more chunks on the fast path. */
  async close(): Promise<void> {
    this.closed = true;
    const pending = [...this.writers.entries()];
    for (const [, w] of pending) if (w.timer) clearTimeout(w.timer);
    await Promise.all(pending.map(([id, w]) => this.write(id, w)));
    this.writers.clear();
  }

  /** Tasks whose chunks are answered from memory now (tests, metrics). */
  get size(): number {
    return this.writers.size;
  }

  private keep(taskId: number, output: TaskIO): void {
    this.newest.delete(taskId);
    this.newest.set(taskId, { output, atMs: performance.now() });
    this.trim(this.newest);
  }

  private trim(map: Map<number, unknown>): void {
    while (map.size > MAX_KEPT) {
      const oldest = map.keys().next().value as number;
      const w = this.writers.get(oldest);
      if (map === this.writers && w?.timer) clearTimeout(w.timer);
      map.delete(oldest);
    }
  }

  private forget(taskId: number): void {
    const writer = this.writers.get(taskId);
    if (writer?.timer) clearTimeout(writer.timer);
    this.writers.delete(taskId);
    this.newest.delete(taskId);
  }

  private scheduleWrite(taskId: number, writer: Writer): void {
    if (writer.timer || writer.writing) return;
    const due = Math.max(0, writer.lastWriteMs + this.deps.writeMs - performance.now());
    writer.timer = setTimeout(() => {
      writer.timer = null;
      void this.write(taskId, writer);
    }, due);
  }

  private async write(taskId: number, writer: Writer): Promise<void> {
    const output = writer.unwritten;
    if (output === null || writer.writing) return;
    writer.unwritten = null;
    writer.writing = true;
    writer.lastWriteMs = performance.now();
    const nowS = unixSeconds(this.deps.clock);
    try {
      const updated = await this.deps.store.setPartialOutput(taskId, output, writer.owner, nowS + writer.leaseSeconds, nowS);
      if (!updated && this.writers.get(taskId) === writer) {
        // The lease is gone: the chunks taken since are dropped, and watchers read what the task is now.
        this.forget(taskId);
        this.deps.events.changed(taskId);
      }
    } catch (err) {
      this.deps.log.warn({ err, taskId }, 'saving a partial output failed; the next chunk or the result replaces it');
    } finally {
      writer.writing = false;
    }
    if (writer.unwritten !== null && this.writers.get(taskId) === writer && !this.closed) this.scheduleWrite(taskId, writer);
  }
}
