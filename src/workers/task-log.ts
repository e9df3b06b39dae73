import type { TaskEvents } from '../core/task-events.js';
import { type Task, TASK_STATUS, statusName } from '../core/task.js';

export interface TaskLogSink {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * One log line per step of a task's life, from the task events of this node: scheduled, claimed
 * (by the runner or which worker app), ended (with its status and how long it ran or waited),
 * failed (with the technical reason, which may quote what a provider answered), lease expired and
 * re-queued, given back, deleted. Ids, types, users and apps only: never input or output.
 * Returns a function that stops listening.
 */
export function startTaskLog(events: TaskEvents, log: TaskLogSink): () => void {
  const stops = [
    events.onScheduled((task) => log.info({ ...about(task), providerId: task.providerId }, 'task scheduled')),
    events.onClaimed((task, by) => log.info({ ...about(task), by, attempt: task.attempts }, 'task claimed')),
    events.onEnded((task) => {
      const fields = { ...about(task), status: statusName(task.status), ...timing(task) };
      if (task.status === TASK_STATUS.FAILED) log.warn({ ...fields, reason: task.errorMessage }, 'task failed');
      else log.info(fields, 'task ended');
    }),
    events.onRequeued((ids, reason) => {
      for (const taskId of ids) log.warn({ taskId, reason }, reason === 'lease expired' ? 'task lease expired; queued again' : 'task given back to the queue');
    }),
    events.onDeleted((task) => log.info(about(task), 'task deleted')),
  ];
  return () => {
    for (const stop of stops) stop();
  };
}

function about(task: Task): Record<string, unknown> {
  return { taskId: task.id, type: task.type, user: task.userId, appId: task.appId };
}

/** Seconds from scheduling to the start, and to the end from the start (from scheduling when no start was recorded: worker apps), whole seconds. */
function timing(task: Task): Record<string, number> {
  const out: Record<string, number> = {};
  if (task.scheduledAt !== null && task.startedAt !== null) out.waitedS = task.startedAt - task.scheduledAt;
  if (task.endedAt !== null) {
    const from = task.startedAt ?? task.scheduledAt;
    if (from !== null) out.durationS = task.endedAt - from;
  }
  return out;
}
