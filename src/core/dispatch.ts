import { badRequest } from './errors.js';

/**
 * Who a task's fair share belongs to (issue 22): its user; else the anonymous session that made it;
 * else the ExApp that scheduled it without a user. Each is a party of its own in its type's queue.
 */
export function dispatchParty(task: { userId: string | null; anonKey: string | null; appId: string }): string {
  if (task.userId !== null) return `u:${task.userId}`;
  if (task.anonKey !== null) return `a:${task.anonKey}`;
  return `x:${task.appId}`;
}

/** Priorities admins and callers may give: a small range keeps them meaningful. */
export const PRIORITY_MIN = -100;
export const PRIORITY_MAX = 100;

/**
 * A task's priority: its type's (the admin's `tasktype:set-priority`, 0 by default), or the one the
 * caller asked for (`priority` at schedule time). A user may only lower it; an ExApp scheduling
 * through `tasks_consumer` may also raise it up to `exAppBoost` above the type's, as the admin allows.
 * `requested` is NaN when the parameter was not a number.
 */
export function taskPriority(typePriority: number, requested: number | null, who: 'user' | 'exapp', exAppBoost: number): number {
  if (requested === null) return typePriority;
  if (!Number.isInteger(requested) || requested < PRIORITY_MIN || requested > PRIORITY_MAX) {
    throw badRequest(`Parameter "priority" must be a whole number from ${PRIORITY_MIN} to ${PRIORITY_MAX}`);
  }
  const highest = who === 'exapp' ? typePriority + exAppBoost : typePriority;
  if (requested > highest) {
    throw badRequest(
      who === 'exapp'
        ? `Parameter "priority" may be at most ${highest} for this task type (its priority ${typePriority} plus the ${exAppBoost} the admin allows apps)`
        : `Parameter "priority" may be at most ${highest}, this task type's priority: a task can only be put behind others`,
    );
  }
  return requested;
}
