import { type Ctx, type Node, mapLimit } from '../lib/context.js';
import type { Http } from '../lib/http.js';
import { storeFloor } from '../lib/store-floor.js';
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
  taskPath,
  workerHttp,
} from '../lib/worker-protocol.js';

/** How the pipeline is driven: fixed, so every run sends the same mix. */
const SCHEDULERS = 16;
const FETCHERS = 16;
const WORKERS = 4;
const BATCH = 16;
const WAIT_SECONDS = 5;
const RESULTS_IN_FLIGHT = 4;
/** Tasks per step of the store floor: about what the scenario's 16 schedulers keep in flight. */
const FLOOR_GROUP = 16;

export interface PipelineRun {
  seconds: number;
  tasksPerSecond: number;
  requests: { schedule: number; nextBatch: number; emptyBatches: number; result: number; get: number };
}

/**
 * N tasks end to end: SCHEDULERS clients schedule them, WORKERS HTTP workers long-poll
 * next_batch (up to BATCH tasks, wait=WAIT_SECONDS) and post each result, and as soon as a
 * result is accepted a client fetches the task (GET task/{id}, which must say STATUS_SUCCESSFUL).
 * The time runs from the first schedule to the last fetch. Against the ceiling the same requests
 * flow, with the queue emulated by the ceiling server.
 */
export async function runPipeline(clientUrl: string, workerUrl: string, node: Node, n: number, ceiling: boolean): Promise<PipelineRun> {
  const client = clientHttp(clientUrl, node.install, SCHEDULERS + FETCHERS);
  const workers: Http[] = Array.from({ length: WORKERS }, () => workerHttp(workerUrl, node.install, RESULTS_IN_FLIGHT + 1));
  const requests = { schedule: 0, nextBatch: 0, emptyBatches: 0, result: 0, get: 0 };
  const toFetch: number[] = [];
  let wakeFetchers: (() => void)[] = [];
  let fetched = 0;
  let stop = false;
  let fake = 0;
  let ended = 0;
  let failure: unknown;
  const fail = (err: unknown) => {
    failure ??= err;
    stop = true;
    for (const w of workers) w.close();
    for (const wake of wakeFetchers.splice(0)) wake();
  };
  const claim = claimRequest(BATCH, WAIT_SECONDS);
  const started = performance.now();

  let scheduled = 0;
  const schedulers = Array.from({ length: SCHEDULERS }, async () => {
    while (!stop && scheduled < n) {
      scheduled++;
      const r = await client.ok('POST', SCHEDULE, scheduleBody('pipeline'));
      if (!ceiling) scheduledId(r);
      requests.schedule++;
    }
  });

  const workerLoops = workers.map(async (w) => {
    while (!stop) {
      let ids: number[];
      try {
        ids = claimedIds(await w.ok('GET', NEXT_BATCH, claim.body, claim.headers), ceiling, () => ++fake);
      } catch (err) {
        if (stop) return; // the run is over: its parked long-poll was cut
        throw err;
      }
      requests.nextBatch++;
      if (ids.length === 0) {
        requests.emptyBatches++;
        continue;
      }
      await mapLimit(ids, RESULTS_IN_FLIGHT, async (id) => {
        await w.ok('POST', resultPath(id), resultBody(id));
        requests.result++;
        toFetch.push(id);
        wakeFetchers.shift()?.();
      });
    }
  });

  const fetchers = Array.from({ length: FETCHERS }, async () => {
    while (!stop) {
      const id = toFetch.shift();
      if (id === undefined) {
        await new Promise<void>((r) => wakeFetchers.push(r));
        continue;
      }
      const r = await client.ok('GET', taskPath(id));
      if (!r.body.toString('utf8').includes('"status":"STATUS_SUCCESSFUL"'))
        throw new Error(`pipeline: task ${id} is not successful: ${r.body.toString('utf8').slice(0, 300)}`);
      requests.get++;
      if (++fetched === n) {
        ended = performance.now();
        stop = true;
        for (const w of workers) w.close();
        for (const wake of wakeFetchers.splice(0)) wake();
      }
    }
  });

  await Promise.all([...schedulers, ...workerLoops, ...fetchers].map((p) => p.catch(fail)));
  client.close();
  wakeFetchers = [];
  if (failure !== undefined) throw failure;
  const seconds = (ended - started) / 1000;
  return { seconds, tasksPerSecond: n / seconds, requests };
}

/** pipeline: tasks per second end to end, against the ceiling's rate for the same traffic. */
export async function pipelineScenario(ctx: Ctx, node: Node): Promise<void> {
  await ctx.ceiling.setRoutes(await captureWorkerRoutes(node));
  const n = ctx.opts.sizes.pipelineTasks;
  const warm = Math.max(200, Math.round(n / 10));
  await runPipeline(ctx.ceiling.url, ctx.ceiling.url, node, warm, true);
  await runPipeline(node.server.url, node.server.url, node, warm, false);
  const out: { ceiling: PipelineRun[]; taskproc: PipelineRun[]; storeFloor: number[] } = { ceiling: [], taskproc: [], storeFloor: [] };
  for (let round = 0; round < ctx.opts.rounds; round++) {
    const c = await runPipeline(ctx.ceiling.url, ctx.ceiling.url, node, n, true);
    out.ceiling.push(c);
    ctx.log(`  pipeline-${ctx.dialect} round ${round + 1} ceiling: ${Math.round(c.tasksPerSecond)} tasks/s ${JSON.stringify(c.requests)}`);
    const t = await runPipeline(node.server.url, node.server.url, node, n, false);
    out.taskproc.push(t);
    ctx.log(`  pipeline-${ctx.dialect} round ${round + 1} taskproc: ${Math.round(t.tasksPerSecond)} tasks/s ${JSON.stringify(t.requests)}`);
    const floor = await storeFloor(node.install.target, n, FLOOR_GROUP);
    out.storeFloor.push(floor);
    ctx.log(`  pipeline-${ctx.dialect} round ${round + 1} store floor: ${Math.round(floor)} tasks/s`);
  }
  ctx.details[`pipeline-${ctx.dialect}`] = out;
  const target = ctx.dialect === 'sqlite' ? 3000 : 1500;
  ctx.rows.push({
    scenario: 'pipeline',
    dialect: ctx.dialect,
    measure: `${n.toLocaleString('en-US')} tasks: schedule → ${WORKERS} workers (next_batch wait, result) → GET, end to end`,
    unit: 'tasks/s',
    values: out.taskproc.map((r) => r.tasksPerSecond),
    ceiling: out.ceiling.map((r) => r.tasksPerSecond),
    better: 'higher',
    target: { on: 'value', op: '>=', threshold: target, text: `≥ ${target.toLocaleString('en-US')} tasks/s` },
  });
  ctx.rows.push({
    scenario: 'pipeline',
    dialect: ctx.dialect,
    measure: `store floor: the same insert, claim, result and read per task through taskproc's store in one process, ${FLOOR_GROUP} at a time, no HTTP (bench/lib/store-floor.ts)`,
    unit: 'tasks/s',
    values: out.storeFloor,
    better: 'higher',
  });
}
