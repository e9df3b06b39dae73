import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createApp } from '../../src/app.js';
import { configWith } from '../../src/config.js';
import { MemoryRateLimiter, type RateDecision, type RateLimiter, type TakenHit } from '../../src/core/rate-limit.js';
import { FallbackRateLimiter } from '../../src/limits/fallback-rate-limiter.js';
import { connectRedis, REDIS_CLIENT_OPTIONS, REDIS_KEY_PREFIX, RedisRateLimiter } from '../../src/limits/redis-rate-limiter.js';
import { ManualClock } from '../helpers/clock.js';
import { echoProvider } from '../helpers/providers.js';
import { startServer, type TestServer } from '../helpers/server.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
/** A port nothing listens on: connections are refused at once. */
const CLOSED_URL = 'redis://127.0.0.1:1';

/** Each run writes under its own prefix, so parallel runs never see each other's counts. */
const RUN_PREFIX = `taskproc:rl-test:${randomBytes(6).toString('hex')}:`;

let redis: Redis;
before(async () => {
  redis = await connectRedis(REDIS_URL);
});
after(async () => {
  await deleteMatching(`${RUN_PREFIX}*`);
  redis.disconnect();
});

async function deleteMatching(pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    if (keys.length) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/** A port that was free a moment ago (the OS picks it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

/** A take's decision without the name of its hit (which differs between implementations). */
const decisionOf = ({ hit: _hit, ...decision }: TakenHit): RateDecision => decision;

let seq = 0;
const freshPrefix = () => `${RUN_PREFIX}${++seq}:`;

const implementations: Array<[string, (clock: ManualClock) => RateLimiter]> = [
  ['MemoryRateLimiter', (clock) => new MemoryRateLimiter(clock)],
  ['RedisRateLimiter', (clock) => new RedisRateLimiter(redis, clock, freshPrefix())],
];

for (const [name, make] of implementations) {
  describe(`${name}: sliding-window behaviour`, () => {
    it('allows 20, refuses the 21st with Retry-After, and counts refused hits too', async () => {
      const clock = new ManualClock(Date.UTC(2026, 5, 1));
      const l = make(clock);
      for (let i = 0; i < 20; i++) {
        const d = await l.hit('u', 20, 120);
        assert.equal(d.allowed, true);
        assert.equal(d.remaining, 19 - i);
        assert.equal(d.limit, 20);
        assert.equal(d.retryAfter, 0);
        assert.equal(d.resetAt, Date.UTC(2026, 5, 1) / 1000 + 120);
        clock.advance(1000);
      }
      const refused = await l.hit('u', 20, 120);
      assert.equal(refused.allowed, false);
      assert.equal(refused.remaining, 0);
      // 21 hits at 0..20 s: a slot frees when the second one (1 s) leaves the window, at 121 s.
      assert.equal(refused.retryAfter, 101);
      assert.equal((await l.peek('u', 20, 120)).allowed, false);
      clock.advance(100_000);
      assert.equal((await l.peek('u', 20, 120)).allowed, false, 'the refused hit counts too: 120 s after the first is not enough');
      clock.advance(1000);
      const afterOne = await l.hit('u', 20, 120);
      assert.equal(afterOne.allowed, true);
      assert.equal(afterOne.remaining, 0);
      assert.equal((await l.hit('u', 20, 120)).allowed, false);
    });

    it('slides: old hits leave the window one by one', async () => {
      const clock = new ManualClock();
      const l = make(clock);
      for (let i = 0; i < 3; i++) {
        await l.hit('k', 3, 10);
        clock.advance(2000);
      }
      const full = await l.hit('k', 3, 10);
      assert.equal(full.allowed, false);
      // Hits at 0, 2, 4 and the refused one at 6 s: the next is allowed once the one at 2 s leaves.
      assert.equal(full.retryAfter, 6);
      clock.advance(5000);
      assert.equal((await l.peek('k', 3, 10)).remaining, 0);
      clock.advance(1000);
      assert.equal((await l.peek('k', 3, 10)).remaining, 1, 'the hits at 4 s and 6 s remain');
      clock.advance(20_000);
      const idle = await l.peek('k', 3, 10);
      assert.deepEqual(idle, { allowed: true, limit: 3, remaining: 3, resetAt: Math.ceil((clock.nowMs() + 10_000) / 1000), retryAfter: 0 });
    });

    it('peek does not count, and keys are separate', async () => {
      const clock = new ManualClock();
      const l = make(clock);
      for (let i = 0; i < 5; i++) await l.peek('a', 2, 60);
      assert.equal((await l.hit('a', 2, 60)).remaining, 1);
      await l.hit('a', 2, 60);
      assert.equal((await l.peek('a', 2, 60)).allowed, false);
      assert.equal((await l.peek('b', 2, 60)).allowed, true, 'another key has its own budget');
    });

    it('take counts only while there is room, and a refused take counts nothing', async () => {
      const clock = new ManualClock();
      const l = make(clock);
      for (let i = 0; i < 3; i++) {
        const t = await l.take('t', 3, 10);
        assert.equal(t.allowed, true);
        assert.equal(t.remaining, 2 - i);
        assert.equal(typeof t.hit, 'string');
        clock.advance(2000);
      }
      const refused = await l.take('t', 3, 10);
      assert.deepEqual(refused, { allowed: false, limit: 3, remaining: 0, resetAt: Math.ceil((clock.nowMs() + 4000) / 1000), retryAfter: 4, hit: null });
      clock.advance(4000);
      assert.equal((await l.take('t', 3, 10)).allowed, true, 'the refused take did not push the window on');
      assert.equal((await l.take('t', 3, 10)).allowed, false);
    });

    it('take is atomic: of 12 concurrent takes exactly 10 count', async () => {
      const l = make(new ManualClock());
      const ts = await Promise.all(Array.from({ length: 12 }, () => l.take('race', 10, 60, 'x')));
      assert.equal(ts.filter((t) => t.allowed && t.hit !== null).length, 10);
      assert.equal((await l.peek('race', 10, 60)).remaining, 0);
    });

    it('withdraw removes the named hit and, with a tag, every hit carrying that tag, and nothing else', async () => {
      const clock = new ManualClock();
      const l = make(clock);
      const mine = await l.take('w', 5, 60, 'me');
      await l.take('w', 5, 60, 'me');
      await l.take('w', 5, 60, 'me|too');
      await l.take('w', 5, 60, 'other');
      const untagged = await l.take('w', 5, 60);
      assert.equal((await l.peek('w', 5, 60)).remaining, 0);
      await l.withdraw('w', untagged.hit);
      assert.equal((await l.peek('w', 5, 60)).remaining, 1);
      await l.withdraw('w', mine.hit, 'me');
      assert.equal((await l.peek('w', 5, 60)).remaining, 3, 'both hits tagged "me" went; "me|too" and "other" stay');
      await l.withdraw('w', null, 'me|too');
      await l.withdraw('w', mine.hit, 'nobody');
      assert.equal((await l.peek('w', 5, 60)).remaining, 4);
      await l.withdraw('never-seen', null, 'me');
    });

    it('keeps a long window whole while shorter ones come and go', async () => {
      const clock = new ManualClock();
      const l = make(clock);
      await l.take('long', 2, 900);
      await l.take('long', 2, 900);
      for (let i = 0; i < 5; i++) {
        clock.advance(100_000);
        await l.hit(`short-${i}`, 20, 120);
      }
      assert.equal((await l.take('long', 2, 900)).allowed, false, '500 s later the 900 s window still holds both');
    });

    it('keeps hits in the same millisecond apart', async () => {
      const l = make(new ManualClock());
      const ds = await Promise.all(Array.from({ length: 12 }, () => l.hit('same-ms', 10, 60)));
      assert.equal(ds.filter((d) => d.allowed).length, 10);
    });
  });
}

describe('RedisRateLimiter', () => {
  it('decides exactly as MemoryRateLimiter over a random sequence', async () => {
    const clock = new ManualClock();
    const mem = new MemoryRateLimiter(clock);
    const red = new RedisRateLimiter(redis, clock, freshPrefix());
    let state = 42;
    const rnd = (n: number) => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state % n;
    };
    const taken: Array<[string, string, string]> = [];
    for (let i = 0; i < 400; i++) {
      const key = `k${rnd(3)}`;
      const op = rnd(10);
      clock.advance(rnd(4) * 700);
      const tag = rnd(3) === 0 ? undefined : `tag${rnd(2)}`;
      let a: RateDecision | undefined;
      let b: RateDecision | undefined;
      if (op < 3) [a, b] = [await mem.hit(key, 5, 10), await red.hit(key, 5, 10)];
      else if (op < 5) [a, b] = [await mem.peek(key, 5, 10), await red.peek(key, 5, 10)];
      else if (op < 8) {
        const [m, r] = [await mem.take(key, 5, 10, tag), await red.take(key, 5, 10, tag)];
        assert.equal(r.hit === null, m.hit === null, `step ${i}: take ${key}`);
        if (m.hit !== null && r.hit !== null) taken.push([key, m.hit, r.hit]);
        [a, b] = [decisionOf(m), decisionOf(r)];
      } else {
        const [k, m, r] = taken.splice(rnd(taken.length + 1), 1)[0] ?? [key, null, null];
        await Promise.all([mem.withdraw(k, m, tag), red.withdraw(k, r, tag)]);
        [a, b] = [await mem.peek(k, 5, 10), await red.peek(k, 5, 10)];
      }
      assert.deepEqual(b, a, `step ${i}: op ${op} ${key}`);
    }
  });

  it('lets two nodes share one budget, atomically under concurrency', async () => {
    const clock = new ManualClock();
    const prefix = freshPrefix();
    const second = await connectRedis(REDIS_URL);
    try {
      const a = new RedisRateLimiter(redis, clock, prefix);
      const b = new RedisRateLimiter(second, clock, prefix);
      const ds = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).hit('shared', 20, 120)));
      assert.equal(ds.filter((d) => d.allowed).length, 20);
      assert.equal((await b.peek('shared', 20, 120)).allowed, false);
      const ts = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).take('taken', 20, 120, 'acct')));
      assert.equal(ts.filter((t) => t.hit !== null).length, 20);
      await a.withdraw('taken', null, 'acct');
      assert.equal((await b.peek('taken', 20, 120)).remaining, 20, 'a withdrawal on one node is seen on the other');
    } finally {
      second.disconnect();
    }
  });

  it('keeps at most limit+1 entries per key and expires the key with the window', async () => {
    const clock = new ManualClock();
    const prefix = freshPrefix();
    const l = new RedisRateLimiter(redis, clock, prefix);
    for (let i = 0; i < 50; i++) await l.hit('flood', 5, 30);
    assert.equal(await redis.zcard(`${prefix}flood`), 6);
    const ttl = await redis.pttl(`${prefix}flood`);
    assert.ok(ttl > 29_000 && ttl <= 30_000, `ttl ${ttl}`);
  });

  it('uses the taskproc:rl: prefix by default', () => {
    assert.equal(REDIS_KEY_PREFIX, 'taskproc:rl:');
  });
});

describe('FallbackRateLimiter', () => {
  const logs = () => {
    const lines: string[] = [];
    return { lines, log: { warn: (_: object, m: string) => lines.push(`warn ${m}`), info: (_: object, m: string) => lines.push(`info ${m}`) } };
  };

  it('answers from memory, fast and without throwing, when Redis is unreachable', async () => {
    const down = new Redis(CLOSED_URL, { ...REDIS_CLIENT_OPTIONS });
    down.on('error', () => {});
    down.connect().catch(() => {});
    const clock = new ManualClock();
    const { lines, log } = logs();
    const l = new FallbackRateLimiter(new RedisRateLimiter(down, clock, freshPrefix()), new MemoryRateLimiter(clock), { log });
    try {
      const started = Date.now();
      for (let i = 0; i < 3; i++) assert.equal((await l.hit('x', 3, 60)).allowed, true);
      assert.equal((await l.hit('x', 3, 60)).allowed, false, 'the per-node limit still applies');
      assert.equal((await l.peek('x', 3, 60)).allowed, false);
      const t = await l.take('y', 3, 60, 'acct');
      assert.equal(t.allowed, true);
      await l.take('y', 3, 60, 'acct');
      await l.take('y', 3, 60);
      assert.equal((await l.take('y', 3, 60)).hit, null, 'the per-node take refuses past the limit');
      await l.withdraw('y', t.hit, 'acct');
      assert.equal((await l.peek('y', 3, 60)).remaining, 2);
      const took = Date.now() - started;
      assert.ok(took < 1500, `took ${took} ms`);
      assert.equal(lines.filter((x) => x.startsWith('warn')).length, 1, 'one warning per outage');
    } finally {
      down.disconnect();
    }
  });

  it('takes in Redis and mirrors in memory, and withdraws from both', async () => {
    const clock = new ManualClock();
    const prefix = freshPrefix();
    const shared = new RedisRateLimiter(redis, clock, prefix);
    const local = new MemoryRateLimiter(clock);
    const l = new FallbackRateLimiter(shared, local, { log: logs().log });
    const t = await l.take('k', 2, 60, 'acct');
    await l.take('k', 2, 60);
    for (const one of [shared, local]) assert.equal((await one.peek('k', 2, 60)).remaining, 0);
    assert.equal((await l.take('k', 2, 60)).hit, null);
    await l.withdraw('k', t.hit, 'acct');
    for (const one of [shared, local]) assert.equal((await one.peek('k', 2, 60)).remaining, 1);
    await shared.take('k', 2, 60);
    assert.equal((await l.take('k', 2, 60)).allowed, false, 'the shared count decides while Redis answers');
  });

  it('does not wait for a slow shared limiter, and logs the outage and the recovery once each', async () => {
    const clock = new ManualClock();
    let mode: 'slow' | 'fail' | 'ok' = 'slow';
    const answer: RateDecision = { allowed: true, limit: 9, remaining: 9, resetAt: 0, retryAfter: 0 };
    const shared: RateLimiter = {
      hit: async () => {
        if (mode === 'slow') await new Promise((r) => setTimeout(r, 2000));
        if (mode === 'fail') throw new Error('boom');
        return answer;
      },
      peek: async () => answer,
      take: async () => ({ ...answer, hit: null }),
      withdraw: async () => {},
    };
    const { lines, log } = logs();
    const l = new FallbackRateLimiter(shared, new MemoryRateLimiter(clock), { log, timeoutMs: 100 });
    const started = Date.now();
    assert.equal((await l.hit('y', 2, 60)).remaining, 1, 'answered from memory');
    assert.ok(Date.now() - started < 1000);
    mode = 'fail';
    assert.equal((await l.hit('y', 2, 60)).remaining, 0);
    mode = 'ok';
    assert.equal(await l.hit('y', 2, 60), answer, 'the shared answer once it is back');
    await l.hit('y', 2, 60);
    assert.deepEqual(lines, [
      'warn rate limits: Redis is unavailable; limits are per node until it answers again',
      'info rate limits: Redis answers again; limits are shared across nodes again',
    ]);
  });
});

describe('FallbackRateLimiter over a Redis that goes away and comes back', () => {
  /** A private redis-server, so stopping it disturbs nobody else's Redis. */
  async function startRedis(port: number): Promise<ChildProcess> {
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      const probe = new Redis(port, '127.0.0.1', { ...REDIS_CLIENT_OPTIONS, retryStrategy: () => null });
      probe.on('error', () => {});
      const up = await probe.connect().then(
        () => probe.ping(),
        () => null,
      );
      probe.disconnect();
      if (up === 'PONG') return child;
      await delay(50);
    }
    child.kill();
    throw new Error('redis-server did not start');
  }
  const stopRedis = (child: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });

  it('degrades to memory during the outage and shares again once the client has reconnected by itself', async () => {
    const port = await freePort();
    let server = await startRedis(port);
    const client = await connectRedis(`redis://127.0.0.1:${port}`);
    const clock = new ManualClock();
    const lines: string[] = [];
    const log = { warn: (_: object, m: string) => lines.push(`warn ${m}`), info: (_: object, m: string) => lines.push(`info ${m}`) };
    const l = new FallbackRateLimiter(new RedisRateLimiter(client, clock), new MemoryRateLimiter(clock), { log });
    try {
      assert.equal((await l.hit('z', 5, 60)).remaining, 4);
      await stopRedis(server);
      const started = Date.now();
      for (let i = 0; i < 3; i++) assert.equal((await l.hit('z', 5, 60)).allowed, true);
      assert.ok(Date.now() - started < 1000, 'no request waits for the dead Redis');
      assert.deepEqual(lines, ['warn rate limits: Redis is unavailable; limits are per node until it answers again']);
      server = await startRedis(port);
      for (let i = 0; i < 100 && client.status !== 'ready'; i++) await delay(50);
      // The restarted Redis is empty: the shared count starts again from this hit.
      assert.equal((await l.hit('z', 5, 60)).remaining, 4);
      assert.equal(lines.length, 2);
      assert.match(lines[1] as string, /^info rate limits: Redis answers again/);
    } finally {
      client.disconnect();
      await stopRedis(server);
    }
  });
});

describe('shared limits through the API', () => {
  const servers: TestServer[] = [];
  const uid = `rl-${randomBytes(4).toString('hex')}`;
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await redis.del(`${REDIS_KEY_PREFIX}schedule:user:${uid}`);
  });

  it('two nodes on one Redis share the 20 per 120 s schedule budget of a user', async () => {
    for (let i = 0; i < 2; i++) servers.push(await startServer({ providers: [echoProvider()], config: { redisUrl: REDIS_URL, runnerConcurrency: 0 } }));
    const [a, b] = servers as [TestServer, TestServer];
    const onA = await a.addUser(uid);
    const onB = await b.addUser(uid);
    const body = { input: { input: 'x' }, type: 'core:text2text', appId: 'a' };
    for (let i = 0; i < 15; i++) assert.equal((await a.ocs('POST', '/ocs/v2.php/taskprocessing/schedule', { auth: onA.auth, body })).status, 200);
    for (let i = 0; i < 5; i++) {
      const r = await b.ocs('POST', '/ocs/v2.php/taskprocessing/schedule', { auth: onB.auth, body });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('x-ratelimit-remaining'), String(4 - i));
    }
    const refused = await b.ocs('POST', '/ocs/v2.php/taskprocessing/schedule', { auth: onB.auth, body });
    assert.equal(refused.status, 429);
    assert.equal((await a.ocs('POST', '/ocs/v2.php/taskprocessing/schedule', { auth: onA.auth, body })).status, 429);
  });

  it('refuses to start when the Redis URL does not answer', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'taskproc-redis-'));
    try {
      await assert.rejects(
        createApp({ providers: [], config: configWith({ dataDir: dir, redisUrl: CLOSED_URL, logLevel: 'silent' }) }),
        (err: Error) => err.message === 'Redis at redis://127.0.0.1:1 does not answer: connect ECONNREFUSED 127.0.0.1:1',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
