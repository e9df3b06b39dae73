import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Clock } from '../core/clock.js';
import type { OpsCounters, RefusalReason } from '../core/ops-counters.js';
import type { TaskEvents } from '../core/task-events.js';
import { type Task, TASK_STATUS } from '../core/task.js';
import type { PoolUse, TaskStore } from '../store/store.js';
import type { AppPresence } from '../workers/worker-presence.js';

/** Every metric name starts with this. */
export const METRIC_PREFIX = 'taskproc_';

/** How long one read of the queue depth answers scrapes (several Prometheus servers, or a fast interval). */
const QUEUE_DEPTH_CACHE_MS = 5000;
/** Tasks whose schedule or claim time this node remembers, for time in queue and run time (oldest dropped first). */
const REMEMBERED_TASKS = 10_000;

/** Where the figures come from; each is read at scrape time except the task events. */
export interface MetricsDeps {
  events: TaskEvents;
  tasks: Pick<TaskStore, 'queueDepth'>;
  /** The connection pool (PostgreSQL); absent on SQLite, and then no pool metrics are exported. */
  poolUse?: () => PoolUse;
  clock: Clock;
  /** ExApps polling this node (workers/worker-presence.ts). */
  presence: { snapshot(nowMs: number): AppPresence[] };
  /** Workers' parked next/next_batch requests. */
  openWorkerLongPolls: () => number;
  /** Clients' parked GET task?wait= requests. */
  openClientLongPolls: () => number;
  /** Open event streams (server-sent events), once they exist; 0 without. */
  openEventStreams?: () => number;
}

const STATUS_LABEL: Record<number, string> = {
  [TASK_STATUS.SCHEDULED]: 'scheduled',
  [TASK_STATUS.RUNNING]: 'running',
  [TASK_STATUS.SUCCESSFUL]: 'successful',
  [TASK_STATUS.FAILED]: 'failed',
  [TASK_STATUS.CANCELLED]: 'cancelled',
};

/**
 * The Prometheus metrics of one server (docs/OPERATIONS.md lists them): one registry of its own,
 * not prom-client's global one, so several servers in one process (tests) keep theirs apart. Task
 * counts come from the task events of this node; queue depth is read from the database. Labels
 * are bounded sets only: task types, provider ids, ExApp ids, route templates, statuses; never a
 * task id, a user or a path.
 */
export class Metrics implements OpsCounters {
  readonly registry = new Registry();
  private readonly unsubscribe: (() => void)[];
  /** ms of schedules on this node, and of claims on this node: finer than the tasks' unix seconds. */
  private readonly scheduledMs = new BoundedMap<number, number>(REMEMBERED_TASKS);
  private readonly claimedMs = new BoundedMap<number, number>(REMEMBERED_TASKS);

  private readonly scheduled: Counter<'type' | 'provider'>;
  private readonly ended: Counter<'type' | 'provider' | 'status'>;
  private readonly timeInQueue: Histogram<'type' | 'provider'>;
  private readonly runTime: Histogram<'type' | 'provider'>;
  private readonly pickup: Histogram<'claimer'>;
  private readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  private readonly httpDuration: Histogram<'method' | 'route'>;
  private readonly refusals: Counter<'reason'>;
  private readonly loginFailures: Counter;
  private readonly dbUnavailable: Counter;

  constructor(private readonly deps: MetricsDeps) {
    const registers = [this.registry];
    const p = METRIC_PREFIX;
    collectDefaultMetrics({ register: this.registry, prefix: p });

    this.scheduled = new Counter({
      name: `${p}tasks_scheduled_total`,
      help: 'Tasks scheduled through this node, by type and provider (the preferred one at schedule time).',
      labelNames: ['type', 'provider'],
      registers,
    });
    this.ended = new Counter({
      name: `${p}tasks_ended_total`,
      help: 'Tasks that reached a final status through this node (its runner, its ExApp results, cancels, lease failures it swept), by type, provider and status.',
      labelNames: ['type', 'provider', 'status'],
      registers,
    });
    this.timeInQueue = new Histogram({
      name: `${p}task_queue_seconds`,
      help: 'Time from schedule to claim of tasks claimed on this node (runner and ExApp polls), by type and provider.',
      labelNames: ['type', 'provider'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600],
      registers,
    });
    this.runTime = new Histogram({
      name: `${p}task_run_seconds`,
      help: 'Time from claim to final status of tasks ended on this node whose claim time is known (claimed here, or started by a runner), by type and provider.',
      labelNames: ['type', 'provider'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
      registers,
    });
    this.pickup = new Histogram({
      name: `${p}task_pickup_latency_seconds`,
      help: 'Time from the later of "task scheduled" and "claimer began asking" to the claim, on this node: how fast an idle runner or a waiting ExApp poll takes new work, by claimer (runner or exapp).',
      labelNames: ['claimer'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.httpRequests = new Counter({
      name: `${p}http_requests_total`,
      help: 'HTTP requests answered by this node, by method, route template ("unmatched" for unknown paths) and status.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: `${p}http_request_duration_seconds`,
      help: 'Time to answer HTTP requests on this node (long-polls included), by method and route template.',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.refusals = new Counter({
      name: `${p}requests_refused_total`,
      help: "Requests this node refused: schedule's rate limit (rate_limit, 429), the failed-login lockout (login_throttle, 429), a user's file quota (quota, 507).",
      labelNames: ['reason'],
      registers,
    });
    for (const reason of ['rate_limit', 'login_throttle', 'quota'] as const) this.refusals.inc({ reason }, 0);
    this.loginFailures = new Counter({
      name: `${p}login_failures_total`,
      help: 'Logins with a wrong credential on this node (password, app password, bearer token, ExApp secret).',
      registers,
    });
    this.dbUnavailable = new Counter({
      name: `${p}db_unavailable_total`,
      help: 'Requests this node answered 503 because the database could not be reached.',
      registers,
    });
    this.defineGauges(registers);

    const { events } = deps;
    this.unsubscribe = [
      events.onScheduled((task) => this.onScheduled(task)),
      events.onClaimed((task, _by, askedAtMs) => this.onClaimed(task, askedAtMs)),
      events.onEnded((task) => this.onEnded(task)),
      events.onDeleted((task) => this.forget(task.id)),
    ];
  }

  /** The scrape: Prometheus' text format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** One answered HTTP request; `route` is the route template or "unmatched". */
  observeHttp(method: string, route: string, status: number, seconds: number): void {
    this.httpRequests.inc({ method, route, status: String(status) });
    this.httpDuration.observe({ method, route }, seconds);
  }

  refused(reason: RefusalReason): void {
    this.refusals.inc({ reason });
  }

  loginFailed(): void {
    this.loginFailures.inc();
  }

  /** A request answered 503 for a database outage (store/db-errors.ts OutageReporter). */
  databaseUnavailable(): void {
    this.dbUnavailable.inc();
  }

  close(): void {
    for (const off of this.unsubscribe) off();
  }

  private onScheduled(task: Task): void {
    this.scheduled.inc(taskLabels(task));
    this.scheduledMs.set(task.id, this.deps.clock.nowMs());
  }

  private onClaimed(task: Task, askedAtMs: number): void {
    const now = this.deps.clock.nowMs();
    const scheduledAt = this.scheduledMs.get(task.id) ?? (task.scheduledAt === null ? null : task.scheduledAt * 1000);
    this.scheduledMs.delete(task.id);
    this.claimedMs.set(task.id, now);
    if (scheduledAt === null) return;
    this.timeInQueue.observe(taskLabels(task), seconds(now - scheduledAt));
    const claimer = task.leaseOwner?.startsWith('exapp:') ? 'exapp' : 'runner';
    this.pickup.observe({ claimer }, seconds(now - Math.max(scheduledAt, askedAtMs)));
  }

  private onEnded(task: Task): void {
    const status = STATUS_LABEL[task.status] ?? 'unknown';
    this.ended.inc({ ...taskLabels(task), status });
    const claimedAt = this.claimedMs.get(task.id) ?? (task.startedAt === null ? null : task.startedAt * 1000);
    this.forget(task.id);
    if (claimedAt !== null) this.runTime.observe(taskLabels(task), seconds(this.deps.clock.nowMs() - claimedAt));
  }

  private forget(taskId: number): void {
    this.scheduledMs.delete(taskId);
    this.claimedMs.delete(taskId);
  }

  /** Figures read at scrape time. */
  private defineGauges(registers: Registry[]): void {
    const p = METRIC_PREFIX;
    const { deps } = this;
    const depth = new Gauge({
      name: `${p}queue_depth`,
      help: `Tasks scheduled or running, by type and status. Database-wide: every node's tasks (the same figure on each node); read at most every ${QUEUE_DEPTH_CACHE_MS / 1000} s.`,
      labelNames: ['type', 'status'],
      registers,
      collect: async () => {
        depth.reset();
        // An unreadable database leaves the series out rather than showing old figures as current.
        const rows = await this.queueDepth().catch(() => []);
        for (const r of rows) depth.set({ type: r.type, status: STATUS_LABEL[r.status] ?? 'unknown' }, r.count);
      },
    });
    const live = new Gauge({
      name: `${p}exapp_live_workers`,
      help: 'Connections of each ExApp that polled this node for tasks (next, next_batch) within the last 60 s: its workers, as this node sees them.',
      labelNames: ['app'],
      registers,
      collect: () => {
        live.reset();
        for (const a of deps.presence.snapshot(deps.clock.nowMs())) live.set({ app: a.appId }, a.liveWorkers);
      },
    });
    const silence = new Gauge({
      name: `${p}exapp_seconds_since_last_poll`,
      help: 'Seconds since each ExApp last polled this node for tasks.',
      labelNames: ['app'],
      registers,
      collect: () => {
        silence.reset();
        for (const a of deps.presence.snapshot(deps.clock.nowMs())) silence.set({ app: a.appId }, a.secondsSinceLastPoll);
      },
    });
    const longPolls = new Gauge({
      name: `${p}open_long_polls`,
      help: 'Requests parked on this node: worker polls waiting for tasks (kind="worker"), clients waiting on a task (kind="client").',
      labelNames: ['kind'],
      registers,
      collect: () => {
        longPolls.set({ kind: 'worker' }, deps.openWorkerLongPolls());
        longPolls.set({ kind: 'client' }, deps.openClientLongPolls());
      },
    });
    const streams = new Gauge({
      name: `${p}open_event_streams`,
      help: 'Event streams (server-sent events) open on this node.',
      registers,
      collect: () => {
        streams.set(deps.openEventStreams?.() ?? 0);
      },
    });
    const poolUse = deps.poolUse;
    if (!poolUse) return;
    const connections = new Gauge({
      name: `${p}db_pool_connections`,
      help: "This node's PostgreSQL connections, by state: in_use (lent to a query or transaction) or idle.",
      labelNames: ['state'],
      registers,
      collect: () => {
        const use = poolUse();
        connections.set({ state: 'in_use' }, use.total - use.idle);
        connections.set({ state: 'idle' }, use.idle);
      },
    });
    const waiting = new Gauge({
      name: `${p}db_pool_waiting_queries`,
      help: "Queries on this node waiting for a PostgreSQL connection (the pool's size is TASKPROC_DB_POOL_SIZE).",
      registers,
      collect: () => {
        waiting.set(poolUse().waiting);
      },
    });
    let counted = 0;
    const errors = new Counter({
      name: `${p}db_pool_connection_errors_total`,
      help: "This node's PostgreSQL connections that broke (a database restart, a network cut).",
      registers,
      collect: () => {
        const now = poolUse().errors;
        errors.inc(now - counted);
        counted = now;
      },
    });
  }

  private depthRead: { atMs: number; rows: Promise<Awaited<ReturnType<TaskStore['queueDepth']>>> } | null = null;

  /**
   * One read answers every scrape for a few seconds (real time: this bounds the database's work,
   * whatever clock the server runs on); concurrent scrapes share the read in flight. A failed
   * read is not kept.
   */
  private queueDepth(): Promise<Awaited<ReturnType<TaskStore['queueDepth']>>> {
    const now = performance.now();
    if (this.depthRead && now - this.depthRead.atMs < QUEUE_DEPTH_CACHE_MS) return this.depthRead.rows;
    const read = { atMs: now, rows: this.deps.tasks.queueDepth() };
    this.depthRead = read;
    read.rows.catch(() => {
      if (this.depthRead === read) this.depthRead = null;
    });
    return read.rows;
  }
}

const taskLabels = (task: Task) => ({ type: task.type, provider: task.providerId ?? 'none' });

const seconds = (ms: number) => Math.max(0, ms) / 1000;

/** A Map that forgets its oldest entry past `max`. */
class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly max: number) {}
  get(key: K): V | undefined {
    return this.map.get(key);
  }
  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as K);
  }
  delete(key: K): void {
    this.map.delete(key);
  }
}
