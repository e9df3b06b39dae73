import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/**
 * A PostgreSQL cluster of the test's own, for what the shared server at 127.0.0.1:5432 must not
 * suffer (a restart in the middle of other tests) or keep (roles are global to a cluster).
 * initdb refuses to run as root, so as root every PostgreSQL binary runs as the `postgres` OS user.
 *
 * A run that is killed cannot clean up; the next one can. Each cluster lives in a fresh
 * `taskproc-pg-*` directory with the test process's pid in `owner`, on a port picked free at start,
 * so a leftover never blocks a later run, and `startPrivatePostgres` stops and removes leftovers
 * whose owner is gone.
 */

const BIN = process.env.TASKPROC_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const PREFIX = 'taskproc-pg-';
const AS_ROOT = process.getuid?.() === 0;

export interface PrivatePostgres {
  port: number;
  /** The cluster's directory (data, socket, log). */
  dir: string;
  /** `postgres://<user>@127.0.0.1:<port>/<database>`, optionally with URL parameters. */
  url(database?: string, user?: string, params?: Record<string, string>): string;
  /** Runs statements as the superuser on `database` (default postgres), on a connection of its own. */
  query(text: string, database?: string): Promise<pg.QueryResult>;
  /** Stops the server (`-m fast`: sessions are disconnected, as in an orderly restart). */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** `pg_ctl restart -m fast`. */
  restart(): Promise<void>;
  /** The server's log, for failure messages. */
  log(): string;
  /** Stops the server at once and removes the directory; safe to call twice. */
  cleanup(): Promise<void>;
}

interface Ran {
  code: number | null;
  out: string;
}

/** Runs a PostgreSQL binary (as the postgres user when we are root) without blocking the event loop. */
function runPg(tool: string, args: string[]): Promise<Ran> {
  const [cmd, argv] = AS_ROOT ? ['runuser', ['-u', 'postgres', '--', join(BIN, tool), ...args]] : [join(BIN, tool), args];
  return new Promise((resolve, reject) => {
    // stdin ignored and output collected: with -l, pg_ctl sends the postmaster's output to the log.
    const child = spawn(cmd as string, argv as string[], { stdio: ['ignore', 'pipe', 'pipe'], cwd: tmpdir() });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

function runPgSync(tool: string, args: string[]): void {
  const [cmd, argv] = AS_ROOT ? ['runuser', ['-u', 'postgres', '--', join(BIN, tool), ...args]] : [join(BIN, tool), args];
  spawnSync(cmd as string, argv as string[], { stdio: 'ignore', cwd: tmpdir(), timeout: 20_000 });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Stops and removes clusters left by test processes that are gone (killed before their cleanup ran). */
function removeLeftovers(): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(PREFIX)) continue;
    const dir = join(tmpdir(), name);
    let owner = NaN;
    try {
      owner = Number(readFileSync(join(dir, 'owner'), 'utf8'));
    } catch {
      // No owner file: a directory whose creation was interrupted, or not ours to judge yet.
      continue;
    }
    if (Number.isInteger(owner) && alive(owner)) continue;
    if (existsSync(join(dir, 'data', 'postmaster.pid'))) runPgSync('pg_ctl', ['-D', join(dir, 'data'), '-m', 'immediate', '-w', 'stop']);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Clusters of this process still running: stopped if the process exits without cleaning up. */
const live = new Set<string>();
let exitHook = false;

/** initdb into a fresh directory and start on a free port; the caller must `cleanup()` (in `after`). */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  removeLeftovers();
  const dir = mkdtempSync(join(tmpdir(), PREFIX));
  writeFileSync(join(dir, 'owner'), String(process.pid));
  if (AS_ROOT)
    chownSync(
      dir,
      Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim()),
      Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim()),
    );
  const data = join(dir, 'data');
  const logFile = join(dir, 'log');
  let port = 0;
  let cleaned = false;

  const fail = (what: string, r: Ran): never => {
    let log = '';
    try {
      log = readFileSync(logFile, 'utf8');
    } catch {
      // no log yet
    }
    throw new Error(`${what} failed (exit ${r.code}):\n${r.out}\n${log.slice(-3000)}`);
  };
  // fsync on: a restart must not lose what the server acknowledged, as in production.
  const serverOptions = () => `-k ${dir} -p ${port} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=100`;
  const pgCtl = async (what: string, args: string[]) => {
    const r = await runPg('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', '30', ...args]);
    if (r.code !== 0) fail(`pg_ctl ${what}`, r);
  };

  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    live.delete(data);
    if (existsSync(join(data, 'postmaster.pid'))) await runPg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const init = await runPg('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
    if (init.code !== 0) fail('initdb', init);
    // A port can be taken between picking it and binding it: try a few.
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      const r = await runPg('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', '30', '-o', serverOptions(), 'start']);
      if (r.code === 0) break;
      if (attempt === 3) fail('pg_ctl start', r);
    }
    live.add(data);
    if (!exitHook) {
      exitHook = true;
      // Synchronous, so it also runs when the test process exits on an uncaught error.
      process.on('exit', () => {
        for (const d of live) runPgSync('pg_ctl', ['-D', d, '-m', 'immediate', '-w', 'stop']);
      });
    }
  } catch (err) {
    await cleanup();
    throw err;
  }

  const url = (database = 'postgres', user = 'postgres', params: Record<string, string> = {}) => {
    const u = new URL(`postgres://${user}@127.0.0.1:${port}/${database}`);
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    return u.toString();
  };
  return {
    get port() {
      return port;
    },
    dir,
    url,
    async query(text, database = 'postgres') {
      const client = new pg.Client({ connectionString: url(database), connectionTimeoutMillis: 5000 });
      await client.connect();
      try {
        return await client.query(text);
      } finally {
        await client.end();
      }
    },
    stop: () => pgCtl('stop', ['-m', 'fast', 'stop']),
    start: () => pgCtl('start', ['-o', serverOptions(), 'start']),
    restart: () => pgCtl('restart', ['-m', 'fast', '-o', serverOptions(), 'restart']),
    log() {
      try {
        return readFileSync(logFile, 'utf8');
      } catch {
        return '';
      }
    },
    cleanup,
  };
}
