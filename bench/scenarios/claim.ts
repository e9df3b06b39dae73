import { type Ctx, type Node, mapLimit } from '../lib/context.js';
import type { Http } from '../lib/http.js';
import { ratios } from '../lib/stats.js';
import {
  NEXT_BATCH,
  SCHEDULE,
  captureWorkerRoutes,
  claimRequest,
  claimedIds,
  clientHttp,
  resultBody,
  resultPath,
  scheduleBody,
  workerHttp,
} from '../lib/worker-protocol.js';

/** Pairs per slice: the targets take turns every CHUNK pairs. */
const CHUNK = 25;

interface ClaimTarget {
  key: string;
  url: string;
  ceiling: boolean;
  node?: Node;
}

/** Queues `m` tasks (not timed). */
async function queue(client: Http, m: number): Promise<void> {
  await mapLimit(
    Array.from({ length: m }, (_, i) => i),
    8,
    async () => void (await client.ok('POST', SCHEDULE, scheduleBody('claim'))),
  );
}

/** Times `m` sequential claim (next_batch of 1) + result pairs; returns the milliseconds they took. */
async function claimPairs(t: ClaimTarget, worker: Http, m: number, ids: { fake: number }): Promise<number> {
  const claim = claimRequest(1, 0);
  const started = performance.now();
  for (let i = 0; i < m; i++) {
    const [id] = claimedIds(await worker.ok('GET', NEXT_BATCH, claim.body, claim.headers), t.ceiling, () => ++ids.fake);
    if (id === undefined) throw new Error(`claim on ${t.key}: next_batch found no task after ${i} of ${m}`);
    await worker.ok('POST', resultPath(id), resultBody(id));
  }
  return performance.now() - started;
}

/**
 * claim-at-scale: the cost of a worker's claim + result with 1 k and with 1 M tasks stored, in
 * the same rounds, against the ceiling's cost for the same two requests. Both stores were seeded
 * with the same fair queue (issue 22): `waitingUsers` users each with tasks of the claimed type
 * waiting (bench/lib/seed.ts), so claims take their tasks one user after the other, interleaved
 * with the bench user's own, and every user still waits when the last round ends.
 */
export async function claimScenario(ctx: Ctx, small: Node, big: Node): Promise<void> {
  await ctx.ceiling.setRoutes(await captureWorkerRoutes(big, true));
  const targets: ClaimTarget[] = [
    { key: 'ceiling', url: ctx.ceiling.url, ceiling: true },
    { key: 'small', url: small.server.url, ceiling: false, node: small },
    { key: 'big', url: big.server.url, ceiling: false, node: big },
  ];
  // The ceiling is talked to with the large installation's credentials (same sizes; it checks none).
  const conns = new Map(
    targets.map((t) => {
      const install = (t.node ?? big).install;
      return [t.key, { client: clientHttp(t.url, install, 8), worker: workerHttp(t.url, install, 1) }] as const;
    }),
  );
  const m = ctx.opts.sizes.claims;
  const out: Record<string, number[]> = { ceiling: [], small: [], big: [] };
  const ids = { fake: 0 };
  const conn = (key: string) => conns.get(key) as { client: Http; worker: Http };
  try {
    // Warm-up: a full round's worth on each, not recorded.
    for (const t of targets) {
      await queue(conn(t.key).client, m);
      await claimPairs(t, conn(t.key).worker, m, ids);
    }
    const [first, ...rest] = targets;
    for (let round = 0; round < ctx.opts.rounds; round++) {
      // Each target's queue first (not timed), then the timed pairs in slices of CHUNK, the
      // targets taking turns slice by slice, so that a burst of noise hits all of them alike.
      for (const t of targets) await queue(conn(t.key).client, m);
      const spent: Record<string, number> = { ceiling: 0, small: 0, big: 0 };
      for (let done = 0, slice = 0; done < m; done += CHUNK, slice++) {
        const n = Math.min(CHUNK, m - done);
        for (const t of [first as ClaimTarget, ...(slice % 2 === 0 ? rest : [...rest].reverse())]) {
          spent[t.key] = (spent[t.key] ?? 0) + (await claimPairs(t, conn(t.key).worker, n, ids));
        }
      }
      for (const t of targets) {
        const ms = (spent[t.key] ?? 0) / m;
        (out[t.key] as number[]).push(ms);
        ctx.log(`  claim-${ctx.dialect} round ${round + 1} ${t.key}: ${ms.toFixed(3)} ms per claim+result`);
      }
    }
  } finally {
    for (const c of conns.values()) {
      c.client.close();
      c.worker.close();
    }
  }
  ctx.details[`claim-${ctx.dialect}`] = out;
  const { sizes } = ctx.opts;
  const ceiling = out.ceiling as number[];
  ctx.rows.push(
    {
      scenario: 'claim',
      dialect: ctx.dialect,
      measure: `next_batch (1 task) + result, sequential, ${sizes.waitingUsers.toLocaleString('en-US')} users waiting, ${sizes.bigStore.toLocaleString('en-US')} stored`,
      unit: 'ms',
      values: out.big as number[],
      ceiling,
      better: 'lower',
    },
    {
      scenario: 'claim',
      dialect: ctx.dialect,
      measure: `same, ${sizes.smallStore.toLocaleString('en-US')} stored`,
      unit: 'ms',
      values: out.small as number[],
      ceiling,
      better: 'lower',
    },
    {
      scenario: 'claim',
      dialect: ctx.dialect,
      measure: `cost at ${sizes.bigStore.toLocaleString('en-US')} / cost at ${sizes.smallStore.toLocaleString('en-US')} (same round)`,
      unit: '×',
      values: ratios(out.big as number[], out.small as number[]),
      better: 'lower',
      target: { on: 'value', op: '<=', threshold: 1.3, text: '≤ 1.3×' },
    },
  );
}
