import { phpJsonEncode } from '../api/php-json.js';
import { taskJson } from '../api/task-json.js';
import type { Task } from '../core/task.js';
import { httpCall } from './http-call.js';

export interface WebhookOptions {
  /** Per attempt (upstream: 30 s). */
  timeoutMs: number;
  /** Attempts in all, the first included. */
  attempts: number;
  /** Delay before the second attempt; doubles after each failure. */
  backoffMs: number;
  /** At most this many deliveries in flight; the rest wait in a queue. */
  concurrency: number;
  log: { warn(obj: object, msg: string): void };
  /**
   * Resolves an `AppAPI:<appId>:<METHOD>` target to a URL and AppAPI headers, or null when the
   * ExApp is unknown, disabled or has no address (upstream skips those with a log line).
   */
  appApiTarget?: (appId: string, path: string, userId: string | null) => Promise<{ url: string; headers: Record<string, string> } | null>;
}

export const DEFAULT_WEBHOOK_OPTIONS = { timeoutMs: 30_000, attempts: 3, backoffMs: 1000, concurrency: 8 } as const;

const HTTP_METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE']);

/**
 * Calls a task's webhook when it ends (SEMANTICS.md §9): `HTTP:<METHOD>` to `webhookUri` with
 * `{"task": …}` as JSON (even for GET, as upstream), or `AppAPI:<appId>:<METHOD>` through the
 * ExApp's address. Deliveries run in the background with a timeout and bounded retries, so a
 * slow or dead receiver never holds up task processing.
 */
export class WebhookSender {
  private readonly queue: (() => Promise<void>)[] = [];
  private active = 0;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(private readonly opts: WebhookOptions) {}

  send(task: Task): void {
    const uri = task.webhookUri;
    const method = task.webhookMethod;
    if (!uri || !method) return;
    this.queue.push(() => this.deliver(task, uri, method));
    this.drain();
  }

  /** Resolves once nothing is queued or in flight (for shutdown and tests). */
  idle(): Promise<void> {
    if (this.active === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private drain(): void {
    while (this.active < this.opts.concurrency && this.queue.length > 0) {
      const job = this.queue.shift() as () => Promise<void>;
      this.active++;
      void job().finally(() => {
        this.active--;
        this.drain();
        if (this.active === 0 && this.queue.length === 0) {
          for (const r of this.idleWaiters.splice(0)) r();
        }
      });
    }
  }

  private async deliver(task: Task, uri: string, method: string): Promise<void> {
    const target = await this.target(task, uri, method);
    if (!target) return;
    const body = phpJsonEncode({ task: taskJson(task) });
    let delay = this.opts.backoffMs;
    for (let attempt = 1; attempt <= this.opts.attempts; attempt++) {
      try {
        const status = await httpCall(target.url, {
          method: target.method,
          headers: { 'content-type': 'application/json', ...target.headers },
          body,
          timeoutMs: this.opts.timeoutMs,
        });
        if (status < 500 && status !== 429) {
          if (status >= 400) this.opts.log.warn({ taskId: task.id, url: target.url, status }, 'webhook: the receiver refused the call');
          return;
        }
        this.opts.log.warn({ taskId: task.id, url: target.url, status, attempt }, 'webhook: the receiver failed');
      } catch (err) {
        this.opts.log.warn({ taskId: task.id, url: target.url, attempt, err: (err as Error).message }, 'webhook: the call failed');
      }
      if (attempt < this.opts.attempts) {
        await new Promise((r) => setTimeout(r, delay).unref());
        delay *= 2;
      }
    }
    this.opts.log.warn({ taskId: task.id, url: target.url }, 'webhook: giving up after retries');
  }

  private async target(task: Task, uri: string, method: string): Promise<{ url: string; method: string; headers: Record<string, string> } | null> {
    const http = /^HTTP:([A-Z]+)$/.exec(method);
    if (http) {
      if (!HTTP_METHODS.has(http[1] as string) || !/^https?:\/\//i.test(uri)) return this.skip(task, 'not an http(s) URL or a known method');
      return { url: uri, method: http[1] as string, headers: {} };
    }
    const appApi = /^AppAPI:([^:]+):([A-Z]+)$/.exec(method);
    if (appApi) {
      if (!uri.startsWith('/') || !HTTP_METHODS.has(appApi[2] as string)) return this.skip(task, 'an AppAPI webhook needs a path and a known method');
      const resolved = await this.opts.appApiTarget?.(appApi[1] as string, uri, task.userId);
      if (!resolved) return this.skip(task, `the ExApp "${appApi[1]}" is unknown, disabled or has no address`);
      return { ...resolved, method: appApi[2] as string };
    }
    return this.skip(task, 'unknown webhookMethod');
  }

  private skip(task: Task, why: string): null {
    this.opts.log.warn({ taskId: task.id, webhookMethod: task.webhookMethod, webhookUri: task.webhookUri }, `webhook: skipped: ${why}`);
    return null;
  }
}
