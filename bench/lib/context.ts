import type { Ceiling } from './ceiling.js';
import { type Install, BENCH_USER } from './install.js';
import { basicAuth } from './http.js';
import { type LoadResult, type LoadSpec, checkClean, runLoad } from './load.js';
import type { BenchOptions, Dialect } from './options.js';
import type { Row } from './report.js';
import type { ServerHandle } from './server.js';

/** A running taskproc server with the installation it serves. */
export interface Node {
  install: Install;
  server: ServerHandle;
}

/** What every scenario gets: the options, the dialect, the shared ceiling server, and where to put its figures. */
export interface Ctx {
  opts: BenchOptions;
  dialect: Dialect;
  ceiling: Ceiling;
  rows: Row[];
  /** Raw per-round measurements and anything else worth keeping in the JSON file. */
  details: Record<string, unknown>;
  log(message: string): void;
}

export const OCS = '/ocs/v2.php/taskprocessing';

/** The headers of the bench user's requests: Basic auth with the app password, as Nextcloud clients send them. */
export function userHeaders(install: Install): Record<string, string> {
  return { authorization: basicAuth(BENCH_USER, install.token), 'OCS-APIRequest': 'true' };
}

export interface LoadTarget {
  key: string;
  url: string;
  /** Replaces the spec's headers for this target (another installation has another app password). */
  headers?: Record<string, string>;
}

/**
 * Autocannon against each target in turn: a warm-up on each (not recorded), then `rounds` rounds
 * of ceiling first and the taskproc targets after it (their order alternating between rounds, so
 * that drift favours none). Every measurement must be all 2xx.
 */
export async function interleavedLoad(
  ctx: Ctx,
  label: string,
  targets: LoadTarget[],
  spec: Omit<LoadSpec, 'url' | 'duration'>,
): Promise<Record<string, LoadResult[]>> {
  const out: Record<string, LoadResult[]> = Object.fromEntries(targets.map((t) => [t.key, []]));
  const specFor = (t: LoadTarget, duration: number): LoadSpec => ({ ...spec, url: t.url, duration, headers: t.headers ?? spec.headers });
  for (const t of targets) checkClean(`${label} warm-up on ${t.key}`, await runLoad(specFor(t, ctx.opts.warmup)));
  const [first, ...rest] = targets;
  for (let round = 0; round < ctx.opts.rounds; round++) {
    const order = [first as LoadTarget, ...(round % 2 === 0 ? rest : [...rest].reverse())];
    for (const t of order) {
      const r = await runLoad(specFor(t, ctx.opts.duration));
      checkClean(`${label} on ${t.key}`, r);
      (out[t.key] as LoadResult[]).push(r);
      ctx.log(`  ${label} round ${round + 1} ${t.key}: ${Math.round(r.rps)} req/s, p50 ${r.latencyP50} ms, p99 ${r.latencyP99} ms`);
    }
  }
  ctx.details[`${label}`] = out;
  return out;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs `fn` over `items` with at most `limit` at once. */
export async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++] as T);
  });
  await Promise.all(lanes);
}

export const MiB = 2 ** 20;
