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

/** A `take`: the decision, and the name of the hit it counted (null when it was refused and counted nothing). */
export interface TakenHit extends RateDecision {
  hit: string | null;
}

/**
 * Counts hits per key in a sliding window. Implementations: in memory per node (this file), shared
 * through Redis (`limits/redis-rate-limiter.ts`). Each call is atomic: concurrent calls on one key
 * never see each other half-done.
 */
export interface RateLimiter {
  /** Counts a hit, allowed or not, as upstream's limiter does (the schedule limit). */
  hit(key: string, limit: number, windowSeconds: number): Promise<RateDecision>;
  /** Reads the count without adding a hit. */
  peek(key: string, limit: number, windowSeconds: number): Promise<RateDecision>;
  /**
   * Counts a hit only when it is allowed, so the count never passes `limit`: a place reserved before
   * work whose outcome decides whether it should have counted (a login attempt before its password
   * is checked). `tag` (non-empty) marks the hit for `withdraw`.
   */
  take(key: string, limit: number, windowSeconds: number, tag?: string): Promise<TakenHit>;
  /** Removes the hit `take` named (when not null) and, with a `tag`, every hit of the key carrying it. */
  withdraw(key: string, hit: string | null, tag?: string): Promise<void>;
}

interface Hit {
  at: number;
  id: string;
  tag: string;
}

interface Log {
  hits: Hit[];
  /** When the newest hit leaves its window: then the whole log is stale. */
  staleAt: number;
}

/** Sliding-window log in memory: exact, and bounded because each key keeps at most `limit` + 1 hits. */
export class MemoryRateLimiter implements RateLimiter {
  private readonly logs = new Map<string, Log>();
  private lastSweep = 0;
  private seq = 0;

  constructor(private readonly clock: Clock) {}

  async hit(key: string, limit: number, windowSeconds: number): Promise<RateDecision> {
    const now = this.clock.nowMs();
    const hits = this.add(key, now, windowSeconds, '');
    // Keep only what can still matter: the last `limit` hits decide when the next one is allowed.
    if (hits.length > limit + 1) hits.splice(0, hits.length - (limit + 1));
    return decide(hits, now, limit, windowSeconds, true);
  }

  async peek(key: string, limit: number, windowSeconds: number): Promise<RateDecision> {
    const now = this.clock.nowMs();
    return decide(this.window(key, now, windowSeconds), now, limit, windowSeconds, false);
  }

  async take(key: string, limit: number, windowSeconds: number, tag = ''): Promise<TakenHit> {
    const now = this.clock.nowMs();
    const before = decide(this.window(key, now, windowSeconds), now, limit, windowSeconds, false);
    if (!before.allowed) return { ...before, hit: null };
    const hits = this.add(key, now, windowSeconds, tag);
    return { ...decide(hits, now, limit, windowSeconds, true), hit: (hits[hits.length - 1] as Hit).id };
  }

  async withdraw(key: string, hit: string | null, tag = ''): Promise<void> {
    const log = this.logs.get(key);
    if (!log) return;
    log.hits = log.hits.filter((h) => h.id !== hit && (tag === '' || h.tag !== tag));
    if (log.hits.length === 0) this.logs.delete(key);
  }

  /** Appends a hit to the key's window and returns the window (kept as the key's log). */
  private add(key: string, now: number, windowSeconds: number, tag: string): Hit[] {
    this.sweep(now);
    const hits = this.window(key, now, windowSeconds);
    hits.push({ at: now, id: String(++this.seq), tag });
    this.logs.set(key, { hits, staleAt: now + windowSeconds * 1000 });
    return hits;
  }

  private window(key: string, now: number, windowSeconds: number): Hit[] {
    const from = now - windowSeconds * 1000;
    return (this.logs.get(key)?.hits ?? []).filter((h) => h.at > from);
  }

  /**
   * Drops stale keys now and then so memory follows the active callers, not every caller ever seen.
   * Each key goes by its own window: a short one (the schedule limit's) must not end a long one's.
   */
  private sweep(now: number): void {
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    for (const [key, log] of this.logs) if (log.staleAt <= now) this.logs.delete(key);
  }
}

function decide(log: Hit[], now: number, limit: number, windowSeconds: number, counted: boolean): RateDecision {
  // The request that frees a slot is the one `limit` places back from the end.
  const window = { count: log.length, oldestMs: log[0]?.at ?? now, pivotMs: log[Math.max(0, log.length - limit)]?.at ?? now };
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
