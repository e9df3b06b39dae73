import { PassThrough } from 'node:stream';
import { badRequest } from '../../core/errors.js';
import type { TaskView } from '../../core/live-view.js';
import type { TaskService } from '../../core/task-service.js';
import { isFinal, type Task } from '../../core/task.js';
import { type CallerCursor, type EventStreams, parseCallerEventId, parseTaskEventId, type SseSink } from '../../workers/event-streams.js';
import { type OcsContext, type OcsRoute, RAW_REPLY } from '../ocs-route.js';
import { phpJsonEncode } from '../php-json.js';
import { stringParam } from '../php-params.js';
import { taskJson } from '../task-json.js';
import { routeId } from './user-routes.js';

export interface EventRouteDeps {
  service: TaskService;
  streams: EventStreams;
}

const EXT = '/apps/taskproc/api/v1';

/** The final event's data: what GET task answers in `ocs.data`. */
export function encodeTaskEvent(task: Task): string {
  return phpJsonEncode({ task: taskJson(task) });
}

/**
 * Server-sent events for clients (issue 20): one task's events until it ends, or all of the caller's
 * unfinished tasks. Errors before the stream opens (401, 404, 429, a bad Last-Event-ID) are answered in
 * the envelope like any route; then `text/event-stream`. Same callers as GET task: users, ExApps acting
 * for a user, and anonymous callers by their cookie (a browser's EventSource sends cookies, not headers).
 */
export function eventRoutes(deps: EventRouteDeps): OcsRoute[] {
  const { service, streams } = deps;
  return [
    {
      method: 'GET',
      path: `${EXT}/tasks/events`,
      auth: 'user-or-anonymous',
      csrfExempt: true,
      handler: async (ctx) => {
        const filter = {
          ...optional('appId', stringParam(ctx.params, 'appId', { nullable: true })),
          ...optional('customId', stringParam(ctx.params, 'customId', { nullable: true })),
        };
        const last = lastEventId(ctx);
        let cursor: CallerCursor | null = null;
        if (last !== null) {
          cursor = parseCallerEventId(last) ?? null;
          if (cursor === null) throw badRequest('Last-Event-ID is not an event id of this stream: open it without one to start afresh');
        }
        const release = streams.reserve(ctx.caller, ctx.exApp?.appId ?? null);
        streams.openCaller(openSink(ctx), ctx.caller, filter, cursor, release);
        return RAW_REPLY;
      },
    },
    {
      method: 'GET',
      path: `${EXT}/tasks/:id/events`,
      auth: 'user-or-anonymous',
      csrfExempt: true,
      handler: async (ctx) => {
        const last = lastEventId(ctx);
        let view: TaskView | null = null;
        if (last !== null) {
          view = parseTaskEventId(last) ?? null;
          if (view === null) throw badRequest("Last-Event-ID is not an event id of this task's stream: open it without one to start afresh");
        }
        const task = await service.get(ctx.caller, routeId(ctx, 'id'));
        // The client has had the final event already: 204 tells an EventSource to stop reconnecting.
        if (view !== null && isFinal(view.status) && isFinal(task.status)) {
          ctx.reply.code(204).headers(ctx.headers).send();
          return RAW_REPLY;
        }
        const release = streams.reserve(ctx.caller, ctx.exApp?.appId ?? null);
        streams.openTask(openSink(ctx), task, view, release);
        return RAW_REPLY;
      },
    },
  ];
}

function optional<K extends string>(key: K, value: string | null): Partial<Record<K, string>> {
  return value === null ? {} : ({ [key]: value } as Record<K, string>);
}

/** The header a reconnecting EventSource sends, or the `lastEventId` parameter for clients that cannot set headers. */
function lastEventId(ctx: OcsContext): string | null {
  const header = ctx.req.headers['last-event-id'];
  if (typeof header === 'string' && header !== '') return header;
  return stringParam(ctx.params, 'lastEventId', { nullable: true });
}

/**
 * The response as a sink: a PassThrough that Fastify pipes to the socket, so its `write` says when the
 * client is behind and its 'drain' when it caught up. The client's going away ends the stream at once.
 */
function openSink(ctx: OcsContext): SseSink {
  const pass = new PassThrough();
  const res = ctx.reply.raw;
  ctx.reply
    .code(200)
    .headers({
      ...ctx.headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      // nginx buffers answers unless told not to; an event must go out when it happens.
      'x-accel-buffering': 'no',
    })
    .send(pass);
  return {
    write: (chunk) => pass.write(chunk),
    onDrain: (listener) => pass.on('drain', listener),
    onClose: (listener) => {
      if (res.destroyed) queueMicrotask(listener);
      else res.once('close', listener);
    },
    end: () => pass.end(),
  };
}
