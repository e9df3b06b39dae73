import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import type { Reply } from './http.js';
import { ROOT, rssBytes } from './server.js';

/** Headers the transport sets itself on both servers. */
const TRANSPORT_HEADERS = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding']);

/** The live scenario's ceiling server (bench/lib/sse-ceiling-server.ts) in its own child process. */
export class SseCeiling {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
  ) {}

  static start(): Promise<SseCeiling> {
    const child = fork(join(ROOT, 'bench', 'lib', 'sse-ceiling-server.ts'), [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`SSE ceiling server exited with ${code}`)));
      child.once('message', (msg: { port: number }) => resolve(new SseCeiling(child, `http://127.0.0.1:${msg.port}`)));
    });
  }

  /** Where a watcher of `key` listens, and where a worker posts its chunks for it. */
  eventsUrl(key: string | number): string {
    return `${this.url}/events/${key}`;
  }

  streamPath(key: string | number): string {
    return `/stream/${key}`;
  }

  get pid(): number {
    return this.child.pid as number;
  }

  rss(): number {
    return rssBytes(this.child.pid as number);
  }

  /** Answers every other GET with this real answer of taskproc's (same status, headers and body). */
  setCanned(reply: Reply): Promise<void> {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(reply.headers)) {
      if (v === undefined || TRANSPORT_HEADERS.has(k)) continue;
      headers[k] = Array.isArray(v) ? v.join(', ') : v;
    }
    return this.ask({ type: 'canned', status: reply.status, headers, body: reply.body.toString('utf8') }).then(() => undefined);
  }

  /** Event-stream responses the server holds open now. */
  async openStreams(): Promise<number> {
    return ((await this.ask({ type: 'open' })) as { count: number }).count;
  }

  private ask(msg: object): Promise<unknown> {
    return new Promise((resolve) => {
      this.child.once('message', resolve);
      this.child.send(msg);
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
