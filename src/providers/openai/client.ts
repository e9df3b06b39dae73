import { AsyncLocalStorage } from 'node:async_hooks';
import OpenAI from 'openai';
import type { BackendConfig } from './backends.js';

/**
 * The longest Retry-After the client may honour. The openai client honours Retry-After (seconds,
 * HTTP date, and retry-after-ms) with no upper bound, so a back end saying "come back in an hour"
 * would hold a runner slot for an hour; past this bound the request fails at once instead.
 */
export const MAX_RETRY_WAIT_MS = 30_000;
/** Statuses the client retries (its shouldRetry): the ones whose Retry-After we bound. */
const RETRIED_STATUSES = new Set([408, 409, 429]);

/** What the guarded fetch learns about the call it serves, for the error message at the end. */
export interface CallState {
  /** Milliseconds left before the call's time-out fires. */
  remainingMs(): number;
  /** Every HTTP status the back end answered, retries included. */
  statuses: number[];
  /** A wait the back end asked for (Retry-After) that we would not honour; null when none. */
  refusedWaitMs: number | null;
}

const currentCall = new AsyncLocalStorage<CallState>();

/** Runs `fn` with `state` visible to the fetch calls the client makes for it (retries included). */
export function withCallState<T>(state: CallState, fn: () => Promise<T>): Promise<T> {
  return currentCall.run(state, fn);
}

/** The answer was larger than the back end's maxResponseMB; raised while reading its body. */
export class ResponseTooLargeError extends Error {
  constructor(readonly limitBytes: number) {
    super(`the answer is larger than ${formatBytes(limitBytes)}`);
    this.name = 'ResponseTooLargeError';
  }
}

/**
 * One client per back end. Everything that the client would otherwise take from OPENAI_*
 * environment variables is set here, so only taskproc's own settings apply. The client's own
 * retries (429, 408, 409, 5xx and connection errors, exponential back-off from 0.5 s up to 8 s,
 * Retry-After honoured) are kept; its per-attempt timeout is only a backstop behind the per-call
 * time-out of `runCall`, which also covers retries and streaming pauses.
 */
export function createClient(backend: BackendConfig): OpenAI {
  return new OpenAI({
    baseURL: backend.baseUrl,
    // The client refuses to start without a key; for keyless servers the header is removed below.
    apiKey: backend.apiKey ?? 'no-key',
    adminAPIKey: null,
    organization: null,
    project: null,
    webhookSecret: null,
    ...(backend.apiKey === null ? { defaultHeaders: { Authorization: null } } : {}),
    maxRetries: backend.maxRetries,
    timeout: Math.ceil(backend.timeoutSeconds * 1000) + 5_000,
    logLevel: 'off',
    fetch: guardedFetch(backend.maxResponseBytes),
  });
}

/**
 * Wraps fetch for two guards the client lacks: a response body larger than the limit fails while
 * it is read (a lying or missing Content-Length included), and a Retry-After longer than we wait
 * (MAX_RETRY_WAIT_MS, or the call's remaining time) turns retries off through the client's own
 * `x-should-retry` header, so the task fails now with a clear message instead of sleeping.
 */
function guardedFetch(maxBytes: number) {
  return async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const res = await fetch(input, init);
    const call = currentCall.getStore();
    call?.statuses.push(res.status);
    if (res.body === null) return res;
    let headers = res.headers;
    if (RETRIED_STATUSES.has(res.status) || res.status >= 500) {
      const wait = retryAfterMs(res.headers, Date.now());
      if (wait !== null && (wait > MAX_RETRY_WAIT_MS || (call !== undefined && wait >= call.remainingMs()))) {
        if (call) call.refusedWaitMs = wait;
        headers = new Headers(res.headers);
        headers.set('x-should-retry', 'false');
      }
    }
    const declared = Number(res.headers.get('content-length') ?? NaN);
    let body: ReadableStream<Uint8Array>;
    if (declared > maxBytes) {
      await res.body.cancel().catch(() => undefined);
      body = new ReadableStream({ start: (controller) => controller.error(new ResponseTooLargeError(maxBytes)) });
    } else {
      body = res.body.pipeThrough(byteLimit(maxBytes));
    }
    return new Response(body, { status: res.status, statusText: res.statusText, headers });
  };
}

function byteLimit(maxBytes: number): TransformStream<Uint8Array, Uint8Array> {
  let seen = 0;
  return new TransformStream({
    transform(chunk, controller) {
      seen += chunk.byteLength;
      if (seen > maxBytes) controller.error(new ResponseTooLargeError(maxBytes));
      else controller.enqueue(chunk);
    },
  });
}

/** The wait a response asks for, read as the client reads it (retry-after-ms first); null when none. */
export function retryAfterMs(headers: Headers, nowMs: number): number | null {
  const ms = parseFloat(headers.get('retry-after-ms') ?? '');
  if (!Number.isNaN(ms)) return Math.max(0, ms);
  const raw = headers.get('retry-after');
  if (raw === null) return null;
  const seconds = parseFloat(raw);
  if (!Number.isNaN(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(raw);
  return Number.isNaN(at) ? null : Math.max(0, at - nowMs);
}

export function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${+(n / 1024 / 1024).toFixed(1)} MB` : `${+(n / 1024).toFixed(1)} KB`;
}
