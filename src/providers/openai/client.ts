import OpenAI from 'openai';
import type { BackendConfig } from './backends.js';

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
 * retries are off: runCall retries instead, because the client sleeps through a Retry-After of any
 * length and its sleep cannot be cancelled (a cancelled task's retry, or a shutdown, would wait it
 * out). Its per-attempt timeout is only a backstop behind the per-call time-out of runCall.
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
    maxRetries: 0,
    timeout: Math.ceil(backend.timeoutSeconds * 1000) + 5_000,
    logLevel: 'off',
    fetch: guardedFetch(backend.maxResponseBytes),
  });
}

/**
 * Wraps fetch so that a response body larger than the limit fails while it is read, whatever its
 * Content-Length says (or when it has none): the client would otherwise buffer any size.
 */
function guardedFetch(maxBytes: number) {
  return async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const res = await fetch(input, init);
    if (res.body === null) return res;
    const declared = Number(res.headers.get('content-length') ?? NaN);
    let body: ReadableStream<Uint8Array>;
    if (declared > maxBytes) {
      await res.body.cancel().catch(() => undefined);
      body = new ReadableStream({ start: (controller) => controller.error(new ResponseTooLargeError(maxBytes)) });
    } else {
      body = res.body.pipeThrough(byteLimit(maxBytes));
    }
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
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

/** The wait a response asks for (retry-after-ms, else Retry-After in seconds or as an HTTP date); null when none. */
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

function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${+(n / 1024 / 1024).toFixed(1)} MB` : `${+(n / 1024).toFixed(1)} KB`;
}
