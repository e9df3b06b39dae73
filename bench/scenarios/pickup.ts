import { type Ctx, type Node, sleep } from '../lib/context.js';
import { percentile } from '../lib/stats.js';
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
  scheduledId,
  workerHttp,
} from '../lib/worker-protocol.js';

const WAIT_SECONDS = 30;

/**
 * `k` pickups, one at a time: a worker long-polls next_batch (1 task, wait=30); once its poll is
 * out, a client schedules one task; the latency is from the moment the client has the schedule
 * answer to the moment the worker has the task (negative when the worker was first). The worker
 * posts the result and polls again before the next schedule.
 */
export async function runPickups(clientUrl: string, workerUrl: string, node: Node, k: number, ceiling: boolean): Promise<number[]> {
  const client = clientHttp(clientUrl, node.install, 1);
  const worker = workerHttp(workerUrl, node.install, 2);
  const claim = claimRequest(1, WAIT_SECONDS);
  let stop = false;
  let fake = 0;
  let onPollSent: (() => void) | undefined;
  let onReceived: ((at: number, id: number) => void) | undefined;
  let pollSent = new Promise<void>((r) => (onPollSent = r));
  const workerLoop = (async () => {
    while (!stop) {
      const reply = worker.ok('GET', NEXT_BATCH, claim.body, claim.headers);
      onPollSent?.();
      let ids: number[];
      try {
        const r = await reply;
        const at = performance.now();
        ids = claimedIds(r, ceiling, () => ++fake);
        if (ids[0] !== undefined) onReceived?.(at, ids[0]);
      } catch (err) {
        if (stop) return;
        throw err;
      }
      for (const id of ids) await worker.ok('POST', resultPath(id), resultBody(id));
      pollSent = new Promise<void>((r) => (onPollSent = r));
    }
  })();
  const latencies: number[] = [];
  try {
    for (let i = 0; i < k; i++) {
      await pollSent;
      // Let the poll reach the server and park there (a poll that arrives later only claims sooner).
      await sleep(3 + Math.random() * 3);
      const received = new Promise<{ at: number; id: number }>((resolve) => (onReceived = (at, id) => resolve({ at, id })));
      const r = await client.ok('POST', SCHEDULE, scheduleBody('pickup'));
      const answered = performance.now();
      const got = await Promise.race([received, sleep(WAIT_SECONDS * 1000).then(() => undefined)]);
      if (got === undefined) throw new Error(`pickup: the worker got no task within ${WAIT_SECONDS} s`);
      if (!ceiling && got.id !== scheduledId(r)) throw new Error(`pickup: the worker got task ${got.id}, scheduled ${scheduledId(r)}`);
      latencies.push(got.at - answered);
    }
  } finally {
    stop = true;
    worker.close();
    client.close();
    await workerLoop.catch(() => {});
  }
  return latencies;
}

/** A pickup slower than this was not woken by the schedule: the parked poll's once-a-second re-check found it. */
const SLOW_MS = 100;

interface PickupRound {
  p50: number;
  p99: number;
  max: number;
  slow: number;
}

const summary = (lat: number[]): PickupRound => ({
  p50: percentile(lat, 50),
  p99: percentile(lat, 99),
  max: Math.max(...lat),
  slow: lat.filter((x) => x > SLOW_MS).length,
});

/** pickup: schedule-to-worker latency, p50 and p99 per round; on PostgreSQL also across two nodes. */
export async function pickupScenario(ctx: Ctx, node: Node, nodeB: Node | null): Promise<void> {
  await ctx.ceiling.setRoutes(await captureWorkerRoutes(node));
  const k = ctx.opts.sizes.pickups;
  const variants: { key: string; client: string; worker: string; label: string }[] = [
    { key: 'one', client: node.server.url, worker: node.server.url, label: 'one node' },
    ...(nodeB ? [{ key: 'two', client: node.server.url, worker: nodeB.server.url, label: 'two nodes (schedule on A, worker on B)' }] : []),
  ];
  await runPickups(ctx.ceiling.url, ctx.ceiling.url, node, 20, true);
  for (const v of variants) await runPickups(v.client, v.worker, node, 20, false);
  const out: Record<string, PickupRound[]> = { ceiling: [], one: [], two: [] };
  for (let round = 0; round < ctx.opts.rounds; round++) {
    const c = summary(await runPickups(ctx.ceiling.url, ctx.ceiling.url, node, k, true));
    (out.ceiling as PickupRound[]).push(c);
    ctx.log(`  pickup-${ctx.dialect} round ${round + 1} ceiling: p50 ${c.p50.toFixed(2)} ms, p99 ${c.p99.toFixed(2)} ms`);
    for (const v of variants) {
      const s = summary(await runPickups(v.client, v.worker, node, k, false));
      (out[v.key] as PickupRound[]).push(s);
      ctx.log(
        `  pickup-${ctx.dialect} round ${round + 1} ${v.label}: p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, max ${s.max.toFixed(1)} ms, ${s.slow} over ${SLOW_MS} ms`,
      );
    }
  }
  ctx.details[`pickup-${ctx.dialect}`] = out;
  const ceiling = out.ceiling as PickupRound[];
  for (const v of variants) {
    const rounds = out[v.key] as PickupRound[];
    const sqlite = ctx.dialect === 'sqlite';
    ctx.rows.push(
      {
        scenario: 'pickup',
        dialect: ctx.dialect,
        measure: `p50, ${v.label}, ${k} sequential tasks, wait=${WAIT_SECONDS}`,
        unit: 'ms',
        values: rounds.map((r) => r.p50),
        ceiling: ceiling.map((r) => r.p50),
        better: 'lower',
        ...(sqlite && { target: { on: 'value', op: '<=', threshold: 2, text: '≤ 2 ms' } }),
        ...(v.key === 'two' && { target: { on: 'value', op: '<=', threshold: 5, text: '≤ 5 ms (two nodes)' } }),
      },
      {
        scenario: 'pickup',
        dialect: ctx.dialect,
        measure: `p99, ${v.label}`,
        unit: 'ms',
        values: rounds.map((r) => r.p99),
        ceiling: ceiling.map((r) => r.p99),
        better: 'lower',
        ...(sqlite && { target: { on: 'value', op: '<=', threshold: 10, text: '≤ 10 ms' } }),
      },
      {
        scenario: 'pickup',
        dialect: ctx.dialect,
        measure: `pickups over ${SLOW_MS} ms (of ${k}), ${v.label}`,
        unit: 'tasks',
        values: rounds.map((r) => r.slow),
        better: 'lower',
      },
    );
  }
}
