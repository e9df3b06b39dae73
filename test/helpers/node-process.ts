import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBuilt } from '../cli/run-cli.js';

/**
 * A real `taskproc serve` process (the built binary, as a user starts it), for tests that need
 * what one process cannot show: several nodes, a node killed mid-run, a start that must fail.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'taskproc.js');
const LISTENING = /taskproc is listening on (http:\/\/\S+)/;

export interface NodeProcess {
  name: string;
  pid: number;
  /** The base URL the node printed ("taskproc is listening on <url>"). */
  url: string;
  child: ChildProcess;
  /** stdout and stderr so far, each line prefixed with the node's name and stream. */
  output(): string;
  /** What the process wrote to stderr so far (crash reports, Node warnings, start errors). */
  stderr(): string;
  /** Resolves when the process has exited, with its code or signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Whether the process is still running. */
  readonly running: boolean;
  /** SIGTERM (an orderly shutdown) and wait for the exit; SIGKILL after `ms`. Returns the exit code. */
  stop(ms?: number): Promise<number | null>;
  /** SIGKILL, as a crash or the OOM killer would, and wait for the exit. */
  kill(): Promise<void>;
}

/** What a failed start printed: `taskproc serve` run to its end. */
export interface FailedStart {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** How long the process ran. */
  ms: number;
}

/** Children still running, killed when this test process ends however it ends. */
const children = new Set<ChildProcess>();
let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  const killAll = () => {
    for (const c of children) c.kill('SIGKILL');
  };
  process.on('exit', killAll);
  // The test runner ends a file that runs over its time with SIGTERM, which skips 'exit' hooks.
  process.once('SIGTERM', () => {
    killAll();
    process.exit(143);
  });
}

/** This process's environment without TASKPROC_* (a developer's settings must not leak into a test node), plus `env`. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TASKPROC_')));
  return { ...base, ...env };
}

function spawnServe(env: Record<string, string>, args: string[]): ChildProcess {
  ensureBuilt();
  hookExit();
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  // A node a failed test forgot to stop must not keep this process alive: the exit hook kills it.
  child.unref();
  for (const stream of [child.stdout, child.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
  return child;
}

/**
 * Starts `taskproc serve` with `env` (TASKPROC_PORT defaults to 0, an ephemeral port) and
 * resolves once it prints where it listens. A process that exits first, or says nothing within
 * `timeoutMs`, fails the start with its output in the error (and is killed).
 */
export async function startNode(name: string, env: Record<string, string>, opts: { timeoutMs?: number; args?: string[] } = {}): Promise<NodeProcess> {
  const child = spawnServe({ TASKPROC_PORT: '0', ...env }, opts.args ?? []);
  const lines: string[] = [];
  const collect = (stream: 'out' | 'err') => {
    let partial = '';
    return (s: string) => {
      const parts = (partial + s).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) lines.push(`[${name} ${stream}] ${line}`);
    };
  };
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  let running = true;
  void exited.then(() => (running = false));
  child.stdout?.setEncoding('utf8').on('data', collect('out'));
  child.stderr?.setEncoding('utf8').on('data', collect('err'));
  const output = () => lines.join('\n');
  let stderr = '';
  child.stderr?.on('data', (s: string) => (stderr += s));

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node ${name} did not report listening within ${opts.timeoutMs ?? 30_000} ms:\n${output()}`));
    }, opts.timeoutMs ?? 30_000);
    const onData = (s: string) => {
      const m = LISTENING.exec(s);
      if (m) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        resolve(m[1] as string);
      }
    };
    child.stdout?.on('data', onData);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`node ${name} exited (code ${code}, signal ${signal}) before listening:\n${output()}`));
    });
  });

  const node: NodeProcess = {
    name,
    pid: child.pid as number,
    url,
    child,
    output,
    stderr: () => stderr,
    exited,
    get running() {
      return running;
    },
    async stop(ms = 20_000) {
      if (!running) return (await exited).code;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), ms);
      const { code } = await exited;
      clearTimeout(timer);
      return code;
    },
    async kill() {
      if (!running) return;
      child.kill('SIGKILL');
      // The child is unref'd: a timer keeps this process waiting for its exit.
      const keepAlive = setTimeout(() => {}, 10_000);
      await exited;
      clearTimeout(keepAlive);
    },
  };
  return node;
}

/**
 * Runs `taskproc serve` that is expected not to start, to its end (killed after `timeoutMs`: a
 * node that neither listens nor exits is the half-started node the test looks for).
 */
export async function failedStart(env: Record<string, string>, timeoutMs = 30_000): Promise<FailedStart> {
  const started = Date.now();
  const child = spawnServe({ TASKPROC_PORT: '0', ...env }, []);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (c, s) => resolve({ code: c, signal: s })),
  );
  clearTimeout(timer);
  return { code, signal, stdout, stderr, ms: Date.now() - started };
}

/** `npm start` as an operator runs it, for tests of what reaches the server through npm. */
export interface NpmStart {
  /** npm's own pid: the process systemd or Docker sends the stop signal to. */
  pid: number;
  /** The process group npm leads; everything its start script runs stays in it. */
  pgid: number;
  /** The base URL the server printed. */
  url: string;
  /** stdout and stderr so far, npm's and the server's. */
  output(): string;
  /** Resolves when npm has exited, with its code or signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Whether any process of the group is still there (npm, a shell, the server). */
  groupAlive(): boolean;
  /** SIGKILL to every process of the group: for a test's `finally`, so nothing outlives it. */
  killGroup(): void;
}

/**
 * Runs `npm start` in the project folder, in a process group of its own (detached), with `env`
 * (TASKPROC_PORT defaults to 0), and resolves once the server prints where it listens. The group
 * is killed when this test process exits, whatever a test left behind.
 */
export async function startNpmStart(env: Record<string, string>, opts: { timeoutMs?: number } = {}): Promise<NpmStart> {
  ensureBuilt();
  const child = spawn('npm', ['start'], {
    cwd: ROOT,
    env: childEnv({ TASKPROC_PORT: '0', ...env }),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pgid = child.pid as number;
  const groupAlive = () => {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  };
  const killGroup = () => {
    if (groupAlive()) process.kill(-pgid, 'SIGKILL');
  };
  process.on('exit', killGroup);
  // The test runner ends a file that runs over its time with SIGTERM; startNode's hook then exits.
  hookExit();
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (out += s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const timeoutMs = opts.timeoutMs ?? 60_000;
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm start did not report listening within ${timeoutMs} ms:\n${out}`)), timeoutMs);
      const onData = () => {
        const m = LISTENING.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1] as string);
        }
      };
      child.stdout?.on('data', onData);
      void exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`npm start exited (code ${code}, signal ${signal}) before listening:\n${out}`));
      });
    });
    return { pid: pgid, pgid, url, output: () => out, exited, groupAlive, killGroup };
  } catch (err) {
    killGroup();
    throw err;
  }
}
