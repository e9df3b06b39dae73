import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Clock } from '../core/clock.js';
import { rateDecision, type RateDecision, type RateLimiter, type TakenHit } from '../core/rate-limit.js';

export const REDIS_KEY_PREFIX = 'taskproc:rl:';

/**
 * Reads the window of a key as [count, oldest score, pivot score]: the pivot is the hit `limit`
 * places back from the newest, the one whose expiry frees a slot (as in MemoryRateLimiter).
 * Entries at or before `from` are outside the window; peek leaves them for PEXPIRE to drop.
 */
const WINDOW_STATE = `
local function state(key, from, limit)
  local lo = '(' .. from
  local count = redis.call('ZCOUNT', key, lo, '+inf')
  if count == 0 then return {0, false, false} end
  local first = redis.call('ZRANGEBYSCORE', key, lo, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  local p = count - limit
  if p < 0 then p = 0 end
  local pivot = redis.call('ZRANGEBYSCORE', key, lo, '+inf', 'WITHSCORES', 'LIMIT', p, 1)
  return {count, first[2], pivot[2]}
end
`;

/**
 * One hit, atomically (a script runs alone on the server, so nodes never interleave between the
 * count and the add). KEYS[1] key; ARGV: now ms, window start ms (exclusive), limit, window ms,
 * unique member. Times come from the caller's Clock, so every node and the tests share one notion
 * of "now" with MemoryRateLimiter.
 */
const HIT_SCRIPT = `${WINDOW_STATE}
local key = KEYS[1]
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[2])
redis.call('ZADD', key, ARGV[1], ARGV[5])
local count = redis.call('ZCARD', key)
-- Only the last limit+1 hits can matter (as in memory): this bounds a key under a flood.
if count > limit + 1 then redis.call('ZREMRANGEBYRANK', key, 0, count - limit - 2) end
-- Every member is at most "now", so the whole key is stale one window from now.
redis.call('PEXPIRE', key, ARGV[4])
return state(key, ARGV[2], limit)
`;

/** Read-only: KEYS[1] key; ARGV: window start ms (exclusive), limit. */
const PEEK_SCRIPT = `${WINDOW_STATE}
return state(KEYS[1], ARGV[1], tonumber(ARGV[2]))
`;

/**
 * A hit only if the window has room: the count and the add are one step, so of concurrent takes
 * from any number of nodes exactly the ones that fit are counted. ARGV as HIT_SCRIPT's. Returns
 * [1 if counted, then the window's state]; a refused take leaves the key as it was.
 */
const TAKE_SCRIPT = `${WINDOW_STATE}
local key = KEYS[1]
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[2])
local taken = 0
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, ARGV[1], ARGV[5])
  redis.call('PEXPIRE', key, ARGV[4])
  taken = 1
end
local s = state(key, ARGV[2], limit)
return {taken, s[1], s[2], s[3]}
`;

/**
 * KEYS[1] key; ARGV: a member to remove ('' for none), a tag whose members to remove ('' for none).
 * A tagged member is "<id>|<tag>" and ids never hold "|", so the tag is all after the first "|".
 * The scan is short: a key that takes is never longer than its limit.
 */
const WITHDRAW_SCRIPT = `
local key = KEYS[1]
if ARGV[1] ~= '' then redis.call('ZREM', key, ARGV[1]) end
if ARGV[2] ~= '' then
  for _, member in ipairs(redis.call('ZRANGE', key, 0, -1)) do
    local bar = string.find(member, '|', 1, true)
    if bar and string.sub(member, bar + 1) == ARGV[2] then redis.call('ZREM', key, member) end
  end
end
return 0
`;

type StateReply = [number, string | null, string | null];

interface ScriptedRedis extends Redis {
  rlHit(key: string, now: string, from: string, limit: string, windowMs: string, member: string): Promise<StateReply>;
  rlPeek(key: string, from: string, limit: string): Promise<StateReply>;
  rlTake(key: string, now: string, from: string, limit: string, windowMs: string, member: string): Promise<[number, ...StateReply]>;
  rlWithdraw(key: string, member: string, tag: string): Promise<number>;
}

/**
 * The sliding-window log of MemoryRateLimiter kept in one Redis sorted set per key (score = hit
 * time), so every node sharing the Redis shares the counts exactly. Same semantics and decisions.
 */
export class RedisRateLimiter implements RateLimiter {
  private readonly redis: ScriptedRedis;
  /** Members must be unique or two hits in the same millisecond would collapse into one. */
  private readonly nodeId = randomBytes(6).toString('hex');
  private seq = 0;

  constructor(
    redis: Redis,
    private readonly clock: Clock,
    private readonly prefix: string = REDIS_KEY_PREFIX,
  ) {
    // defineCommand sends EVALSHA and falls back to EVAL once after a Redis restart (NOSCRIPT).
    if (!('rlHit' in redis)) {
      redis.defineCommand('rlHit', { numberOfKeys: 1, lua: HIT_SCRIPT });
      redis.defineCommand('rlPeek', { numberOfKeys: 1, lua: PEEK_SCRIPT });
      redis.defineCommand('rlTake', { numberOfKeys: 1, lua: TAKE_SCRIPT });
      redis.defineCommand('rlWithdraw', { numberOfKeys: 1, lua: WITHDRAW_SCRIPT });
    }
    this.redis = redis as ScriptedRedis;
  }

  async hit(key: string, limit: number, windowSeconds: number): Promise<RateDecision> {
    const now = this.clock.nowMs();
    const windowMs = windowSeconds * 1000;
    const reply = await this.redis.rlHit(this.prefix + key, String(now), String(now - windowMs), String(limit), String(windowMs), this.member(now, ''));
    return decide(reply, now, limit, windowSeconds, true);
  }

  async peek(key: string, limit: number, windowSeconds: number): Promise<RateDecision> {
    const now = this.clock.nowMs();
    const reply = await this.redis.rlPeek(this.prefix + key, String(now - windowSeconds * 1000), String(limit));
    return decide(reply, now, limit, windowSeconds, false);
  }

  async take(key: string, limit: number, windowSeconds: number, tag = ''): Promise<TakenHit> {
    const now = this.clock.nowMs();
    const windowMs = windowSeconds * 1000;
    const member = this.member(now, tag);
    const [taken, ...state] = await this.redis.rlTake(this.prefix + key, String(now), String(now - windowMs), String(limit), String(windowMs), member);
    return { ...decide(state, now, limit, windowSeconds, taken === 1), hit: taken === 1 ? member : null };
  }

  async withdraw(key: string, hit: string | null, tag = ''): Promise<void> {
    await this.redis.rlWithdraw(this.prefix + key, hit ?? '', tag);
  }

  /** A unique member (two hits in one millisecond must not collapse), with its tag after the first "|". */
  private member(now: number, tag: string): string {
    this.seq = (this.seq + 1) % Number.MAX_SAFE_INTEGER;
    const id = `${now}:${this.nodeId}:${this.seq}`;
    return tag === '' ? id : `${id}|${tag}`;
  }
}

/**
 * MemoryRateLimiter's decision (the same rateDecision), from the window's count, oldest hit and
 * pivot that the script returns instead of the whole log.
 */
function decide([count, first, pivot]: StateReply, now: number, limit: number, windowSeconds: number, counted: boolean): RateDecision {
  const window = { count, oldestMs: first === null ? now : Number(first), pivotMs: pivot === null ? now : Number(pivot) };
  return rateDecision(window, now, limit, windowSeconds, counted);
}

/**
 * Options that make calls fail fast while Redis is down instead of queueing (the fallback then
 * answers from memory), while the client keeps reconnecting by itself in the background.
 */
export const REDIS_CLIENT_OPTIONS = Object.freeze({
  lazyConnect: true,
  maxRetriesPerRequest: 1,
  enableOfflineQueue: false,
  connectTimeout: 2000,
  retryStrategy: (times: number) => Math.min(100 * times, 2000),
});

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/**
 * Connects and PINGs once, so a node never starts half-configured against a Redis that does not
 * answer. Throws `Redis at <url> does not answer: <reason>` (password redacted).
 */
/** How long the start waits for Redis to answer PING. */
const REDIS_START_TIMEOUT_MS = 5000;

export async function connectRedis(url: string): Promise<Redis> {
  let lastError: Error | null = null;
  const redis = new Redis(url, { ...REDIS_CLIENT_OPTIONS });
  // ioredis reports every failed (re)connect as an 'error' event; without a listener it prints
  // them to stderr. Outages are reported by the fallback limiter instead, once each.
  const onError = (err: Error) => {
    lastError = err;
  };
  redis.on('error', onError);
  let timer: NodeJS.Timeout | undefined;
  try {
    // A peer that accepts the connection and never answers would otherwise hold the start forever.
    const silent = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${REDIS_START_TIMEOUT_MS} ms`)), REDIS_START_TIMEOUT_MS);
    });
    const answered = redis.connect().then(() => redis.ping());
    // Once the timer has won, disconnect() makes this one fail too: nobody is waiting for it.
    answered.catch(() => undefined);
    await Promise.race([answered, silent]);
  } catch (err) {
    redis.disconnect();
    // connect() rejects with a bare "Connection is closed."; the error event has the cause.
    const reason = (lastError ?? (err as Error)).message;
    throw new Error(`Redis at ${redactUrl(url)} does not answer: ${reason}`);
  } finally {
    clearTimeout(timer);
  }
  return redis;
}

/** Closes gracefully when Redis answers, at once when it does not (shutdown must not hang). */
export async function closeRedis(redis: Redis): Promise<void> {
  await Promise.race([redis.quit().catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
  redis.disconnect();
}
