/**
 * The ceiling: a bare node:http server, run as its own child process, that answers the routes a
 * scenario uses with the status, headers and body taskproc itself answered (captured first), so
 * the bytes on the wire are the same, but with no database, no authentication and no parsing.
 * What taskproc reaches as a fraction of this is what the report shows.
 *
 * For the worker scenarios it also emulates the queue in memory: a schedule (`push`) adds a task
 * and wakes one parked claim; a claim (`pop`) takes up to `x-bench-n` tasks, or parks up to
 * `x-bench-wait` seconds when there are none, and answers with that many entries.
 *
 * Driven over IPC by bench/lib/ceiling.ts: {type:'routes', routes} replaces the table.
 */
import http from 'node:http';
import { type CannedRoute, normalizePath } from './ceiling.js';

interface Parked {
  res: http.ServerResponse;
  route: CannedRoute;
  n: number;
  timer: NodeJS.Timeout;
}

let table = new Map<string, CannedRoute>();
let queued = 0;
let parked: Parked[] = [];

function send(res: http.ServerResponse, route: CannedRoute, body: string, count?: number): void {
  const headers: Record<string, string | number> = { ...route.headers, 'content-length': Buffer.byteLength(body) };
  if (count !== undefined) headers['x-bench-count'] = count;
  res.writeHead(route.status, headers);
  res.end(body);
}

function batchBody(route: CannedRoute, k: number): string {
  const b = route.batch;
  if (!b) return route.body;
  return b.prefix + Array.from({ length: k }, () => b.entry).join(',') + b.suffix;
}

function pop(res: http.ServerResponse, route: CannedRoute, n: number, waitMs: number): void {
  if (queued > 0 || waitMs <= 0) {
    const k = Math.min(queued, n);
    queued -= k;
    send(res, route, batchBody(route, k), k);
    return;
  }
  const entry: Parked = {
    res,
    route,
    n,
    timer: setTimeout(() => {
      parked = parked.filter((p) => p !== entry);
      send(res, route, batchBody(route, 0), 0);
    }, waitMs),
  };
  parked.push(entry);
  res.on('close', () => {
    clearTimeout(entry.timer);
    parked = parked.filter((p) => p !== entry);
  });
}

function wakeOne(): void {
  const p = parked.shift();
  if (!p) return;
  clearTimeout(p.timer);
  pop(p.res, p.route, p.n, 0);
}

const server = http.createServer((req, res) => {
  const route = table.get(`${req.method} ${normalizePath(req.url ?? '/')}`);
  req.resume();
  req.on('end', () => {
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end(`ceiling: no canned answer for ${req.method} ${req.url}\n`);
      return;
    }
    if (route.queue === 'pop') {
      pop(res, route, Number(req.headers['x-bench-n'] ?? 1), Number(req.headers['x-bench-wait'] ?? 0) * 1000);
      return;
    }
    send(res, route, route.body);
    if (route.queue === 'push') {
      queued++;
      // After the answer is written, as taskproc wakes a parked worker after the insert.
      setImmediate(wakeOne);
    }
  });
});
// As Fastify's defaults, so connections live as long on both.
server.keepAliveTimeout = 72_000;

process.on('message', (msg: { type: string; routes?: CannedRoute[] }) => {
  if (msg.type === 'routes') {
    table = new Map((msg.routes ?? []).map((r) => [`${r.method} ${r.path}`, r]));
    queued = 0;
    for (const p of parked) clearTimeout(p.timer);
    parked = [];
    process.send?.({ type: 'ok' });
  }
});
process.on('disconnect', () => process.exit(0));

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ type: 'listening', port: typeof address === 'object' && address ? address.port : 0 });
});
