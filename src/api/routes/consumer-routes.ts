import type { TaskService } from '../../core/task-service.js';
import type { OcsRoute } from '../ocs-route.js';
import { arrayParam, boolParam, numberOrNaN, stringParam } from '../php-params.js';
import { taskJson } from '../task-json.js';
import { routeId, taskGetter } from './user-routes.js';

export interface ConsumerRouteDeps {
  service: TaskService;
}

const TC = '/taskprocessing/tasks_consumer';

/**
 * An ExApp acting as a client (API.md §4.3): the user routes' semantics, without the rate limit,
 * for the user named in the AppAPI header or for no user. Without a user the caller owns only
 * tasks that have neither a user nor an anonymous key (the Caller from caller.ts says so), and
 * file inputs are refused with upstream's 401 (TaskService.schedule).
 */
export function consumerRoutes(deps: ConsumerRouteDeps): OcsRoute[] {
  const { service } = deps;
  const getTask = taskGetter(service);
  return [
    {
      method: 'GET',
      path: `${TC}/tasktypes`,
      auth: 'exapp',
      handler: async (ctx) => {
        const types = await service.taskTypesJson(ctx.caller);
        return { data: { types: Object.keys(types).length === 0 ? [] : types } };
      },
    },
    {
      method: 'POST',
      path: `${TC}/schedule`,
      auth: 'exapp',
      internalErrorMessage: 'Internal server error',
      handler: async (ctx) => {
        const p = ctx.params;
        const task = await service.schedule(ctx.caller, {
          input: arrayParam(p, 'input', { required: true }) as Record<string, unknown>,
          type: stringParam(p, 'type', { required: true }),
          appId: stringParam(p, 'appId', { required: true }),
          customId: stringParam(p, 'customId', { default: '' }),
          webhookUri: stringParam(p, 'webhookUri', { nullable: true }),
          webhookMethod: stringParam(p, 'webhookMethod', { nullable: true }),
          includeWatermark: boolParam(p, 'includeWatermark', true),
          preferStreaming: boolParam(p, 'preferStreaming', false),
          // taskproc's extension (issue 22): upstream clients never send it.
          priority: p.priority === undefined || p.priority === null ? null : numberOrNaN(p, 'priority'),
          priorityFor: 'exapp',
        });
        return { data: { task: taskJson(task) } };
      },
    },
    { method: 'GET', path: `${TC}/task/:id`, auth: 'exapp', handler: getTask },
    {
      method: 'DELETE',
      path: `${TC}/task/:id`,
      auth: 'exapp',
      handler: async (ctx) => {
        await service.delete(ctx.caller, routeId(ctx, 'id'));
        return { data: null };
      },
    },
    {
      method: 'POST',
      path: `${TC}/tasks/:taskId/cancel`,
      auth: 'exapp',
      handler: async (ctx) => ({ data: { task: taskJson(await service.cancel(ctx.caller, routeId(ctx, 'taskId'))) } }),
    },
  ];
}
