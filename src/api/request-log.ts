import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';

/**
 * One log line per request, written when the answer is sent: request id, method, route template,
 * path (never the query string, which can carry task input or anything else a client puts there),
 * status, duration and who asked. Fastify's own two lines per request are turned off
 * (`disableRequestLogging`), and no header is ever logged.
 */

/**
 * A client's X-Request-Id is kept when it is a short token of URL-safe characters (UUIDs,
 * Nextcloud's and most proxies' ids); anything else is replaced, so a client cannot write
 * arbitrary text or megabytes into the log under the name of an id.
 */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._~:/+=@-]{1,128}$/;

/** Longest path written to a request line; longer ones are cut (the route template still says which route). */
const MAX_LOGGED_PATH = 512;

/** Fastify's genReqId: the client's id when acceptable, else a new UUID. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && CLIENT_REQUEST_ID.test(given) ? given : randomUUID();
}

interface KnownCaller {
  user: string | null;
  exApp: string | null;
}

/** Who a request turned out to be; kept beside the request, which Fastify wants left in its shape. */
const callers = new WeakMap<FastifyRequest, KnownCaller>();

/** Records the authenticated user (and ExApp) of a request, for its log line. */
export function noteCaller(req: FastifyRequest, user: string | null, exApp: string | null = null): void {
  callers.set(req, { user, exApp });
}

/**
 * Echoes the request id on every answer (errors and 404s included; answers to URLs the router
 * cannot decode set it themselves) and writes the request line when the answer has been sent, or
 * when the client went away first.
 */
export function installRequestLog(app: FastifyInstance): void {
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-request-id', req.id);
    done();
  });
  app.addHook('onResponse', (req, reply, done) => {
    req.log.info(requestLine(req, reply), 'request');
    done();
  });
  app.addHook('onRequestAbort', (req, done) => {
    req.log.info({ ...requestFields(req), aborted: true }, 'request aborted by the client');
    done();
  });
}

function requestFields(req: FastifyRequest): Record<string, unknown> {
  const caller = callers.get(req);
  const path = req.url.split('?', 1)[0] ?? '';
  return {
    method: req.method,
    route: req.routeOptions.url ?? null,
    path: path.length > MAX_LOGGED_PATH ? `${path.slice(0, MAX_LOGGED_PATH)}…` : path,
    user: caller?.user ?? null,
    ...(caller?.exApp ? { exApp: caller.exApp } : {}),
    ip: req.ip,
  };
}

function requestLine(req: FastifyRequest, reply: FastifyReply): Record<string, unknown> {
  return { ...requestFields(req), status: reply.statusCode, durationMs: Math.round(reply.elapsedTime * 10) / 10 };
}
