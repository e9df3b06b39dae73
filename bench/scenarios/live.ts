/**
 * live (issue 20): what watching tasks as they happen costs. Three measurements, each beside the
 * SSE ceiling (bench/lib/sse-ceiling-server.ts: a bare node:http server that writes each POSTed
 * body to the open event-stream responses of that key) in the same run:
 *
 *  - delay: a worker's `stream-result` → the `output` event at an SSE client, per chunk, on one node
 *    and (PostgreSQL) with the worker on node A and the client on node B;
 *  - memory: the server's RSS with 1 000 idle per-task streams open, minus before;
 *  - GET task throughput with and without 100 tasks each streamed at 100 chunks/s to a watcher.
 */
import { readFileSync } from 'node:fs';
import type { Ctx, Node } from '../lib/context.js';
import { MiB, mapLimit, sleep, userHeaders } from '../lib/context.js';
import type { Http } from '../lib/http.js';
import { SCHED_TYPE } from '../lib/install.js';
import { type LoadResult, checkClean, runLoad } from '../lib/load.js';
import type { SseCeiling } from '../lib/sse-ceiling.js';
import { type SseEvent, SseClient } from '../lib/sse-client.js';
import { percentile } from '../lib/stats.js';
import {
  NEXT_BATCH,
  SCHEDULE,
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

const EXT = '/ocs/v2.php/apps/taskproc/api/v1';
const streamResultPath = (id: number) => `/ocs/v2.php/taskprocessing/tasks_provider/${id}/stream-result?format=json`;
/** What a worker sends: the whole text so far, as llm2 does. */
const chunkBody = (text: string) => JSON.stringify({ output: { output: text } });
/** A token of a model's output: about the 4–6 characters of an average English token with its space. */
const token = (i: number) => ` w${i % 1000}`;

/**
 * Open streams per user must allow the 1 000 of the memory part (the default is 20). BENCH_LIVE_ENV
 * adds settings for the live servers only, to try one ("TASKPROC_PARTIAL_WRITE_MS=60000 …").
 */
export const LIVE_SERVER_ENV: Record<string, string> = {
  TASKPROC_EVENT_STREAMS_PER_USER: '2000',
  ...Object.fromEntries(
    (process.env.BENCH_LIVE_ENV ?? '')
      .split(' ')
      .filter((kv) => kv.includes('='))
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  ),
};

/**
 * Where one watched, streamed task lives: on taskproc a running task (scheduled and claimed through
 * the API), on the ceiling a key. `post` sends the worker's chunk, `watch` opens the client's stream.
 */
interface Channel {
  post(text: string): Promise<void>;
  watch(onEvent: (e: SseEvent) => void): SseClient;
  /** Ends the task (taskproc: the worker's result), after the measurement. */
  finish(): Promise<void>;
}

/** The text length a watcher has after an `output` event (taskproc: delta or value; the ceiling: the forwarded body). */
function textLength(previous: number, data: string): number {
  const d = JSON.parse(data) as { delta?: unknown; value?: unknown; output?: { output?: unknown } };
  if (typeof d.delta === 'string') return previous + d.delta.length;
  if (typeof d.value === 'string') return d.value.length;
  if (typeof d.output?.output === 'string') return d.output.output.length;
  return previous;
}

/** Running tasks of the bench type, scheduled on `node` as the bench user and claimed as the bench ExApp. */
async function runningTasks(client: Http, worker: Http, n: number): Promise<number[]> {
  const scheduled: number[] = [];
  await mapLimit(
    Array.from({ length: n }, (_, i) => i),
    16,
    async () => {
      scheduled.push(scheduledId(await client.ok('POST', SCHEDULE, scheduleBody('live'))));
    },
  );
  const claimed: number[] = [];
  while (claimed.length < n) {
    const claim = claimRequest(Math.min(100, n - claimed.length), 0);
    const ids = claimedIds(await worker.ok('GET', NEXT_BATCH, claim.body, claim.headers), false, () => 0);
    if (ids.length === 0) throw new Error(`live: claimed ${claimed.length} of ${n} tasks, then none were left`);
    claimed.push(...ids);
  }
  const want = new Set(scheduled);
  if (claimed.some((id) => !want.has(id))) throw new Error('live: claimed a task this run did not schedule');
  return claimed;
}

/** Channels on taskproc: the worker posts to `workerNode`, the client watches on `watchNode`. */
async function taskprocChannels(home: Node, workerNode: Node, watchNode: Node, n: number, sockets: number): Promise<{ channels: Channel[]; close(): void }> {
  const client = clientHttp(workerNode.server.url, home.install, 16);
  const worker = workerHttp(workerNode.server.url, home.install, sockets);
  const ids = await runningTasks(client, worker, n);
  const headers = userHeaders(home.install);
  const channels = ids.map(
    (id): Channel => ({
      post: async (text) => {
        await worker.ok('POST', streamResultPath(id), chunkBody(text));
      },
      watch: (onEvent) => new SseClient(`${watchNode.server.url}${EXT}/tasks/${id}/events`, headers, onEvent),
      finish: async () => {
        await worker.ok('POST', resultPath(id), resultBody(id));
      },
    }),
  );
  return {
    channels,
    close: () => {
      client.close();
      worker.close();
    },
  };
}

let ceilingKeys = 0;

/** Channels on the ceiling: fresh keys, the same worker headers and bodies. */
function ceilingChannels(ceiling: SseCeiling, install: Node, n: number, sockets: number): { channels: Channel[]; close(): void } {
  const worker = workerHttp(ceiling.url, install.install, sockets);
  const channels = Array.from({ length: n }, (): Channel => {
    const key = `k${++ceilingKeys}`;
    return {
      post: async (text) => {
        await worker.ok('POST', ceiling.streamPath(key), chunkBody(text));
      },
      watch: (onEvent) => new SseClient(ceiling.eventsUrl(key), {}, onEvent),
      finish: async () => {},
    };
  });
  return { channels, close: () => worker.close() };
}

/**
 * A watcher that has seen the stream start: on taskproc its first event (the task's status), on the
 * ceiling the open response (it sends no event until the first chunk).
 */
async function openWatcher(ch: Channel, isCeiling: boolean, onOutput: (e: SseEvent) => void): Promise<SseClient> {
  let first!: () => void;
  const started = new Promise<void>((r) => (first = r));
  const sse = ch.watch((e) => {
    first();
    if (e.type === 'output') onOutput(e);
  });
  await sse.opened;
  if (!isCeiling) {
    const timeout = sleep(10_000).then(() => {
      throw new Error('live: the watcher got no first event within 10 s');
    });
    await Promise.race([started, timeout]);
  }
  return sse;
}

interface DelayRun {
  delays: number[];
  /** Chunks whose text never reached the watcher within the wait after the last one. */
  lost: number;
  /** output events the watcher got (fewer than chunks when the server coalesced them). */
  events: number;
}

/**
 * `n` chunks into one running task, one after the other: the worker posts the whole text so far,
 * waits for the answer, pauses 1–3 ms, posts the next. The watcher's text length after each event
 * says which chunks it now shows; each chunk's delay is from just before its POST was sent to the
 * first event that showed it (so events that carry several chunks count for each).
 */
async function delayRun(ch: Channel, isCeiling: boolean, n: number): Promise<DelayRun> {
  const sent: number[] = [];
  const lengths: number[] = [];
  const delays: number[] = new Array(n).fill(Number.NaN);
  let shown = 0;
  let next = 0;
  let events = 0;
  let allShown!: () => void;
  const done = new Promise<void>((r) => (allShown = r));
  const sse = await openWatcher(ch, isCeiling, (e) => {
    events++;
    shown = textLength(shown, e.data);
    while (next < lengths.length && (lengths[next] as number) <= shown) {
      delays[next] = e.at - (sent[next] as number);
      next++;
    }
    if (next === n) allShown();
  });
  try {
    let text = '';
    for (let i = 0; i < n; i++) {
      text += token(i);
      lengths.push(text.length);
      sent.push(performance.now());
      await ch.post(text);
      await sleep(1 + Math.random() * 2);
    }
    await Promise.race([done, sleep(5000)]);
  } finally {
    sse.close();
    await ch.finish();
  }
  const got = delays.filter((d) => !Number.isNaN(d));
  return { delays: got, lost: n - got.length, events };
}

interface DelaySummary {
  p50: number;
  p99: number;
  max: number;
  lost: number;
  events: number;
  chunks: number;
}

const summarizeDelay = (r: DelayRun, n: number): DelaySummary => ({
  p50: percentile(r.delays, 50),
  p99: percentile(r.delays, 99),
  max: Math.max(...r.delays),
  lost: r.lost,
  events: r.events,
  chunks: n,
});

/** Part 1 and 2: stream-result → SSE event delay, per round the ceiling and then each taskproc variant. */
export async function liveDelayScenario(ctx: Ctx, sseCeiling: SseCeiling, a: Node, b: Node | null): Promise<void> {
  const n = ctx.opts.quick ? 200 : 1000;
  const variants = [
    { key: 'one', label: 'one node', worker: a, watch: a },
    ...(b ? [{ key: 'two', label: 'two nodes (worker posts to A, client listens on B)', worker: a, watch: b }] : []),
  ];
  const once = async (key: string, chunks: number): Promise<DelayRun> => {
    const v = variants.find((x) => x.key === key);
    const { channels, close } = v ? await taskprocChannels(a, v.worker, v.watch, 1, 1) : ceilingChannels(sseCeiling, a, 1, 1);
    try {
      return await delayRun(channels[0] as Channel, v === undefined, chunks);
    } finally {
      close();
    }
  };
  // Warm-up (not recorded): the JIT, the connections, the task cache.
  await once('ceiling', 100);
  for (const v of variants) await once(v.key, 100);
  const out: Record<string, DelaySummary[]> = { ceiling: [], one: [], two: [] };
  for (let round = 0; round < ctx.opts.rounds; round++) {
    for (const key of ['ceiling', ...variants.map((v) => v.key)]) {
      const s = summarizeDelay(await once(key, n), n);
      (out[key] as DelaySummary[]).push(s);
      ctx.log(
        `  live-${ctx.dialect} delay round ${round + 1} ${key}: p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, max ${s.max.toFixed(1)} ms, ${s.events} events for ${n} chunks, ${s.lost} lost`,
      );
    }
  }
  ctx.details[`live-delay-${ctx.dialect}`] = out;
  const ceiling = out.ceiling as DelaySummary[];
  const sqlite = ctx.dialect === 'sqlite';
  for (const v of variants) {
    const rounds = out[v.key] as DelaySummary[];
    ctx.rows.push(
      {
        scenario: 'live',
        dialect: ctx.dialect,
        measure: `stream-result → SSE output event, p50, ${v.label}, ${n} chunks per round into one task (whole text so far, 1–3 ms apart)`,
        unit: 'ms',
        values: rounds.map((r) => r.p50),
        ceiling: ceiling.map((r) => r.p50),
        better: 'lower',
        ...(sqlite && { target: { on: 'value', op: '<=', threshold: 2, text: '≤ 2 ms' } }),
        ...(v.key === 'two' && { target: { on: 'value', op: '<=', threshold: 5, text: '≤ 5 ms (two nodes)' } }),
      },
      {
        scenario: 'live',
        dialect: ctx.dialect,
        measure: `stream-result → SSE output event, p99, ${v.label}`,
        unit: 'ms',
        values: rounds.map((r) => r.p99),
        ceiling: ceiling.map((r) => r.p99),
        better: 'lower',
        ...(sqlite && { target: { on: 'value', op: '<=', threshold: 10, text: '≤ 10 ms' } }),
      },
      {
        scenario: 'live',
        dialect: ctx.dialect,
        measure: `output events per ${n} chunks (fewer: chunks coalesced), ${v.label}`,
        unit: 'events',
        values: rounds.map((r) => r.events),
        ceiling: ceiling.map((r) => r.events),
        better: 'higher',
      },
      {
        scenario: 'live',
        dialect: ctx.dialect,
        measure: `chunks never shown within 5 s of the last (of ${n}), ${v.label}`,
        unit: 'chunks',
        values: rounds.map((r) => r.lost),
        better: 'lower',
      },
    );
  }
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat (clock ticks of 1/100 s on Linux). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Opens `n` streams with at most 50 being opened at once. */
async function openMany(n: number, open: (i: number) => Promise<SseClient>): Promise<SseClient[]> {
  const clients: SseClient[] = [];
  await mapLimit(
    Array.from({ length: n }, (_, i) => i),
    50,
    async (i) => {
      clients.push(await open(i));
    },
  );
  return clients;
}

const IDLE_STREAMS = 1000;
/** How long the streams stay open, idle, before RSS is read (a few of the feeds' one-second ticks). */
const IDLE_SETTLE_MS = 3000;

/**
 * Part 3: RSS growth with 1 000 idle per-task streams, one on each of 1 000 scheduled (queued) tasks,
 * the wait a client watches longest. RSS before is read after the tasks are scheduled; after, once
 * every stream has had its first events and a few seconds passed. The ceiling holds 1 000 idle
 * event-stream responses the same way.
 */
export async function liveMemoryScenario(ctx: Ctx, sseCeiling: SseCeiling, node: Node): Promise<void> {
  const client = clientHttp(node.server.url, node.install, 16);
  const ids: number[] = [];
  try {
    await mapLimit(
      Array.from({ length: IDLE_STREAMS }, (_, i) => i),
      16,
      async () => {
        ids.push(scheduledId(await client.ok('POST', SCHEDULE, scheduleBody('live-idle', SCHED_TYPE))));
      },
    );
  } finally {
    client.close();
  }
  const headers = userHeaders(node.install);
  const measure = async (label: string, pid: number, rss: () => number, open: (i: number) => Promise<SseClient>, check: () => Promise<void>) => {
    await sleep(1000);
    const before = rss();
    const clients = await openMany(IDLE_STREAMS, open);
    try {
      const cpu0 = cpuSeconds(pid);
      await sleep(IDLE_SETTLE_MS);
      // What the idle streams cost the server's CPU while nothing happens: a share of one core.
      const cpuShare = (cpuSeconds(pid) - cpu0) / (IDLE_SETTLE_MS / 1000);
      await check();
      const after = rss();
      ctx.log(
        `  live-${ctx.dialect} memory ${label}: RSS ${(before / MiB).toFixed(0)} → ${(after / MiB).toFixed(0)} MiB with ${IDLE_STREAMS} idle streams, CPU ${(cpuShare * 100).toFixed(0)} % of a core while idle`,
      );
      return { before: before / MiB, after: after / MiB, growth: (after - before) / MiB, cpuShare };
    } finally {
      for (const c of clients) c.close();
      await sleep(500);
    }
  };
  const ceiling = await measure(
    'ceiling',
    sseCeiling.pid,
    () => sseCeiling.rss(),
    async (i) => {
      const c = new SseClient(sseCeiling.eventsUrl(`idle${i}`), {}, () => {});
      await c.opened;
      return c;
    },
    async () => {
      const open = await sseCeiling.openStreams();
      if (open < IDLE_STREAMS) throw new Error(`live: the ceiling holds ${open} streams, not ${IDLE_STREAMS}`);
    },
  );
  let closedEarly = 0;
  const taskproc = await measure(
    'taskproc',
    node.server.pid,
    () => node.server.rss(),
    async (i) => {
      let first!: () => void;
      const started = new Promise<void>((r) => (first = r));
      const c = new SseClient(`${node.server.url}${EXT}/tasks/${ids[i]}/events`, headers, () => first());
      void c.closed.then(() => closedEarly++);
      await c.opened;
      await Promise.race([started, sleep(10_000)]);
      return c;
    },
    async () => {
      if (closedEarly > 0) throw new Error(`live: ${closedEarly} of the idle streams were closed by the server`);
    },
  );
  ctx.details[`live-memory-${ctx.dialect}`] = { ceiling, taskproc };
  ctx.rows.push(
    {
      scenario: 'live',
      dialect: ctx.dialect,
      measure: `RSS growth with ${IDLE_STREAMS.toLocaleString('en-US')} idle per-task event streams (queued tasks), ${IDLE_SETTLE_MS / 1000} s after they opened; RSS before ${taskproc.before.toFixed(0)} MiB`,
      unit: 'MiB',
      values: [taskproc.growth],
      ceiling: [ceiling.growth],
      better: 'lower',
      target: { on: 'value', op: '<=', threshold: 50, text: '≤ 50 MiB' },
    },
    {
      scenario: 'live',
      dialect: ctx.dialect,
      measure: `server CPU while those ${IDLE_STREAMS.toLocaleString('en-US')} streams are idle (% of one core, over ${IDLE_SETTLE_MS / 1000} s)`,
      unit: '%',
      values: [taskproc.cpuShare * 100],
      ceiling: [ceiling.cpuShare * 100],
      better: 'lower',
    },
  );
}

const STREAMED_TASKS = 100;
const CHUNKS_PER_SECOND = 100;

/**
 * 100 tasks each streamed at up to 100 chunks/s (the worker waits for each answer; a chunk that falls
 * behind its slot goes at once, and the schedule restarts from there rather than bursting), each
 * watched by one SSE client. Runs from `start` to `stop`; counts what was posted and shown.
 */
class StreamLoad {
  private running = true;
  private loops: Promise<void>[] = [];
  private clients: SseClient[] = [];
  posted = 0;
  shown = 0;
  private startedAt = 0;
  private stoppedAt = 0;

  private constructor(
    private readonly channels: Channel[],
    private readonly close: () => void,
  ) {}

  static async start(ctx: Ctx, target: 'ceiling' | 'taskproc', sseCeiling: SseCeiling, node: Node): Promise<StreamLoad> {
    const { channels, close } =
      target === 'ceiling'
        ? ceilingChannels(sseCeiling, node, STREAMED_TASKS, STREAMED_TASKS)
        : await taskprocChannels(node, node, node, STREAMED_TASKS, STREAMED_TASKS);
    const load = new StreamLoad(channels, close);
    load.clients = await Promise.all(channels.map((ch) => openWatcher(ch, target === 'ceiling', () => load.shown++)));
    load.startedAt = performance.now();
    load.loops = channels.map((ch, k) => load.loop(ch, k));
    ctx.log(`  live-${ctx.dialect} stream load on ${target}: ${STREAMED_TASKS} tasks at up to ${CHUNKS_PER_SECOND} chunks/s each`);
    return load;
  }

  private async loop(ch: Channel, k: number): Promise<void> {
    const interval = 1000 / CHUNKS_PER_SECOND;
    // Spread the tasks over the interval so their chunks do not all leave together.
    await sleep((k / STREAMED_TASKS) * interval);
    let due = performance.now();
    let text = '';
    let i = 0;
    while (this.running) {
      text += token(i++);
      await ch.post(text);
      this.posted++;
      due += interval;
      const now = performance.now();
      if (due > now) await sleep(due - now);
      else due = now;
    }
  }

  /** Stops posting, ends the tasks, closes the watchers; returns chunks posted and events shown per second. */
  async stop(): Promise<{ postedPerSecond: number; shownPerSecond: number }> {
    this.running = false;
    this.stoppedAt = performance.now();
    const seconds = (this.stoppedAt - this.startedAt) / 1000;
    const rates = { postedPerSecond: this.posted / seconds, shownPerSecond: this.shown / seconds };
    await Promise.all(this.loops);
    for (const c of this.clients) c.close();
    await mapLimit(this.channels, 16, (ch) => ch.finish());
    this.close();
    return rates;
  }
}

/**
 * Part 4: GET task/{id} throughput (the get scenario's load: autocannon, random ids of the bench
 * user's seeded tasks) on the ceiling and on taskproc, each without and with the stream load running
 * on the same server; the ratio with/without is taken within each round, the ceiling's beside it.
 */
export async function liveThroughputScenario(ctx: Ctx, sseCeiling: SseCeiling, node: Node): Promise<void> {
  const ids = node.install.seed?.benchTaskIds ?? [];
  if (ids.length === 0) throw new Error('live: the store has no tasks of the bench user');
  const headers = userHeaders(node.install);
  const paths = ids.map(taskPath);
  const probe = clientHttp(node.server.url, node.install, 1);
  const real = await probe.ok('GET', paths[Math.floor(paths.length / 2)] as string).finally(() => probe.close());
  await sseCeiling.setCanned(real);
  const duration = ctx.opts.quick ? 2 : Math.min(ctx.opts.duration, 5);
  const rounds = ctx.opts.quick ? 1 : Math.min(ctx.opts.rounds, 2);
  const spec = (url: string, seconds: number) => ({
    url,
    method: 'GET',
    path: paths[0] as string,
    paths,
    headers,
    connections: ctx.opts.connections,
    duration: seconds,
  });
  // Warm-up on both, as interleavedLoad does.
  for (const url of [sseCeiling.url, node.server.url]) checkClean('live get warm-up', await runLoad(spec(url, ctx.opts.warmup)));
  type Round = { without: LoadResult; with: LoadResult; postedPerSecond: number; shownPerSecond: number };
  const out: Record<'ceiling' | 'taskproc', Round[]> = { ceiling: [], taskproc: [] };
  for (let round = 0; round < rounds; round++) {
    for (const target of ['ceiling', 'taskproc'] as const) {
      const url = target === 'ceiling' ? sseCeiling.url : node.server.url;
      const measureWithout = async () => {
        const r = await runLoad(spec(url, duration));
        checkClean(`live get without streams on ${target}`, r);
        return r;
      };
      let stopped = { postedPerSecond: 0, shownPerSecond: 0 };
      const measureWith = async () => {
        const load = await StreamLoad.start(ctx, target, sseCeiling, node);
        // A second of streaming before the GETs start: every stream is flowing when they do.
        const r = await sleep(1000)
          .then(() => runLoad(spec(url, duration)))
          .finally(() => load.stop().then((rates) => (stopped = rates)));
        checkClean(`live get with streams on ${target}`, r);
        return { r, rates: stopped };
      };
      // Alternate which goes first, so that drift favours neither.
      let without: LoadResult;
      let withStreams: { r: LoadResult; rates: { postedPerSecond: number; shownPerSecond: number } };
      if (round % 2 === 0) {
        without = await measureWithout();
        withStreams = await measureWith();
      } else {
        withStreams = await measureWith();
        without = await measureWithout();
      }
      out[target].push({ without, with: withStreams.r, ...withStreams.rates });
      ctx.log(
        `  live-${ctx.dialect} get round ${round + 1} ${target}: ${Math.round(without.rps)} req/s without, ${Math.round(withStreams.r.rps)} with streams (${Math.round(withStreams.rates.postedPerSecond)} chunks/s posted, ${Math.round(withStreams.rates.shownPerSecond)} events/s shown)`,
      );
    }
  }
  ctx.details[`live-get-${ctx.dialect}`] = out;
  const t = out.taskproc;
  const c = out.ceiling;
  ctx.rows.push(
    {
      scenario: 'live',
      dialect: ctx.dialect,
      measure: `GET task/{id} without streams (random of ${ids.length.toLocaleString('en-US')} ids, ${duration} s per measurement)`,
      unit: 'req/s',
      values: t.map((r) => r.without.rps),
      ceiling: c.map((r) => r.without.rps),
      better: 'higher',
    },
    {
      scenario: 'live',
      dialect: ctx.dialect,
      measure: `GET task/{id} while ${STREAMED_TASKS} tasks are streamed at ${CHUNKS_PER_SECOND} chunks/s each to a watching SSE client`,
      unit: 'req/s',
      values: t.map((r) => r.with.rps),
      ceiling: c.map((r) => r.with.rps),
      better: 'higher',
    },
    {
      scenario: 'live',
      dialect: ctx.dialect,
      measure: 'GET throughput with streams / without (same round; the ceiling column: the same ratio on the ceiling)',
      unit: '×',
      values: t.map((r) => r.with.rps / r.without.rps),
      ceiling: c.map((r) => r.with.rps / r.without.rps),
      better: 'higher',
      target: { on: 'value', op: '>=', threshold: 0.9, text: '≥ 0.90 (within 10 %)' },
    },
    {
      scenario: 'live',
      dialect: ctx.dialect,
      measure: `stream-result chunks/s accepted during the GET load (${STREAMED_TASKS * CHUNKS_PER_SECOND} asked for)`,
      unit: 'chunks/s',
      values: t.map((r) => r.postedPerSecond),
      ceiling: c.map((r) => r.postedPerSecond),
      better: 'higher',
    },
    {
      scenario: 'live',
      dialect: ctx.dialect,
      measure: 'output events/s the watchers got during the GET load',
      unit: 'events/s',
      values: t.map((r) => r.shownPerSecond),
      ceiling: c.map((r) => r.shownPerSecond),
      better: 'higher',
    },
  );
}
