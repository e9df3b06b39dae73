import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { newStats } from '../helpers/answer-shape.js';
import { nastyCases, wrongTypeCases } from '../helpers/fuzz-corpus.js';
import { davRequestArbitrary, ocsRequestArbitrary } from '../helpers/fuzz-arbitraries.js';
import { CrashWatch, describeRequest, exchange } from '../helpers/fuzz-exchange.js';
import { type FuzzCase, type FuzzWorld, OCS_ROUTES, ROUTE_PARAMS, routeKey } from '../helpers/fuzz-routes.js';
import { type FuzzServer, startFuzzServer } from '../helpers/fuzz-world.js';

/**
 * Fuzzing every route (issue 18, item 8): a fixed corpus of nasty requests, wrong types for every
 * parameter of every route, and seeded random requests over routes × methods × parameters ×
 * bodies × credentials, sent raw over TCP. Every answer must be a 2xx/4xx in the OCS envelope (or
 * Sabre's error document on WebDAV), never a 5xx or a dropped connection, and the server must
 * answer normally afterwards. The seed is fixed, and the runs are bounded in number and time.
 * Defects found this way are pinned one by one in fuzz-findings.test.ts.
 */

const SEED = 18_08_2026;

describe('fuzzing every route and parameter decoder', () => {
  let f: FuzzServer;
  let w: FuzzWorld;
  const stats = newStats();
  const crashes = new CrashWatch();

  before(async () => {
    crashes.start();
    f = await startFuzzServer();
    w = f.w;
  });
  after(async () => {
    await f.s.close();
    crashes.stop();
  });

  /** One exchange, and any error the server left uncaught meanwhile. */
  async function problemsOf(c: FuzzCase): Promise<string[]> {
    const mark = crashes.errors.length;
    const problems = await exchange(w.port, c, stats);
    return [...problems, ...crashes.since(mark)];
  }

  /** Runs fixed cases one after the other and fails with every case that went wrong, not just the first. */
  async function runAll(cases: FuzzCase[]): Promise<void> {
    const failures: string[] = [];
    for (const c of cases) {
      const problems = await problemsOf(c);
      if (problems.length > 0) failures.push(`${c.name}\n    ${describeRequest(c.request)}\n    → ${problems.join('\n    → ')}`);
    }
    await f.assertAnswersNormally();
    if (failures.length > 0) assert.fail(`${failures.length} of ${cases.length} requests went wrong:\n${failures.join('\n')}`);
  }

  it('knows which parameters every OCS route reads', () => {
    assert.deepEqual(OCS_ROUTES.map(routeKey).sort(), Object.keys(ROUTE_PARAMS).sort());
  });

  it('answers a fixed corpus of nasty requests in the envelope, in JSON and XML, and keeps answering', async () => {
    await runAll(nastyCases(w));
    assert.ok(stats.json > 0 && stats.xml > 0 && stats.dav > 0, `envelopes seen: ${JSON.stringify(stats)}`);
  });

  it('answers wrong types for every parameter of every route with a 4xx in the envelope', async () => {
    await runAll(wrongTypeCases(w));
  });

  const property = (arbitrary: (world: FuzzWorld) => fc.Arbitrary<FuzzCase>) =>
    fc.asyncProperty(arbitrary(w), async (c) => {
      const problems = await problemsOf(c);
      if (problems.length > 0) throw new Error(`${describeRequest(c.request)}\n→ ${problems.join('\n→ ')}`);
    });

  it('answers seeded random requests to every OCS route, never with a 5xx or a dropped connection', async () => {
    await fc.assert(property(ocsRequestArbitrary), {
      seed: SEED,
      numRuns: 1500,
      includeErrorInReport: true,
      plugins: [fc.interruptAfterTimeLimit(20_000), fc.timeout(30_000)],
    });
    await f.assertAnswersNormally();
  });

  it('answers seeded random WebDAV requests with Sabre errors, never with a 5xx or a dropped connection', async () => {
    await fc.assert(property(davRequestArbitrary), {
      seed: SEED,
      numRuns: 600,
      includeErrorInReport: true,
      plugins: [fc.interruptAfterTimeLimit(10_000), fc.timeout(30_000)],
    });
    await f.assertAnswersNormally();
  });
});
