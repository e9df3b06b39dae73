import { timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { sha256Hex } from '../auth/sha256.js';

/** What both endpoints serve: the scrape text and its content type (ops/metrics.ts Metrics). */
export interface MetricsSource {
  text(): Promise<string>;
  readonly contentType: string;
}

export const METRICS_PATH = '/metrics';

/**
 * `GET /metrics` on the API server, for callers that send `Authorization: Bearer <token>`. Not an
 * OCS route: a scraper gets the text format, and a refusal is a plain 401 with WWW-Authenticate.
 * The token is compared by its hash in constant time (equal lengths whatever was sent), and
 * appears in no answer and no log.
 */
export function registerMetricsRoute(server: FastifyInstance, metrics: MetricsSource, token: string): void {
  const expected = Buffer.from(sha256Hex(token), 'hex');
  server.get(METRICS_PATH, async (req, reply) => {
    const header = req.headers.authorization ?? '';
    const sent = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim() ?? null;
    if (sent === null || !timingSafeEqual(Buffer.from(sha256Hex(sent), 'hex'), expected)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="taskproc metrics"')
        .header('content-type', 'text/plain; charset=utf-8')
        .send(sent === null ? 'Metrics need a bearer token (Authorization: Bearer <TASKPROC_METRICS_TOKEN>)\n' : 'Wrong metrics token\n');
    }
    return reply
      .code(200)
      .header('content-type', metrics.contentType)
      .header('cache-control', 'no-store')
      .send(await metrics.text());
  });
}

/**
 * The metrics on a port of their own, without a token (TASKPROC_METRICS_PORT): for a scraper on
 * a network the API's clients do not reach. Bound to the API's host. Only `GET /metrics` (and
 * HEAD) is served; anything else is 404 or 405.
 */
export class MetricsPortServer {
  private readonly server: Server;

  constructor(
    metrics: MetricsSource,
    private readonly onError: (err: unknown) => void,
  ) {
    this.server = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (path !== METRICS_PATH) {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found: metrics are at /metrics\n');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('Method not allowed\n');
        return;
      }
      metrics.text().then(
        (text) => res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : text),
        (err) => {
          this.onError(err);
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('Collecting the metrics failed\n');
        },
      );
    });
    // Scrapers keep their connection; close() must not wait for them.
    this.server.keepAliveTimeout = 5000;
  }

  /** Listens on `host`:`port` (0: any free port); returns the base URL. */
  listen(host: string, port: number): Promise<string> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const addr = this.server.address();
        const bound = typeof addr === 'object' && addr ? addr.port : port;
        resolve(`http://${host.includes(':') ? `[${host}]` : host}:${bound}`);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
