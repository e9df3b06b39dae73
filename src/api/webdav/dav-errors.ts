import type { FastifyReply } from 'fastify';
import { DomainError, type ErrorCode } from '../../core/errors.js';
import { databaseUnavailableError } from '../../store/db-errors.js';
import { bodyPending } from '../request-body.js';
import { escapeXml } from './dav-xml.js';

/** The methods the WebDAV routes answer, for Allow headers (OPTIONS and every 405). */
export const DAV_METHODS = Object.freeze(['OPTIONS', 'GET', 'HEAD', 'DELETE', 'PROPFIND', 'PUT', 'MKCOL'] as const);
export type DavMethod = (typeof DAV_METHODS)[number];

const SABRE = 'Sabre\\DAV\\Exception\\';
const NC_SABRE = 'OCA\\DAV\\Connector\\Sabre\\Exception\\';

interface DavErrorSpec {
  status: number;
  /** The PHP exception class Nextcloud names in `<s:exception>`; some clients match on it. */
  exception: string;
}

const spec = (status: number, exception: string): DavErrorSpec => ({ status, exception });

/**
 * Every domain error code as Nextcloud's DAV server reports it. This is the only place WebDAV maps
 * errors; typed so that a new code in core/errors.ts does not compile until it is mapped here too.
 */
export const DAV_ERROR_TABLE: Readonly<Record<ErrorCode, DavErrorSpec>> = Object.freeze({
  not_logged_in: spec(401, `${SABRE}NotAuthenticated`),
  admin_required: spec(403, `${SABRE}Forbidden`),
  exapp_required: spec(403, `${SABRE}Forbidden`),
  csrf_failed: spec(403, `${SABRE}Forbidden`),
  rate_limited: spec(429, `${NC_SABRE}TooManyRequests`),
  login_throttled: spec(429, `${NC_SABRE}TooManyRequests`),
  bad_request: spec(400, `${SABRE}BadRequest`),
  validation_failed: spec(400, `${SABRE}BadRequest`),
  provider_unavailable: spec(503, `${SABRE}ServiceUnavailable`),
  file_access_denied: spec(403, `${SABRE}Forbidden`),
  not_found: spec(404, `${SABRE}NotFound`),
  route_not_found: spec(404, `${SABRE}NotFound`),
  method_not_allowed: spec(405, `${SABRE}MethodNotAllowed`),
  body_too_large: spec(413, `${NC_SABRE}EntityTooLarge`),
  unsupported_media_type: spec(415, `${SABRE}UnsupportedMediaType`),
  lease_mismatch: spec(409, `${SABRE}Conflict`),
  // Never raised by WebDAV (only queue_position); Sabre's 412 if it ever were.
  not_scheduled: spec(412, `${SABRE}PreconditionFailed`),
  conflict: spec(409, `${SABRE}Conflict`),
  forbidden: spec(403, `${SABRE}Forbidden`),
  insufficient_storage: spec(507, `${SABRE}InsufficientStorage`),
  service_unavailable: spec(503, `${SABRE}ServiceUnavailable`),
  internal: spec(500, 'Sabre\\DAV\\Exception'),
});

/** Fastify's own 4xx errors (a bad Content-Type, a bad Content-Length) as domain errors. */
function fromFastify(err: Error & { code?: string; statusCode?: number }): DomainError | undefined {
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new DomainError('unsupported_media_type', 'Unsupported content type');
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) return new DomainError('bad_request', err.message);
  return undefined;
}

/** Sabre's error document, byte for byte in the layout Nextcloud sends. */
function sabreErrorXml(exception: string, message: string): string {
  return (
    '<?xml version="1.0" encoding="utf-8"?>\n' +
    '<d:error xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns">\n' +
    `  <s:exception>${escapeXml(exception)}</s:exception>\n` +
    `  <s:message>${escapeXml(message)}</s:message>\n` +
    '</d:error>\n'
  );
}

/**
 * A request refused before any route (it did not parse, or its URL cannot be decoded) as Sabre
 * reports errors: the exception of a domain error with that status where there is one.
 */
export function sabreProtocolError(status: number, message: string): { headers: Record<string, string>; body: string } {
  const exception = Object.values(DAV_ERROR_TABLE).find((s) => s.status === status)?.exception ?? 'Sabre\\DAV\\Exception';
  return { headers: { 'content-type': 'application/xml; charset=utf-8' }, body: sabreErrorXml(exception, message) };
}

/**
 * Answers any thrown value as a Sabre error. Unknown errors are logged and become a 500 that
 * says nothing about their cause.
 */
export function sendDavError(reply: FastifyReply, err: unknown, log: { error(o: object, m: string): void }): FastifyReply {
  // A database outage answers 503 with Retry-After, as on the OCS routes (store/db-errors.ts).
  const domain = err instanceof DomainError ? err : (databaseUnavailableError(err) ?? (err instanceof Error ? fromFastify(err) : undefined));
  if (domain === undefined) log.error({ err }, 'unexpected error in a WebDAV request');
  const { status, exception } = DAV_ERROR_TABLE[domain?.code ?? 'internal'];
  const message = domain?.message ?? 'Internal Server Error';

  const headers: Record<string, string> = { 'content-type': 'application/xml; charset=utf-8' };
  for (const [k, v] of Object.entries(domain?.headers ?? {})) headers[k.toLowerCase()] = v;
  if (domain?.retryAfter !== undefined) headers['retry-after'] = String(domain.retryAfter);
  if (status === 401) headers['www-authenticate'] = 'Basic realm="Nextcloud", charset="UTF-8"';
  // Sabre's MethodNotAllowed always says what is allowed instead.
  if (status === 405) headers.allow = DAV_METHODS.join(', ');
  // Answered before the upload was all read: the rest of it is drained, not parsed as requests,
  // and the connection ends (api/http-connections.ts).
  if (bodyPending(reply.request.raw)) headers.connection = 'close';
  reply.code(status).headers(headers);
  return reply.send(reply.request.method === 'HEAD' ? undefined : sabreErrorXml(exception, message));
}
