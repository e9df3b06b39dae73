import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { parse } from '@platformatic/promotel';
import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import { ManualClock } from '../helpers/clock.js';
import { type HttpWorker, providerPayload, SHAPE } from '../helpers/http-worker.js';
import { blockingProvider, echoProvider, failingProvider } from '../helpers/providers.js';
import { basic, startServer, type TestServer, type TestUser, waitForStatus } from '../helpers/server.js';
import { TEST_DIALECT } from '../helpers/store.js';
import { until } from '../helpers/until.js';

const V2 = '/ocs/v2.php/taskprocessing';
const TOKEN = 'metrics-token-for-tests-0123456789';
const SHOUT = 'testworker:shout';
const SHOUT_PROVIDER = 'testworker-shout';
const SCHEDULE_ROUTE = '/ocs/v2.php/taskprocessing/schedule';
/** Exported only on PostgreSQL: SQLite has no connection pool. */
const POSTGRES_ONLY = ['taskproc_db_pool_connections', 'taskproc_db_pool_waiting_queries', 'taskproc_db_pool_connection_errors_total'];

interface Sample {
  /** The series name as PromQL sees it (histograms: with _bucket, _sum, _count). */
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A scrape parsed by a Prometheus text-format parser (promotel's, which keeps each series' labels). */
function samples(text: string): Sample[] {
  return (parse(text).timeseries ?? []).map((ts) => {
    const labels: Record<string, string> = {};
    let family = '';
    let suffix = '';
    for (const l of ts.labels ?? []) {
      if (l.name === '__metric_name') family = l.value ?? '';
      else if (l.name === '__suffix') suffix = l.value ?? '';
      else labels[l.name ?? ''] = l.value ?? '';
    }
    return { name: suffix === '' ? family : `${family}_${suffix}`, labels, value: Number(ts.samples?.[0]?.value) };
  });
}

/** The value of the one series named `name` whose labels include `labels`; undefined when there is none. */
function value(all: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = all.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} matches ${found.length} series`);
  return found[0]?.value;
}

async function scrape(url: string, token: string | null = TOKEN): Promise<Sample[]> {
  const res = await fetch(`${url}/metrics`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200, await res.clone().text());
  return samples(await res.text());
}

describe('Prometheus metrics', () => {
  const clock = new ManualClock();
  let s: TestServer;
  let alice: TestUser;
  let worker: HttpWorker;
  const taskIds: number[] = [];

  const schedule = async (type: string, user: TestUser = alice): Promise<number> => {
    const r = await s.ocs('POST', `${V2}/schedule`, { auth: user.auth, body: { type, appId: 'metrics-test', input: { input: 'hello' } } });
    assert.equal(r.status, 200, r.text);
    taskIds.push(r.json.ocs.data.task.id);
    return r.json.ocs.data.task.id as number;
  };

  before(async () => {
    s = await startServer({
      clock,
      providers: [echoProvider(), failingProvider()],
      loginThrottle: { maxFailures: 3, windowSeconds: 900 },
      config: { metricsToken: TOKEN, metricsPort: 0 },
    });
    alice = await s.addUser('alice');
    worker = await s.addExApp('shouter');
    const registered = await worker.register(providerPayload({ id: SHOUT_PROVIDER, task_type: SHOUT, expected_runtime: 10 }), {
      id: SHOUT,
      name: 'Shout',
      description: 'Upper-cases the text',
      input_shape: [{ name: 'input', description: 'Text', shape_type: SHAPE.Text }],
      output_shape: [{ name: 'output', description: 'Loud text', shape_type: SHAPE.Text }],
    });
    assert.equal(registered.status, 200, registered.text);
  });
  after(async () => {
    worker.close();
    await s.close();
  });

  it('counts a known workload: tasks by type, provider and status, queue and run times, HTTP, refusals, failed logins', async () => {
    // Three tasks through the runner's echo provider, one through its failing provider.
    for (let i = 0; i < 3; i++) await waitForStatus(s, alice, await schedule('core:text2text'), 'STATUS_SUCCESSFUL');
    await waitForStatus(s, alice, await schedule('core:text2text:headline'), 'STATUS_FAILED');

    // ExApp tasks: each waits 2.5 s in the queue; two run 1 s and end (one succeeds, one fails).
    const one = await schedule(SHOUT);
    clock.advance(2500);
    assert.equal((await worker.next([SHOUT_PROVIDER], [SHOUT])).json.ocs.data.task.id, one);
    clock.advance(1000);
    assert.equal((await worker.result(one, { output: 'HELLO' })).status, 200);
    const two = await schedule(SHOUT);
    clock.advance(2500);
    assert.equal((await worker.nextBatch([SHOUT_PROVIDER], [SHOUT], 1)).json.ocs.data.tasks[0].task.id, two);
    clock.advance(1000);
    assert.equal((await worker.result(two, null, 'the model crashed')).status, 200);
    // One cancelled while scheduled, one left running, one left in the queue.
    const three = await schedule(SHOUT);
    assert.equal((await s.ocs('POST', `${V2}/task/${three}/cancel`, { auth: alice.auth })).status, 200);
    const four = await schedule(SHOUT);
    clock.advance(2500);
    assert.equal((await worker.next([SHOUT_PROVIDER], [SHOUT])).json.ocs.data.task.id, four);
    await schedule(SHOUT);

    // The schedule rate limit (20 per 120 s): 20 refused inputs count, the 21st call is refused.
    const carol = await s.addUser('carol');
    for (let i = 0; i < 20; i++)
      assert.equal((await s.ocs('POST', `${V2}/schedule`, { auth: carol.auth, body: { type: 'no:such:type', input: {} } })).status, 400);
    assert.equal((await s.ocs('POST', `${V2}/schedule`, { auth: carol.auth, body: { type: 'no:such:type', input: {} } })).status, 429);
    // A quota refusal (507) on a WebDAV upload.
    const bob = await s.addUser('bob');
    await s.app.store.users.updateUser('bob', { quotaBytes: 10 });
    const put = await fetch(`${s.url}/remote.php/dav/files/bob/big.txt`, { method: 'PUT', headers: { authorization: bob.auth }, body: 'x'.repeat(100) });
    assert.equal(put.status, 507);
    // An unknown path.
    assert.equal((await fetch(`${s.url}/no/such/path/${one}`)).status, 404);
    // Three wrong passwords, then the address is locked out (login throttle: 3 failures).
    for (let i = 0; i < 3; i++) assert.equal((await s.ocs('GET', `${V2}/tasktypes`, { auth: basic('alice', `wrong-${i}`) })).status, 401);
    assert.equal((await s.ocs('GET', `${V2}/tasktypes`, { auth: basic('alice', 'wrong-3') })).status, 429);

    const m = await scrape(s.url);
    const scheduled = (type: string, provider: string) => value(m, 'taskproc_tasks_scheduled_total', { type, provider });
    assert.equal(scheduled('core:text2text', 'test:echo'), 3);
    assert.equal(scheduled('core:text2text:headline', 'test:failing'), 1);
    assert.equal(scheduled(SHOUT, SHOUT_PROVIDER), 5);
    const ended = (type: string, provider: string, status: string) => value(m, 'taskproc_tasks_ended_total', { type, provider, status });
    assert.equal(ended('core:text2text', 'test:echo', 'successful'), 3);
    assert.equal(ended('core:text2text:headline', 'test:failing', 'failed'), 1);
    assert.equal(ended(SHOUT, SHOUT_PROVIDER, 'successful'), 1);
    assert.equal(ended(SHOUT, SHOUT_PROVIDER, 'failed'), 1);
    assert.equal(ended(SHOUT, SHOUT_PROVIDER, 'cancelled'), 1);
    assert.equal(m.filter((x) => x.name === 'taskproc_tasks_ended_total').length, 5, 'no other ended series');

    // Time in queue and run time: counts per type, and the injected clock's times for the ExApp's.
    const queue = (type: string, provider: string, suffix: string) => value(m, `taskproc_task_queue_seconds_${suffix}`, { type, provider });
    assert.equal(queue('core:text2text', 'test:echo', 'count'), 3);
    assert.equal(queue('core:text2text:headline', 'test:failing', 'count'), 1);
    assert.equal(queue(SHOUT, SHOUT_PROVIDER, 'count'), 3);
    assert.equal(queue(SHOUT, SHOUT_PROVIDER, 'sum'), 7.5);
    assert.equal(value(m, 'taskproc_task_queue_seconds_bucket', { type: SHOUT, provider: SHOUT_PROVIDER, le: '1' }), 0);
    assert.equal(value(m, 'taskproc_task_queue_seconds_bucket', { type: SHOUT, provider: SHOUT_PROVIDER, le: '5' }), 3);
    const run = (type: string, provider: string, suffix: string) => value(m, `taskproc_task_run_seconds_${suffix}`, { type, provider });
    assert.equal(run('core:text2text', 'test:echo', 'count'), 3);
    assert.equal(run('core:text2text:headline', 'test:failing', 'count'), 1);
    assert.equal(run(SHOUT, SHOUT_PROVIDER, 'count'), 2);
    assert.equal(run(SHOUT, SHOUT_PROVIDER, 'sum'), 2);
    assert.equal(value(m, 'taskproc_task_pickup_latency_seconds_count', { claimer: 'runner' }), 4);
    assert.equal(value(m, 'taskproc_task_pickup_latency_seconds_count', { claimer: 'exapp' }), 3);

    // Queue depth, read from the database.
    assert.equal(value(m, 'taskproc_queue_depth', { type: SHOUT, status: 'scheduled' }), 1);
    assert.equal(value(m, 'taskproc_queue_depth', { type: SHOUT, status: 'running' }), 1);
    assert.equal(m.filter((x) => x.name === 'taskproc_queue_depth').length, 2, 'the ended types are not in the queue');

    // HTTP by route template and status.
    const http = (method: string, route: string, status: string) => value(m, 'taskproc_http_requests_total', { method, route, status });
    assert.equal(http('POST', SCHEDULE_ROUTE, '200'), 9);
    assert.equal(http('POST', SCHEDULE_ROUTE, '400'), 20);
    assert.equal(http('POST', SCHEDULE_ROUTE, '429'), 1);
    assert.equal(value(m, 'taskproc_http_request_duration_seconds_count', { method: 'POST', route: SCHEDULE_ROUTE }), 30);
    assert.equal(http('GET', 'unmatched', '404'), 1);
    assert.equal(http('GET', '/ocs/v2.php/taskprocessing/tasktypes', '401'), 3);
    assert.equal(http('GET', '/ocs/v2.php/taskprocessing/tasktypes', '429'), 1);
    assert.equal(http('GET', '/ocs/v2.php/taskprocessing/tasks_provider/next', '200'), 2);

    // Refusals and failed logins.
    assert.equal(value(m, 'taskproc_requests_refused_total', { reason: 'rate_limit' }), 1);
    assert.equal(value(m, 'taskproc_requests_refused_total', { reason: 'quota' }), 1);
    assert.equal(value(m, 'taskproc_requests_refused_total', { reason: 'login_throttle' }), 1);
    assert.equal(value(m, 'taskproc_login_failures_total'), 3);

    // Workers and long-polls: one connection polled; nothing is parked now.
    assert.equal(value(m, 'taskproc_exapp_live_workers', { app: 'shouter' }), 1);
    assert.equal(value(m, 'taskproc_exapp_seconds_since_last_poll', { app: 'shouter' }), 0);
    assert.equal(value(m, 'taskproc_open_long_polls', { kind: 'worker' }), 0);
    assert.equal(value(m, 'taskproc_open_long_polls', { kind: 'client' }), 0);
    assert.equal(value(m, 'taskproc_open_event_streams'), 0);

    // Process metrics and event-loop lag, under the same prefix.
    assert.ok((value(m, 'taskproc_process_cpu_seconds_total') ?? 0) > 0);
    assert.ok(m.some((x) => x.name === 'taskproc_nodejs_eventloop_lag_seconds'));
    assert.ok(
      m.every((x) => x.name.startsWith('taskproc_')),
      'every name starts with taskproc_',
    );

    // The pool on PostgreSQL only.
    for (const name of POSTGRES_ONLY)
      assert.equal(
        m.some((x) => x.name === name),
        TEST_DIALECT === 'postgres',
        name,
      );
    if (TEST_DIALECT === 'postgres') assert.ok((value(m, 'taskproc_db_pool_connections', { state: 'idle' }) ?? 0) >= 1);

    // Bounded labels: no task id, user name or concrete path in any label value.
    const users = ['alice', 'bob', 'carol', 'admin'];
    const ours = (name: string) => !/^taskproc_(nodejs|process)_/.test(name);
    for (const x of m) {
      for (const [label, v] of Object.entries(x.labels)) {
        assert.ok(!users.some((u) => v.includes(u)), `${x.name}{${label}="${v}"} names a user`);
        // Bucket bounds and HTTP statuses are numbers by nature; so is prom-client's Node version.
        if (ours(x.name) && label !== 'le' && label !== 'status') assert.ok(!taskIds.includes(Number(v)), `${x.name}{${label}="${v}"} is a task id`);
        if (label === 'route') assert.ok(v === 'unmatched' || !/\/\d+(\/|$)/.test(v), `${x.name}{route="${v}"} is a concrete path`);
      }
    }
  });
});

describe('where the metrics are served', () => {
  it('the API port wants the token as a bearer token: 401 without it or with a wrong one, never showing it', async () => {
    const s = await startServer({ config: { metricsToken: TOKEN } });
    try {
      const none = await fetch(`${s.url}/metrics`);
      assert.equal(none.status, 401);
      assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer /);
      const wrong = await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}x` } });
      assert.equal(wrong.status, 401);
      assert.ok(!(await wrong.text()).includes(TOKEN));
      assert.equal((await fetch(`${s.url}/metrics`, { headers: { authorization: basic('admin', TOKEN) } })).status, 401);
      const right = await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(right.status, 200);
      assert.match(right.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      assert.ok(samples(await right.text()).length > 0);
      assert.equal(s.app.metricsUrl, null, 'no separate port');
    } finally {
      await s.close();
    }
  });

  it('the separate port serves without a token, on the same host, and only /metrics; the API port then has none', async () => {
    const s = await startServer({ config: { metricsPort: 0 } });
    try {
      const url = s.app.metricsUrl ?? '';
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.notEqual(url, s.url);
      const m = await scrape(url, null);
      assert.ok(m.some((x) => x.name === 'taskproc_queue_depth' || x.name === 'taskproc_open_long_polls'));
      assert.equal((await fetch(`${url}/other`)).status, 404);
      assert.equal((await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 404);
    } finally {
      await s.close();
    }
  });

  it('shows parked long-polls and the live workers of an ExApp, who go quiet after 60 s', async () => {
    const clock = new ManualClock();
    const s = await startServer({ clock, config: { metricsPort: 0 } });
    const first = await s.addExApp('shouter');
    const second = await s.addExApp('shouter');
    const gone = new AbortController();
    try {
      assert.equal((await first.next(['p'], ['no:such:type'])).status, 204);
      const parked = second.next(['p'], ['no:such:type'], { wait: 10, signal: gone.signal }).catch(() => undefined);
      await until('the long-poll parks', () => s.app.waiters.size === 1);
      const m = await scrape(s.app.metricsUrl ?? '', null);
      assert.equal(value(m, 'taskproc_open_long_polls', { kind: 'worker' }), 1);
      assert.equal(value(m, 'taskproc_exapp_live_workers', { app: 'shouter' }), 2, 'two connections: two workers');
      clock.advance(61_000);
      const later = await scrape(s.app.metricsUrl ?? '', null);
      assert.equal(value(later, 'taskproc_exapp_live_workers', { app: 'shouter' }), 0);
      assert.equal(value(later, 'taskproc_exapp_seconds_since_last_poll', { app: 'shouter' }), 61);
      // The worker goes away: its long-poll is abandoned.
      gone.abort();
      await parked;
      await until('the long-poll is abandoned', () => s.app.waiters.size === 0);
      assert.equal(value(await scrape(s.app.metricsUrl ?? '', null), 'taskproc_open_long_polls', { kind: 'worker' }), 0);
    } finally {
      first.close();
      second.close();
      await s.close();
    }
  });

  it('neither set: /metrics is 404 like any unknown path, and nothing is collected', async () => {
    const s = await startServer();
    try {
      assert.equal((await fetch(`${s.url}/metrics`)).status, 404);
      assert.equal((await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 404);
      assert.equal(s.app.metrics, null);
      assert.equal(s.app.metricsUrl, null);
    } finally {
      await s.close();
    }
  });
});

describe('docs/grafana-dashboard.json', () => {
  it('uses only metric names that a live scrape has', async () => {
    const dashboard = JSON.parse(await readFile(new URL('../../docs/grafana-dashboard.json', import.meta.url), 'utf8'));
    const exprs = expressions(dashboard);
    assert.ok(exprs.length >= 10, `only ${exprs.length} expressions`);
    const s = await startServer({ config: { metricsPort: 0 }, providers: [echoProvider(), blockingProvider()] });
    try {
      // Enough traffic that every series exists: a task through the runner, one left running, an ExApp poll.
      const alice = await s.addUser('alice');
      const r = await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body: { type: 'core:text2text', appId: 'metrics-test', input: { input: 'x' } } });
      await waitForStatus(s, alice, r.json.ocs.data.task.id, 'STATUS_SUCCESSFUL');
      const running = await s.ocs('POST', `${V2}/schedule`, {
        auth: alice.auth,
        body: { type: 'core:text2text:summary', appId: 'metrics-test', input: { input: 'x' } },
      });
      assert.equal(running.status, 200, running.text);
      await waitForStatus(s, alice, running.json.ocs.data.task.id, 'STATUS_RUNNING');
      const w = await s.addExApp('poller');
      await w.next(['none'], ['none']);
      w.close();
      s.app.metrics?.refused('quota');
      const names = new Set((await scrape(s.app.metricsUrl ?? '', null)).map((x) => x.name));
      for (const expr of exprs) {
        for (const name of metricNames(expr)) {
          if (TEST_DIALECT !== 'postgres' && POSTGRES_ONLY.includes(name)) continue;
          assert.ok(names.has(name), `"${name}" in ${expr} is not in the scrape`);
        }
      }
    } finally {
      await s.close();
    }
  });
});

/** Every PromQL expression of the dashboard: panel targets (rows' panels too) and query variables. */
function expressions(dashboard: any): string[] {
  const out: string[] = [];
  const panels = (list: any[]): void => {
    for (const p of list ?? []) {
      for (const t of p.targets ?? []) if (typeof t.expr === 'string') out.push(t.expr);
      panels(p.panels);
    }
  };
  panels(dashboard.panels);
  for (const v of dashboard.templating?.list ?? []) {
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    if (v.type === 'query' && typeof q === 'string') out.push(q.replace(/^label_values\((.*),\s*\w+\)$/, '$1'));
  }
  return out;
}

/**
 * The metric names an expression selects, by PromQL's own grammar (the parser Prometheus' UI
 * uses): Grafana's variables are replaced by values PromQL accepts first, and an expression that
 * does not parse fails the test.
 */
function metricNames(expr: string): string[] {
  const promql = expr.replace(/\$__(rate_)?interval|\$__range/g, '5m').replace(/\$\{?\w+\}?/g, '.*');
  const tree = promqlParser.parse(promql);
  const names: string[] = [];
  tree.iterate({
    enter: (node) => {
      assert.ok(!node.type.isError, `"${expr}" does not parse as PromQL (at ${node.from})`);
      if (node.name === 'VectorSelector') {
        const id = node.node.getChild('Identifier');
        if (id) names.push(promql.slice(id.from, id.to));
      }
    },
  });
  assert.ok(names.length > 0, `"${expr}" selects no metric`);
  return names;
}
