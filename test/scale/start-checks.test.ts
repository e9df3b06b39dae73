import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { failedStart, type FailedStart, startNode } from '../helpers/node-process.js';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres.js';

/**
 * Issue 6, bad input: `taskproc serve` with a database or Redis it cannot use exits non-zero with
 * the reason on stderr, and never says it listens. The same failures one level down (openStore and
 * createApp in-process) are in test/store/migrations.test.ts ('fails at open, quickly and saying
 * why') and test/limits/redis-rate-limiter.test.ts ('refuses to start when the Redis URL does not
 * answer'); here is what an administrator sees from the process. Roles are global to a cluster, so
 * the permission cases run on a cluster of the test's own.
 */

describe('taskproc serve refuses to start half-way', { timeout: 120_000 }, () => {
  let db: PrivatePostgres;
  let dir: string;

  before(async () => {
    db = await startPrivatePostgres();
    dir = await mkdtemp(join(tmpdir(), 'taskproc-start-'));
    await db.query('create database appdb');
    // A role the database refuses: PUBLIC's CONNECT is revoked and nothing granted back.
    await db.query('create role noconnect login');
    await db.query('revoke connect on database appdb from public');
    // A role that may connect but create nothing: PostgreSQL 15 gives PUBLIC no CREATE on schema public.
    await db.query('create role nocreate login');
    await db.query('grant connect on database appdb to nocreate');
  });

  after(async () => {
    await db?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const serve = (env: Record<string, string>) => failedStart({ TASKPROC_DATA_DIR: dir, TASKPROC_ADMIN_PASSWORD: 'start-admin-password', ...env });

  /** Exit 1, the reason on stderr, and no trace of listening. */
  const refused = (r: FailedStart, reason: RegExp) => {
    const seen = `exit ${r.code} (signal ${r.signal})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
    assert.equal(r.code, 1, seen);
    assert.match(r.stderr, reason, seen);
    assert.doesNotMatch(r.stdout, /listening/, seen);
  };

  it('a database URL that names no reachable server or no database', async () => {
    refused(
      await serve({ TASKPROC_DATABASE_URL: 'postgres://postgres@127.0.0.1:1/appdb' }),
      /^Error: taskproc could not start: Cannot use the PostgreSQL database: connect ECONNREFUSED 127\.0\.0\.1:1$/m,
    );
    refused(
      await serve({ TASKPROC_DATABASE_URL: 'postgres://postgres@no-such-host.invalid/appdb' }),
      /Cannot use the PostgreSQL database: getaddrinfo ENOTFOUND no-such-host\.invalid/,
    );
    refused(await serve({ TASKPROC_DATABASE_URL: db.url('no_such_db') }), /Cannot use the PostgreSQL database: database "no_such_db" does not exist/);
  });

  it('a role without CONNECT on the database: the reason and what to grant', async () => {
    const r = await serve({ TASKPROC_DATABASE_URL: db.url('appdb', 'noconnect') });
    refused(r, /Cannot use the PostgreSQL database: permission denied for database "appdb"/);
    assert.match(r.stderr, /GRANT CONNECT ON DATABASE "appdb" TO "noconnect";/);
  });

  it('a role that cannot create the tables: the reason and what to grant, which then suffices', async () => {
    const inPublic = await serve({ TASKPROC_DATABASE_URL: db.url('appdb', 'nocreate') });
    refused(inPublic, /permission denied for schema public/);
    assert.match(inPublic.stderr, /GRANT USAGE, CREATE ON SCHEMA "public" TO "nocreate";/);

    // With ?schema= the schema must be created first, which takes CREATE on the database.
    const ownSchema = await serve({ TASKPROC_DATABASE_URL: db.url('appdb', 'nocreate', { schema: 'taskproc' }) });
    refused(ownSchema, /permission denied for database appdb/);
    assert.match(ownSchema.stderr, /GRANT CREATE ON DATABASE "appdb" TO "nocreate";/);
    assert.match(ownSchema.stderr, /CREATE SCHEMA "taskproc" AUTHORIZATION "nocreate";/);
    // Nothing was left half-made by the refused starts.
    const tables = await db.query(`select count(*)::int as n from pg_tables where schemaname not in ('pg_catalog', 'information_schema')`, 'appdb');
    assert.equal(tables.rows[0].n, 0);

    // Doing what the message says is enough.
    await db.query('GRANT USAGE, CREATE ON SCHEMA "public" TO "nocreate"', 'appdb');
    const node = await startNode('granted', {
      TASKPROC_DATA_DIR: dir,
      TASKPROC_ADMIN_PASSWORD: 'start-admin-password',
      TASKPROC_DATABASE_URL: db.url('appdb', 'nocreate'),
      TASKPROC_LOG_LEVEL: 'warn',
    });
    assert.equal(await node.stop(), 0, node.output());
  });

  it('a node stopped the moment it says it listens shuts down in order, exit 0', async () => {
    // A supervisor may send SIGTERM as soon as it reads the line; the handlers must already be
    // there (they once came after it, and the signal then killed the process outright). The race
    // depends on scheduling, so a few rounds.
    for (let round = 0; round < 4; round++) {
      const node = await startNode(`quick${round}`, {
        TASKPROC_DATA_DIR: join(dir, 'quick'),
        TASKPROC_ADMIN_PASSWORD: 'start-admin-password',
        TASKPROC_LOG_LEVEL: 'warn',
      });
      const code = await node.stop();
      assert.deepEqual({ code, signal: (await node.exited).signal }, { code: 0, signal: null }, node.output());
      assert.match(node.output(), /SIGTERM: shutting down/);
    }
  });

  it('a Redis URL whose peer accepts the connection and never answers', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      const r = await serve({ TASKPROC_DATA_DIR: join(dir, 'sqlite-silent'), TASKPROC_REDIS_URL: `redis://127.0.0.1:${port}` });
      refused(r, new RegExp(`^Error: taskproc could not start: Redis at redis://127\\.0\\.0\\.1:${port} does not answer: no answer within 5000 ms$`, 'm'));
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('a Redis URL that does not answer', async () => {
    // On the embedded SQLite: Redis is checked whatever the database.
    const r = await serve({ TASKPROC_DATA_DIR: join(dir, 'sqlite'), TASKPROC_REDIS_URL: 'redis://127.0.0.1:1' });
    refused(r, /^Error: taskproc could not start: Redis at redis:\/\/127\.0\.0\.1:1 does not answer: connect ECONNREFUSED 127\.0\.0\.1:1$/m);
  });
});
