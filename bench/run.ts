/**
 * taskproc's benchmark suite: `npm run bench` (every scenario on SQLite and PostgreSQL) or
 * `npm run bench:<scenario>`; `npm run bench -- --help` for the options. Each figure is measured
 * in rounds, each round with a ceiling (a bare node:http server answering the same requests with
 * the same bytes) measured just before, and reported as a median, its min–max, and its ratio to
 * the ceiling. Writes bench/results/<name>.json and .md and prints the table.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Ceiling } from './lib/ceiling.js';
import { SseCeiling } from './lib/sse-ceiling.js';
import type { Ctx, Node } from './lib/context.js';
import { type Plan, explainQueries } from './lib/explain.js';
import { type Install, createInstall, registerProviders } from './lib/install.js';
import { type BenchOptions, type Dialect, type ScenarioName, parseOptions } from './lib/options.js';
import { type Row, commit, machine, markdownTable, summarize } from './lib/report.js';
import { ROOT, startServer } from './lib/server.js';
import { claimScenario } from './scenarios/claim.js';
import { getScenario } from './scenarios/get.js';
import { listScenario } from './scenarios/list.js';
import { LIVE_SERVER_ENV, liveDelayScenario, liveMemoryScenario, liveThroughputScenario } from './scenarios/live.js';
import { memoryRssScenario, uploadScenario } from './scenarios/memory.js';
import { pickupScenario } from './scenarios/pickup.js';
import { pipelineScenario } from './scenarios/pipeline.js';
import { scheduleScenario } from './scenarios/schedule.js';

const log = (message: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);

async function startNode(install: Install, name: string, env: Record<string, string> = {}): Promise<Node> {
  const server = await startServer(install.target, name, env);
  return { install, server };
}

async function checkPostgres(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query('select 1');
  } catch (err) {
    throw new Error(`PostgreSQL at ${url} does not answer (${(err as Error).message}); use --dialect sqlite or --postgres-url`);
  } finally {
    await client.end().catch(() => {});
  }
}

/** get, list, claim and the RSS part of memory: on a large (and for list and claim a small) seeded store. */
async function seededPhase(ctx: Ctx, want: (s: ScenarioName) => boolean, plans: Plan[]): Promise<void> {
  const { sizes } = ctx.opts;
  const withSmall = want('list') || want('claim');
  // The claim scenario's fair queue (issue 22): users waiting with tasks of the claimed type, in both stores.
  const waiting = want('claim') ? { waitingUsers: sizes.waitingUsers, waitingPerUser: sizes.waitingPerUser } : {};
  log(
    `${ctx.dialect}: seeding ${sizes.bigStore.toLocaleString('en-US')} tasks${withSmall ? ` and ${sizes.smallStore.toLocaleString('en-US')} tasks` : ''}${want('claim') ? `, each with ${sizes.waitingUsers} users × ${sizes.waitingPerUser} waiting` : ''}`,
  );
  const installs: Install[] = [];
  const nodes: Node[] = [];
  try {
    const bigInstall = await createInstall(ctx.dialect, 'big', ctx.opts.postgresUrl, {
      total: sizes.bigStore,
      benchUserTasks: sizes.benchUserBig,
      users: 1000,
      ...waiting,
    });
    installs.push(bigInstall);
    log(`${ctx.dialect}: large store seeded in ${bigInstall.seed?.seconds.toFixed(1)} s`);
    const smallInstall = withSmall
      ? await createInstall(ctx.dialect, 'small', ctx.opts.postgresUrl, {
          total: sizes.smallStore,
          benchUserTasks: sizes.benchUserSmall,
          users: 100,
          ...waiting,
        })
      : null;
    if (smallInstall) installs.push(smallInstall);
    const big = await startNode(bigInstall, `${ctx.dialect}-big`);
    nodes.push(big);
    await registerProviders(big.server.url, bigInstall.appSecret);
    const rssAtStart = big.server.rss();
    const small = smallInstall ? await startNode(smallInstall, `${ctx.dialect}-small`) : null;
    if (small) {
      nodes.push(small);
      await registerProviders(small.server.url, small.install.appSecret);
    }
    if (want('get')) {
      log(`${ctx.dialect}: get`);
      await getScenario(ctx, big);
    }
    if (want('list') && small) {
      log(`${ctx.dialect}: list`);
      await listScenario(ctx, small, big);
    }
    if (want('claim') && small) {
      log(`${ctx.dialect}: claim`);
      await claimScenario(ctx, small, big);
    }
    if (want('memory')) {
      log(`${ctx.dialect}: memory (RSS on the large store)`);
      await memoryRssScenario(ctx, big, rssAtStart);
    }
    for (const n of nodes.splice(0)) await n.server.stop();
    if (want('list') || want('claim')) {
      log(`${ctx.dialect}: query plans on the large store`);
      plans.push(...(await explainQueries(bigInstall, bigInstall.seed?.benchTaskIds[0] ?? 1)));
    }
  } finally {
    for (const n of nodes) await n.server.stop();
    for (const i of installs) await i.drop();
  }
}

/** schedule, pipeline and pickup: on an empty store (two nodes on PostgreSQL for pickup). */
async function emptyPhase(ctx: Ctx, want: (s: ScenarioName) => boolean): Promise<void> {
  const install = await createInstall(ctx.dialect, 'empty', ctx.opts.postgresUrl);
  const nodes: Node[] = [];
  try {
    const a = await startNode(install, `${ctx.dialect}-A`);
    nodes.push(a);
    await registerProviders(a.server.url, install.appSecret);
    if (want('schedule')) {
      log(`${ctx.dialect}: schedule`);
      await scheduleScenario(ctx, a);
    }
    if (want('pipeline')) {
      log(`${ctx.dialect}: pipeline`);
      await pipelineScenario(ctx, a);
    }
    if (want('pickup')) {
      let b: Node | null = null;
      if (ctx.dialect === 'postgres') {
        b = await startNode(install, `${ctx.dialect}-B`);
        nodes.push(b);
        // Node B learns the providers from the database (at most a second later).
        await new Promise((r) => setTimeout(r, 1500));
      }
      log(`${ctx.dialect}: pickup`);
      await pickupScenario(ctx, a, b);
    }
  } finally {
    for (const n of nodes) await n.server.stop();
    await install.drop();
  }
}

/**
 * live (issue 20): on SQLite the delay on one node, the RSS of 1 000 idle streams and GET throughput
 * under 100 streamed tasks, on a small seeded store; on PostgreSQL the delay on one node and across two
 * nodes on one schema. Its own ceiling server (bare node:http forwarding POSTed chunks to open SSE responses).
 */
async function livePhase(ctx: Ctx): Promise<void> {
  const sseCeiling = await SseCeiling.start();
  const sqlite = ctx.dialect === 'sqlite';
  const install = await createInstall(ctx.dialect, 'live', ctx.opts.postgresUrl, sqlite ? { total: 20_000, benchUserTasks: 2_000, users: 100 } : undefined);
  const nodes: Node[] = [];
  try {
    const a = await startNode(install, `${ctx.dialect}-live-A`, LIVE_SERVER_ENV);
    nodes.push(a);
    await registerProviders(a.server.url, install.appSecret);
    let b: Node | null = null;
    if (!sqlite) {
      b = await startNode(install, `${ctx.dialect}-live-B`, LIVE_SERVER_ENV);
      nodes.push(b);
      // Node B learns the providers from the database (at most a second later).
      await new Promise((r) => setTimeout(r, 1500));
    }
    log(`${ctx.dialect}: live (stream-result → SSE delay)`);
    await liveDelayScenario(ctx, sseCeiling, a, b);
    if (sqlite) {
      log(`${ctx.dialect}: live (RSS of idle streams)`);
      await liveMemoryScenario(ctx, sseCeiling, a);
      log(`${ctx.dialect}: live (GET task with and without streamed tasks)`);
      await liveThroughputScenario(ctx, sseCeiling, a);
    }
  } finally {
    for (const n of nodes) await n.server.stop();
    await install.drop();
    await sseCeiling.stop();
  }
}

async function main(): Promise<void> {
  const opts: BenchOptions = parseOptions(process.argv.slice(2));
  const want = (s: ScenarioName) => opts.scenarios.includes(s);
  const startedAt = new Date();
  const info = { date: startedAt.toISOString(), commit: commit(), machine: machine() };
  log(`scenarios ${opts.scenarios.join(', ')} on ${opts.dialects.join(' and ')}; ${opts.rounds} rounds${opts.quick ? ' (quick)' : ''}; commit ${info.commit}`);
  const rows: Row[] = [];
  const details: Record<string, unknown> = {};
  const plans: Record<string, Plan[]> = {};
  const ceiling = await Ceiling.start();
  try {
    for (const dialect of opts.dialects as Dialect[]) {
      if (dialect === 'postgres') await checkPostgres(opts.postgresUrl);
      const ctx: Ctx = { opts, dialect, ceiling, rows, details, log };
      if (want('get') || want('list') || want('claim') || want('memory')) {
        const dialectPlans: Plan[] = [];
        plans[dialect] = dialectPlans;
        await seededPhase(ctx, want, dialectPlans);
      }
      if (want('schedule') || want('pipeline') || want('pickup')) await emptyPhase(ctx, want);
      if (want('memory')) {
        log(`${dialect}: memory (upload)`);
        await uploadScenario(ctx);
      }
      if (want('live')) await livePhase(ctx);
    }
  } finally {
    await ceiling.stop();
  }
  info.machine.loadAverageAtEnd = os.loadavg().map((x) => Math.round(x * 100) / 100);
  const summaries = rows.map(summarize);
  const table = markdownTable(summaries);
  const failed = summaries.filter((s) => s.pass === false).length;
  const md = [
    `taskproc bench, ${info.date.slice(0, 16).replace('T', ' ')} UTC, commit ${info.commit}`,
    `${info.machine.cpus} × ${info.machine.cpuModel}, ${info.machine.memoryGiB} GiB, Node ${info.machine.node}, ${info.machine.os}; load average ${info.machine.loadAverageAtStart.join(' ')} at start, ${info.machine.loadAverageAtEnd?.join(' ')} at end`,
    `command: npm run bench -- ${process.argv.slice(2).join(' ')}`.trimEnd(),
    `rounds ${opts.rounds}, ${opts.duration} s per autocannon measurement after ${opts.warmup} s of warm-up, ${opts.connections} connections`,
    '',
    table,
    '',
    ...Object.entries(plans).flatMap(([dialect, ps]) =>
      ps.length === 0
        ? []
        : [
            `### Query plans, ${dialect}, ${opts.sizes.bigStore.toLocaleString('en-US')} tasks stored`,
            '',
            ...ps.flatMap((p) => [`${p.label}:`, '', '```', p.sql, '', p.plan, '```', '']),
          ],
    ),
  ].join('\n');
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${opts.resultName}.json`), `${JSON.stringify({ ...info, options: opts, rows: summaries, plans, details }, null, 2)}\n`);
  writeFileSync(join(dir, `${opts.resultName}.md`), `${md}\n`);
  log(`wrote bench/results/${opts.resultName}.json and .md`);
  console.log(`\n${table}\n`);
  console.log(failed === 0 ? 'Every target met.' : `${failed} target(s) missed.`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
