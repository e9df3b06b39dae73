import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root (bench/lib/../..). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'taskproc.js');

/** Where one taskproc installation keeps its data: a directory, and a PostgreSQL URL or null (SQLite in the directory). */
export interface Target {
  dataDir: string;
  databaseUrl: string | null;
}

/** This process's environment without TASKPROC_* (a developer's settings must not leak into the bench). */
export function cleanEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => !e[0].startsWith('TASKPROC_') && e[1] !== undefined));
}

export function targetEnv(t: Target): Record<string, string> {
  return { TASKPROC_DATA_DIR: t.dataDir, ...(t.databaseUrl !== null && { TASKPROC_DATABASE_URL: t.databaseUrl }) };
}

/**
 * The migration's introspection lists the tables of every schema of the database; when another
 * process (a test suite sharing database `test`) drops a schema meanwhile, it fails with
 * `schema "…" does not exist`. Such a failure says nothing about our installation: try again.
 */
const FOREIGN_SCHEMA_RACE = /Migrat\w+ the database failed: schema "[^"]+" does not exist/;
const ATTEMPTS = 3;

/** Runs an admin command (`node bin/taskproc.js <args>`) as a user would; returns stdout, throws on failure. */
export async function cli(t: Target, args: string[], env: Record<string, string> = {}): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await cliOnce(t, args, env);
    } catch (err) {
      if (attempt >= ATTEMPTS || !FOREIGN_SCHEMA_RACE.test((err as Error).message)) throw err;
      console.error(`[bench] taskproc ${args[0]}: another schema vanished during the migration check; trying again`);
    }
  }
}

function cliOnce(t: Target, args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...cleanEnv(), ...targetEnv(t), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`taskproc ${args.join(' ')} exited with ${code}:\n${out}${err}`))));
  });
}

/** The last non-empty line of a command's output (where taskproc prints generated secrets). */
export const lastLine = (out: string): string => out.trim().split('\n').pop()?.trim() ?? '';

/** RSS of a process in bytes, from /proc/<pid>/status (VmRSS). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) * 1024;
}

export interface ServerHandle {
  url: string;
  pid: number;
  name: string;
  rss(): number;
  stop(): Promise<void>;
}

/** Settings every server under test gets: no built-in providers or runner (they would compete for the CPU), quiet logs. */
const SERVE_ENV = {
  TASKPROC_HOST: '127.0.0.1',
  TASKPROC_PORT: '0',
  TASKPROC_OFFLINE_PROVIDERS: 'false',
  TASKPROC_RUNNER_CONCURRENCY: '0',
  TASKPROC_LOG_LEVEL: 'warn',
  TASKPROC_ADMIN_PASSWORD: 'bench-admin-password-not-used',
};

/**
 * Starts `node bin/taskproc.js serve` as a child process on an ephemeral port and waits for
 * "taskproc is listening on <url>". Its stderr is kept and shown if it dies.
 */
export async function startServer(t: Target, name: string, env: Record<string, string> = {}): Promise<ServerHandle> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServerOnce(t, name, env);
    } catch (err) {
      if (attempt >= ATTEMPTS || !FOREIGN_SCHEMA_RACE.test((err as Error).message)) throw err;
      console.error(`[bench] server ${name}: another schema vanished during the migration check; starting again`);
    }
  }
}

function startServerOnce(t: Target, name: string, env: Record<string, string>): Promise<ServerHandle> {
  // BENCH_SERVER_NODE_ARGS: node flags for the servers under test only (say, --cpu-prof --cpu-prof-dir=/tmp/prof).
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, BIN, 'serve'], {
    cwd: ROOT,
    env: { ...cleanEnv(), ...targetEnv(t), ...SERVE_ENV, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
    if (stderr.length > 20_000) stderr = stderr.slice(-10_000);
  });
  let exited = false;
  let listening = false;
  const exit = new Promise<void>((resolve) =>
    child.on('exit', (code, signal) => {
      exited = true;
      if (listening && !stopping) console.error(`[bench] server ${name} exited unexpectedly (${code ?? signal})\n${stderr}`);
      resolve();
    }),
  );
  let stopping = false;
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server ${name} did not start within 120 s:\n${out}${stderr}`));
    }, 120_000);
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      const m = /taskproc is listening on (\S+)/.exec(out);
      if (m === null) return;
      clearTimeout(timer);
      listening = true;
      child.stdout?.removeAllListeners('data');
      child.stdout?.resume();
      const pid = child.pid as number;
      resolve({
        url: (m[1] as string).replace(/\/$/, ''),
        pid,
        name,
        rss: () => rssBytes(pid),
        stop: async () => {
          if (exited) return;
          stopping = true;
          child.kill('SIGTERM');
          const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          await exit;
          clearTimeout(killer);
        },
      });
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server ${name} exited with ${code} before listening:\n${out}${stderr}`));
    });
  });
}
