import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { multipartFields } from './multipart.js';
import { DomainError } from '../core/errors.js';
import type { Caller } from '../core/task-service.js';
import { databaseUnavailableError } from '../store/db-errors.js';
import type { ExApp, User } from '../store/store.js';
import { type AuthMode, type CallerDeps, resolveCaller } from './caller.js';
import { chooseFormat, type OcsFormat, type OcsReply, type OcsVersion, renderError, renderOcs } from './ocs.js';
import { mergeParams } from './php-params.js';
import { bodyPending, requestBody } from './request-body.js';
import { noteCaller } from './request-log.js';

export interface OcsContext {
  req: FastifyRequest;
  reply: FastifyReply;
  version: OcsVersion;
  params: Record<string, unknown>;
  caller: Caller;
  user: User | null;
  /** The ExApp making the request (AppAPI headers), if any. */
  exApp: ExApp | null;
  /** Headers to add to the reply, success or error (rate-limit headers). */
  headers: Record<string, string>;
}

export interface OcsResult {
  status?: number;
  data: unknown;
  /** meta.message of a failure (upstream leaves it '' for controller errors; we may explain). */
  message?: string;
}

/** A handler that has written the reply itself (raw file bytes) returns this. */
export const RAW_REPLY = Symbol('raw reply');

export interface OcsRoute {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path below /ocs/v{1,2}.php, with Fastify placeholders (`/taskprocessing/task/:id`). */
  path: string;
  auth: AuthMode;
  handler(ctx: OcsContext): Promise<OcsResult | typeof RAW_REPLY>;
  /** The handler reads a multipart body itself (file uploads); its fields are not parameters then. */
  rawBody?: boolean;
  /** A read-only route a cookie may call without `OCS-APIRequest: true` (api/caller.ts: event streams for EventSource). */
  csrfExempt?: true;
  /** Upstream's text for unexpected errors differs by route ("Internal error" / "Internal server error"). */
  internalErrorMessage?: string;
}

export interface OcsRouteDeps extends CallerDeps {
  bodyLimit: number;
  log: { error(obj: object, msg: string): void };
  /** Where 503s for a database outage are reported (once in a while, not per request). */
  outages: { report(err: unknown): void };
}

export function send(reply: FastifyReply, out: OcsReply): FastifyReply {
  reply.code(out.httpStatus).headers(out.headers);
  // Answered before the body was all read (413, a broken upload): the rest of it is drained, not
  // parsed as requests, and the connection ends (api/http-connections.ts).
  if (bodyPending(reply.request.raw)) reply.header('connection', 'close');
  return reply.send(out.body);
}

/** Wraps a route: body and parameters, format, caller, then the handler; every outcome in the envelope. */
export function ocsHandler(route: OcsRoute, version: OcsVersion, deps: OcsRouteDeps) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const query = (req.query ?? {}) as Record<string, unknown>;
    let format: OcsFormat = chooseFormat(query.format, req.headers.accept);
    const headers: Record<string, string> = {};
    try {
      const body = await readParams(req, route, deps.bodyLimit);
      const params = mergeParams(query, body, (req.params ?? {}) as Record<string, unknown>);
      format = chooseFormat(params.format, req.headers.accept);
      const resolved = await resolveCaller(req, route.auth, deps, { csrfExempt: route.csrfExempt === true });
      noteCaller(req, resolved.user?.id ?? null, resolved.exApp?.appId ?? null);
      if (resolved.setCookie) headers['set-cookie'] = resolved.setCookie;
      const ctx: OcsContext = { req, reply, version, params, caller: resolved.caller, user: resolved.user, exApp: resolved.exApp, headers };
      const result = await route.handler(ctx);
      if (result === RAW_REPLY) return reply;
      return send(reply, renderOcs({ version, format, status: result.status ?? 200, data: result.data, message: result.message, headers }));
    } catch (err) {
      return sendError(reply, err, version, format, headers, deps, route.internalErrorMessage);
    }
  };
}

export function sendError(
  reply: FastifyReply,
  err: unknown,
  version: OcsVersion,
  format: OcsFormat,
  headers: Record<string, string>,
  deps: Pick<OcsRouteDeps, 'log' | 'outages'>,
  internalMessage = 'Internal error',
): FastifyReply {
  let domain: DomainError;
  const outage = err instanceof DomainError ? undefined : databaseUnavailableError(err);
  if (err instanceof DomainError) domain = err;
  else if (outage) {
    // A database restart is not a bug: the client is told to retry (503), not shown a 500.
    deps.outages.report(err);
    domain = outage;
  } else {
    deps.log.error({ err }, 'unexpected error');
    domain = new DomainError('internal', internalMessage);
  }
  if (domain.headers) Object.assign(headers, domain.headers);
  const out = renderError(domain, version, format);
  out.headers = { ...headers, ...out.headers };
  return send(reply, out);
}

/** The body as parameters; a multipart body is read for its fields unless the route streams it itself. */
async function readParams(req: FastifyRequest, route: OcsRoute, limit: number): Promise<unknown> {
  const body = await requestBody(req, limit);
  if (!(body instanceof Readable)) return body;
  if (route.rawBody) return undefined;
  return multipartFields(req.headers, body, limit);
}

/**
 * Aborts when the client goes away before its answer is sent, which ends a parked long-poll.
 * The response's 'close' is the reliable signal: the request's own 'close' fires as soon as its
 * body has been read.
 */
export function clientGone(ctx: OcsContext): AbortSignal {
  const controller = new AbortController();
  const res = ctx.reply.raw;
  if (res.destroyed) controller.abort();
  else res.once('close', () => !res.writableFinished && controller.abort());
  return controller.signal;
}
