import { DomainError } from '../core/errors.js';
import type { RateLimiter } from '../core/rate-limit.js';

export interface LoginThrottleOptions {
  /** Failed logins per address allowed in the window before further attempts get 429. */
  maxFailures: number;
  windowSeconds: number;
}

export const DEFAULT_LOGIN_THROTTLE: LoginThrottleOptions = Object.freeze({ maxFailures: 10, windowSeconds: 900 });

/**
 * Failed logins counted per client address, shared by every way of logging in (passwords, app
 * passwords, AppAPI secrets): past the limit the address gets 429 before any check runs, which
 * is our form of upstream's brute-force protection (it delays instead).
 */
export class LoginThrottle {
  constructor(
    private readonly limiter: RateLimiter,
    private readonly opts: LoginThrottleOptions = DEFAULT_LOGIN_THROTTLE,
  ) {}

  /** Throws login_throttled (with Retry-After) while the address is over the limit. */
  async check(ip: string): Promise<void> {
    const state = await this.limiter.peek(key(ip), this.opts.maxFailures, this.opts.windowSeconds);
    if (state.allowed) return;
    const err = new DomainError('login_throttled', 'Too many failed login attempts from this address; try again later');
    err.retryAfter = state.retryAfter;
    throw err;
  }

  async failed(ip: string): Promise<void> {
    await this.limiter.hit(key(ip), this.opts.maxFailures, this.opts.windowSeconds);
  }

  async succeeded(ip: string): Promise<void> {
    await this.limiter.reset(key(ip));
  }
}

const key = (ip: string) => `login:${ip}`;
