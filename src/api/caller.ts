import { randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { anonKeyOf, type Authenticator } from '../auth/authenticator.js';
import { adminRequired, DomainError, notLoggedIn } from '../core/errors.js';
import type { SettingsService } from '../core/settings.js';
import type { Caller } from '../core/task-service.js';
import type { User } from '../store/store.js';

/**
 * Who may call a route: any logged-in user; a user, or an anonymous caller when the admin allows
 * anonymous access (upstream 30.0's PublicPage routes); or an admin.
 */
export type AuthMode = 'user' | 'user-or-anonymous' | 'admin';

export interface ResolvedCaller {
  caller: Caller;
  user: User | null;
  /** A Set-Cookie value to send: a new anonymous session. */
  setCookie: string | null;
}

export const ANON_COOKIE = 'taskproc_anon';

export interface CallerDeps {
  authenticator: Authenticator;
  settings: SettingsService;
}

export async function resolveCaller(req: FastifyRequest, mode: AuthMode, deps: CallerDeps): Promise<ResolvedCaller> {
  const authorization = req.headers.authorization;
  if (authorization) {
    const user = await deps.authenticator.authenticate(authorization, req.ip);
    if (mode === 'admin' && !user.isAdmin) throw adminRequired();
    return { caller: { userId: user.id, anonKey: null, isGuest: user.isGuest }, user, setCookie: null };
  }
  if (mode === 'user-or-anonymous' && (await deps.settings.get()).anonymousAccess) return anonymousCaller(req);
  throw notLoggedIn();
}

/**
 * An anonymous caller is known by its session cookie: only the holder of the cookie a task was
 * created with can read it (upstream 30.0 let every anonymous caller read every anonymous task).
 * A cookie-authenticated request must carry `OCS-APIRequest: true`, as upstream's CSRF rule wants.
 */
function anonymousCaller(req: FastifyRequest): ResolvedCaller {
  const existing = readCookie(req.headers.cookie, ANON_COOKIE);
  if (existing !== null) {
    if (req.headers['ocs-apirequest'] !== 'true') throw new DomainError('csrf_failed', 'CSRF check failed');
    return { caller: { userId: null, anonKey: anonKeyOf(existing), isGuest: false }, user: null, setCookie: null };
  }
  const fresh = randomBytes(32).toString('hex');
  return {
    caller: { userId: null, anonKey: anonKeyOf(fresh), isGuest: false },
    user: null,
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
