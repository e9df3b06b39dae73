import { type ChildProcess, fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Ctx } from './context.js';
import type { LoadResult } from './load.js';
import { cli, ROOT } from './server.js';

/**
 * A floor server in its own child process: the insert floor (insert-floor-server.ts) on a fresh,
 * migrated SQLite store of its own, or the read floor (read-floor-server.ts) on the store taskproc
 * is serving.
 */
export class FloorServer {
  private constructor(
    private readonly child: ChildProcess,
    /** A directory of the floor's own, removed at stop; null when it reads another's store. */
    private readonly dir: string | null,
    readonly url: string,
  ) {}

  /** `table`: the real `tasks` table, or a table of one text column (see insert-floor-server.ts). */
  static async insert(answer: string, table: 'tasks' | 'one-column' = 'tasks'): Promise<FloorServer> {
    const dir = await mkdtemp(join(tmpdir(), 'taskproc-bench-floor-'));
    await cli({ dataDir: dir, databaseUrl: null }, ['migrate']);
    return FloorServer.fork('insert-floor-server.ts', [join(dir, 'taskproc.db'), answer, table], dir);
  }

  /** Reads from `dataDir`'s taskproc.db (read-only) while taskproc serves it. */
  static read(dataDir: string, answer: string): Promise<FloorServer> {
    return FloorServer.fork('read-floor-server.ts', [join(dataDir, 'taskproc.db'), answer], null);
  }

  private static fork(script: string, args: string[], dir: string | null): Promise<FloorServer> {
    const child = fork(join(ROOT, 'bench', 'lib', script), args, {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
      child.once('message', (msg: { port: number }) => resolve(new FloorServer(child, dir, `http://127.0.0.1:${msg.port}`)));
    });
  }

  async stop(): Promise<void> {
    this.child.removeAllListeners('exit');
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.disconnect();
    await exited;
    if (this.dir !== null) await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * The two rows a floor adds to its scenario, from the same rounds: the floor against the ceiling
 * (what the database work costs), and taskproc against the floor (what our request path costs).
 */
export function pushFloorRows(ctx: Ctx, scenario: string, floorMeasure: string, res: Record<string, LoadResult[]>): void {
  pushRatioRow(ctx, scenario, floorMeasure, res, 'floor', 'ceiling');
  pushRatioRow(ctx, scenario, `taskproc vs the ${floorMeasure.split(':')[0]} (same rounds)`, res, 'taskproc', 'floor');
}

/** One row of req/s: the server loaded as `key` against the one loaded as `against`, round by round. */
export function pushRatioRow(ctx: Ctx, scenario: string, measure: string, res: Record<string, LoadResult[]>, key: string, against: string): void {
  const rps = (k: string) => (res[k] ?? []).map((r) => r.rps);
  ctx.rows.push({ scenario, dialect: ctx.dialect, unit: 'req/s', better: 'higher', measure, values: rps(key), ceiling: rps(against) });
}
