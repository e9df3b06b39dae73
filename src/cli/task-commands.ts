import { SettingsService } from '../core/settings.js';
import { TASK_STATUS, statusName, type Task, type TaskStatus } from '../core/task.js';
import type { AdminTaskFilter } from '../store/store.js';
import { createFileService } from '../files/create-file-service.js';
import { removeOldTasks } from '../workers/maintenance.js';
import {
  type CommandArgs,
  type CommandContext,
  type Command,
  OUTPUT_OPTION,
  OUTPUT_SYNOPSIS,
  UsageError,
  command,
  flagOption,
  isoTime,
  oneOf,
  positiveInteger,
  printRows,
  stringOption,
} from './command.js';

const STATUSES: Record<string, TaskStatus> = {
  scheduled: TASK_STATUS.SCHEDULED,
  running: TASK_STATUS.RUNNING,
  successful: TASK_STATUS.SUCCESSFUL,
  failed: TASK_STATUS.FAILED,
  cancelled: TASK_STATUS.CANCELLED,
};

const DEFAULT_LIMIT = 100;

/** Who a task belongs to, for people: tasks without a user came from an anonymous caller or an ExApp. */
const ownerLabel = (t: Task): string => t.userId ?? (t.anonKey !== null ? '(anonymous)' : '(none)');

const taskList = command({
  name: 'task:list',
  summary: 'List tasks of all users, newest first, or the waiting ones in dispatch order',
  usage: `task:list [--user <uid>] [--status ${Object.keys(STATUSES).join('|')}] [--type <type>] [--limit <n>] ${OUTPUT_SYNOPSIS}
       taskproc task:list --scheduled [--type <type>] [--limit <n>] ${OUTPUT_SYNOPSIS}

Shows at most --limit tasks (default ${DEFAULT_LIMIT}). Inputs and outputs are left out; the JSON
output includes the technical error message, which the API never returns.

With --scheduled: the waiting tasks in the order workers get them (priority, highest first; then
each user's fair share; then age). POSITION is the place in that order: among every type's tasks,
as the queue_position route counts, or with --type in that type's queue.`,
  options: {
    scheduled: { type: 'boolean' },
    user: { type: 'string' },
    status: { type: 'string', check: oneOf(...Object.keys(STATUSES)) },
    type: { type: 'string' },
    limit: { type: 'string', check: positiveInteger },
    ...OUTPUT_OPTION,
  },
  async run(a, ctx) {
    if (flagOption(a, 'scheduled')) return listScheduled(a, ctx);
    const status = stringOption(a, 'status');
    const filter: AdminTaskFilter = {
      userId: stringOption(a, 'user'),
      status: status === undefined ? undefined : STATUSES[status],
      type: stringOption(a, 'type'),
      limit: Number(stringOption(a, 'limit') ?? DEFAULT_LIMIT),
    };
    printRows(
      a,
      ctx,
      await ctx.store.tasks.adminListTasks(filter),
      [
        { header: 'ID', value: (t) => String(t.id) },
        { header: 'TYPE', value: (t) => t.type },
        { header: 'STATUS', value: (t) => statusName(t.status).replace('STATUS_', '').toLowerCase() },
        { header: 'USER', value: ownerLabel },
        { header: 'APP', value: (t) => t.appId },
        { header: 'PROVIDER', value: (t) => t.providerId ?? '-' },
        { header: 'LAST UPDATED', value: (t) => isoTime(t.lastUpdated) },
      ],
      (t) => ({
        id: t.id,
        type: t.type,
        status: statusName(t.status),
        userId: t.userId,
        anonymous: t.anonKey !== null,
        appId: t.appId,
        customId: t.customId,
        providerId: t.providerId,
        progress: t.progress,
        attempts: t.attempts,
        errorMessage: t.errorMessage,
        scheduledAt: t.scheduledAt,
        startedAt: t.startedAt,
        endedAt: t.endedAt,
        lastUpdated: t.lastUpdated,
      }),
    );
  },
});

/** task:list --scheduled: the dispatch order is one queue, so it takes no user or status filter. */
async function listScheduled(a: CommandArgs, ctx: CommandContext): Promise<void> {
  for (const name of ['user', 'status']) {
    if (stringOption(a, name) !== undefined) throw new UsageError(`--scheduled lists the whole queue in dispatch order: --${name} cannot narrow it`);
  }
  const tasks = await ctx.store.tasks.scheduledInDispatchOrder({ type: stringOption(a, 'type'), limit: Number(stringOption(a, 'limit') ?? DEFAULT_LIMIT) });
  const rows = tasks.map((task, i) => ({ position: i + 1, task }));
  printRows(
    a,
    ctx,
    rows,
    [
      { header: 'POSITION', value: (r) => String(r.position) },
      { header: 'ID', value: (r) => String(r.task.id) },
      { header: 'TYPE', value: (r) => r.task.type },
      { header: 'PRIORITY', value: (r) => String(r.task.priority) },
      { header: 'USER', value: (r) => ownerLabel(r.task) },
      { header: 'APP', value: (r) => r.task.appId },
      { header: 'SCHEDULED AT', value: (r) => isoTime(r.task.scheduledAt) },
    ],
    ({ position, task: t }) => ({
      position,
      id: t.id,
      type: t.type,
      priority: t.priority,
      userId: t.userId,
      anonymous: t.anonKey !== null,
      appId: t.appId,
      customId: t.customId,
      providerId: t.providerId,
      attempts: t.attempts,
      scheduledAt: t.scheduledAt,
    }),
  );
}

const taskCleanup = command({
  name: 'task:cleanup',
  summary: 'Delete tasks older than the retention period now',
  usage: `task:cleanup

Deletes the tasks last updated more than retention_seconds ago (see config:get retention_seconds),
as the server does every hour.`,
  async run(_a, ctx) {
    const settings = new SettingsService(ctx.store.settings, ctx.clock);
    const files = createFileService(ctx.store, ctx.config, ctx.clock);
    const count = await removeOldTasks(ctx.store.tasks, settings, ctx.clock, files);
    const { retentionSeconds } = await settings.get();
    ctx.print(`Deleted ${count} task${count === 1 ? '' : 's'} last updated more than ${retentionSeconds} seconds ago.`);
  },
});

export const taskCommands: Command[] = [taskList, taskCleanup];
