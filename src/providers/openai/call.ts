import { setTimeout as sleep } from 'node:timers/promises';
import type OpenAI from 'openai';
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import type { ProcessContext } from '../../core/provider.js';
import type { BackendConfig } from './backends.js';
import { retryAfterMs } from './client.js';
import { type CallSubject, toProviderError } from './errors.js';
import type { BackendHealth } from './health.js';

/** A back end ready for use: its settings, its client and its shared health. */
export interface Target {
  backend: BackendConfig;
  client: OpenAI;
  health: BackendHealth;
}

/** Handed to the request function of runCall. */
export interface CallScope {
  /** Pass as the client's request options: aborts on cancel and on time-out. */
  options: { signal: AbortSignal };
  /** Restarts the time-out: streaming calls kick it on every chunk, so only a pause times out. */
  kick(): void;
}

/** What happened during a call, for the error message at the end. */
export interface CallState {
  /** Every HTTP error status the back end answered, retries included. */
  statuses: number[];
  retries: number;
  /** A Retry-After the back end asked for that taskproc would not wait; null when none. */
  refusedWaitMs: number | null;
}

/**
 * The longest Retry-After honoured. A back end saying "come back in an hour" would otherwise hold
 * a runner slot for an hour; past this bound (or past the call's remaining time) the task fails
 * at once with a message saying how long the back end asked to wait.
 */
const MAX_RETRY_WAIT_MS = 30_000;
/** Exponential back-off when the back end names no wait: 0.5 s, 1 s, 2 s... up to 8 s, with jitter. */
const BACKOFF_START_MS = 500;
const BACKOFF_MAX_MS = 8_000;

/**
 * Runs one request against a back end, with bounded retries for 408, 409, 429, 5xx and failed
 * connections (Retry-After honoured, in seconds or as an HTTP date). The time-out covers the whole
 * call, retries and their waits included, except that a stream restarts it with every chunk.
 * Cancellation (ctx.signal) and the time-out abort the HTTP request through the client's `signal`
 * option and cut short a wait between retries. Errors come out as ProviderErrors; an abort caused
 * by the task's own cancellation comes out as the abort reason (the runner ignores it).
 */
export async function runCall<T>(
  target: Target,
  ctx: ProcessContext,
  subject: { endpoint: string; model: string },
  fn: (scope: CallScope) => Promise<T>,
): Promise<T> {
  ctx.signal.throwIfAborted();
  const { backend } = target;
  const limitMs = Math.ceil(backend.timeoutSeconds * 1000);
  const controller = new AbortController();
  let timedOut = false;
  let deadline = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    deadline = Date.now() + limitMs;
    timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error(`No answer within ${backend.timeoutSeconds} s`));
    }, limitMs);
  };
  const onCancel = () => controller.abort(ctx.signal.reason);
  ctx.signal.addEventListener('abort', onCancel, { once: true });
  arm();
  const state: CallState = { statuses: [], retries: 0, refusedWaitMs: null };
  const scope: CallScope = { options: { signal: controller.signal }, kick: arm };
  try {
    const result = await untilAborted(
      withRetries(fn, scope, backend.maxRetries, state, () => deadline - Date.now()),
      controller.signal,
    );
    target.health.markUp();
    return result;
  } catch (err) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    const full: CallSubject = { ...subject, backend, health: target.health };
    throw toProviderError(err, full, state, timedOut);
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener('abort', onCancel);
  }
}

async function withRetries<T>(
  fn: (scope: CallScope) => Promise<T>,
  scope: CallScope,
  maxRetries: number,
  state: CallState,
  remainingMs: () => number,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(scope);
    } catch (err) {
      if (err instanceof APIError && typeof err.status === 'number') state.statuses.push(err.status);
      if (scope.options.signal.aborted || attempt >= maxRetries || !isRetryable(err)) throw err;
      const asked = err instanceof APIError && err.headers ? retryAfterMs(err.headers, Date.now()) : null;
      if (asked !== null && (asked > MAX_RETRY_WAIT_MS || asked >= remainingMs())) {
        state.refusedWaitMs = asked;
        throw err;
      }
      const wait = asked ?? Math.min(BACKOFF_START_MS * 2 ** attempt, BACKOFF_MAX_MS) * (1 - Math.random() * 0.25);
      state.retries++;
      // Unref'd and abortable: a cancel or a shutdown never waits for it.
      await sleep(wait, undefined, { signal: scope.options.signal, ref: false });
    }
  }
}

/** What is worth another try: overload and server errors, and connections that failed (not ours timing out). */
function isRetryable(err: unknown): boolean {
  if (err instanceof APIUserAbortError || err instanceof APIConnectionTimeoutError) return false;
  if (err instanceof APIConnectionError) return true;
  if (!(err instanceof APIError) || typeof err.status !== 'number') return false;
  return err.status === 408 || err.status === 409 || err.status === 429 || err.status >= 500;
}

/**
 * Settles with `work`, or rejects as soon as `signal` aborts. `work` keeps its handlers, so its
 * late rejection (the client noticing the abort) is never unhandled.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
