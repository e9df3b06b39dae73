import { isIPv6 } from 'node:net';
import { DomainError } from '../core/errors.js';
import { NO_OPS_COUNTERS, type OpsCounters } from '../core/ops-counters.js';
import type { RateLimiter } from '../core/rate-limit.js';
import { sha256Hex } from './sha256.js';

export interface LoginThrottleOptions {
  /** Failed logins per address allowed in the window before further attempts get 429. */
  maxFailures: number;
  windowSeconds: number;
}

export const DEFAULT_LOGIN_THROTTLE: LoginThrottleOptions = Object.freeze({ maxFailures: 10, windowSeconds: 900 });

/**
 * Brute-force protection shared by every way of logging in (passwords, app passwords, AppAPI
 * secrets), after upstream's Throttler (which delays where we answer 429):
 * - failures are counted per address (an IPv6 address by its /64, as upstream does: one client
 *   usually holds the whole /64), each remembering the account it named: the login, the ExApp id,
 *   none for a Bearer token;
 * - an attempt takes its place in the count before its credential is checked, so however many
 *   arrive at once, at most `maxFailures` checks run; a success gives its place back and clears the
 *   failures from that address that named its account, and no others (so logging in to one's own
 *   account does not buy more guesses at another's);
 * - an address with `maxFailures` failures in the window gets 429 for every login to every account,
 *   credentials verified earlier included (`refuseLocked`), until the oldest failure leaves the window.
 * There is no count per account over all addresses: with one, anyone could lock any user out from
 * everywhere, for free and for ever. Upstream has none either.
 */
export class LoginThrottle {
  /** Checks running now, by address and credential, so that concurrent identical attempts share one. */
  private readonly running = new Map<string, Promise<unknown>>();

  constructor(
    private readonly limiter: RateLimiter,
    private readonly opts: LoginThrottleOptions = DEFAULT_LOGIN_THROTTLE,
    private readonly counters: OpsCounters = NO_OPS_COUNTERS,
  ) {}

  /** Throws login_throttled (with Retry-After) while the address is locked out; for credentials that are not checked again. */
  async refuseLocked(ip: string): Promise<void> {
    const state = await this.limiter.peek(key(ip), this.opts.maxFailures, this.opts.windowSeconds);
    if (!state.allowed) throw this.throttled(state.retryAfter);
  }

  /**
   * Runs `check`, the verification of one credential, as a login attempt from `ip` that names
   * `account` (null when it names none). `check` returns on success and throws not_logged_in for a
   * wrong credential; anything else it throws (a database outage) is no verdict and does not count.
   * Throws login_throttled without running `check` when the address has no attempt left.
   * `credential` identifies the credential (a hash): concurrent attempts from one address with the
   * same one share one check and its outcome, so a client that starts with many requests at once
   * takes one place, and a wrong credential sent many times at once is one guess.
   */
  attempt<T>(ip: string, account: string | null, credential: string, check: () => Promise<T>): Promise<T> {
    const id = `${key(ip)}\n${credential}`;
    const running = this.running.get(id);
    if (running) return running as Promise<T>;
    const started = this.run(key(ip), account, check).finally(() => this.running.delete(id));
    this.running.set(id, started);
    return started;
  }

  private async run<T>(address: string, account: string | null, check: () => Promise<T>): Promise<T> {
    // Hashed: login names are the caller's text, of any length, and need not be readable in Redis.
    const tag = account === null || account === '' ? undefined : sha256Hex(account);
    const place = await this.limiter.take(address, this.opts.maxFailures, this.opts.windowSeconds, tag);
    if (!place.allowed) throw this.throttled(place.retryAfter);
    let result: T;
    try {
      result = await check();
    } catch (err) {
      // A wrong credential keeps its place: that is the failure counted.
      if (err instanceof DomainError && err.code === 'not_logged_in') this.counters.loginFailed();
      else await this.limiter.withdraw(address, place.hit);
      throw err;
    }
    await this.limiter.withdraw(address, place.hit, tag);
    return result;
  }

  private throttled(retryAfter: number): DomainError {
    this.counters.refused('login_throttle');
    const err = new DomainError('login_throttled', 'Too many failed login attempts from this address; try again later');
    err.retryAfter = retryAfter;
    return err;
  }
}

const key = (ip: string) => `login:${throttledAddress(ip)}`;

/**
 * What failures are counted under: an IPv4 address as it is (also when written IPv4-mapped, as a
 * dual-stack socket reports it), an IPv6 address by its /64 ("2001:db8:0:1::/64").
 */
export function throttledAddress(ip: string): string {
  const address = ip.split('%')[0] as string;
  if (!isIPv6(address)) return ip;
  const groups = ipv6Groups(address);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi = 0, lo = 0] = groups.slice(6);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address ("::" expanded, a trailing dotted quad as two groups). */
function ipv6Groups(address: string): number[] {
  const parse = (part: string) =>
    part === ''
      ? []
      : part.split(':').flatMap((g) => {
          if (!g.includes('.')) return [parseInt(g, 16)];
          const [a = 0, b = 0, c = 0, d = 0] = g.split('.').map(Number);
          return [(a << 8) | b, (c << 8) | d];
        });
  const [head = '', tail] = address.split('::');
  const h = parse(head);
  if (tail === undefined) return h;
  const t = parse(tail);
  return [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}
