import { randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { type AppApiAuthenticator, hasAppApiHeaders } from '../auth/appapi.js';
import { anonKeyOf, type Authenticator } from '../auth/authenticator.js';
import { adminRequired, DomainError, notLoggedIn } from '../core/errors.js';
import type { SettingsService } from '../core/settings.js';
import type { Caller } from '../core/task-service.js';
import type { ExApp, User } from '../store/store.js';

/**
 * Who may call a route:
 * - `user`: a logged-in user (also an ExApp acting for the user named in its AppAPI header);
 * - `user-or-anonymous`: the same, or a caller without credentials when the admin allows it;
 * - `admin`: a logged-in admin;
 * - `exapp`: an ExApp (AppAPI headers), with or without a user: upstream's #[ExAppRequired],
 *   which answers 412 `{"message":"ExApp required"}` without an envelope;
 * - `appapi`: the same, for AppAPI's own routes (#[AppAPIAuth]): failure is a 401 in the envelope;
 * - `public`: anyone (credentials are still checked when given).
 */
export type AuthMode = 'user' | 'user-or-anonymous' | 'admin' | 'exapp' | 'appapi' | 'public';

export interface ResolvedCaller {
  caller: Caller;
  user: User | null;
  /** The ExApp making the request, when it authenticated with AppAPI headers. */
  exApp: ExApp | null;
  /** A Set-Cookie value to send: a new anonymous session. */
  setCookie: string | null;
}

export const ANON_COOKIE = 'taskproc_anon';

export interface CallerDeps {
  authenticator: Authenticator;
  appApi: AppApiAuthenticator;
  settings: SettingsService;
}

const NOBODY: Caller = Object.freeze({ userId: null, anonKey: null, isGuest: false });

export async function resolveCaller(req: FastifyRequest, mode: AuthMode, deps: CallerDeps, opts: { csrfExempt?: boolean } = {}): Promise<ResolvedCaller> {
  if (mode === 'exapp' || mode === 'appapi') {
    if (!hasAppApiHeaders(req.headers)) throw exAppRequired(mode);
    try {
      const { app, user } = await deps.appApi.authenticate(req.headers, req.ip);
      return { caller: user ? userCaller(user) : NOBODY, user, exApp: app, setCookie: null };
    } catch (err) {
      if (mode === 'exapp' && err instanceof DomainError && err.code === 'not_logged_in') throw exAppRequired(mode);
      throw err;
    }
  }
  if (hasAppApiHeaders(req.headers)) {
    // An ExApp acting for a user is that user on user routes (and counts against its limits).
    const { app, user } = await deps.appApi.authenticate(req.headers, req.ip);
    if (user) return checkAdmin(mode, { caller: userCaller(user), user, exApp: app, setCookie: null });
    if (mode === 'public') return { caller: NOBODY, user: null, exApp: app, setCookie: null };
    throw notLoggedIn();
  }
  const authorization = req.headers.authorization;
  if (authorization) {
    const user = await deps.authenticator.authenticate(authorization, req.ip);
    return checkAdmin(mode, { caller: userCaller(user), user, exApp: null, setCookie: null });
  }
  if (mode === 'public') return { caller: NOBODY, user: null, exApp: null, setCookie: null };
  if (mode === 'user-or-anonymous' && (await deps.settings.get()).anonymousAccess) return anonymousCaller(req, opts.csrfExempt === true);
  throw notLoggedIn();
}

const userCaller = (user: User): Caller => ({ userId: user.id, anonKey: null, isGuest: user.isGuest });

function checkAdmin(mode: AuthMode, resolved: ResolvedCaller): ResolvedCaller {
  if (mode === 'admin' && !resolved.user?.isAdmin) throw adminRequired();
  return resolved;
}

function exAppRequired(mode: AuthMode): DomainError {
  return mode === 'exapp' ? new DomainError('exapp_required', 'ExApp required') : notLoggedIn();
}

/**
 * An anonymous caller is known by its session cookie: only the holder of the cookie a task was
 * created with can read it (upstream 30.0 let every anonymous caller read every anonymous task).
 * A cookie-authenticated request must carry `OCS-APIRequest: true`, as upstream's CSRF rule wants,
 * except on read-only routes marked exempt (upstream's #[NoCSRFRequired]): event streams, which a
 * browser's EventSource opens without custom headers. A cross-site page cannot read those answers
 * (no CORS headers are sent), and they change nothing.
 */
function anonymousCaller(req: FastifyRequest, csrfExempt: boolean): ResolvedCaller {
  const existing = readCookie(req.headers.cookie, ANON_COOKIE);
  if (existing !== null) {
    if (!csrfExempt && req.headers['ocs-apirequest'] !== 'true') throw new DomainError('csrf_failed', 'CSRF check failed');
    return { caller: { userId: null, anonKey: anonKeyOf(existing), isGuest: false }, user: null, exApp: null, setCookie: null };
  }
  const fresh = randomBytes(32).toString('hex');
  return {
    caller: { userId: null, anonKey: anonKeyOf(fresh), isGuest: false },
    user: null,
    exApp: null,
    setCookie: `${ANON_COOKIE}=${fresh}; Path=/; HttpOnly; SameSite=Lax`,
  };
}

function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) {
      const value = v.join('=');
      return /^[0-9a-f]{64}$/.test(value) ? value : null;
    }
  }
  return null;
}
