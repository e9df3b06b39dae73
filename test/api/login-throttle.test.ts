import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { REDIS_KEY_PREFIX } from '../../src/limits/redis-rate-limiter.js';
import { ManualClock } from '../helpers/clock.js';
import { basic, startServer, type OcsResponse, type TestServer, type TestUser } from '../helpers/server.js';

const V2 = '/ocs/v2.php/taskprocessing';
const REDIS_URL = 'redis://127.0.0.1:6379';
const MAX_FAILURES = 5;
const WINDOW_SECONDS = 60;

/**
 * Every test logs in from addresses of its own (X-Forwarded-For, with trustProxy), random per run: with Redis
 * the counts are shared by every process using it, and another run must not see this one's failures.
 */
const usedAddresses: string[] = [];
const usedSubnetHeads: string[] = [];
function freshAddress(): string {
  const address = `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;
  usedAddresses.push(address);
  return address;
}
/** Two neighbouring IPv6 /64 prefixes (without the trailing "::"). */
function freshSubnets(): [string, string] {
  const hex = () => randomInt(0x10000).toString(16);
  const head = `fd00:${hex()}:${hex()}`;
  const last = randomInt(0x10000);
  const subnets: [string, string] = [`${head}:${last.toString(16)}`, `${head}:${(last ^ 1).toString(16)}`];
  usedSubnetHeads.push(head);
  return subnets;
}

const secret = `app-secret-${randomBytes(8).toString('hex')}`;
const appApiHeaders = (appId: string, user: string, key: string) => ({
  'ex-app-id': appId,
  'ex-app-version': '1.0.0',
  'authorization-app-api': Buffer.from(`${user}:${key}`).toString('base64'),
});

/**
 * The same credential spelled differently for each `i` (the scheme's letters in upper or lower case by the bits
 * of `i`), so the credential cache, which is keyed by the whole header, never answers it.
 */
const spell = (scheme: string, value: string, i: number) =>
  `${[...scheme].map((c, bit) => ((i >> bit) & 1 ? c.toUpperCase() : c.toLowerCase())).join('')} ${value}`;
const password = (user: TestUser, i: number) => spell('basic', Buffer.from(`${user.uid}:${user.password}`).toString('base64'), i);

const statuses = (rs: OcsResponse[]) => rs.map((r) => r.status).sort((a, b) => a - b);

for (const limits of ['memory', 'redis'] as const) {
  describe(`${limits}: failed-login throttle (${MAX_FAILURES} failures per address in ${WINDOW_SECONDS} s)`, () => {
    let s: TestServer;
    let alice: TestUser;
    let bob: TestUser;
    let mallory: TestUser;
    const clock = new ManualClock(Date.UTC(2026, 6, 1));
    const get = (auth: string, from: string, headers: Record<string, string> = {}) =>
      s.ocs('GET', `${V2}/tasks`, { auth, headers: { 'x-forwarded-for': from, ...headers } });
    const asApp = (from: string, appId: string, user: string, key: string) =>
      s.ocs('GET', `${V2}/tasks`, { auth: null, headers: { 'x-forwarded-for': from, ...appApiHeaders(appId, user, key) } });

    before(async () => {
      s = await startServer({
        clock,
        config: { runnerConcurrency: 0, trustProxy: true, ...(limits === 'redis' && { redisUrl: REDIS_URL }) },
        loginThrottle: { maxFailures: MAX_FAILURES, windowSeconds: WINDOW_SECONDS },
      });
      alice = await s.addUser('alice');
      bob = await s.addUser('bob');
      mallory = await s.addUser('mallory');
      for (const appId of ['worker-a', 'worker-b']) await s.addExApp(appId, { secret });
    });
    after(async () => {
      await s.close();
      if (limits === 'redis') {
        const redis = new Redis(REDIS_URL);
        const keys = usedAddresses.map((a) => `${REDIS_KEY_PREFIX}login:${a}`);
        for (const head of usedSubnetHeads) keys.push(...(await redis.keys(`${REDIS_KEY_PREFIX}login:${head}:*`)));
        await redis.del(...keys);
        redis.disconnect();
      }
    });

    it(`verifies at most ${MAX_FAILURES} of 40 concurrent wrong passwords from one address and answers the rest 429`, async () => {
      const from = freshAddress();
      const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => get(basic('alice', `wrong-${i}`), from)));
      assert.deepEqual(statuses(rs), [...Array(MAX_FAILURES).fill(401), ...Array(40 - MAX_FAILURES).fill(429)]);
      for (const r of rs.filter((x) => x.status === 429)) {
        assert.equal(r.json.ocs.meta.statuscode, 429);
        assert.match(r.json.ocs.data.message, /Too many failed login attempts/);
        assert.equal(r.headers.get('retry-after'), String(WINDOW_SECONDS));
      }
      assert.equal((await get(alice.passwordAuth, from)).status, 429, 'the address is locked out, even with the right password');
      assert.equal((await get(alice.passwordAuth, freshAddress())).status, 200, 'the account is not locked out from everywhere');
    });

    it('verifies concurrent requests with one new credential once, so a client starting in parallel is not throttled', async () => {
      const from = freshAddress();
      const auth = password(bob, 5);
      const rs = await Promise.all(Array.from({ length: 20 }, () => get(auth, from)));
      assert.deepEqual(statuses(rs), Array(20).fill(200));
      const apps = await Promise.all(Array.from({ length: 20 }, (_, i) => asApp(from, 'worker-a', i % 2 ? 'alice' : 'bob', secret)));
      assert.deepEqual(statuses(apps), Array(20).fill(200), 'an ExApp acting for several users at once');
    });

    it('does not let logins to your own account reset the failures counted for guesses at another', async () => {
      const from = freshAddress();
      for (let i = 0; i < MAX_FAILURES; i++) {
        assert.equal((await get(password(mallory, i), from)).status, 200, 'a fresh (uncached) login to her own account');
        assert.equal((await get(basic('alice', `guess-${i}`), from)).status, 401);
      }
      assert.equal((await get(basic('alice', 'guess-again'), from)).status, 429);
      assert.equal((await get(alice.passwordAuth, from)).status, 429);
      assert.equal((await get(password(mallory, MAX_FAILURES), from)).status, 429, 'the locked address cannot log in to any account');
      assert.equal((await get(alice.passwordAuth, freshAddress())).status, 200);
    });

    it("clears only the account's own failures on a success", async () => {
      const from = freshAddress();
      for (let i = 0; i < MAX_FAILURES - 1; i++) assert.equal((await get(basic('mallory', `typo-${i}`), from)).status, 401);
      assert.equal((await get(password(mallory, 7), from)).status, 200);
      // Her typos no longer count: the whole budget is left for anything else from this address.
      for (let i = 0; i < MAX_FAILURES; i++) assert.equal((await get(basic('alice', `guess-${i}`), from)).status, 401);
      assert.equal((await get(basic('alice', 'guess-again'), from)).status, 429);
    });

    it('refuses a cached credential from a locked-out address, serves it from other addresses, and again once the window passes', async () => {
      const locked = freshAddress();
      const other = freshAddress();
      const auth = password(bob, 9);
      assert.equal((await get(auth, locked)).status, 200, 'verified once: now in the credential cache');
      for (let i = 0; i < MAX_FAILURES; i++) assert.equal((await get(basic('alice', `guess-${i}`), locked)).status, 401);
      const refused = await get(auth, locked);
      assert.equal(refused.status, 429);
      assert.equal(refused.json.ocs.meta.statuscode, 429);
      assert.equal(refused.headers.get('retry-after'), String(WINDOW_SECONDS));
      assert.equal((await get(auth, other)).status, 200);
      clock.advance(WINDOW_SECONDS * 1000 + 1000);
      assert.equal((await get(auth, locked)).status, 200);
      assert.equal((await get(basic('alice', 'guess-again'), locked)).status, 401, 'the failures have left the window');
    });

    it('counts Bearer failures against the address, and a Bearer success does not clear them', async () => {
      const from = freshAddress();
      for (let i = 0; i < MAX_FAILURES; i++) {
        assert.equal((await get(spell('bearer', mallory.appPassword, i), from)).status, 200, 'a fresh Bearer login to her own account');
        assert.equal((await get(`Bearer ${randomBytes(36).toString('hex')}`, from)).status, 401);
      }
      assert.equal((await get(spell('bearer', mallory.appPassword, MAX_FAILURES), from)).status, 429);
    });

    it('counts wrong ExApp secrets per address with the app as the account, also under concurrency', async () => {
      const from = freshAddress();
      const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => asApp(from, 'worker-a', 'alice', `wrong-${i}`)));
      assert.deepEqual(statuses(rs), [...Array(MAX_FAILURES).fill(401), ...Array(40 - MAX_FAILURES).fill(429)]);
      assert.equal((await asApp(from, 'worker-a', 'alice', secret)).status, 429);
      assert.equal((await asApp(freshAddress(), 'worker-a', 'alice', secret)).status, 200);

      const other = freshAddress();
      for (let i = 0; i < MAX_FAILURES; i++) {
        assert.equal((await asApp(other, 'worker-b', 'alice', secret)).status, 200, "another app's success clears only its own");
        assert.equal((await asApp(other, 'worker-a', 'alice', `wrong-${i}`)).status, 401);
      }
      assert.equal((await asApp(other, 'worker-a', 'alice', secret)).status, 429);
      assert.equal((await asApp(other, 'worker-b', 'bob', secret)).status, 429, 'the address is locked out for every app');
    });

    it('counts the addresses of one IPv6 /64 together, as upstream does', async () => {
      const [subnet, neighbour] = freshSubnets();
      for (let i = 0; i < MAX_FAILURES; i++) assert.equal((await get(basic('alice', `guess-${i}`), `${subnet}::${i + 1}`)).status, 401);
      assert.equal((await get(alice.passwordAuth, `${subnet}:1:2:3:4`)).status, 429);
      assert.equal((await get(alice.passwordAuth, `${neighbour}::1`)).status, 200, 'the next /64 has its own count');
    });
  });
}
