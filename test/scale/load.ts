import assert from 'node:assert/strict';
import { runCli } from '../cli/run-cli.js';
import { HttpWorker, providerPayload, SHAPE, type WorkerResponse } from '../helpers/http-worker.js';
import { until as untilHolds } from '../helpers/until.js';

/**
 * The clients of the scale tests, as a user would run them against `taskproc serve` processes:
 * users scheduling over HTTP with app passwords made by the admin CLI, and ExApp workers that
 * know only HTTP (test/helpers/http-worker.ts). Both bound every request with a time-out, so a
 * hanging server fails the test instead of stalling it, and both move to another node when theirs
 * stops answering, as a client behind a load balancer would be moved.
 */

export const V2 = '/ocs/v2.php/taskprocessing';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Longest a request may take before the test calls it a hang; a long-poll gets its wait on top. */
export const REQUEST_TIMEOUT_MS = 20_000;

export class Hang extends Error {}

/** A connection refused or cut: the node is gone (not a hang: that is a time-out, and an error). */
export function isConnectionError(err: unknown): boolean {
  for (let e = err as any, depth = 0; e && depth < 4; e = e.cause, depth++) {
    if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED'].includes(e.code)) return true;
    if (e.message === 'socket hang up' || e.message === 'other side closed') return true;
  }
  return false;
}

function isTimeout(err: unknown): boolean {
  const name = (err as Error)?.name;
  return name === 'TimeoutError' || name === 'AbortError';
}

export interface OcsReply {
  status: number;
  json: any;
  text: string;
  headers: Headers;
}

/** One OCS call as a client makes it (JSON, app password), failing with Hang when no answer comes in time. */
export async function ocs(base: string, auth: string, method: string, path: string, body?: unknown, timeoutMs = REQUEST_TIMEOUT_MS): Promise<OcsReply> {
  const headers: Record<string, string> = { 'OCS-APIRequest': 'true', authorization: auth };
  if (body !== undefined) headers['content-type'] = 'application/json';
  try {
    const res = await fetch(`${base}${path}${path.includes('?') ? '&' : '?'}format=json`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    const json = (res.headers.get('content-type') ?? '').includes('json') && text !== '' ? JSON.parse(text) : undefined;
    return { status: res.status, json, text, headers: res.headers };
  } catch (err) {
    if (isTimeout(err)) throw new Hang(`${method} ${path} on ${base}: no answer within ${timeoutMs} ms`);
    throw err;
  }
}

export const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** Runs an admin command as a user would (`npx taskproc …` on the same database); fails on a non-zero exit. */
export async function admin(env: Record<string, string>, ...args: string[]): Promise<string> {
  const r = await runCli(args, env);
  assert.equal(r.code, 0, `taskproc ${args.join(' ')}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

/** `user:add <uid>` and `user:app-password <uid>`: the Authorization header of the new app password. */
export async function addUser(env: Record<string, string>, uid: string): Promise<string> {
  await admin(env, 'user:add', uid);
  const token = (await admin(env, 'user:app-password', uid)).trim().split('\n').pop() as string;
  return basic(uid, token);
}

/** A custom task type with one text in and one text out, registered as nc_py_api does. */
export async function registerEcho(w: HttpWorker, providerId: string, type: string, expectedRuntime: number): Promise<void> {
  const r = await w.register(providerPayload({ id: providerId, task_type: type, expected_runtime: expectedRuntime }), {
    id: type,
    name: `Echo ${type}`,
    description: 'Echoes its input with the name of the worker that processed it',
    input_shape: [{ name: 'input', description: 'Text', shape_type: SHAPE.Text }],
    output_shape: [{ name: 'output', description: 'Text', shape_type: SHAPE.Text }],
  });
  assert.equal(r.status, 200, r.text);
}

/** A task a user scheduled and got a 200 for. */
export interface Scheduled {
  id: number;
  input: string;
  user: string;
  via: string;
}

/**
 * Users scheduling `total` tasks, `concurrency` requests in flight, spread round-robin over the
 * nodes. A 503 is retried after a moment (the database was away); a refused or cut connection
 * marks that node dead for the rest of the run (a killed node), and the request is not retried:
 * the client cannot know whether the task was created, which is why only 200s are counted.
 */
export class Users {
  readonly scheduled: Scheduled[] = [];
  /** Requests that got no answer because their node went away (the task may or may not exist). */
  lost = 0;
  /** 503 answers seen (each retried). */
  unavailable = 0;
  readonly errors: string[] = [];
  private readonly dead = new Set<string>();

  constructor(
    private readonly users: { uid: string; auth: string }[],
    private readonly nodes: () => string[],
    private readonly appId: string,
    private readonly type: string,
  ) {}

  async schedule(total: number, concurrency: number, prefix: string, onProgress?: (done: number) => void): Promise<void> {
    let next = 0;
    let done = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total && this.errors.length === 0) {
          const k = next++;
          const user = this.users[k % this.users.length] as { uid: string; auth: string };
          const input = `${prefix}-${k}`;
          for (let attempt = 0; ; attempt++) {
            const alive = this.nodes().filter((n) => !this.dead.has(n));
            if (alive.length === 0) {
              this.errors.push('no node left to schedule on');
              break;
            }
            const via = alive[(k + attempt) % alive.length] as string;
            let r: OcsReply;
            try {
              r = await ocs(via, user.auth, 'POST', `${V2}/schedule`, { type: this.type, appId: this.appId, customId: input, input: { input } });
            } catch (err) {
              if (!isConnectionError(err)) {
                this.errors.push(`schedule ${input} on ${via}: ${(err as Error).message}`);
                break;
              }
              this.dead.add(via);
              this.lost++;
              break;
            }
            if (r.status === 503 && r.json?.ocs?.meta?.statuscode === 503) {
              this.unavailable++;
              await sleep(100);
              continue;
            }
            if (r.status !== 200) this.errors.push(`schedule ${input} on ${via}: ${r.status} ${r.text}`);
            else this.scheduled.push({ id: r.json.ocs.data.task.id, input, user: user.uid, via });
            break;
          }
          onProgress?.(++done);
        }
      }),
    );
  }
}

/** A claim as a worker saw it: which task, when, and whether its result was the one stored. */
export interface Claim {
  id: number;
  atMs: number;
}

/**
 * An ExApp worker process: long-polls next_batch with `wait`, echoes each input with its own name
 * into the result, and records what it claimed and which results took effect (the answer to the
 * result carries the stored output: when it is ours, ours was the result that ended the task).
 * It talks to one node; when that node refuses or cuts the connection it moves to the next one
 * and repeats the request there (results are safe to repeat: a finished task comes back as it is).
 * A 503 (database away) is retried on the same node after a moment.
 */
export class EchoWorker {
  readonly claims: Claim[] = [];
  /** Task ids whose stored output is this worker's. */
  readonly effective: number[] = [];
  /** Results refused because the lease had gone (the task went back to the queue meanwhile). */
  readonly leaseLost: number[] = [];
  readonly errors: string[] = [];
  switches = 0;
  unavailable = 0;
  /** Tasks this worker claimed and then abandoned by dying (`dieAfterNextClaim`). */
  readonly abandoned: number[] = [];
  private readonly clients: HttpWorker[];
  private current: number;
  private stopped = false;
  private dying = false;
  private died: (() => void) | null = null;
  private running: Promise<void> | null = null;

  constructor(
    readonly name: string,
    nodes: string[],
    first: number,
    appId: string,
    secret: string,
    private readonly providerId: string,
    private readonly type: string,
    private readonly o: { batch?: number; waitSeconds?: number } = {},
  ) {
    this.clients = nodes.map((url) => new HttpWorker(url, appId, secret));
    this.current = first % nodes.length;
  }

  get node(): string {
    return (this.clients[this.current] as HttpWorker).baseUrl;
  }

  /** A request on the current node, moving on to the next node while connections are refused. */
  private async call(
    what: string,
    send: (w: HttpWorker, signal: AbortSignal) => Promise<WorkerResponse>,
    timeoutMs: number,
    evenWhenStopped = false,
  ): Promise<WorkerResponse | null> {
    for (let attempt = 0; evenWhenStopped || !this.stopped; attempt++) {
      const w = this.clients[this.current] as HttpWorker;
      let r: WorkerResponse;
      try {
        r = await send(w, AbortSignal.timeout(timeoutMs));
      } catch (err) {
        if (isTimeout(err)) {
          this.errors.push(`${this.name}: ${what} on ${w.baseUrl}: no answer within ${timeoutMs} ms (a hang)`);
          return null;
        }
        if (!isConnectionError(err) || attempt > 4 * this.clients.length) {
          this.errors.push(`${this.name}: ${what} on ${w.baseUrl}: ${(err as Error).message}`);
          return null;
        }
        this.current = (this.current + 1) % this.clients.length;
        this.switches++;
        await sleep(50);
        continue;
      }
      if (r.status === 503 && r.json?.ocs?.meta?.statuscode === 503) {
        this.unavailable++;
        await sleep(200);
        continue;
      }
      return r;
    }
    return null;
  }

  /** Claims and processes until `stop()`. */
  start(): void {
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
    for (const c of this.clients) c.close();
  }

  /**
   * The worker process dies right after its next claim that brings tasks: it never reports on
   * them (a crash, an OOM kill). Resolves once it is dead, with `abandoned` filled.
   */
  dieAfterNextClaim(): Promise<void> {
    this.dying = true;
    return new Promise((resolve) => (this.died = resolve));
  }

  private async loop(): Promise<void> {
    const wait = this.o.waitSeconds ?? 2;
    while (!this.stopped && this.errors.length === 0) {
      const json = { providerIds: [this.providerId], taskTypeIds: [this.type], numberOfTasks: this.o.batch ?? 4, wait };
      const r = await this.call(
        'next_batch',
        (w, signal) => w.request('GET', `${V2}/tasks_provider/next_batch`, { json, signal }),
        wait * 1000 + REQUEST_TIMEOUT_MS,
      );
      if (r === null) continue;
      if (r.status !== 200) {
        this.errors.push(`${this.name}: next_batch: ${r.status} ${r.text}`);
        continue;
      }
      const now = Date.now();
      const tasks = (r.json.ocs.data.tasks as { task: { id: number; input: { input: string } } }[]).map((e) => e.task);
      for (const task of tasks) this.claims.push({ id: task.id, atMs: now });
      if (this.dying && tasks.length > 0) {
        this.abandoned.push(...tasks.map((t) => t.id));
        this.stopped = true;
        for (const c of this.clients) c.close();
        this.died?.();
        return;
      }
      for (const task of tasks) await this.finish(task);
    }
  }

  private async finish(task: { id: number; input: { input: string } }): Promise<void> {
    const output = `${task.input.input}|${this.name}`;
    // A result must arrive even while this worker is being stopped: the task is ours.
    const r = await this.call(
      `result ${task.id}`,
      (w, signal) => w.request('POST', `${V2}/tasks_provider/${task.id}/result`, { json: { taskId: task.id, output: { output }, errorMessage: null }, signal }),
      REQUEST_TIMEOUT_MS,
      true,
    );
    if (r === null) return;
    if (r.status === 409) {
      this.leaseLost.push(task.id);
      return;
    }
    if (r.status !== 200) {
      this.errors.push(`${this.name}: result ${task.id}: ${r.status} ${r.text}`);
      return;
    }
    if (r.json.ocs.data.task.output?.output === output) this.effective.push(task.id);
  }
}

/** Claims that went to two workers: allowed only when the first claim's lease had run out before the second. */
export function doubleClaims(workers: EchoWorker[], leaseMs: number): string[] {
  const all = workers.flatMap((w) => w.claims.map((c) => ({ ...c, worker: w.name }))).sort((a, b) => a.atMs - b.atMs);
  const first = new Map<number, { atMs: number; worker: string }>();
  const bad: string[] = [];
  for (const c of all) {
    const before = first.get(c.id);
    if (before && c.atMs - before.atMs < leaseMs) bad.push(`task ${c.id}: claimed by ${before.worker} and, ${c.atMs - before.atMs} ms later, by ${c.worker}`);
    first.set(c.id, c);
  }
  return bad;
}

/** Every task id whose result took effect through more than one worker (none may). */
export function doubleResults(workers: EchoWorker[]): number[] {
  const seen = new Set<number>();
  const twice: number[] = [];
  for (const id of workers.flatMap((w) => w.effective)) {
    if (seen.has(id)) twice.push(id);
    seen.add(id);
  }
  return twice;
}

/** Polls every 100 ms (these runs are long); see helpers/until.ts. */
export const until = (what: string, check: () => boolean | Promise<boolean>, ms: number, describe: () => string = () => ''): Promise<void> =>
  untilHolds(what, check, ms, { everyMs: 100, describe });

/** A user's tasks of one app id, through a node (what the user sees). */
export async function listTasks(node: string, auth: string, appId: string): Promise<any[]> {
  const r = await ocs(node, auth, 'GET', `${V2}/tasks/app/${appId}`, undefined, 60_000);
  assert.equal(r.status, 200, r.text);
  return r.json.ocs.data.tasks;
}
