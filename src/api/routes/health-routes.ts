import type { FastifyInstance } from 'fastify';
import type { SchemaState } from '../../store/store.js';
import { NEXTCLOUD, NEXTCLOUD_VERSION, PACKAGE_VERSION } from './capabilities-routes.js';

/**
 * Probes for load balancers, orchestrators and Nextcloud clients: plain JSON (no OCS envelope), no
 * authentication, nothing secret in any answer.
 *
 * - `GET /status.php`: what Nextcloud's status.php answers (installed, maintenance, versions,
 *   product name), which clients read before logging in. Constant: it touches nothing.
 * - `GET /healthz` (liveness): the process answers. Touches nothing, so a database outage never
 *   makes an orchestrator restart a process that would recover by itself.
 * - `GET /readyz` (readiness): the database answers and is migrated, and Redis answers when it is
 *   configured; 503 with the reason while not.
 */
export interface HealthDeps {
  store: { schemaState(): Promise<SchemaState> };
  /** The Redis connection shared by the rate limits; null when none is configured. */
  redis: { ping(): Promise<unknown> } | null;
  /** How long each check may take before it counts as failed (ms). */
  timeoutMs?: number;
}

/** A hung database or Redis gives 503 after this long, not a probe that hangs. */
export const READINESS_TIMEOUT_MS = 2000;

/**
 * Nextcloud's status.php (core/status.php, ServerVersion) with the version the capabilities
 * announce: `version` has four parts as upstream's getVersion() (the fourth is its build number,
 * 0 here), `versionstring` three. `productname` says what answers; themed Nextcloud servers have
 * other names too, so clients do not depend on it. `taskproc` is ours: this server's own version.
 */
const STATUS = JSON.stringify({
  installed: true,
  maintenance: false,
  needsDbUpgrade: false,
  version: `${NEXTCLOUD.major}.${NEXTCLOUD.minor}.${NEXTCLOUD.micro}.0`,
  versionstring: NEXTCLOUD_VERSION,
  edition: '',
  productname: 'taskproc',
  extendedSupport: false,
  taskproc: { version: PACKAGE_VERSION },
});

const OK = JSON.stringify({ status: 'ok' });
const JSON_TYPE = 'application/json; charset=utf-8';

export function registerHealthRoutes(app: FastifyInstance, deps: HealthDeps): void {
  const ready = readinessCheck(deps);
  app.get('/status.php', async (_req, reply) =>
    // Upstream lets any origin read it (web clients probe servers they are about to log in to).
    reply.code(200).headers({ 'content-type': JSON_TYPE, 'access-control-allow-origin': '*', 'cache-control': 'no-store' }).send(STATUS),
  );
  app.get('/healthz', async (_req, reply) => reply.code(200).headers({ 'content-type': JSON_TYPE, 'cache-control': 'no-store' }).send(OK));
  app.get('/readyz', async (_req, reply) => {
    const reason = await ready();
    reply.headers({ 'content-type': JSON_TYPE, 'cache-control': 'no-store' });
    if (reason === null) return reply.code(200).send(OK);
    return reply.code(503).send(JSON.stringify({ status: 'unavailable', reason }));
  });
}

/**
 * The readiness check, shared by concurrent probes: while one runs, others wait for its answer
 * instead of starting their own, so a hung database holds at most one query of ours however
 * often it is asked. Nothing is remembered between checks: the migration table is read every
 * time, because a database restored from an older backup behind a running server must show.
 * Returns null when ready, else the reason (the part and a short message, no address or password).
 */
function readinessCheck(deps: HealthDeps): () => Promise<string | null> {
  const timeoutMs = deps.timeoutMs ?? READINESS_TIMEOUT_MS;
  let running: Promise<string | null> | null = null;
  const check = async (): Promise<string | null> => {
    const [database, redis] = await Promise.all([
      within(timeoutMs, deps.store.schemaState()).then(
        (state) => (state === 'timeout' ? `database: no answer within ${timeoutMs} ms` : schemaReason(state)),
        (err) => `database: ${shortReason(err)}`,
      ),
      deps.redis === null
        ? null
        : within(timeoutMs, deps.redis.ping()).then(
            (answer) => (answer === 'timeout' ? `redis: no answer within ${timeoutMs} ms` : null),
            (err) => `redis: ${shortReason(err)}`,
          ),
    ]);
    const reasons = [database, redis].filter((r): r is string => r !== null);
    return reasons.length === 0 ? null : reasons.join('; ');
  };
  return () => {
    running ??= check().finally(() => (running = null));
    return running;
  };
}

function schemaReason(state: SchemaState): string | null {
  if (state === 'current') return null;
  return state === 'behind' ? 'database: not migrated (run taskproc migrate or restart)' : 'database: its schema is newer than this taskproc';
}

/** The promise's value, or 'timeout' when it takes longer than `ms` (it is left to settle on its own). */
function within<T>(ms: number, promise: Promise<T>): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * An error as a short phrase: the first line of its message, cut short, else its code (a refused
 * connect to a name with several addresses is an AggregateError without a message). Driver
 * messages name a host, a port or a user at most, never a password or a connection string.
 */
function shortReason(err: unknown): string {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  const first = typeof message === 'string' ? (message.split('\n', 1)[0] ?? '') : '';
  if (first !== '') return first.length > 120 ? `${first.slice(0, 120)}…` : first;
  return typeof code === 'string' && code !== '' ? code : 'unavailable';
}
