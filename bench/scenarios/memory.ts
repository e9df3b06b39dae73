import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { type Ctx, MiB, type Node, OCS, userHeaders } from '../lib/context.js';
import { LIST_CUSTOM_ID, createSchema, dropSchema } from '../lib/install.js';
import { checkClean, runLoad } from '../lib/load.js';
import { ROOT, cleanEnv } from '../lib/server.js';
import { taskPath } from '../lib/worker-protocol.js';

/** The issue's limits, read in the stricter decimal sense (MB = 10^6 bytes), compared in MiB. */
const RSS_LIMIT_MIB = 200e6 / MiB;
const UPLOAD_GROWTH_LIMIT_MIB = 64e6 / MiB;

/**
 * memory, first part: the RSS of the server on the large store, right after it started (before
 * any request but the provider registration) and after each round of serving gets and lists.
 */
export async function memoryRssScenario(ctx: Ctx, big: Node, rssAtStart: number): Promise<void> {
  const headers = userHeaders(big.install);
  const paths = (big.install.seed?.benchTaskIds ?? []).map(taskPath);
  const after: number[] = [];
  for (let round = 0; round < ctx.opts.rounds; round++) {
    const duration = Math.max(1, ctx.opts.duration / 2);
    checkClean(
      'memory get',
      await runLoad({ url: big.server.url, method: 'GET', path: paths[0] as string, paths, headers, connections: ctx.opts.connections, duration }),
    );
    const list = `${OCS}/tasks?customId=${LIST_CUSTOM_ID}&format=json`;
    checkClean('memory list', await runLoad({ url: big.server.url, method: 'GET', path: list, headers, connections: ctx.opts.connections, duration }));
    after.push(big.server.rss() / MiB);
    ctx.log(`  memory-${ctx.dialect} round ${round + 1}: RSS ${(big.server.rss() / MiB).toFixed(0)} MiB after serving gets and lists`);
  }
  const stored = ctx.opts.sizes.bigStore.toLocaleString('en-US');
  const target = { on: 'value', op: '<=', threshold: RSS_LIMIT_MIB, text: '≤ 200 MB' } as const;
  ctx.rows.push(
    {
      scenario: 'memory',
      dialect: ctx.dialect,
      measure: `server RSS at start, ${stored} stored`,
      unit: 'MiB',
      values: [rssAtStart / MiB],
      better: 'lower',
      target,
    },
    {
      scenario: 'memory',
      dialect: ctx.dialect,
      measure: `server RSS after serving gets and lists, ${stored} stored`,
      unit: 'MiB',
      values: after,
      better: 'lower',
      target,
    },
  );
}

interface Transfer {
  before: number;
  peak: number;
  growth: number;
  mibPerSecond: number;
  line: string;
}

interface UploadRun {
  upload: Transfer;
  /** When the script also downloads the file back (it does since the files-in-database work). */
  download?: Transfer;
}

/** One result row of bench/upload-memory.ts: `| upload … | RSS before N MiB | peak N MiB | +N MiB | N MiB/s |`. */
function parseTransfer(line: string | undefined): Transfer | undefined {
  if (line === undefined) return undefined;
  const before = /before\s+(\d+(?:\.\d+)?)\s*MiB/i.exec(line)?.[1];
  const peak = /peak\s+(\d+(?:\.\d+)?)\s*MiB/i.exec(line)?.[1];
  const rate = /(\d+(?:\.\d+)?)\s*MiB\/s/i.exec(line)?.[1];
  if (before === undefined || peak === undefined) return undefined;
  return { before: Number(before), peak: Number(peak), growth: Number(peak) - Number(before), mibPerSecond: Number(rate ?? Number.NaN), line };
}

/** Runs bench/upload-memory.ts (its own server, its own user) and reads its result lines. */
function uploadOnce(sizeMiB: number, databaseUrl: string | null): Promise<UploadRun> {
  const env: Record<string, string> = { ...cleanEnv(), SIZE_MIB: String(sizeMiB), ...(databaseUrl !== null && { TASKPROC_DATABASE_URL: databaseUrl }) };
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'upload-memory.ts')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      const lines = out.split('\n').map((l) => l.trim());
      const upload = parseTransfer(lines.find((l) => /^\|\s*upload/i.test(l)));
      const download = parseTransfer(lines.find((l) => /^\|\s*download/i.test(l)));
      if (code !== 0 || upload === undefined) {
        reject(new Error(`bench/upload-memory.ts exited with ${code}; could not read its upload line:\n${out}${err}`));
        return;
      }
      resolve({ upload, ...(download && { download }) });
    });
  });
}

/**
 * memory, second part: the RSS growth while a large file is uploaded through WebDAV, measured by
 * bench/upload-memory.ts (which starts its own server with the upload limit raised). On
 * PostgreSQL its server gets a fresh schema.
 */
export async function uploadScenario(ctx: Ctx): Promise<void> {
  const size = ctx.opts.sizes.uploadMiB;
  const runs: UploadRun[] = [];
  for (let round = 0; round < ctx.opts.rounds; round++) {
    let schema: { url: string; drop: () => Promise<void> } | null = null;
    if (ctx.dialect === 'postgres') {
      const name = await createSchema(ctx.opts.postgresUrl, 'upload');
      schema = {
        url: `${ctx.opts.postgresUrl}${ctx.opts.postgresUrl.includes('?') ? '&' : '?'}schema=${name}`,
        drop: () => dropSchema(ctx.opts.postgresUrl, name),
      };
    }
    try {
      const r = await uploadOnce(size, schema?.url ?? null);
      runs.push(r);
      ctx.log(`  upload-${ctx.dialect} round ${round + 1}: ${r.upload.line}${r.download ? ` ${r.download.line}` : ''}`);
    } finally {
      await schema?.drop();
    }
  }
  ctx.details[`upload-${ctx.dialect}`] = runs;
  const label = size >= 1024 ? `${size / 1024} GiB` : `${size} MiB`;
  ctx.rows.push(
    {
      scenario: 'memory',
      dialect: ctx.dialect,
      measure: `RSS growth during a ${label} WebDAV upload (bench/upload-memory.ts)`,
      unit: 'MiB',
      values: runs.map((r) => r.upload.growth),
      better: 'lower',
      target: { on: 'value', op: '<', threshold: UPLOAD_GROWTH_LIMIT_MIB, text: '< 64 MB' },
    },
    {
      scenario: 'memory',
      dialect: ctx.dialect,
      measure: `upload throughput (${label})`,
      unit: 'MiB/s',
      values: runs.map((r) => r.upload.mibPerSecond),
      better: 'higher',
    },
  );
  const downloads = runs.flatMap((r) => (r.download ? [r.download] : []));
  if (downloads.length === runs.length) {
    ctx.rows.push({
      scenario: 'memory',
      dialect: ctx.dialect,
      measure: `RSS growth while downloading it back (WebDAV GET)`,
      unit: 'MiB',
      values: downloads.map((d) => d.growth),
      better: 'lower',
    });
  }
}
