/**
 * Domain errors. Each has a stable `code`; `api/ocs.ts` is the one place that maps codes to
 * OCS and HTTP statuses. Messages are the exact upstream strings where upstream has one,
 * because clients show them.
 */
export const ERROR_CODES = [
  'not_logged_in',
  'admin_required',
  'exapp_required',
  'csrf_failed',
  'rate_limited',
  'login_throttled',
  'bad_request',
  'validation_failed',
  'provider_unavailable',
  'file_access_denied',
  'not_found',
  'route_not_found',
  'method_not_allowed',
  'body_too_large',
  'unsupported_media_type',
  'lease_mismatch',
  'not_scheduled',
  'conflict',
  'forbidden',
  'insufficient_storage',
  'service_unavailable',
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class DomainError extends Error {
  /** Seconds after which the client may retry (429, 503). */
  retryAfter?: number;
  /** Extra response headers the error wants sent (rate-limit headers). */
  headers?: Record<string, string>;

  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const notFound = (message = 'Not found') => new DomainError('not_found', message);
export const taskNotFound = () => new DomainError('not_found', 'Task not found');
/** queue_position of a task that is not (or no longer) SCHEDULED; clients stop polling on it (412). */
export const taskNotScheduled = () => new DomainError('not_scheduled', 'This task is not scheduled');
export const badRequest = (message: string) => new DomainError('bad_request', message);
export const validationFailed = (message: string) => new DomainError('validation_failed', message);
export const providerUnavailable = () => new DomainError('provider_unavailable', 'The given provider is not available');
export const notLoggedIn = () => new DomainError('not_logged_in', 'Current user is not logged in');
export const adminRequired = () => new DomainError('admin_required', 'Logged in account must be an admin');
export const missingParameter = (name: string) => new DomainError('bad_request', `Missing parameter: ${name}`);
