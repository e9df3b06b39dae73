import type { DomainError, ErrorCode } from '../core/errors.js';
import { renderOcsXml } from './ocs-xml.js';
import { phpJsonEncode } from './php-json.js';

/**
 * The OCS envelope and the one map from error codes to OCS and HTTP statuses. Pure: the HTTP layer
 * sends the returned status, headers and body as they are.
 */

export type OcsVersion = 1 | 2;
export type OcsFormat = 'json' | 'xml';

/** What to send. Header names are lower case; `body` is '' when the status forbids a body. */
export interface OcsReply {
  httpStatus: number;
  headers: Record<string, string>;
  body: string;
}

const CONTENT_TYPES: Record<OcsFormat, string> = {
  json: 'application/json; charset=utf-8',
  xml: 'application/xml; charset=utf-8',
};

// OCSController's special statuses, which V1Response/V2Response turn into HTTP statuses.
const RESPOND_UNAUTHORISED = 997;
const RESPOND_NOT_FOUND = 998;
const RESPOND_SERVER_ERROR = 996;
const RESPOND_UNKNOWN_ERROR = 999;

/** Upstream ocs/v1.php's text for a path no route matches (the trailing newline is upstream's). */
export const ROUTE_NOT_FOUND_MESSAGE =
  'Invalid query, please check the syntax. API specifications are here: http://www.freedesktop.org/wiki/Specifications/open-collaboration-services.\n';

/**
 * The body format (API.md §3.3): a `format` parameter of `json` or `xml` wins; otherwise the first
 * Accept entry that is exactly `application/json` or `application/xml` (parameters such as `;q=`
 * ignored); otherwise XML, which is also what `*\/*` gets.
 */
export function chooseFormat(formatParam: unknown, acceptHeader: string | undefined): OcsFormat {
  if (formatParam === 'json' || formatParam === 'xml') return formatParam;
  for (const entry of (acceptHeader ?? '').split(',')) {
    const mediaType = (entry.split(';')[0] ?? '').trim().toLowerCase();
    if (mediaType === 'application/json') return 'json';
    if (mediaType === 'application/xml') return 'xml';
  }
  return 'xml';
}

export interface OcsResponse {
  version: OcsVersion;
  format: OcsFormat;
  /** The controller's status: 200, 201, 204, 400, 401, 404, 412, 500, 997, 998 … */
  status: number;
  data: unknown;
  /** meta.message when the status is not OK; upstream leaves it '' for controller errors. */
  message?: string;
  headers?: Record<string, string>;
  /**
   * A real HTTP status on both versions, for answers upstream makes outside the OCS responder
   * (429, 405, 413, 415, 503). meta.statuscode then carries the same number.
   */
  httpStatusOverride?: number;
}

/**
 * V1Response / V2Response semantics (upstream lib/private/AppFramework/OCS):
 * - v1: statuscode 100 for 200, else the status; "ok" only for 100; HTTP 401 for 997, else 200;
 *   meta also carries totalitems and itemsperpage as "".
 * - v2: statuscode is the status as given (997 stays 997); HTTP maps 997→401, 998→404,
 *   996/999→500, <200 or >600 →400, else passes through; "ok" for 2xx; meta has only status,
 *   statuscode and message (V2Response adds totalitems/itemsperpage only when paginating).
 * - A final HTTP status of 204, 304 or 1xx has an empty body (BaseResponse::renderResult).
 */
export function renderOcs(o: OcsResponse): OcsReply {
  const status = o.httpStatusOverride ?? o.status;
  let meta: Record<string, unknown>;
  let httpStatus: number;
  if (o.version === 1) {
    const statuscode = status === 200 ? 100 : status;
    const ok = statuscode === 100;
    meta = { status: ok ? 'ok' : 'failure', statuscode, message: ok ? 'OK' : (o.message ?? ''), totalitems: '', itemsperpage: '' };
    httpStatus = o.httpStatusOverride ?? (status === RESPOND_UNAUTHORISED ? 401 : 200);
  } else {
    const ok = status >= 200 && status < 300;
    meta = { status: ok ? 'ok' : 'failure', statuscode: status, message: ok ? 'OK' : (o.message ?? '') };
    httpStatus = o.httpStatusOverride ?? v2HttpStatus(status);
  }
  const headers = { ...lowerCaseKeys(o.headers ?? {}), 'content-type': CONTENT_TYPES[o.format] };
  let body = '';
  if (!forbidsBody(httpStatus)) {
    body = o.format === 'json' ? phpJsonEncode({ ocs: { meta, data: o.data } }) : renderOcsXml(meta, o.data);
  }
  return { httpStatus, headers, body };
}

function v2HttpStatus(status: number): number {
  if (status === RESPOND_UNAUTHORISED) return 401;
  if (status === RESPOND_NOT_FOUND) return 404;
  if (status === RESPOND_SERVER_ERROR || status === RESPOND_UNKNOWN_ERROR) return 500;
  if (status < 200 || status > 600) return 400;
  return status;
}

function forbidsBody(httpStatus: number): boolean {
  return httpStatus === 204 || httpStatus === 304 || (httpStatus >= 100 && httpStatus <= 199);
}

function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value;
  return out;
}

/** How one error code reaches the client. */
export type ErrorSpec =
  | {
      kind: 'envelope';
      /** The status handed to the envelope (see renderOcs). */
      status: number;
      /**
       * Where err.message goes: middleware-made errors put it in meta.message with data [];
       * controller errors return DataResponse(['message' => …]) and leave meta.message ''.
       */
      messageIn: 'meta' | 'data';
      httpStatusOverride?: number;
    }
  /** Upstream answers with a bare JSONResponse `{"message": …}`, no envelope, whatever the format. */
  | { kind: 'bare-json'; httpStatus: number };

const inMeta = (status: number, httpStatusOverride?: number): ErrorSpec => ({ kind: 'envelope', status, messageIn: 'meta', httpStatusOverride });
const inData = (status: number, httpStatusOverride?: number): ErrorSpec => ({ kind: 'envelope', status, messageIn: 'data', httpStatusOverride });

/** Every domain error code, mapped. Typed so that a new code in core/errors.ts fails to compile here. */
export const ERROR_TABLE: Readonly<Record<ErrorCode, ErrorSpec>> = Object.freeze({
  not_logged_in: inMeta(RESPOND_UNAUTHORISED),
  admin_required: inMeta(403),
  exapp_required: { kind: 'bare-json', httpStatus: 412 },
  csrf_failed: { kind: 'bare-json', httpStatus: 412 },
  rate_limited: inData(429, 429),
  login_throttled: inData(429, 429),
  bad_request: inData(400),
  validation_failed: inData(400),
  provider_unavailable: inData(412),
  // A controller-level 401, not 997: v1 answers HTTP 200 with statuscode 401.
  file_access_denied: inData(401),
  not_found: inData(404),
  route_not_found: inMeta(RESPOND_NOT_FOUND),
  method_not_allowed: inMeta(405, 405),
  body_too_large: inData(413, 413),
  unsupported_media_type: inData(415, 415),
  lease_mismatch: inData(409),
  not_scheduled: inData(412),
  conflict: inData(409),
  forbidden: inData(403),
  insufficient_storage: inData(507, 507),
  service_unavailable: inData(503, 503),
  internal: inData(500),
});

/** The reply for a domain error: its table entry, plus Retry-After and the error's own headers. */
export function renderError(err: DomainError, version: OcsVersion, format: OcsFormat): OcsReply {
  const spec = ERROR_TABLE[err.code];
  const headers = lowerCaseKeys(err.headers ?? {});
  if (err.retryAfter !== undefined) headers['retry-after'] = String(err.retryAfter);
  if (spec.kind === 'bare-json') {
    headers['content-type'] = CONTENT_TYPES.json;
    return { httpStatus: spec.httpStatus, headers, body: phpJsonEncode({ message: err.message }) };
  }
  return renderOcs({
    version,
    format,
    status: spec.status,
    data: spec.messageIn === 'meta' ? [] : { message: err.message },
    message: spec.messageIn === 'meta' ? err.message : undefined,
    headers,
    httpStatusOverride: spec.httpStatusOverride,
  });
}
