import { EventEmitter } from 'node:events';
import type { TaskIO } from './shapes.js';
import type { Task } from './task.js';

/** Where a change was made: on this node, or on another node of the same PostgreSQL database (workers/notifier.ts). */
export type ChangeOrigin = 'local' | 'remote';

export type RequeueReason = 'lease expired' | 'given back';

/**
 * In-process notifications after a change is committed: the runner and long-polling workers
 * wake on `scheduled`, running work is aborted on `ended`, clients' long-polls on a task wake on
 * `changed`, `ended` and `deleted`. Listeners must not throw.
 */
export class TaskEvents {
  private readonly emitter = new EventEmitter();

  constructor() {
    // Every parked long-poll adds a listener; there is no leak to warn about.
    this.emitter.setMaxListeners(0);
  }

  scheduled(task: Task): void {
    this.emitter.emit('scheduled', task);
  }

  /**
   * Another node scheduled a task of `type` (workers/notifier.ts). Only the type is known, so
   * listeners that need the task use onScheduled; waiters and the runner just look for work.
   */
  scheduledElsewhere(type: string): void {
    this.emitter.emit('scheduledElsewhere', type);
  }

  /** A task reached a final state: success, failure or cancel (webhooks fire on these). */
  ended(task: Task): void {
    this.emitter.emit('ended', task);
  }

  /** A task was deleted (no webhook, as upstream; running work stops). */
  deleted(task: Task): void {
    this.emitter.emit('deleted', task);
  }

  /**
   * A task changed on this node without ending: claimed, progress, partial output, given back to
   * the queue. Only the id: clients' long-polls (workers/waiters.ts TaskWatchers) re-read the task.
   */
  changed(taskId: number, origin: ChangeOrigin = 'local'): void {
    this.emitter.emit('changed', taskId, origin);
  }

  /**
   * A running task's whole output so far (a worker's stream-result, a streaming provider), before the
   * database has it: watchers show it from here. The store gets it coalesced (workers/live-outputs.ts).
   */
  partial(taskId: number, output: TaskIO, origin: ChangeOrigin = 'local'): void {
    this.emitter.emit('partial', taskId, output, origin);
  }

  onPartial(listener: (taskId: number, output: TaskIO, origin: ChangeOrigin) => void): () => void {
    this.emitter.on('partial', listener);
    return () => this.emitter.off('partial', listener);
  }

  /**
   * A task was claimed on this node by `by`, its new lease owner (`runner:<node>` for the built-in
   * runner, `exapp:<appId>` for a worker app), which began asking for work at `askedAtMs` (the
   * injected clock). Emitted beside `changed`, with the task itself: the log (workers/task-log.ts)
   * and metrics (ops/metrics.ts: time in queue, pickup latency) take its type, provider and times.
   */
  claimed(task: Task, by: string, askedAtMs: number): void {
    this.emitter.emit('claimed', task, by, askedAtMs);
  }

  /** Running tasks went back to the queue: their lease lapsed, or a worker app gave its claim back. */
  requeued(taskIds: readonly number[], reason: RequeueReason): void {
    if (taskIds.length > 0) this.emitter.emit('requeued', taskIds, reason);
  }

  onClaimed(listener: (task: Task, by: string, askedAtMs: number) => void): () => void {
    this.emitter.on('claimed', listener);
    return () => this.emitter.off('claimed', listener);
  }

  onRequeued(listener: (taskIds: readonly number[], reason: RequeueReason) => void): () => void {
    this.emitter.on('requeued', listener);
    return () => this.emitter.off('requeued', listener);
  }

  onScheduled(listener: (task: Task) => void): () => void {
    this.emitter.on('scheduled', listener);
    return () => this.emitter.off('scheduled', listener);
  }

  onScheduledElsewhere(listener: (type: string) => void): () => void {
    this.emitter.on('scheduledElsewhere', listener);
    return () => this.emitter.off('scheduledElsewhere', listener);
  }

  onChanged(listener: (taskId: number, origin: ChangeOrigin) => void): () => void {
    this.emitter.on('changed', listener);
    return () => this.emitter.off('changed', listener);
  }

  onEnded(listener: (task: Task) => void): () => void {
    this.emitter.on('ended', listener);
    return () => this.emitter.off('ended', listener);
  }

  onDeleted(listener: (task: Task) => void): () => void {
    this.emitter.on('deleted', listener);
    return () => this.emitter.off('deleted', listener);
  }
}
