import { DomainError } from '../core/errors.js';

/**
 * Socket errors of a database that is down, restarting or unreachable. ENOTFOUND/EAI_AGAIN: the
 * host name stopped resolving (a database container being replaced).
 */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * SQLSTATEs of a server that is going away or not yet there: admin_shutdown (57P01, a restart or
 * pg_terminate_backend), crash_shutdown (57P02), cannot_connect_now (57P03, starting up or in
 * recovery), too_many_connections (53300). Class 08 (connection exceptions) is matched by prefix.
 */
const SERVER_CODES = new Set(['57P01', '57P02', '57P03', '53300']);

/**
 * node-postgres reports some connection failures only by message: a connection the server closed
 * ("Connection terminated unexpectedly"), a connect that timed out ("Connection terminated due to
 * connection timeout"; the pool's "timeout exceeded when trying to connect"), and a client used
 * after its connection broke.
 */
const MESSAGES = [
  /^Connection terminated/,
  /timeout exceeded when trying to connect/,
  /connection error and is not queryable/,
  /^Connection ended unexpectedly/,
];

/**
 * Whether an error means the database cannot be reached right now, as opposed to a bug or a bad
 * statement: those deserve a 503 and a retry, not a 500. Follows `cause` and AggregateError's
 * `errors` (Node reports a refused connect to a name with several addresses that way).
 */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 5) return false;
  const e = error as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  if (typeof e.code === 'string' && (NETWORK_CODES.has(e.code) || SERVER_CODES.has(e.code) || /^08[0-9A-Z]{3}$/.test(e.code))) return true;
  if (typeof e.message === 'string' && MESSAGES.some((re) => re.test(e.message as string))) return true;
  if (Array.isArray(e.errors) && e.errors.some((inner) => isDatabaseUnavailable(inner, depth + 1))) return true;
  return e.cause !== undefined && isDatabaseUnavailable(e.cause, depth + 1);
}

/** Seconds a client is asked to wait after a database outage: about what a PostgreSQL restart takes. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

/** While the database stays down, one warning per this many ms (with how many requests failed meanwhile). */
const OUTAGE_REPORT_INTERVAL_MS = 30_000;

/**
 * Logs database outages as they are answered: a warning for the first failed request, then at
 * most one every 30 s while they go on, counting the rest. A restart used to log a stack trace for
 * every request (hundreds in two seconds), burying whatever else happened.
 */
export class OutageReporter {
  private lastReportMs = -Infinity;
  private unreported = 0;

  constructor(
    private readonly log: { warn(obj: object, msg: string): void },
    /** Told of every request answered 503 for an outage, logged or not (metrics count them). */
    private readonly onOutage: () => void = () => {},
  ) {}

  report(err: unknown, nowMs = Date.now()): void {
    this.onOutage();
    if (nowMs - this.lastReportMs < OUTAGE_REPORT_INTERVAL_MS) {
      this.unreported++;
      return;
    }
    const since = this.unreported;
    this.lastReportMs = nowMs;
    this.unreported = 0;
    const reason = (err as Error)?.message ?? String(err);
    this.log.warn({ reason, failedSinceLastReport: since }, 'database unavailable: answering 503 until it is back');
  }
}

/** The domain error an outage becomes (HTTP 503 with Retry-After), or undefined when `error` is something else. */
export function databaseUnavailableError(error: unknown): DomainError | undefined {
  if (!isDatabaseUnavailable(error)) return undefined;
  const domain = new DomainError('service_unavailable', 'The database is not reachable; try again shortly');
  domain.retryAfter = DATABASE_RETRY_AFTER_SECONDS;
  return domain;
}
