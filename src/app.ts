import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { buildServer } from './api/server.js';
import { encodeTaskEvent, eventRoutes } from './api/routes/event-routes.js';
import { userRoutes } from './api/routes/user-routes.js';
import { appApiRoutes } from './api/routes/appapi-routes.js';
import { capabilitiesRoutes } from './api/routes/capabilities-routes.js';
import { consumerRoutes } from './api/routes/consumer-routes.js';
import { providerRoutes } from './api/routes/provider-routes.js';
import { queueRoutes } from './api/routes/queue-routes.js';
import { registerWebdav } from './api/webdav/webdav-routes.js';
import { registerHealthRoutes } from './api/routes/health-routes.js';
import type { FileService } from './files/file-service.js';
import { createFileService } from './files/create-file-service.js';
import { AppApiAuthenticator } from './auth/appapi.js';
import { Authenticator } from './auth/authenticator.js';
import { DEFAULT_LOGIN_THROTTLE, LoginThrottle, type LoginThrottleOptions } from './auth/login-throttle.js';
import { hashPassword, randomToken } from './auth/passwords.js';
import { loadServerKey, openSealedSecret } from './auth/sealed-secret.js';
import { type Config, processEnv } from './config.js';
import { loggerOptions } from './logging.js';
import { type Clock, systemClock, unixSeconds } from './core/clock.js';
import { ExAppCatalog } from './core/exapp-catalog.js';
import type { InProcessProvider } from './core/provider.js';
import { ProviderRegistry } from './core/provider-registry.js';
import { NO_OPS_COUNTERS } from './core/ops-counters.js';
import { MemoryRateLimiter, type RateLimiter } from './core/rate-limit.js';
import { FallbackRateLimiter } from './limits/fallback-rate-limiter.js';
import { closeRedis, connectRedis, RedisRateLimiter } from './limits/redis-rate-limiter.js';
import { SettingsService } from './core/settings.js';
import { TaskEvents } from './core/task-events.js';
import { TaskService } from './core/task-service.js';
import { TaskTypeRegistry } from './core/task-types.js';
import { WorkerService } from './core/worker-service.js';
import { openStore } from './store/open-store.js';
import { PgScheduledChannel } from './store/pg-notify.js';
import { isPostgresUrl, parsePostgresUrl } from './store/postgres.js';
import type { ExAppStore, Store } from './store/store.js';
import { OutageReporter } from './store/db-errors.js';
import { leaseSweepMs, startMaintenance } from './workers/maintenance.js';
import { Notifier } from './workers/notifier.js';
import { Runner } from './workers/runner.js';
import { EventStreams } from './workers/event-streams.js';
import { LiveOutputs } from './workers/live-outputs.js';
import { QueueEstimator } from './workers/queue-estimator.js';
import { TaskFeeds } from './workers/task-feeds.js';
import { startTaskLog } from './workers/task-log.js';
import { TaskWatchers, Waiters } from './workers/waiters.js';
import { WorkerPresence } from './workers/worker-presence.js';
import { Metrics } from './ops/metrics.js';
import { MetricsPortServer, registerMetricsRoute } from './ops/metrics-endpoint.js';
import { DEFAULT_WEBHOOK_OPTIONS, WebhookSender, type WebhookOptions } from './workers/webhooks.js';

export interface AppOptions {
  config: Config;
  /** In-process providers to register, in order (built-in ones from main, test ones from test/). */
  providers: InProcessProvider[];
  clock?: Clock;
  loginThrottle?: LoginThrottleOptions;
  /** Interval of the lease sweeper and the runner's idle poll; tests shorten them. */
  leaseIntervalMs?: number;
  runnerPollMs?: number;
  /** Webhook delivery tuning (timeouts, retries, backoff); tests shorten them. */
  webhook?: Partial<Omit<WebhookOptions, 'log' | 'appApiTarget'>>;
}

export interface App {
  config: Config;
  store: Store;
  server: FastifyInstance;
  service: TaskService;
  settings: SettingsService;
  events: TaskEvents;
  files: FileService;
  runner: Runner;
  /** Parked long-poll requests of workers (next/next_batch with `wait`). */
  waiters: Waiters;
  /** Clients' long-polls on a task (GET task?wait=). */
  taskWatchers: TaskWatchers;
  /** Partial outputs of running tasks: shown at once, written coalesced. */
  live: LiveOutputs;
  /** Queue positions and estimated starts of scheduled tasks. */
  estimates: QueueEstimator;
  /** What followed tasks show now, shared by their watchers on this node. */
  feeds: TaskFeeds;
  /** Open server-sent event streams. */
  streams: EventStreams;
  /** Calls tasks' webhooks when they end. */
  webhooks: WebhookSender;
  /** Wake-ups to and from the other nodes of a PostgreSQL database; null on SQLite (one node). */
  notifier: Notifier | null;
  /** ExApps polling this node for tasks, and how many workers each has (metrics, provider liveness). */
  presence: WorkerPresence;
  /** The Prometheus metrics; null when neither TASKPROC_METRICS_TOKEN nor TASKPROC_METRICS_PORT is set. */
  metrics: Metrics | null;
  /** The base URL of the separate metrics port once listening; null without one. */
  readonly metricsUrl: string | null;
  /** Set when this start created the admin user with a generated password (print it once). */
  generatedAdminPassword: string | null;
  /** Listens on the configured host and port; returns the base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/** The composition root: every long-lived object is made here and nowhere else. */
export async function createApp(opts: AppOptions): Promise<App> {
  const { config } = opts;
  const clock = opts.clock ?? systemClock;
  // The store may warn before the server's logger exists (while migrating); it goes there once it does.
  let warn = (message: string) => console.warn(`taskproc: ${message}`);
  const store = await openStore({
    dataDir: config.dataDir,
    databaseUrl: config.databaseUrl,
    poolSize: config.dbPoolSize,
    authCacheSeconds: config.authCacheSeconds,
    taskCacheRows: config.taskCacheRows,
    pgPreparedStatements: config.pgPreparedStatements,
    warn: (message) => warn(message),
  });
  try {
    await store.migrate();
  } catch (err) {
    await store.close();
    throw err;
  }
  // With Redis, limits are shared by every node; a Redis that does not answer now stops the start.
  let redis: Awaited<ReturnType<typeof connectRedis>> | null = null;
  if (config.redisUrl !== null) {
    try {
      redis = await connectRedis(config.redisUrl);
    } catch (err) {
      await store.close();
      throw err;
    }
  }
  const generatedAdminPassword = await ensureAdmin(store, config.adminPassword, clock);

  const taskTypes = new TaskTypeRegistry();
  const providers = new ProviderRegistry();
  for (const p of opts.providers) providers.addInProcess(p);
  const settings = new SettingsService(store.settings, clock);
  // The server's logger, for objects made before the server that builds it: each call goes to it then.
  const lateLog = {
    warn: (obj: object, msg: string) => server.log.warn(obj, msg),
    info: (obj: object, msg: string) => server.log.info(obj, msg),
    error: (obj: object, msg: string) => server.log.error(obj, msg),
  };
  const events = new TaskEvents();
  const presence = new WorkerPresence();
  // Metrics only when they are served somewhere: otherwise nothing is counted or collected.
  const metrics =
    config.metricsToken !== null || config.metricsPort !== null
      ? new Metrics({
          events,
          tasks: store.tasks,
          ...(store.poolUse && { poolUse: store.poolUse }),
          clock,
          presence,
          openWorkerLongPolls: () => waiters.size,
          openClientLongPolls: () => taskWatchers.size,
          openEventStreams: () => streams.size,
        })
      : null;
  const counters = metrics ?? NO_OPS_COUNTERS;
  // Without Redis, limits are per node; with it, shared, falling back to per node while it is down.
  const limiter: RateLimiter = redis
    ? new FallbackRateLimiter(new RedisRateLimiter(redis, clock), new MemoryRateLimiter(clock), {
        log: lateLog,
      })
    : new MemoryRateLimiter(clock);
  const files = createFileService(store, config, clock, counters);
  const catalog = new ExAppCatalog(store.exapps, providers, taskTypes, clock);
  const taskWatchers = new TaskWatchers(events);
  const live = new LiveOutputs({
    store: store.tasks,
    events,
    clock,
    writeMs: config.partialWriteMs,
    log: lateLog,
  });
  const estimates = new QueueEstimator({
    store: store.tasks,
    events,
    clock,
    inProcessConcurrency: (id) => (providers.get(id)?.inProcess ? config.runnerConcurrency : null),
  });
  const service = new TaskService({
    live,
    estimates,
    store: store.tasks,
    taskTypes,
    providers,
    settings,
    files,
    events,
    clock,
    catalog,
    watchers: taskWatchers,
    maxWaitSeconds: config.maxWait,
  });
  const throttle = new LoginThrottle(limiter, opts.loginThrottle ?? DEFAULT_LOGIN_THROTTLE, counters);
  const authenticator = new Authenticator(store.users, throttle, clock);
  const appApi = new AppApiAuthenticator(store.exapps, store.users, throttle);
  const waiters = new Waiters(events);
  const workers = new WorkerService({
    tasks: store.tasks,
    fileRecords: store.files,
    files,
    service,
    taskTypes,
    events,
    waiters,
    live,
    providerOwner: (id) => catalog.appIdOf(id),
    clock,
    maxWaitSeconds: config.maxWait,
    minLeaseSeconds: config.leaseSeconds,
    log: lateLog,
  });

  const feeds = new TaskFeeds({
    store: store.tasks,
    events,
    live,
    estimates,
    // Changes of this node and (on PostgreSQL) of the others arrive as events: the re-read is only a safety net.
    recheckMs: 5000,
    log: lateLog,
  });
  const streams = new EventStreams({
    feeds,
    events,
    store: store.tasks,
    limits: {
      perCaller: config.eventStreamsPerUser,
      total: config.eventStreamsMax,
      heartbeatMs: config.eventHeartbeatSeconds * 1000,
      maxFollowed: 10_000,
    },
    encodeTask: encodeTaskEvent,
  });
  const server = await buildServer({
    routes: [
      ...eventRoutes({ service, streams }),
      ...userRoutes({ service, tasks: store.tasks, limiter, settings, clock, counters }),
      ...appApiRoutes({ store, catalog, clock }),
      ...capabilitiesRoutes(),
      ...providerRoutes({ workers, polled: (appId, socketKey) => presence.seen(appId, socketKey, clock.nowMs()) }),
      ...consumerRoutes({ service }),
      ...queueRoutes({ tasks: store.tasks }),
    ],
    authenticator,
    appApi,
    settings,
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy,
    linger: { bytes: config.lingerBytes, ms: config.lingerSeconds * 1000 },
    logger: loggerOptions(config),
    log: lateLog,
    outages: new OutageReporter(lateLog, () => metrics?.databaseUnavailable()),
    ...(metrics && { observe: (method: string, route: string, status: number, seconds: number) => metrics.observeHttp(method, route, status, seconds) }),
  });
  if (metrics && config.metricsToken !== null) registerMetricsRoute(server, metrics, config.metricsToken);
  const metricsPort =
    metrics && config.metricsPort !== null ? new MetricsPortServer(metrics, (err) => server.log.error({ err }, 'metrics: collecting failed')) : null;
  let metricsUrl: string | null = null;
  const log = server.log;
  warn = (message) => log.warn(message);
  await registerWebdav(server, { files, authenticator, maxUpload: config.maxUpload, log });
  registerHealthRoutes(server, { store, redis });
  const stopTaskLog = startTaskLog(events, log);
  const webhooks = new WebhookSender({ ...DEFAULT_WEBHOOK_OPTIONS, ...opts.webhook, log, appApiTarget: appApiWebhookTarget(store.exapps, config, log) });
  // Cancel and every result end a task; deletes do not call webhooks (upstream neither).
  const stopWebhooks = events.onEnded((task) => webhooks.send(task));

  // Each process leases under its own name, so nodes sharing PostgreSQL never release each
  // other's work. SQLite has one node: whatever a runner held when it died is ours to run again
  // now; on PostgreSQL a dead node's leases lapse and the sweeper re-queues them.
  const leaseOwner = `runner:${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  if (config.databaseUrl === null || config.databaseUrl.startsWith('sqlite:')) await store.tasks.releaseLeases('runner:', unixSeconds(clock));
  const runner = new Runner({
    store: store.tasks,
    service,
    taskTypes,
    providers,
    events,
    live,
    files,
    clock,
    log,
    concurrency: config.runnerConcurrency,
    leaseOwner,
    minLeaseSeconds: config.leaseSeconds,
    pollMs: opts.runnerPollMs,
  });
  // Several nodes share a PostgreSQL database: a task scheduled on one wakes long-polls on all.
  const notifier = isPostgresUrl(config.databaseUrl) ? new Notifier(events, new PgScheduledChannel(parsePostgresUrl(config.databaseUrl), { log })) : null;
  await notifier?.start();
  const stopMaintenance = startMaintenance({
    store: store.tasks,
    settings,
    events,
    files,
    clock,
    log,
    leaseIntervalMs: opts.leaseIntervalMs ?? leaseSweepMs(config.leaseSeconds),
  });

  let closed = false;
  return {
    config,
    store,
    server,
    service,
    settings,
    events,
    files,
    runner,
    waiters,
    taskWatchers,
    live,
    estimates,
    feeds,
    streams,
    webhooks,
    notifier,
    presence,
    metrics,
    get metricsUrl() {
      return metricsUrl;
    },
    generatedAdminPassword,
    async listen() {
      await server.listen({ host: config.host, port: config.port });
      if (metricsPort && config.metricsPort !== null) metricsUrl = await metricsPort.listen(config.host, config.metricsPort);
      runner.start();
      const addr = server.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : config.port;
      const host = config.host.includes(':') ? `[${config.host}]` : config.host;
      return `http://${host}:${port}`;
    },
    async close() {
      if (closed) return;
      closed = true;
      stopMaintenance();
      // Parked long-polls would otherwise hold server.close() for up to maxWait seconds.
      workers.close();
      taskWatchers.close();
      // Event streams end now (they never would by themselves); what streamed but is unwritten is written.
      streams.close();
      // A keep-alive connection whose last response the client read before the server saw it
      // finish is not idle to Node and would hold close() for the keep-alive time-out (72 s):
      // requests in flight get a grace period, then every connection is closed.
      const grace = setTimeout(() => server.server.closeAllConnections(), 3000);
      await server.close();
      clearTimeout(grace);
      await metricsPort?.close();
      metrics?.close();
      await runner.stop();
      feeds.close();
      estimates.close();
      await live.close();
      stopWebhooks();
      stopTaskLog();
      // Deliveries in flight get a moment to finish; a dead receiver must not hold up shutdown.
      await Promise.race([webhooks.idle(), new Promise((r) => setTimeout(r, WEBHOOK_SHUTDOWN_GRACE_MS).unref())]);
      await notifier?.close();
      await store.close();
      if (redis) await closeRedis(redis);
    },
  };
}

/**
 * First start: create `admin`, with the configured password or a generated one, unless an admin
 * exists already (users added with the CLI before the first start do not count).
 */
async function ensureAdmin(store: Store, password: string | null, clock: Clock): Promise<string | null> {
  const users = await store.users.listUsers();
  if (users.some((u) => u.isAdmin || u.id === 'admin')) return null;
  const chosen = password ?? randomToken(24);
  try {
    await store.users.createUser({
      id: 'admin',
      displayName: 'admin',
      passwordHash: await hashPassword(chosen),
      isAdmin: true,
      isGuest: false,
      enabled: true,
      createdAt: unixSeconds(clock),
    });
  } catch (err) {
    // Two nodes making their first start at once: the other one created it, which is fine.
    if (await store.users.getUser('admin')) return null;
    throw err;
  }
  return password === null ? chosen : null;
}

/** How long close() lets webhook deliveries in flight finish. */
const WEBHOOK_SHUTDOWN_GRACE_MS = 5000;

/** The AppAPI version announced to ExApps (AA-VERSION): AppAPI carries the server's version, as capabilities say. */
const AA_VERSION = '33.0.0';

/**
 * Resolves `AppAPI:<appId>:<METHOD>` webhooks (SEMANTICS.md §9) to the ExApp's address and the
 * AppAPI headers of EXAPP.md §2, acting as the task's user. Unknown, disabled or unreachable apps
 * (no baseUrl or no sealed secret) give null, which the sender logs as skipped; so does any error,
 * because a failing lookup must never break delivery of other webhooks. The server key is read
 * once, on the first such webhook. AA-REQUEST-ID is "CLI", as upstream sends from background
 * work: deliveries run after the request that ended the task has been answered.
 */
function appApiWebhookTarget(exapps: ExAppStore, config: Config, log: { warn(obj: object, msg: string): void }): NonNullable<WebhookOptions['appApiTarget']> {
  let key: Promise<Buffer> | null = null;
  return async (appId, path, userId) => {
    try {
      const app = await exapps.getExApp(appId);
      if (!app?.enabled || !app.baseUrl || !app.sealedSecret) return null;
      key ??= loadServerKey(config, processEnv());
      const secret = openSealedSecret(app.sealedSecret, await key);
      return {
        url: `${app.baseUrl.replace(/\/+$/, '')}${path}`,
        headers: {
          'aa-version': AA_VERSION,
          'ex-app-id': app.appId,
          'ex-app-version': app.version,
          'authorization-app-api': Buffer.from(`${userId ?? ''}:${secret}`).toString('base64'),
          'aa-request-id': 'CLI',
        },
      };
    } catch (err) {
      key = null;
      log.warn({ err, appId }, 'webhook: the ExApp cannot be addressed');
      return null;
    }
  };
}
