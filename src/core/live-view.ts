import type { TaskIO } from './shapes.js';
import { isFinal, statusName, type Task, TASK_STATUS, type TaskStatus } from './task.js';

/**
 * What a watcher of a task has been shown, and the events that bring it up to date.
 *
 * Live events are derived from state, not kept in a log: a watcher's view is the task's status, its
 * progress and, per output slot, the text it has (its length and a hash) or a hash of the value. The
 * event id of every event encodes that view, so a client that reconnects with `Last-Event-ID` is
 * brought from exactly what it had to what the task is now: text slots get only the text it lacks
 * (no gap, no repeat), because the task keeps its whole partial output. Intermediate progress
 * values between the two are not replayed; they are not needed to show the present.
 */

/** One output slot as a watcher has it: text (whose continuation can be sent as a delta) or any other value. */
export type SlotView = { text: true; length: number; hash: number; value?: string } | { text: false; hash: number };

export interface TaskView {
  status: TaskStatus;
  /** -1 for none. */
  progress: number;
  slots: Map<string, SlotView>;
}

/** A view for a task the client has never been shown anything of. */
export function emptyView(): TaskView {
  return { status: TASK_STATUS.UNKNOWN, progress: -1, slots: new Map() };
}

export type LiveEvent =
  | { event: 'status'; data: { taskId: number; status: string } }
  | { event: 'progress'; data: { taskId: number; progress: number } }
  | { event: 'output'; data: { taskId: number; slot: string; delta: string } }
  | { event: 'output'; data: { taskId: number; slot: string; value: unknown } }
  | { event: 'queue'; data: { taskId: number; position: number; estimatedStartAt: number | null } };

/** An event with the view the watcher has once it got it (what the event's id encodes). */
export type ViewedEvent = LiveEvent & { view: TaskView };

/**
 * The events that turn `view` into what `task` (with `output`, the newest partial output known)
 * shows, each with the view after it, and the view after them all. `view` is not changed. A final
 * task's output is left to the final event, which carries the whole task.
 */
export function diffView(view: TaskView, task: Task, output: TaskIO | null): { events: ViewedEvent[]; view: TaskView } {
  const events: ViewedEvent[] = [];
  let at: TaskView = view;
  const step = (e: LiveEvent, change: Partial<TaskView>) => {
    at = { ...at, ...change };
    events.push({ ...e, view: at } as ViewedEvent);
  };
  if (task.status !== view.status) step({ event: 'status', data: { taskId: task.id, status: statusName(task.status) } }, { status: task.status });
  const progress = viewProgress(task.progress);
  if (progress !== view.progress) {
    if (task.progress !== null) step({ event: 'progress', data: { taskId: task.id, progress: task.progress } }, { progress });
    else at = { ...at, progress };
  }
  if (isFinal(task.status)) return { events, view: at };
  // A task given back to the queue shows no output (the store clears it): the watcher's slots go too.
  const current = output ?? {};
  const slots = new Map(view.slots);
  const setSlot = (e: LiveEvent | null, slot: string, sv: SlotView | null) => {
    if (sv === null) slots.delete(slot);
    else slots.set(slot, sv);
    const change = { slots: new Map(slots) };
    if (e) step(e, change);
    else at = { ...at, ...change };
  };
  for (const [slot, value] of Object.entries(current)) {
    const seen = view.slots.get(slot);
    if (typeof value === 'string') {
      if (seen?.text && seen.length <= value.length && continues(value, seen)) {
        if (seen.length === value.length) continue;
        const sv: SlotView = { text: true, length: value.length, hash: hashText(value, seen.length, value.length, seen.hash), value };
        setSlot({ event: 'output', data: { taskId: task.id, slot, delta: value.slice(seen.length) } }, slot, sv);
        continue;
      }
      const sv: SlotView = { text: true, length: value.length, hash: hashText(value, 0, value.length), value };
      // Nothing shown yet: the text so far is the first delta. Rewritten text: the whole of it.
      if (seen === undefined) setSlot(value === '' ? null : { event: 'output', data: { taskId: task.id, slot, delta: value } }, slot, sv);
      else setSlot({ event: 'output', data: { taskId: task.id, slot, value } }, slot, sv);
    } else {
      const hash = hashText(JSON.stringify(value) ?? 'null', 0);
      if (seen?.text === false && seen.hash === hash) continue;
      setSlot({ event: 'output', data: { taskId: task.id, slot, value } }, slot, { text: false, hash });
    }
  }
  for (const slot of view.slots.keys()) {
    if (!(slot in current)) setSlot({ event: 'output', data: { taskId: task.id, slot, value: null } }, slot, null);
  }
  return { events, view: at };
}

/**
 * Whether `value` continues the text the watcher has. The text itself is kept while the stream lives (a
 * reference to the string it was sent, no copy), so the check is a native prefix compare; only a view
 * rebuilt from an event id has nothing but the hash, and then the prefix is hashed once.
 */
function continues(value: string, seen: { length: number; hash: number; value?: string }): boolean {
  if (seen.value !== undefined) return value.startsWith(seen.value);
  return hashText(value, 0, seen.length) === seen.hash;
}

/**
 * 32-bit FNV-1a over UTF-16 code units [from, to) of `s`, continuing from `seed` (the hash of what
 * came before), so a stream extends its hash by each delta instead of hashing the whole text again.
 */
export function hashText(s: string, from: number, to: number = s.length, seed = 0x811c9dc5): number {
  let h = seed;
  for (let i = from; i < to; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** A view as compact JSON-able data: [status, progress×1000, [[slot, length | -1, hash], …]]. */
export function viewToData(view: TaskView): unknown[] {
  const slots = [...view.slots].map(([name, s]) => [name, s.text ? s.length : -1, s.hash]);
  return [view.status, view.progress < 0 ? -1 : Math.round(view.progress * 1e6), slots];
}

/** The inverse of viewToData; undefined for anything that is not one. */
export function viewFromData(data: unknown): TaskView | undefined {
  if (!Array.isArray(data) || data.length !== 3) return undefined;
  const [status, progress, slots] = data as [unknown, unknown, unknown];
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 0 || status > 5) return undefined;
  if (typeof progress !== 'number' || !Number.isInteger(progress) || progress < -1 || progress > 1e6) return undefined;
  if (!Array.isArray(slots) || slots.length > 1000) return undefined;
  const out = new Map<string, SlotView>();
  for (const s of slots) {
    if (!Array.isArray(s) || s.length !== 3) return undefined;
    const [name, length, hash] = s as [unknown, unknown, unknown];
    if (typeof name !== 'string' || typeof length !== 'number' || !Number.isSafeInteger(length) || length < -1) return undefined;
    if (typeof hash !== 'number' || !Number.isInteger(hash) || hash < 0 || hash > 0xffffffff) return undefined;
    out.set(name, length === -1 ? { text: false, hash } : { text: true, length, hash });
  }
  return { status: status as TaskStatus, progress: progress < 0 ? -1 : progress / 1e6, slots: out };
}

/** Progress as the view keeps it: the id carries millionths, so compare at that precision. */
export function viewProgress(progress: number | null): number {
  return progress === null ? -1 : Math.round(progress * 1e6) / 1e6;
}
