import type OpenAI from 'openai';
import type { ProcessContext } from '../../core/provider.js';
import type { BackendConfig } from './backends.js';
import { type CallState, withCallState } from './client.js';
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

/**
 * Runs one request (with the client's retries) against a back end. The time-out covers the whole
 * call, retries and their waits included, except that a stream resets it with every chunk it
 * receives. Cancellation (ctx.signal) and the time-out abort the HTTP request through the
 * client's `signal` option, and the returned promise settles at once even when the client is
 * asleep between retries. Errors come out as ProviderErrors; an abort caused by the task's own
 * cancellation comes out as the abort reason (the runner ignores it).
 */
export async function runCall<T>(
  target: Target,
  ctx: ProcessContext,
  subject: { endpoint: string; model: string },
  fn: (scope: CallScope) => Promise<T>,
): Promise<T> {
  ctx.signal.throwIfAborted();
  const limitMs = Math.ceil(target.backend.timeoutSeconds * 1000);
  const controller = new AbortController();
  let timedOut = false;
  let deadline = Date.now() + limitMs;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    deadline = Date.now() + limitMs;
    timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error(`No answer within ${target.backend.timeoutSeconds} s`));
    }, limitMs);
  };
  const onCancel = () => controller.abort(ctx.signal.reason);
  ctx.signal.addEventListener('abort', onCancel, { once: true });
  arm();
  const state: CallState = { remainingMs: () => deadline - Date.now(), statuses: [], refusedWaitMs: null };
  try {
    const work = withCallState(state, () => fn({ options: { signal: controller.signal }, kick: arm }));
    const result = await untilAborted(work, controller.signal);
    target.health.markUp();
    return result;
  } catch (err) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    const full: CallSubject = { ...subject, backend: target.backend, health: target.health };
    throw toProviderError(err, full, state, timedOut);
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener('abort', onCancel);
  }
}

/**
 * Settles with `work`, or rejects as soon as `signal` aborts. `work` keeps its handlers, so its
 * late rejection (the client noticing the abort after a retry wait) is never unhandled.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
