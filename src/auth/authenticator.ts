import type { Clock } from '../core/clock.js';
import { unixSeconds } from '../core/clock.js';
import { DomainError, notLoggedIn } from '../core/errors.js';
import type { LoginThrottle } from './login-throttle.js';
import type { User, UserStore } from '../store/store.js';
import { tokenHash, verifyPassword } from './passwords.js';
import { sha256Hex } from './sha256.js';

interface CacheEntry {
  userId: string;
  authEpoch: number;
  verifiedAt: number;
}

/** How long a verified credential is trusted without running argon2 again (the user row is still read). */
const CACHE_TTL_MS = 10 * 60 * 1000;
const CACHE_MAX = 10_000;

/** What an Authorization header presents: a login with a password or app password, or a Bearer app password. */
type Credential = { login: string; password: string } | { login: null; token: string };

/**
 * Checks HTTP Basic credentials (login + password, or login + app password) and Bearer app
 * passwords. argon2 runs once per distinct credential: a verified header is cached by its sha-256
 * together with the user's authEpoch, which every password, app-password or enabled change bumps,
 * so a change made by an admin command in another process is seen on the next request. Every check
 * is a login attempt of the LoginThrottle; a cached credential is not checked again, but is refused
 * like any other from an address the throttle has locked out.
 */
export class Authenticator {
  private readonly cache = new Map<string, CacheEntry>();

  constructor(
    private readonly users: UserStore,
    private readonly throttle: LoginThrottle,
    private readonly clock: Clock,
  ) {}

  /** Resolves an Authorization header to an enabled user, or throws not_logged_in / login_throttled. */
  async authenticate(authorization: string, ip: string): Promise<User> {
    const key = sha256Hex(authorization);
    const cached = this.cache.get(key);
    if (cached && this.clock.nowMs() - cached.verifiedAt < CACHE_TTL_MS) {
      const user = await this.users.getUser(cached.userId);
      if (user?.enabled && user.authEpoch === cached.authEpoch) {
        // The lock-out protects the accounts guessed at from that address: none of them, nor any
        // other, is served there until it ends, though this header was right.
        await this.throttle.refuseLocked(ip);
        return user;
      }
      this.cache.delete(key);
    }

    // A header that presents no credential is refused without counting: nothing was guessed.
    const credential = parseAuthorization(authorization);
    if (!credential) throw notLoggedIn();
    const user = await this.throttle.attempt(ip, credential.login, key, async () => {
      const found = await this.verify(credential);
      if (!found) throw notLoggedIn();
      return found;
    });
    // The credential was right (so the throttle counted a success), but the account may not log in.
    if (!user.enabled) throw new DomainError('not_logged_in', 'Current user is not logged in (the account is disabled)');
    if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, { userId: user.id, authEpoch: user.authEpoch, verifiedAt: this.clock.nowMs() });
    return user;
  }

  private async verify(credential: Credential): Promise<User | undefined> {
    if (credential.login === null) return this.verifyAppPassword(null, credential.token);
    const { login, password } = credential;
    const byToken = await this.verifyAppPassword(login, password);
    if (byToken) return byToken;
    const user = await this.users.getUser(login);
    if (!user?.passwordHash) return undefined;
    return (await verifyPassword(user.passwordHash, password)) ? user : undefined;
  }

  private async verifyAppPassword(login: string | null, token: string): Promise<User | undefined> {
    if (token.length < 32) return undefined;
    const row = await this.users.findAppPassword(tokenHash(token));
    if (!row || (login !== null && row.userId !== login)) return undefined;
    await this.users.touchAppPassword(row.id, unixSeconds(this.clock));
    return this.users.getUser(row.userId);
  }
}

/** The credential a header presents; undefined for an unknown scheme, a Basic value without login or password, a short token. */
function parseAuthorization(authorization: string): Credential | undefined {
  const [scheme, value = ''] = splitOnce(authorization.trim(), ' ');
  if (/^bearer$/i.test(scheme)) {
    const token = value.trim();
    // Shorter than any app password: no store holds it, so it is not checked.
    return token.length < 32 ? undefined : { login: null, token };
  }
  if (!/^basic$/i.test(scheme)) return undefined;
  const decoded = Buffer.from(value.trim(), 'base64').toString('utf8');
  if (!decoded.includes(':')) return undefined;
  const [login, password = ''] = splitOnce(decoded, ':');
  if (login === '' || password === '') return undefined;
  return { login, password };
}

function splitOnce(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + sep.length)];
}

/** The hash an anonymous caller's session cookie is stored under. */
export function anonKeyOf(cookie: string): string {
  return sha256Hex(`anon:${cookie}`);
}
