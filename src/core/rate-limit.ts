import type { Clock } from './clock.js';

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Unix seconds when the oldest counted hit leaves the window. */
  resetAt: number;
  /** Seconds until another request would be allowed (0 when allowed). */
  retryAfter: number;
}

/**
 * Counts hits per key in a sliding window. Every call counts, allowed or not, as upstream's
 * limiter does. Implementations: in memory per node (this file), shared through Redis later.
 */
export interface RateLimiter {
  hit(key: string, limit: number, windowSeconds: number): Promise<RateDecision>;
  /** Forgets a key (a successful login resets the failed-login count). */
  reset(key: string): Promise<void>;
  /** Reads the count without adding a hit. */
  peek(key: string, limit: number, windowSeconds: number): Promise<RateDecision>;
}

/** Sliding-window log in memory: exact, and bounded because each key keeps at most `limit` timestamps. */
export class MemoryRateLimiter implements RateLimiter {
  private readonly hits = new Map<string, number[]>();
  private lastSweep = 0;

  constructor(private readonly clock: Clock) {}

  async hit(key: string, limit: number, windowSeconds: number): Promise<RateDecision> {
    const now = this.clock.nowMs();
    this.sweep(now, windowSeconds);
    const log = this.window(key, now, windowSeconds);
    log.push(now);
    // Keep only what can still matter: the last `limit` hits decide when the next one is allowed.
    if (log.length > limit + 1) log.splice(0, log.length - (limit + 1));
    this.hits.set(key, log);
    return decide(log, now, limit, windowSeconds, true);
  }

  async peek(key: string, limit: number, windowSeconds: number): Promise<RateDecision> {
    const now = this.clock.nowMs();
    return decide(this.window(key, now, windowSeconds), now, limit, windowSeconds, false);
  }

  async reset(key: string): Promise<void> {
    this.hits.delete(key);
  }

  private window(key: string, now: number, windowSeconds: number): number[] {
    const from = now - windowSeconds * 1000;
    return (this.hits.get(key) ?? []).filter((t) => t > from);
  }

  /** Drops idle keys now and then so memory follows the active callers, not every caller ever seen. */
  private sweep(now: number, windowSeconds: number): void {
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    const from = now - windowSeconds * 1000;
    for (const [key, log] of this.hits) if ((log[log.length - 1] ?? 0) <= from) this.hits.delete(key);
  }
}

function decide(log: number[], now: number, limit: number, windowSeconds: number, counted: boolean): RateDecision {
  // The request that frees a slot is the one `limit` places back from the end.
  const window = { count: log.length, oldestMs: log[0] ?? now, pivotMs: log[Math.max(0, log.length - limit)] ?? now };
  return rateDecision(window, now, limit, windowSeconds, counted);
}

/**
 * The decision from a window's count, its oldest hit and the hit whose expiry frees a slot (the
 * pivot): one rule for the in-memory log and the Redis sorted set. `counted`: the count already
 * includes this request.
 */
export function rateDecision(
  window: { count: number; oldestMs: number; pivotMs: number },
  now: number,
  limit: number,
  windowSeconds: number,
  counted: boolean,
): RateDecision {
  const { count } = window;
  const allowed = counted ? count <= limit : count < limit;
  const resetMs = window.oldestMs + windowSeconds * 1000;
  const retryMs = allowed ? 0 : window.pivotMs + windowSeconds * 1000 - now;
  return {
    allowed,
    limit,
    remaining: Math.max(0, limit - count),
    resetAt: Math.ceil(resetMs / 1000),
    retryAfter: Math.max(allowed ? 0 : 1, Math.ceil(retryMs / 1000)),
  };
}
