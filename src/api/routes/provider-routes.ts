import { Readable } from 'node:stream';
import { badRequest, DomainError } from '../../core/errors.js';
import type { TaskIO } from '../../core/shapes.js';
import type { ClaimedTask, WorkerService } from '../../core/worker-service.js';
import { sendFile } from '../file-reply.js';
import { withMultipartFile } from '../multipart.js';
import { clientGone, type OcsContext, type OcsRoute, RAW_REPLY } from '../ocs-route.js';
import { isPlainObject, phpJsonEncode } from '../php-json.js';
import { arrayParam, numberOrNaN, type Params, stringListParam, stringParam } from '../php-params.js';
import { taskJson } from '../task-json.js';
import { EXTENSIONS_OPENAPI } from './extensions-openapi.js';
import { routeId } from './user-routes.js';

export interface ProviderRouteDeps {
  workers: WorkerService;
  /** Told of every poll (next, next_batch) by its ExApp and connection, before it parks (workers/worker-presence.ts). */
  polled?: (appId: string, socketKey: string) => void;
}

const TP = '/taskprocessing';
/** taskproc's own routes, outside upstream's API (documented by the OpenAPI document served below). */
const EXT = '/apps/taskproc/api/v1';

/**
 * The ExApp worker routes (API.md §4.4) with the documentation page's aliases (§8), plus
 * taskproc's extensions: long-polling (`wait` on next/next_batch), stream-result, the partial
 * output of a task for its owner, and the OpenAPI document describing these extensions.
 */
export function providerRoutes(deps: ProviderRouteDeps): OcsRoute[] {
  const { workers } = deps;
  const progress = (name: string) => async (ctx: OcsContext) => ({
    data: { task: taskJson(await workers.progress(appIdOf(ctx), routeId(ctx, name), numberOrNaN(ctx.params, 'progress'))) },
  });
  const result = (name: string) => async (ctx: OcsContext) => {
    const p = ctx.params;
    const output = arrayParam(p, 'output');
    const task = await workers.result(appIdOf(ctx), routeId(ctx, name), {
      output: output === null ? null : asObject(output),
      errorMessage: stringParam(p, 'errorMessage', { nullable: true }),
      userFacingErrorMessage: stringParam(p, 'userFacingErrorMessage', { nullable: true }),
    });
    return { data: { task: taskJson(task) } };
  };
  return [
    {
      method: 'GET',
      path: `${TP}/tasks_provider/next`,
      auth: 'exapp',
      handler: async (ctx) => {
        const appId = appIdOf(ctx);
        deps.polled?.(appId, socketKey(ctx));
        const { providerIds, taskTypeIds } = claimLists(ctx.params);
        const waitMs = workers.waitMs(numberOrNaN(ctx.params, 'wait', 0));
        const gone = clientGone(ctx);
        const claimed = await workers.next(appId, providerIds, taskTypeIds, waitMs, gone);
        if (!claimed) return { status: 204, data: null };
        // Nobody is left to receive it: back to the queue now rather than when the lease runs out.
        if (gone.aborted) {
          await workers.giveBack(appId, [claimed.task.id]);
          return { status: 204, data: null };
        }
        return { data: { task: taskJson(claimed.task), provider: { name: claimed.providerId } } };
      },
    },
    {
      method: 'GET',
      path: `${TP}/tasks_provider/next_batch`,
      auth: 'exapp',
      handler: async (ctx) => {
        const appId = appIdOf(ctx);
        deps.polled?.(appId, socketKey(ctx));
        const { providerIds, taskTypeIds } = claimLists(ctx.params);
        const n = numberOrNaN(ctx.params, 'numberOfTasks', 1);
        const waitMs = workers.waitMs(numberOrNaN(ctx.params, 'wait', 0));
        const gone = clientGone(ctx);
        const { claimed, hasMore } = await workers.nextBatch(appId, providerIds, taskTypeIds, n, entryBytes, waitMs, gone);
        if (gone.aborted && claimed.length > 0) {
          await workers.giveBack(
            appId,
            claimed.map((c) => c.task.id),
          );
          return { data: { tasks: [], has_more: true } };
        }
        return { data: { tasks: claimed.map(batchEntry), has_more: hasMore } };
      },
    },
    {
      method: 'GET',
      path: `${TP}/tasks_provider/:taskId/file/:fileId`,
      auth: 'exapp',
      handler: async (ctx) => {
        sendFile(ctx.reply, await workers.inputFile(routeId(ctx, 'taskId'), routeId(ctx, 'fileId')));
        return RAW_REPLY;
      },
    },
    {
      method: 'POST',
      path: `${TP}/tasks_provider/:taskId/file`,
      auth: 'exapp',
      rawBody: true,
      handler: async (ctx) => {
        const task = await workers.uploadTarget(appIdOf(ctx), routeId(ctx, 'taskId'));
        const body = ctx.req.body;
        if (!(body instanceof Readable)) throw badRequest('Bad request');
        const fileId = await withMultipartFile(ctx.req.headers, body, 'file', (file) => workers.storeUpload(task, file));
        if (fileId === undefined) throw badRequest('Bad request');
        return { status: 201, data: { fileId } };
      },
    },
    { method: 'POST', path: `${TP}/tasks_provider/:taskId/progress`, auth: 'exapp', handler: progress('taskId') },
    { method: 'POST', path: `${TP}/tasks_provider/:taskId/result`, auth: 'exapp', handler: result('taskId') },
    {
      method: 'POST',
      path: `${TP}/tasks_provider/:taskId/stream-result`,
      auth: 'exapp',
      handler: async (ctx) => {
        const partial = asObject(arrayParam(ctx.params, 'output', { required: true }));
        return { data: { task: taskJson(await workers.streamResult(appIdOf(ctx), routeId(ctx, 'taskId'), partial)) } };
      },
    },
    // The documentation page's forms (API.md §8): the seed's GET progress takes it from the query.
    { method: 'GET', path: `${TP}/task/:id/progress`, auth: 'exapp', handler: progress('id') },
    { method: 'POST', path: `${TP}/task/:id/result`, auth: 'exapp', handler: result('id') },
    {
      method: 'GET',
      path: `${EXT}/tasks/:id/partial`,
      auth: 'user-or-anonymous',
      handler: async (ctx) => {
        const id = routeId(ctx, 'id');
        return { data: { taskId: id, partialOutput: await workers.partialOutput(ctx.caller, id) } };
      },
    },
    {
      method: 'GET',
      path: `${EXT}/openapi`,
      auth: 'public',
      // The raw document, not an envelope: OpenAPI tools read it as it is.
      handler: async (ctx) => {
        ctx.reply.code(200).header('content-type', 'application/json; charset=utf-8').send(JSON.stringify(EXTENSIONS_OPENAPI));
        return RAW_REPLY;
      },
    },
  ];
}

/**
 * The connection a poll came on: a worker keeps its connection between polls, so one connection
 * is one worker (behind a proxy, one proxy connection).
 */
function socketKey(ctx: OcsContext): string {
  const socket = ctx.req.raw.socket;
  return `${socket.remoteAddress ?? ''}:${socket.remotePort ?? ''}`;
}

function appIdOf(ctx: OcsContext): string {
  if (!ctx.exApp) throw new DomainError('exapp_required', 'ExApp required');
  return ctx.exApp.appId;
}

/** Both lists are required (nc_py_api sends them as a JSON body; `providerIds[]=` in the query works too). */
function claimLists(p: Params): { providerIds: string[]; taskTypeIds: string[] } {
  return { providerIds: stringListParam(p, 'providerIds'), taskTypeIds: stringListParam(p, 'taskTypeIds') };
}

/** A PHP array as an IO map: a JSON list (`[]` is PHP's empty array) becomes an index-keyed map. */
function asObject(value: unknown[] | Params): TaskIO {
  return isPlainObject(value) ? value : Object.fromEntries(value.map((v, i) => [String(i), v]));
}

const batchEntry = (c: ClaimedTask) => ({ task: taskJson(c.task), provider: c.providerId });

/** One next_batch entry's size on the wire (PHP's JSON escapes everything beyond ASCII, so characters are bytes). */
const entryBytes = (c: ClaimedTask): number => phpJsonEncode(batchEntry(c)).length;
