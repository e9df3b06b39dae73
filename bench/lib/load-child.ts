/**
 * The load generator: autocannon in its own child process (forked by bench/lib/load.ts), so that
 * it shares no event loop with the orchestrator or the server under test. One message in, one out.
 */
import autocannon from 'autocannon';
import type { LoadResult, LoadSpec } from './load.js';

process.once('message', async (spec: LoadSpec) => {
  try {
    const paths = spec.paths;
    const request = {
      method: spec.method,
      path: paths?.[0] ?? spec.path,
      headers: spec.headers,
      ...(spec.body !== undefined && { body: spec.body }),
      // A different id on every request (random over the given paths), when paths are given.
      ...(paths !== undefined && {
        setupRequest: (req: { path?: string }) => {
          req.path = paths[Math.floor(Math.random() * paths.length)] as string;
          return req;
        },
      }),
    };
    const r = await autocannon({
      url: spec.url,
      connections: spec.connections,
      duration: spec.duration,
      pipelining: 1,
      timeout: 30,
      requests: [request],
    });
    const result: LoadResult = {
      seconds: r.duration,
      ok: r['2xx'],
      rps: r['2xx'] / r.duration,
      non2xx: r.non2xx,
      errors: r.errors,
      timeouts: r.timeouts,
      statusCodes: Object.fromEntries(Object.entries(r.statusCodeStats).map(([k, v]) => [k, v.count])),
      latencyP50: r.latency.p50,
      latencyP99: r.latency.p99,
      latencyMean: r.latency.average,
    };
    process.send?.({ result });
  } catch (err) {
    process.send?.({ error: String((err as Error).stack ?? err) });
  }
});
