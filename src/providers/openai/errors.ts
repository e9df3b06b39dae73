import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  AuthenticationError,
  BadRequestError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
} from 'openai';
import { ProviderError } from '../../core/provider.js';
import type { BackendConfig } from './backends.js';
import type { CallState } from './call.js';
import { ResponseTooLargeError } from './client.js';
import type { BackendHealth } from './health.js';

/** Messages the user sees; the technical message (for the admin) names the back end and the cause. */
export const USER_MESSAGES = Object.freeze({
  misconfigured: 'The AI service is not configured correctly; please contact your administrator',
  unreachable: 'The AI service cannot be reached right now; please try again later',
  busy: 'The AI service is busy right now; please try again later',
  failed: 'The AI service failed to process the request; please try again later',
  invalidAnswer: 'The AI service sent an answer that could not be used; please try again later',
  filtered: "The AI service's content filter withheld the answer",
});

/** The back end answered, but not with something usable (HTML, no choices, not an image...). */
export class MalformedAnswerError extends Error {
  override name = 'MalformedAnswerError';
}

/** What a failed call was about, for the messages. */
export interface CallSubject {
  backend: BackendConfig;
  health: BackendHealth;
  /** e.g. "POST /chat/completions". */
  endpoint: string;
  model: string;
}

const USER_DETAIL_MAX = 300;

/** Turns whatever a call threw into a ProviderError with a technical and a user-facing message. */
export function toProviderError(err: unknown, s: CallSubject, call: CallState, timedOut: boolean): ProviderError {
  const { backend } = s;
  const where = `back end "${backend.name}" (${backend.baseUrl}), ${s.endpoint} with model "${s.model}"`;
  if (err instanceof ProviderError) return err;
  if (timedOut || err instanceof APIConnectionTimeoutError) {
    const rateLimited = call.statuses.includes(429) ? ' (it was rate-limiting: HTTP 429)' : '';
    return new ProviderError(
      `No answer within ${backend.timeoutSeconds} s from ${where}${rateLimited}; raise backends.${backend.name}.timeoutSeconds if the model is slow`,
      `The AI service did not answer within ${backend.timeoutSeconds} seconds`,
    );
  }
  if (err instanceof AuthenticationError || err instanceof PermissionDeniedError) {
    s.health.markDown(`it refused the API key (HTTP ${err.status})`);
    return new ProviderError(
      `HTTP ${err.status} from ${where}: check the API key configured for back end "${backend.name}" (${detail(err)})`,
      USER_MESSAGES.misconfigured,
    );
  }
  if (err instanceof NotFoundError) {
    return new ProviderError(
      `HTTP 404 from ${where}: the back end does not know the model "${s.model}" or does not offer ${s.endpoint}; check the models of back end "${backend.name}" (${detail(err)})`,
      `The AI model "${s.model}" is not available; please contact your administrator`,
    );
  }
  if (err instanceof RateLimitError) {
    const waited =
      call.refusedWaitMs !== null
        ? `it asked to wait ${Math.round(call.refusedWaitMs / 1000)} s, longer than taskproc waits`
        : `still rate-limited after ${retries(call)}`;
    return new ProviderError(`HTTP 429 from ${where}: ${waited} (${detail(err)})`, USER_MESSAGES.busy);
  }
  if (err instanceof BadRequestError || (err instanceof APIError && err.status === 422)) {
    const message = detail(err);
    return new ProviderError(
      `HTTP ${err.status} from ${where}: the back end rejected the request (${message})`,
      `The AI service rejected the request: ${truncate(message, USER_DETAIL_MAX)}`,
    );
  }
  if (err instanceof APIConnectionError) {
    const code = causeCode(err);
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
      s.health.markDown(`nothing answers at its base URL (${code})`);
      return new ProviderError(`Cannot connect to ${where}: ${code}; is the server running at ${backend.baseUrl}?`, USER_MESSAGES.unreachable);
    }
    return new ProviderError(`Connection to ${where} failed after ${retries(call)}: ${causeMessage(err)}`, USER_MESSAGES.unreachable);
  }
  if (err instanceof APIError && typeof err.status === 'number') {
    return new ProviderError(`HTTP ${err.status} from ${where} after ${retries(call)} (${detail(err)})`, USER_MESSAGES.failed);
  }
  if (err instanceof APIError) {
    // An error event inside a stream: the server failed while it was answering.
    return new ProviderError(`The event stream from ${where} reported an error: ${err.message}`, USER_MESSAGES.failed);
  }
  if (err instanceof ResponseTooLargeError) {
    return new ProviderError(`The answer from ${where} was cut off: ${err.message} (backends.${backend.name}.maxResponseMB)`, USER_MESSAGES.invalidAnswer);
  }
  if (err instanceof MalformedAnswerError) {
    return new ProviderError(`Unusable answer from ${where}: ${err.message}`, USER_MESSAGES.invalidAnswer);
  }
  if (err instanceof SyntaxError) {
    return new ProviderError(`Unusable answer from ${where}: invalid JSON (${err.message})`, USER_MESSAGES.invalidAnswer);
  }
  // Anything else while the answer was read: the connection dropped ("terminated") or similar.
  const message = err instanceof Error ? causeMessage(err) : String(err);
  return new ProviderError(`Reading the answer from ${where} failed: ${message}`, USER_MESSAGES.failed);
}

const retries = (call: CallState) => (call.retries === 1 ? '1 retry' : `${call.retries} retries`);

/** The back end's own error message when it sent one in the OpenAI error shape, else the client's. */
function detail(err: APIError): string {
  const body = err.error as { message?: unknown } | undefined;
  const message = typeof body?.message === 'string' ? body.message : err.message;
  return truncate(message.replace(/\s+/g, ' ').trim(), 1000);
}

function causeCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && typeof e === 'object' && e !== null; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function causeMessage(err: Error): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e instanceof Error; depth++) {
    parts.push(e.message);
    e = e.cause;
  }
  return parts.filter((p, i) => p !== '' && parts.indexOf(p) === i).join(': ');
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
