import { fork } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './server.js';

export interface LoadSpec {
  url: string;
  method: string;
  /** The path (with query) of every request, unless `paths` is given. */
  path: string;
  /** One of these paths, at random, per request. */
  paths?: string[];
  headers: Record<string, string>;
  body?: string;
  connections: number;
  /** Seconds. */
  duration: number;
}

export interface LoadResult {
  seconds: number;
  /** 2xx answers. */
  ok: number;
  /** 2xx answers per second. */
  rps: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  latencyP50: number;
  latencyP99: number;
  latencyMean: number;
}

/** Runs autocannon in a fresh child process (keep-alive, pipelining 1) and returns its summary. */
export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const child = fork(join(ROOT, 'bench', 'lib', 'load-child.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    let settled = false;
    child.once('message', (msg: { result?: LoadResult; error?: string }) => {
      settled = true;
      child.disconnect();
      if (msg.result) resolve(msg.result);
      else reject(new Error(`autocannon failed: ${msg.error}`));
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (!settled) reject(new Error(`autocannon child exited with ${code}`));
    });
    child.send(spec);
  });
}

/** A load result that is not all 2xx is a broken measurement, not a slow one. */
export function checkClean(what: string, r: LoadResult): void {
  if (r.non2xx > 0 || r.errors > 0 || r.ok === 0) {
    throw new Error(`${what}: ${r.ok} ok, ${r.non2xx} non-2xx ${JSON.stringify(r.statusCodes)}, ${r.errors} errors, ${r.timeouts} timeouts`);
  }
}
