import type { RateDecision, RateLimiter, TakenHit } from '../core/rate-limit.js';

export interface FallbackLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface FallbackOptions {
  /** A shared answer slower than this is not waited for (the request must not stall on Redis). */
  timeoutMs?: number;
  log: FallbackLog;
}

export const DEFAULT_FALLBACK_TIMEOUT_MS = 200;

const TIMED_OUT = Symbol('timed out');

/**
 * Shared limits (Redis) that degrade to per-node limits (memory) instead of blocking or failing a
 * request: when the shared limiter throws or is slower than the timeout, that call is answered
 * from memory. Hits are also recorded in memory while the shared limiter works, so an outage
 * continues from this node's recent history rather than granting everyone a fresh budget.
 * One warning per outage and one note on recovery, not one per request.
 */
export class FallbackRateLimiter implements RateLimiter {
  private readonly timeoutMs: number;
  private down = false;

  constructor(
    private readonly shared: RateLimiter,
    private readonly local: RateLimiter,
    private readonly opts: FallbackOptions,
  ) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_FALLBACK_TIMEOUT_MS;
  }

  async hit(key: string, limit: number, windowSeconds: number): Promise<RateDecision> {
    const local = await this.local.hit(key, limit, windowSeconds);
    return (await this.attempt(() => this.shared.hit(key, limit, windowSeconds))) ?? local;
  }

  async peek(key: string, limit: number, windowSeconds: number): Promise<RateDecision> {
    return (await this.attempt(() => this.shared.peek(key, limit, windowSeconds))) ?? this.local.peek(key, limit, windowSeconds);
  }

  /**
   * The shared decision when Redis answers (mirrored in memory when it counted, for a later outage),
   * else the per-node one. The hit's name carries both names, so `withdraw` reaches both.
   */
  async take(key: string, limit: number, windowSeconds: number, tag?: string): Promise<TakenHit> {
    const shared = await this.attempt(() => this.shared.take(key, limit, windowSeconds, tag));
    if (shared === undefined) {
      const local = await this.local.take(key, limit, windowSeconds, tag);
      return { ...local, hit: local.hit === null ? null : JSON.stringify([local.hit, null]) };
    }
    if (shared.hit === null) return shared;
    const local = await this.local.take(key, limit, windowSeconds, tag);
    return { ...shared, hit: JSON.stringify([local.hit, shared.hit]) };
  }

  /**
   * Withdraws from both. A take that Redis counted after its answer came too late stays counted
   * there for its window, unless its tag is withdrawn: a failure more, never one less.
   */
  async withdraw(key: string, hit: string | null, tag?: string): Promise<void> {
    const [local, shared] = hit === null ? [null, null] : (JSON.parse(hit) as [string | null, string | null]);
    await this.local.withdraw(key, local, tag);
    await this.attempt(() => this.shared.withdraw(key, shared, tag));
  }

  /** The shared answer, or undefined when it failed or was too slow (never throws). */
  private async attempt<T>(call: () => Promise<T>): Promise<T | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = setTimeout(() => resolve(TIMED_OUT), this.timeoutMs);
      timer.unref();
    });
    try {
      const result = await Promise.race([call(), timeout]);
      if (result === TIMED_OUT) {
        this.markDown(new Error(`no answer within ${this.timeoutMs} ms`));
        return undefined;
      }
      if (this.down) {
        this.down = false;
        this.opts.log.info({}, 'rate limits: Redis answers again; limits are shared across nodes again');
      }
      return result;
    } catch (err) {
      this.markDown(err as Error);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  private markDown(err: Error): void {
    if (this.down) return;
    this.down = true;
    this.opts.log.warn({ err: err.message }, 'rate limits: Redis is unavailable; limits are per node until it answers again');
  }
}
