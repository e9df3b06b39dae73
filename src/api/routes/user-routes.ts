import type { Clock } from '../../core/clock.js';
import { badRequest, DomainError } from '../../core/errors.js';
import type { OpsCounters } from '../../core/ops-counters.js';
import type { RateLimiter } from '../../core/rate-limit.js';
import type { SettingsService } from '../../core/settings.js';
import type { TaskService } from '../../core/task-service.js';
import type { TaskStore } from '../../store/store.js';
import { sendFile } from '../file-reply.js';
import { clientGone, type OcsContext, type OcsRoute, RAW_REPLY } from '../ocs-route.js';
import { arrayParam, boolParam, numberOrNaN, phpIntCast, stringListParam, stringParam } from '../php-params.js';
import { taskJson } from '../task-json.js';

export interface UserRouteDeps {
  service: TaskService;
  tasks: TaskStore;
  limiter: RateLimiter;
  settings: SettingsService;
  clock: Clock;
  /** Told of each schedule refused by the rate limit. */
  counters?: OpsCounters;
}

/** Upstream's limits on schedule: 20 per 120 s per user; 5 per 120 s per IP for anonymous callers (30.0). */
export const SCHEDULE_LIMITS = Object.freeze({ user: 20, anonymous: 5, windowSeconds: 120 });

const TP = '/taskprocessing';

/**
 * Most task types one queue_stats call may name. Each is bound twice in one query, and the
 * databases take only so many parameters (SQLite 32 766, PostgreSQL 65 535); no server has
 * anywhere near this many types.
 */
const MAX_QUEUE_STATS_TYPES = 1000;

/** The user routes of API.md §4.1 and §4.2, with the documentation page's aliases (§8). */
export function userRoutes(deps: UserRouteDeps): OcsRoute[] {
  const { service } = deps;
  const getTask = taskGetter(service);
  const download =
    (name: string) =>
    async (ctx: OcsContext): Promise<typeof RAW_REPLY> => {
      const handle = await service.taskFile(ctx.caller, routeId(ctx, name), routeId(ctx, 'fileId'));
      sendFile(ctx.reply, handle);
      return RAW_REPLY;
    };
  const cancel = (name: string) => async (ctx: OcsContext) => ({
    data: { task: taskJson(await service.cancel(ctx.caller, routeId(ctx, name))) },
  });
  return [
    {
      method: 'GET',
      path: `${TP}/tasktypes`,
      auth: 'user',
      handler: async (ctx) => {
        const types = await service.taskTypesJson(ctx.caller);
        return { data: { types: Object.keys(types).length === 0 ? [] : types } };
      },
    },
    {
      method: 'POST',
      path: `${TP}/schedule`,
      auth: 'user-or-anonymous',
      internalErrorMessage: 'Internal server error',
      handler: async (ctx) => {
        await enforceScheduleLimit(ctx, deps);
        const p = ctx.params;
        const task = await service.schedule(ctx.caller, {
          input: arrayParam(p, 'input', { required: true }) as Record<string, unknown>,
          type: stringParam(p, 'type', { required: true }) as string,
          appId: stringParam(p, 'appId', { required: true }) as string,
          customId: stringParam(p, 'customId', { default: '' }) ?? '',
          webhookUri: stringParam(p, 'webhookUri', { nullable: true }) ?? null,
          webhookMethod: stringParam(p, 'webhookMethod', { nullable: true }) ?? null,
          includeWatermark: boolParam(p, 'includeWatermark', true),
          preferStreaming: boolParam(p, 'preferStreaming', false),
          // taskproc's extension (issue 22): upstream clients never send it.
          priority: p.priority === undefined || p.priority === null ? null : numberOrNaN(p, 'priority'),
          priorityFor: 'user',
        });
        return { data: { task: taskJson(task) } };
      },
    },
    { method: 'GET', path: `${TP}/task/:id`, auth: 'user-or-anonymous', handler: getTask },
    { method: 'POST', path: `${TP}/task/:id`, auth: 'user-or-anonymous', handler: getTask },
    {
      method: 'DELETE',
      path: `${TP}/task/:id`,
      auth: 'user',
      handler: async (ctx) => {
        await service.delete(ctx.caller, routeId(ctx, 'id'));
        return { data: null };
      },
    },
    {
      method: 'GET',
      path: `${TP}/tasks/app/:appId`,
      auth: 'user',
      handler: async (ctx) => {
        const customId = stringParam(ctx.params, 'customId', { nullable: true }) ?? undefined;
        const tasks = await service.listByApp(ctx.caller, String(ctx.params.appId), customId);
        return { data: { tasks: tasks.map(taskJson) } };
      },
    },
    {
      method: 'GET',
      path: `${TP}/tasks`,
      auth: 'user',
      handler: async (ctx) => {
        const type = stringParam(ctx.params, 'taskType', { nullable: true }) ?? undefined;
        const customId = stringParam(ctx.params, 'customId', { nullable: true }) ?? undefined;
        const tasks = await service.list(ctx.caller, { ...(type ? { type } : {}), ...(customId !== undefined ? { customId } : {}) });
        return { data: { tasks: tasks.map(taskJson) } };
      },
    },
    { method: 'POST', path: `${TP}/tasks/:taskId/cancel`, auth: 'user', handler: cancel('taskId') },
    // Upstream PR #62414: data is the bare position, an integer from 1.
    {
      method: 'GET',
      path: `${TP}/tasks/:taskId/queue_position`,
      auth: 'user',
      handler: async (ctx) => ({ data: await service.queuePosition(ctx.caller, routeId(ctx, 'taskId')) }),
    },
    { method: 'GET', path: `${TP}/tasks/:taskId/file/:fileId`, auth: 'user', handler: download('taskId') },
    { method: 'GET', path: `${TP}/task/:id/file/:fileId`, auth: 'user', handler: download('id') },
    { method: 'POST', path: `${TP}/task/:id/cancel`, auth: 'user', handler: cancel('id') },
    {
      method: 'GET',
      path: `${TP}/queue_stats`,
      auth: 'admin',
      handler: async (ctx) => {
        // Absent or null means every type (Request::getParam's isset); duplicates count once.
        const types = ctx.params.taskTypeIds == null ? [] : [...new Set(stringListParam(ctx.params, 'taskTypeIds'))];
        if (types.length > MAX_QUEUE_STATS_TYPES) {
          throw badRequest(`Parameter "taskTypeIds" must name at most ${MAX_QUEUE_STATS_TYPES} task types`);
        }
        return { data: await deps.tasks.queueStats(types) };
      },
    },
  ];
}

/**
 * GET task, for users and ExApps acting as clients. Our `wait` extension (seconds) long-polls for a
 * change (TaskService.waitForChange); without it, the plain read and nothing more.
 */
export function taskGetter(service: TaskService) {
  return async (ctx: OcsContext) => {
    const id = routeId(ctx, 'id');
    if (ctx.params.wait === undefined || ctx.params.wait === null) return { data: { task: taskJson(await service.get(ctx.caller, id)) } };
    const waitMs = service.clientWaitMs(numberOrNaN(ctx.params, 'wait'));
    const { task, queue } = await service.waitForChange(ctx.caller, id, waitMs, clientGone(ctx));
    // Beside the task, not in it: the task keeps upstream's keys; only clients that sent `wait` get these.
    return { data: { task: taskJson(task), ...(queue && { queuePosition: queue.queuePosition, estimatedStartAt: queue.estimatedStartAt }) } };
  };
}

/** Route ids are cast the PHP way: "abc" is 0 and finds nothing. */
export function routeId(ctx: OcsContext, name: string): number {
  return phpIntCast(String(ctx.params[name] ?? ''));
}

/**
 * Every schedule call counts, allowed or not (upstream's UserRateLimit). We add the
 * X-RateLimit-* headers and Retry-After, which upstream does not send.
 */
async function enforceScheduleLimit(ctx: OcsContext, deps: UserRouteDeps): Promise<void> {
  if (!(await deps.settings.get()).rateLimitEnabled) return;
  const anonymous = ctx.caller.userId === null;
  const key = anonymous ? `schedule:ip:${ctx.req.ip}` : `schedule:user:${ctx.caller.userId}`;
  const limit = anonymous ? SCHEDULE_LIMITS.anonymous : SCHEDULE_LIMITS.user;
  const d = await deps.limiter.hit(key, limit, SCHEDULE_LIMITS.windowSeconds);
  Object.assign(ctx.headers, {
    'x-ratelimit-limit': String(d.limit),
    'x-ratelimit-remaining': String(d.remaining),
    'x-ratelimit-reset': String(d.resetAt),
  });
  if (!d.allowed) {
    deps.counters?.refused('rate_limit');
    const err = new DomainError('rate_limited', 'Rate limit exceeded');
    err.retryAfter = d.retryAfter;
    throw err;
  }
}
