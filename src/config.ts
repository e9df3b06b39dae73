import { resolve } from 'node:path';

/**
 * The one typed, frozen configuration, built from flags > environment > defaults.
 * Only this module reads process.env. Admin settings that change at run time (anonymous access,
 * preferred providers, retention...) live in the database instead: see core/settings.ts.
 */
export interface Config {
  host: string;
  port: number;
  dataDir: string;
  /** null: the embedded SQLite file under dataDir. */
  databaseUrl: string | null;
  /** Most connections to PostgreSQL this process holds at once (ignored on SQLite). */
  dbPoolSize: number;
  redisUrl: string | null;
  adminPassword: string | null;
  /** Largest request body accepted on API routes (bytes); larger bodies get 413. */
  bodyLimit: number;
  /** Largest file accepted by a WebDAV PUT or a worker upload (bytes); larger ones get 413. */
  maxUpload: number;
  /**
   * Lingering drain (docs/LIMITS.md): after an answer sent before the request body was all read
   * (413, a bad multipart body, 401 on an upload), at most this many more bytes of it are read and
   * thrown away, so a client that writes its whole body before reading gets the answer instead of a
   * broken pipe. Past it, or past lingerSeconds, the connection is closed. 0: close at once.
   */
  lingerBytes: number;
  /** The lingering drain's time bound (seconds from the answer); 0: close at once. */
  lingerSeconds: number;
  /** How many tasks the built-in runner processes at once. */
  runnerConcurrency: number;
  /** Longest `wait` (seconds) a worker may ask of `next`/`next_batch` (long-poll); longer asks get 400. */
  maxWait: number;
  /**
   * The shortest lease a claimed task gets (seconds; workers/leases.ts): a claim holds
   * max(this, 4 × the provider's expected runtime). A worker or node that dies gives its tasks
   * back this long after its last report; the sweeper looks a few times per lease.
   */
  leaseSeconds: number;
  /**
   * PostgreSQL: seconds a user or ExApp row read for one request may answer the next ones (0:
   * read every time). Changes made elsewhere (another node, the admin CLI) show within it.
   */
  authCacheSeconds: number;
  /** SQLite: how many tasks read by id (polled tasks) are answered from memory while unchanged; 0: none. */
  taskCacheRows: number;
  /** PostgreSQL: run repeated queries as named prepared statements (off behind a transaction-mode pooler). */
  pgPreparedStatements: boolean;
  /** The built-in offline providers (extractive text, eSpeak speech); on by default. */
  offlineProviders: boolean;
  /** An OpenAI-compatible back end for the simple case (one back end, one model); null: none. */
  openaiBaseUrl: string | null;
  openaiApiKey: string | null;
  openaiModel: string | null;
  /** A JSON file describing several named back ends and models per task type (see the README). */
  providersConfig: string | null;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /**
   * How log lines are written to stdout: `json`, one JSON object per line (for collectors), or
   * `pretty`, readable lines; `auto` is pretty when stdout is a terminal and json otherwise.
   */
  logFormat: 'json' | 'pretty' | 'auto';
  /** Trust X-Forwarded-For from a reverse proxy when computing the client IP (rate limits, throttling). */
  trustProxy: boolean;
  /**
   * Where file contents live: `disk` under `<dataDir>/files` (shared between nodes only through a
   * shared data directory), or `database`, chunked in the database every node already shares.
   */
  fileStorage: 'disk' | 'database';
  /** Longest a streamed partial output waits for its database write, per task, in ms (0: every chunk written). */
  partialWriteMs: number;
  /** Event streams (GET …/tasks/{id}/events) one user may hold open, and this node in all. */
  eventStreamsPerUser: number;
  eventStreamsMax: number;
  /** Seconds between the keep-alive comments of an idle event stream. */
  eventHeartbeatSeconds: number;
  /**
   * Serves Prometheus metrics at `/metrics` of the API port to callers that send this as a bearer
   * token (401 otherwise); null: not there (404). A secret: compared in constant time, never logged.
   */
  metricsToken: string | null;
  /** Also serves `/metrics`, without a token, on this port of the same host; null: no such port. */
  metricsPort: number | null;
}

interface KeySpec {
  env: string;
  flag: string;
  parse: (raw: string, key: string) => unknown;
}

export class ConfigError extends Error {}

const int = (min: number, max: number) => (raw: string, key: string) => {
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${key} must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(`${key} must be between ${min} and ${max}, got ${n}`);
  return n;
};
const str = (raw: string) => raw;
const bool = (raw: string, key: string) => {
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(`${key} must be true or false, got "${raw}"`);
};
const oneOf =
  (...values: string[]) =>
  (raw: string, key: string) => {
    if (!values.includes(raw)) throw new ConfigError(`${key} must be one of ${values.join(', ')}, got "${raw}"`);
    return raw;
  };
const databaseUrl = (raw: string, key: string) => {
  if (raw === '' || raw.startsWith('sqlite:')) return raw === '' ? null : raw;
  if (/^postgres(ql)?:\/\//.test(raw)) return raw;
  throw new ConfigError(`${key} must be a postgres:// URL (or empty for the embedded SQLite), got "${raw}"`);
};

const SPECS: Record<keyof Config, KeySpec> = {
  host: { env: 'TASKPROC_HOST', flag: 'host', parse: str },
  port: { env: 'TASKPROC_PORT', flag: 'port', parse: int(0, 65535) },
  dataDir: { env: 'TASKPROC_DATA_DIR', flag: 'data-dir', parse: (raw) => resolve(raw) },
  databaseUrl: { env: 'TASKPROC_DATABASE_URL', flag: 'database-url', parse: databaseUrl },
  dbPoolSize: { env: 'TASKPROC_DB_POOL_SIZE', flag: 'db-pool-size', parse: int(1, 1000) },
  redisUrl: { env: 'TASKPROC_REDIS_URL', flag: 'redis-url', parse: (raw) => (raw === '' ? null : raw) },
  adminPassword: { env: 'TASKPROC_ADMIN_PASSWORD', flag: 'admin-password', parse: (raw) => (raw === '' ? null : raw) },
  bodyLimit: { env: 'TASKPROC_BODY_LIMIT', flag: 'body-limit', parse: int(1024, 1024 * 1024 * 1024) },
  maxUpload: { env: 'TASKPROC_MAX_UPLOAD', flag: 'max-upload', parse: int(1, Number.MAX_SAFE_INTEGER) },
  lingerBytes: { env: 'TASKPROC_LINGER_BYTES', flag: 'linger-bytes', parse: int(0, Number.MAX_SAFE_INTEGER) },
  lingerSeconds: { env: 'TASKPROC_LINGER_SECONDS', flag: 'linger-seconds', parse: int(0, 3600) },
  runnerConcurrency: { env: 'TASKPROC_RUNNER_CONCURRENCY', flag: 'runner-concurrency', parse: int(0, 1024) },
  maxWait: { env: 'TASKPROC_MAX_WAIT', flag: 'max-wait', parse: int(0, 3600) },
  leaseSeconds: { env: 'TASKPROC_LEASE_SECONDS', flag: 'lease-seconds', parse: int(1, 86400) },
  authCacheSeconds: { env: 'TASKPROC_AUTH_CACHE_SECONDS', flag: 'auth-cache-seconds', parse: int(0, 3600) },
  taskCacheRows: { env: 'TASKPROC_TASK_CACHE_ROWS', flag: 'task-cache-rows', parse: int(0, 1_000_000) },
  pgPreparedStatements: { env: 'TASKPROC_PG_PREPARED_STATEMENTS', flag: 'pg-prepared-statements', parse: bool },
  offlineProviders: { env: 'TASKPROC_OFFLINE_PROVIDERS', flag: 'offline-providers', parse: bool },
  openaiBaseUrl: { env: 'TASKPROC_OPENAI_BASE_URL', flag: 'openai-base-url', parse: (raw) => (raw === '' ? null : raw) },
  openaiApiKey: { env: 'TASKPROC_OPENAI_API_KEY', flag: 'openai-api-key', parse: (raw) => (raw === '' ? null : raw) },
  openaiModel: { env: 'TASKPROC_OPENAI_MODEL', flag: 'openai-model', parse: (raw) => (raw === '' ? null : raw) },
  providersConfig: { env: 'TASKPROC_PROVIDERS_CONFIG', flag: 'providers-config', parse: (raw) => (raw === '' ? null : resolve(raw)) },
  logLevel: {
    env: 'TASKPROC_LOG_LEVEL',
    flag: 'log-level',
    parse: oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
  },
  logFormat: { env: 'TASKPROC_LOG_FORMAT', flag: 'log-format', parse: oneOf('json', 'pretty', 'auto') },
  trustProxy: { env: 'TASKPROC_TRUST_PROXY', flag: 'trust-proxy', parse: bool },
  fileStorage: { env: 'TASKPROC_FILE_STORAGE', flag: 'file-storage', parse: oneOf('disk', 'database') },
  partialWriteMs: { env: 'TASKPROC_PARTIAL_WRITE_MS', flag: 'partial-write-ms', parse: int(0, 60_000) },
  eventStreamsPerUser: { env: 'TASKPROC_EVENT_STREAMS_PER_USER', flag: 'event-streams-per-user', parse: int(0, 1_000_000) },
  eventStreamsMax: { env: 'TASKPROC_EVENT_STREAMS_MAX', flag: 'event-streams-max', parse: int(0, 1_000_000) },
  eventHeartbeatSeconds: { env: 'TASKPROC_EVENT_HEARTBEAT_SECONDS', flag: 'event-heartbeat-seconds', parse: int(1, 3600) },
  metricsToken: { env: 'TASKPROC_METRICS_TOKEN', flag: 'metrics-token', parse: (raw) => (raw === '' ? null : raw) },
  metricsPort: { env: 'TASKPROC_METRICS_PORT', flag: 'metrics-port', parse: (raw, key) => (raw === '' ? null : int(0, 65535)(raw, key)) },
};

export const DEFAULTS: Readonly<Config> = Object.freeze({
  host: '127.0.0.1',
  port: 8080,
  dataDir: resolve('./data'),
  databaseUrl: null,
  dbPoolSize: 10,
  redisUrl: null,
  adminPassword: null,
  bodyLimit: 8 * 1024 * 1024,
  maxUpload: 512 * 1024 * 1024,
  // A 10 MB body sent against the 8 MiB body limit is read to its end; a gigabyte is not.
  lingerBytes: 64 * 1024 * 1024,
  lingerSeconds: 5,
  runnerConcurrency: 2,
  maxWait: 30,
  leaseSeconds: 60,
  authCacheSeconds: 1,
  taskCacheRows: 10_000,
  pgPreparedStatements: true,
  offlineProviders: true,
  openaiBaseUrl: null,
  openaiApiKey: null,
  openaiModel: null,
  providersConfig: null,
  logLevel: 'info',
  logFormat: 'auto',
  trustProxy: false,
  fileStorage: 'disk',
  // At most four database writes a second per streaming task, whatever the model's speed.
  partialWriteMs: 250,
  eventStreamsPerUser: 20,
  eventStreamsMax: 10_000,
  eventHeartbeatSeconds: 15,
  metricsToken: null,
  metricsPort: null,
});

/** The flags every command accepts (for node:util parseArgs), all taking a string value. */
export const CONFIG_FLAGS: Record<string, { type: 'string' }> = Object.fromEntries(Object.values(SPECS).map((s) => [s.flag, { type: 'string' as const }]));

/** Builds the Config from parsed flag values and an environment. Throws ConfigError naming the bad key. */
export function buildConfig(flags: Record<string, unknown>, env: Record<string, string | undefined>): Config {
  const out: Record<string, unknown> = { ...DEFAULTS };
  for (const [key, spec] of Object.entries(SPECS)) {
    const fromFlag = flags[spec.flag];
    if (typeof fromFlag === 'string') out[key] = spec.parse(fromFlag, `--${spec.flag}`);
    else if (env[spec.env] !== undefined) out[key] = spec.parse(env[spec.env] as string, spec.env);
  }
  return Object.freeze(out) as unknown as Config;
}

/** Test and tool helper: a Config with overrides on top of the defaults. */
export function configWith(overrides: Partial<Config>): Config {
  return Object.freeze({ ...DEFAULTS, ...overrides });
}

/** The process environment; the one place that reads it. */
export function processEnv(): Record<string, string | undefined> {
  return process.env;
}
