import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { DomainError } from '../core/errors.js';
import { HttpConnections, type LingerLimits, protocolAnswer } from './http-connections.js';
import { chooseFormat, type OcsFormat, type OcsVersion, renderOcs, ROUTE_NOT_FOUND_MESSAGE } from './ocs.js';
import { ocsHandler, type OcsRoute, type OcsRouteDeps, send, sendError } from './ocs-route.js';
import { cachedQueryParser, parsePhpQuery } from './php-params.js';
import { parseJsonBody } from './request-body.js';
import { installRequestLog, requestIdOf } from './request-log.js';

export interface ServerOptions extends OcsRouteDeps {
  routes: OcsRoute[];
  trustProxy: boolean;
  /** Fastify's logger option (logging.ts `loggerOptions`). */
  logger: boolean | Record<string, unknown>;
  /** The lingering drain's bounds for bodies left unread by an early answer (http-connections.ts). */
  linger: LingerLimits /**
   * Told of every answered request with its route template ("unmatched" when no route matched, so
   * labels stay a bounded set) and its time in seconds: the HTTP metrics (ops/metrics.ts).
   */;
  observe?: (method: string, route: string, status: number, seconds: number) => void;
}

const OCS_PREFIX = /^\/ocs\/v([12])\.php(\/.*)?$/;

/** The HTTP server: parsers, OCS routes under both prefixes, and envelope answers for every failure. */
export async function buildServer(opts: ServerOptions): Promise<FastifyInstance> {
  const connections = new HttpConnections(opts.linger);
  const app = Fastify({
    logger: opts.logger,
    bodyLimit: opts.bodyLimit,
    trustProxy: opts.trustProxy,
    routerOptions: { querystringParser: cachedQueryParser(), maxParamLength: 500 },
    // Request ids come from the client's X-Request-Id when it is a plain short token, which eases
    // tracing; genReqId reads the header itself because Fastify would take any value given.
    requestIdHeader: false,
    genReqId: requestIdOf,
    // One line per request, written by request-log.ts, instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    // Idle keep-alive connections close with the server; busy ones get app.close()'s grace period.
    forceCloseConnections: 'idle',
    // Requests Node's parser refuses, and URLs the router cannot decode, are answered in the
    // envelope (or as Sabre errors on WebDAV paths) like every other failure.
    clientErrorHandler: (err, socket) => connections.onClientError(err, socket),
    frameworkErrors: (err, req, reply) => {
      const answer = protocolAnswer(err.statusCode ?? 400, frameworkErrorMessage(err), req.url, req.headers.accept);
      return (reply as FastifyReply).code(answer.status).headers(answer.headers).header('x-request-id', req.id).send(answer.body);
    },
  });
  connections.install(app.server);
  installRequestLog(app);
  const observe = opts.observe;
  if (observe) {
    // Added first, at the root: it applies to every route, the WebDAV plugin's included.
    app.addHook('onResponse', (req, reply, done) => {
      observe(req.method, req.is404 ? 'unmatched' : (req.routeOptions.url ?? 'unmatched'), reply.statusCode, reply.elapsedTime / 1000);
      done();
    });
  }

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, parsePhpQuery(body as string)));
  // Multipart bodies stay streams here: a route either reads its fields (ocs-route) or streams a file part.
  app.addContentTypeParser('multipart/form-data', (_req, payload, done) => done(null, payload));
  // Nextcloud ignores bodies of other types; read them (under the size limit) and drop them.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, _body, done) => done(null, undefined));

  const patterns = opts.routes.map((r) => ({ method: r.method, re: pathPattern(r.path) }));

  for (const route of opts.routes) {
    for (const version of [1, 2] as const) {
      app.route({ method: route.method, url: `/ocs/v${version}.php${route.path}`, handler: ocsHandler(route, version, opts) });
    }
  }

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const { version, format } = envelopeOf(req);
    return sendError(reply, fastifyErrorToDomain(err), version, format, {}, opts);
  });

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0] ?? '';
    const match = OCS_PREFIX.exec(path);
    const { version, format } = envelopeOf(req);
    const rest = match?.[2] ?? path;
    const allowed = patterns.filter((p) => p.re.test(rest)).map((p) => p.method);
    if (allowed.length > 0) {
      reply.header('allow', [...new Set(allowed)].join(', '));
      return sendError(reply, new DomainError('method_not_allowed', 'Method not allowed'), version, format, {}, opts);
    }
    // Upstream picks the format of this answer from the `format` parameter alone (ocs/v1.php).
    const query = (req.query ?? {}) as Record<string, unknown>;
    const onlyParam = chooseFormat(query.format, undefined);
    if (version === 2) {
      // The legacy OC_API path maps 998 to 404 in meta.statuscode too, unlike V2Response.
      return send(reply, renderOcs({ version, format: onlyParam, status: 404, data: [], message: ROUTE_NOT_FOUND_MESSAGE }));
    }
    return sendError(reply, new DomainError('route_not_found', ROUTE_NOT_FOUND_MESSAGE), version, onlyParam, {}, opts);
  });

  return app;
}

function envelopeOf(req: FastifyRequest): { version: OcsVersion; format: OcsFormat } {
  const match = OCS_PREFIX.exec(req.url.split('?')[0] ?? '');
  const query = (req.query ?? {}) as Record<string, unknown>;
  return { version: match?.[1] === '1' ? 1 : 2, format: chooseFormat(query.format, req.headers.accept) };
}

function fastifyErrorToDomain(err: FastifyError): DomainError | Error {
  if (err instanceof DomainError) return err;
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new DomainError('body_too_large', 'The request body is larger than the server accepts');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new DomainError('unsupported_media_type', 'Unsupported content type');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new DomainError('bad_request', err.message);
  }
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    return new DomainError('bad_request', err.message);
  }
  return err;
}

function frameworkErrorMessage(err: FastifyError): string {
  switch (err.code) {
    case 'FST_ERR_BAD_URL':
      return 'The URL cannot be decoded: it has a malformed percent-encoding or bytes that are not UTF-8';
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return 'A segment of the URL is longer than the server accepts';
    default:
      return err.message;
  }
}

/** `/taskprocessing/task/:id` → a regex matching concrete paths, for the 405 check. */
function pathPattern(path: string): RegExp {
  const escaped = path
    .split('/')
    .map((seg) => (seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${escaped}/?$`);
}
