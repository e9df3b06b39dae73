import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import type { Reply } from './http.js';
import { ROOT, rssBytes } from './server.js';

/** One answer of the ceiling server (bench/lib/ceiling-server.ts). */
export interface CannedRoute {
  method: string;
  /** The path without query, every all-digit segment replaced by `:n` (ids vary, the answer does not). */
  path: string;
  status: number;
  headers: Record<string, string>;
  body: string;
  /** push: a schedule (queues one emulated task); pop: a claim (takes up to x-bench-n, parks up to x-bench-wait s). */
  queue?: 'push' | 'pop';
  /** For pop: the body is prefix + k entries joined by commas + suffix. */
  batch?: { prefix: string; entry: string; suffix: string };
}

export const normalizePath = (url: string): string => {
  const q = url.indexOf('?');
  return (q < 0 ? url : url.slice(0, q)).replace(/\/\d+(?=\/|$)/g, '/:n');
};

/** Headers that the transport sets by itself on both servers. */
const TRANSPORT_HEADERS = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding']);

/** A canned answer made from a real answer of taskproc: same status, same headers, same body. */
export function cannedFrom(method: string, path: string, reply: Reply, extra: Partial<CannedRoute> = {}): CannedRoute {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(reply.headers)) {
    if (v === undefined || TRANSPORT_HEADERS.has(k)) continue;
    headers[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return { method, path: normalizePath(path), status: reply.status, headers, body: reply.body.toString('utf8'), ...extra };
}

/**
 * Splits a real next_batch answer holding exactly one task into the part before the entry, the
 * entry, and the part after, so the ceiling can answer with k entries of the real size.
 */
export function batchTemplate(body: string): { prefix: string; entry: string; suffix: string } {
  const start = body.indexOf('"tasks":[') + '"tasks":['.length;
  const end = body.lastIndexOf('],"has_more"');
  if (start < '"tasks":['.length || end < start) throw new Error(`not a next_batch answer: ${body.slice(0, 200)}`);
  return { prefix: body.slice(0, start), entry: body.slice(start, end), suffix: body.slice(end) };
}

/** The ceiling server in its own child process. */
export class Ceiling {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
  ) {}

  static start(): Promise<Ceiling> {
    const child = fork(join(ROOT, 'bench', 'lib', 'ceiling-server.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`ceiling server exited with ${code}`)));
      child.once('message', (msg: { type: string; port: number }) => resolve(new Ceiling(child, `http://127.0.0.1:${msg.port}`)));
    });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  rss(): number {
    return rssBytes(this.pid);
  }

  /** Replaces the canned answers (and empties the emulated queue). */
  setRoutes(routes: CannedRoute[]): Promise<void> {
    return new Promise((resolve) => {
      this.child.once('message', () => resolve());
      this.child.send({ type: 'routes', routes });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    this.child.removeAllListeners('exit');
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }
}
