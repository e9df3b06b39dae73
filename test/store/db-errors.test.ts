import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import pg from 'pg';
import { sendError } from '../../src/api/ocs-route.js';
import { DomainError } from '../../src/core/errors.js';
import { databaseUnavailableError, isDatabaseUnavailable, OutageReporter } from '../../src/store/db-errors.js';
import { startServer } from '../helpers/server.js';
import { adminQuery, createTestSchema, TEST_DATABASE_URL } from '../helpers/store.js';

/** Outages are a PostgreSQL matter: this file uses the test database in both passes of the suite. */

const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code, severity: 'FATAL' });

describe('recognising a database outage', () => {
  it('a refused connect (real)', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: 1, user: 'postgres', database: 'test', connectionTimeoutMillis: 2000 });
    const err = await client.connect().then(
      () => assert.fail('connected to port 1'),
      (e: unknown) => e,
    );
    assert.equal(isDatabaseUnavailable(err), true, String(err));
  });

  it('a connection PostgreSQL terminated (real pg_terminate_backend)', async () => {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    client.on('error', () => {});
    await client.connect();
    const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
    await adminQuery('select pg_terminate_backend($1)', [rows[0]!.pid]);
    const err = await client.query('select 1').then(
      () => assert.fail('the terminated connection answered'),
      (e: unknown) => e,
    );
    await client.end().catch(() => {});
    assert.equal(isDatabaseUnavailable(err), true, String(err));
  });

  it('a connection that terminates itself (57P01 on the statement)', async () => {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    client.on('error', () => {});
    await client.connect();
    const err = await client.query('select pg_terminate_backend(pg_backend_pid())').then(
      () => null,
      (e: unknown) => e,
    );
    await client.end().catch(() => {});
    // Depending on timing node-postgres reports the FATAL 57P01 or the closed socket; both count.
    if (err !== null) assert.equal(isDatabaseUnavailable(err), true, String(err));
  });

  it('SQLSTATEs and messages of an outage; not ordinary errors', () => {
    for (const code of ['57P01', '57P02', '57P03', '53300', '08006', '08001', '08P01', 'ECONNRESET', 'ETIMEDOUT', 'ECONNREFUSED']) {
      assert.equal(isDatabaseUnavailable(pgError(code)), true, code);
    }
    assert.equal(isDatabaseUnavailable(new Error('Connection terminated unexpectedly')), true);
    assert.equal(isDatabaseUnavailable(new Error('Connection terminated due to connection timeout')), true);
    assert.equal(isDatabaseUnavailable(new Error('timeout exceeded when trying to connect')), true);
    assert.equal(isDatabaseUnavailable(new Error('wrapped', { cause: pgError('57P01') })), true);
    assert.equal(isDatabaseUnavailable(new AggregateError([pgError('ECONNREFUSED'), pgError('ECONNREFUSED')])), true);

    for (const code of ['23505', '42P01', '42601', '57014', '40001']) assert.equal(isDatabaseUnavailable(pgError(code)), false, code);
    assert.equal(isDatabaseUnavailable(new Error('boom')), false);
    assert.equal(isDatabaseUnavailable(null), false);
    assert.equal(isDatabaseUnavailable('ECONNREFUSED'), false);
    assert.equal(databaseUnavailableError(new Error('boom')), undefined);
    const domain = databaseUnavailableError(pgError('57P01'));
    assert.ok(domain instanceof DomainError);
    assert.equal(domain.code, 'service_unavailable');
    assert.equal(domain.retryAfter, 5);
  });
});

describe('an outage in the API', () => {
  it('sendError answers a pg connection error with 503 and Retry-After, other errors with 500', async () => {
    const app = Fastify();
    const logged: string[] = [];
    const log = { error: (_o: object, m: string) => void logged.push(m) };
    const warned: object[] = [];
    const outages = new OutageReporter({ warn: (o: object) => void warned.push(o) });
    app.get('/outage', (_req, reply) =>
      sendError(reply, pgError('57P01', 'terminating connection due to administrator command'), 2, 'json', {}, { log, outages }),
    );
    app.get('/bug', (_req, reply) => sendError(reply, new Error('boom'), 2, 'json', {}, { log, outages }));
    const outage = await app.inject({ method: 'GET', url: '/outage' });
    assert.equal(outage.statusCode, 503);
    assert.equal(outage.headers['retry-after'], '5');
    assert.equal(outage.json().ocs.meta.statuscode, 503);
    assert.equal(outage.json().ocs.data.message, 'The database is not reachable; try again shortly');
    await app.inject({ method: 'GET', url: '/outage' });
    // One warning for the outage, not one per request; a bug is still an error.
    assert.deepEqual(warned, [{ reason: 'terminating connection due to administrator command', failedSinceLastReport: 0 }]);
    assert.deepEqual(logged, []);
    const bug = await app.inject({ method: 'GET', url: '/bug' });
    assert.equal(bug.statusCode, 500);
    assert.deepEqual(logged, ['unexpected error']);
    await app.close();
  });

  it('OutageReporter warns again after 30 s of a continuing outage, with the count of requests in between', () => {
    const warned: object[] = [];
    const outages = new OutageReporter({ warn: (o: object) => void warned.push(o) });
    const err = new Error('connect ECONNREFUSED');
    outages.report(err, 0);
    outages.report(err, 1_000);
    outages.report(err, 29_999);
    outages.report(err, 30_000);
    assert.deepEqual(warned, [
      { reason: 'connect ECONNREFUSED', failedSinceLastReport: 0 },
      { reason: 'connect ECONNREFUSED', failedSinceLastReport: 2 },
    ]);
  });

  it('after PostgreSQL terminates every connection of a node, requests answer 200 or 503, never 500, and the node recovers', async (t) => {
    const schema = await createTestSchema();
    const appName = `taskproc_dberr_${randomBytes(4).toString('hex')}`;
    const url = new URL(schema.url);
    url.searchParams.set('application_name', appName);
    const s = await startServer({ config: { databaseUrl: url.toString(), runnerConcurrency: 0 } });
    t.after(async () => {
      await s.close();
      await schema.drop();
    });
    const user = await s.addUser('alice');
    const get = () => s.ocs('GET', '/ocs/v2.php/taskprocessing/tasks', { auth: user.auth });
    assert.equal((await get()).status, 200);

    const statuses: number[] = [];
    t.after(() => t.diagnostic(`statuses: ${statuses.join(',')}`));
    for (let round = 0; round < 3; round++) {
      // Warm several pooled connections, so some are idle and broken when the next requests come.
      await Promise.all([get(), get(), get(), get()]);
      // Requests in flight while their connections are terminated: they fail (503), later ones reconnect.
      const inFlight = Promise.all(Array.from({ length: 8 }, get));
      const killed = await adminQuery('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [appName]);
      assert.ok((killed.rowCount ?? 0) >= 1);
      const burst = [...(await inFlight), ...(await Promise.all([get(), get(), get(), get()]))];
      for (const r of burst) {
        statuses.push(r.status);
        if (r.status === 503) {
          assert.equal(r.headers.get('retry-after'), '5');
          assert.equal(r.json.ocs.meta.statuscode, 503);
        }
      }
      const next = await get();
      assert.equal(next.status, 200, next.text);
    }
    assert.deepEqual(
      statuses.filter((st) => st !== 200 && st !== 503),
      [],
      `statuses: ${statuses.join(',')}`,
    );
  });
});
