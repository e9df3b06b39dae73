import assert from 'node:assert/strict';
import { createServer, type Server, type Socket, connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { parsePostgresUrl } from '../../src/store/postgres.js';
import { TEST_DIALECT } from '../helpers/store.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';
import { until } from '../helpers/until.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const NEWEST_MIGRATION = '0008-prefer-streaming';

/** Runs a statement on the server's database through a connection of the test's own. */
async function sqlOnServerDb(s: TestServer, statement: string): Promise<void> {
  const url = s.app.config.databaseUrl;
  if (url === null) {
    // No busy wait: it would block the event loop, and with it the server's pending COMMIT.
    const db = new BetterSqlite3(join(s.dir, 'taskproc.db'), { timeout: 0 });
    try {
      for (let tries = 0; ; tries++) {
        try {
          db.exec(statement);
          return;
        } catch (err) {
          if ((err as { code?: string }).code !== 'SQLITE_BUSY' || tries > 500) throw err;
          await new Promise((r) => setTimeout(r, 10));
        }
      }
    } finally {
      db.close();
    }
  }
  const target = parsePostgresUrl(url);
  const client = new pg.Client({ connectionString: target.connectionString });
  await client.connect();
  try {
    if (target.schema !== null) await client.query(`set search_path to ${target.schema}`);
    await client.query(statement);
  } finally {
    await client.end();
  }
}

async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(url, { headers });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

describe(`${TEST_DIALECT}: health endpoints`, () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ config: { runnerConcurrency: 0 } });
  });
  after(() => s?.close());

  it('GET /status.php answers what Nextcloud clients read, without credentials, with the version the capabilities announce', async () => {
    const res = await fetch(`${s.url}/status.php`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    const body = await res.json();
    const caps = (await s.ocs('GET', '/ocs/v2.php/cloud/capabilities', { auth: null })).json.ocs.data;
    assert.deepEqual(Object.keys(body).slice(0, 8), [
      'installed',
      'maintenance',
      'needsDbUpgrade',
      'version',
      'versionstring',
      'edition',
      'productname',
      'extendedSupport',
    ]);
    assert.deepEqual(body, {
      installed: true,
      maintenance: false,
      needsDbUpgrade: false,
      version: `${caps.version.string}.0`,
      versionstring: caps.version.string,
      edition: '',
      productname: 'taskproc',
      extendedSupport: false,
      taskproc: { version: caps.capabilities.taskprocessing.version },
    });
    assert.match(body.version, /^\d+\.\d+\.\d+\.\d+$/);
  });

  it('GET /healthz and GET /readyz answer 200 {"status":"ok"} without credentials', async () => {
    assert.deepEqual(await getJson(`${s.url}/healthz`).then((r) => [r.status, r.body]), [200, { status: 'ok' }]);
    assert.deepEqual(await getJson(`${s.url}/readyz`).then((r) => [r.status, r.body]), [200, { status: 'ok' }]);
  });

  it('GET /readyz answers 503 while the database lacks a migration or has an unknown one, and 200 again once it is right', async () => {
    await sqlOnServerDb(s, `delete from kysely_migration where name = '${NEWEST_MIGRATION}'`);
    const behind = await getJson(`${s.url}/readyz`);
    assert.equal(behind.status, 503);
    assert.equal(behind.body.status, 'unavailable');
    assert.match(behind.body.reason, /^database: not migrated/);
    // Liveness does not look at the database.
    assert.equal((await getJson(`${s.url}/healthz`)).status, 200);
    const at = TEST_DIALECT === 'postgres' ? "'2026-01-01T00:00:00Z'" : "'2026-01-01T00:00:00.000Z'";
    await sqlOnServerDb(s, `insert into kysely_migration (name, timestamp) values ('${NEWEST_MIGRATION}', ${at})`);
    assert.equal((await getJson(`${s.url}/readyz`)).status, 200);
    await sqlOnServerDb(s, `insert into kysely_migration (name, timestamp) values ('9999-from-the-future', ${at})`);
    const ahead = await getJson(`${s.url}/readyz`);
    assert.deepEqual([ahead.status, ahead.body.reason], [503, 'database: its schema is newer than this taskproc']);
    await sqlOnServerDb(s, `delete from kysely_migration where name = '9999-from-the-future'`);
    assert.equal((await getJson(`${s.url}/readyz`)).status, 200);
  });
});

describe(`${TEST_DIALECT}: request ids`, () => {
  let s: TestServer;
  let alice: TestUser;
  before(async () => {
    s = await startServer({ config: { runnerConcurrency: 0 } });
    alice = await s.addUser('alice');
  });
  after(() => s?.close());

  it("echoes a client's X-Request-Id on every kind of answer", async () => {
    const cases: [string, RequestInit, number][] = [
      ['/ocs/v2.php/taskprocessing/tasktypes', { headers: { authorization: alice.auth } }, 200],
      ['/ocs/v2.php/taskprocessing/tasktypes', {}, 401],
      ['/ocs/v2.php/no/such/route', {}, 404],
      ['/remote.php/webdav/', { method: 'PROPFIND', headers: { authorization: alice.auth } }, 207],
      ['/remote.php/webdav/missing.txt', { headers: { authorization: alice.auth } }, 404],
      ['/healthz', {}, 200],
      ['/%E0%A4%A', {}, 400],
    ];
    for (const [path, init, status] of cases) {
      const id = `trace-${status}-${path.length}`;
      const res = await fetch(`${s.url}${path}`, { ...init, headers: { ...(init.headers as Record<string, string>), 'x-request-id': id } });
      await res.arrayBuffer();
      assert.equal(res.status, status, path);
      assert.equal(res.headers.get('x-request-id'), id, path);
    }
  });

  it('makes an id when the client sends none, a different one each time', async () => {
    const a = await fetch(`${s.url}/healthz`);
    const b = await fetch(`${s.url}/healthz`);
    assert.match(a.headers.get('x-request-id') ?? '', UUID);
    assert.match(b.headers.get('x-request-id') ?? '', UUID);
    assert.notEqual(a.headers.get('x-request-id'), b.headers.get('x-request-id'));
  });

  it('replaces an id that is not a short plain token', async () => {
    for (const hostile of ['two words', 'x'.repeat(129), '{"level":60}', 'id\tname', 'é-accent', '']) {
      const res = await fetch(`${s.url}/healthz`, { headers: { 'x-request-id': hostile } });
      assert.match(res.headers.get('x-request-id') ?? '', UUID, JSON.stringify(hostile));
    }
    const longest = 'a'.repeat(128);
    const kept = await fetch(`${s.url}/healthz`, { headers: { 'x-request-id': longest } });
    assert.equal(kept.headers.get('x-request-id'), longest);
  });
});

/**
 * A TCP proxy in front of the test Redis that can go silent: connections are accepted and never
 * answered, as from a hung Redis or a network that drops packets.
 */
class SilencingProxy {
  private readonly sockets = new Set<Socket>();
  private silent = false;
  private server: Server | null = null;
  port = 0;

  async start(target: { host: string; port: number }): Promise<void> {
    this.server = createServer((client) => {
      this.sockets.add(client);
      client.on('close', () => this.sockets.delete(client));
      client.on('error', () => undefined);
      if (this.silent) return;
      const upstream = connect(target.port, target.host);
      this.sockets.add(upstream);
      upstream.on('close', () => this.sockets.delete(upstream));
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** Cuts every connection; new ones are accepted and left unanswered. */
  silence(): void {
    this.silent = true;
    for (const s of this.sockets) s.destroy();
  }

  resume(): void {
    this.silent = false;
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

describe(`${TEST_DIALECT}: GET /readyz with Redis`, () => {
  let proxy: SilencingProxy;
  let s: TestServer;
  before(async () => {
    proxy = new SilencingProxy();
    await proxy.start({ host: '127.0.0.1', port: 6379 });
    s = await startServer({ config: { runnerConcurrency: 0, redisUrl: `redis://127.0.0.1:${proxy.port}` } });
  });
  after(async () => {
    await s?.close();
    await proxy?.close();
  });

  it('answers 503 naming Redis within its time bound while Redis does not answer, 200 once it does again; /healthz stays 200', async () => {
    assert.equal((await getJson(`${s.url}/readyz`)).status, 200);
    proxy.silence();
    const started = Date.now();
    const down = await getJson(`${s.url}/readyz`);
    const took = Date.now() - started;
    assert.equal(down.status, 503);
    assert.equal(down.body.status, 'unavailable');
    assert.match(down.body.reason, /^redis: /);
    assert.doesNotMatch(down.body.reason, /database/);
    assert.ok(took < 3500, `the probe took ${took} ms`);
    assert.equal((await getJson(`${s.url}/healthz`)).status, 200);
    proxy.resume();
    await until('/readyz to answer 200 again', async () => (await getJson(`${s.url}/readyz`)).status === 200, 20_000, { everyMs: 200 });
  });
});
