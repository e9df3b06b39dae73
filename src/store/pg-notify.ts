import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { postgresClientConfig, type PostgresTarget } from './postgres.js';

/**
 * The one channel every node of every installation on the database shares. NOTIFY reaches every
 * session of the database, whatever its schema, so the payload names the schema and receivers
 * drop other installations' news (two test runs, or two installations, on one database).
 */
export const SCHEDULED_CHANNEL = 'taskproc_scheduled';
/** Changes of tasks (ids, small partial outputs) for the watchers on other nodes (workers/notifier.ts). */
export const LIVE_CHANNEL = 'taskproc_live';
/** PostgreSQL refuses payloads of 8000 bytes and more; ours carry a node id and schema before the message. */
export const MAX_LIVE_MESSAGE_BYTES = 7000;

/** Distinct types waiting for the connection; beyond this they are dropped (the waiters' re-check finds the tasks). */
const MAX_QUEUED_TYPES = 1000;
/** Tasks whose live messages may wait for the connection; beyond, they are dropped (watchers re-read every second). */
const MAX_QUEUED_LIVE = 10_000;

export interface PgScheduledChannelOptions {
  /** Identifies this process in the payload, so it ignores its own notifications. Default: random. */
  nodeId?: string;
  log: { warn(obj: object, msg: string): void; info?(obj: object, msg: string): void };
  /** Reconnect back-off after the LISTEN connection drops or cannot connect: doubles from min to max. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * PostgreSQL LISTEN/NOTIFY for "a task of this type was scheduled" between the nodes of one
 * database, on one dedicated connection per node (a pooled connection cannot LISTEN: the pool
 * hands it to others and closes it when idle). The same connection sends this node's NOTIFYs, so
 * the request pool never waits on it. Best effort by design: while the connection is down,
 * notifications are neither sent nor received, and workers find the tasks on their periodic
 * re-check instead; a task itself is never lost, it is in the table.
 */
export class PgScheduledChannel {
  readonly nodeId: string;
  private client: pg.Client | null = null;
  private schema: string | null = null;
  private onType: ((type: string) => void) | null = null;
  private onLive: ((message: string) => void) | null = null;
  /** Live messages waiting for the connection, by key: a newer message for the same task replaces the older. */
  private readonly queuedLive = new Map<string, string>();
  private closed = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private backoffMs: number;
  /**
   * Types scheduled while a NOTIFY was on its way. One query is out at a time (node-postgres
   * queues queries sent while one runs, but that use is deprecated), and when it returns, the
   * next one notifies every type that queued up meanwhile: under load one round trip carries the
   * news of many schedules, and a lone schedule is still sent at once.
   */
  private readonly queued = new Set<string>();
  private sending = false;
  /** Connections made so far (1 after start, more after reconnects); tests read it. */
  connects = 0;

  constructor(
    private readonly target: PostgresTarget,
    private readonly opts: PgScheduledChannelOptions,
  ) {
    this.nodeId = opts.nodeId ?? randomBytes(8).toString('hex');
    this.backoffMs = this.minBackoff;
  }

  /** Whether the LISTEN connection is up now. */
  get listening(): boolean {
    return this.client !== null;
  }

  /**
   * Connects and LISTENs; `onType` gets the task type of every notification from another node.
   * A first connect that fails is retried in the background rather than failing the start: the
   * store has just proven the database answers, and the re-check covers the gap.
   */
  async start(onType: (type: string) => void, onLive?: (message: string) => void): Promise<void> {
    this.onType = onType;
    this.onLive = onLive ?? null;
    await this.connect();
  }

  /** Tells the other nodes a task of `type` was scheduled; never throws, never waits. */
  notify(type: string): void {
    if (this.client === null || this.schema === null || this.queued.size >= MAX_QUEUED_TYPES) return;
    this.queued.add(type);
    if (!this.sending) this.sendQueued();
  }

  /**
   * Tells the other nodes' watchers about a task (`message` at most MAX_LIVE_MESSAGE_BYTES); a later
   * message with the same `key` replaces one still waiting. Never throws, never waits.
   */
  notifyLive(key: string, message: string): void {
    if (this.client === null || this.schema === null || this.queuedLive.size >= MAX_QUEUED_LIVE) return;
    this.queuedLive.delete(key);
    this.queuedLive.set(key, message);
    if (!this.sending) this.sendQueued();
  }

  private sendQueued(): void {
    const client = this.client;
    const schema = this.schema;
    // Dropped when the connection went away meanwhile: a wake-up is only a hint.
    if (client === null || schema === null || (this.queued.size === 0 && this.queuedLive.size === 0)) {
      this.queued.clear();
      this.queuedLive.clear();
      return;
    }
    const notes: [string, string][] = [
      ...[...this.queued].map((type): [string, string] => [SCHEDULED_CHANNEL, `${this.nodeId} ${schema} ${type}`]),
      ...[...this.queuedLive.values()].map((m): [string, string] => [LIVE_CHANNEL, `${this.nodeId} ${schema} ${m}`]),
    ];
    this.queued.clear();
    this.queuedLive.clear();
    this.sending = true;
    const calls = notes.map((_, i) => `pg_notify($${2 * i + 1}, $${2 * i + 2})`).join(', ');
    client
      .query(`select ${calls}`, notes.flat())
      .catch(() => {
        // The connection broke; 'error'/'end' reconnects. These wake-ups are lost, the tasks are not.
      })
      .finally(() => {
        this.sending = false;
        if (this.queued.size > 0 || this.queuedLive.size > 0) this.sendQueued();
      });
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => {});
  }

  private get minBackoff(): number {
    return this.opts.minBackoffMs ?? 100;
  }

  private async connect(): Promise<void> {
    this.retryTimer = null;
    if (this.closed) return;
    const client = new pg.Client(postgresClientConfig(this.target));
    // Without an 'error' listener a connection the server closes would crash the process.
    client.on('error', () => this.dropped(client));
    client.on('end', () => this.dropped(client));
    client.on('notification', (n) => this.received(n));
    try {
      await client.connect();
      if (this.schema === null) {
        const { rows } = await client.query<{ name: string | null }>('select current_schema() as name');
        this.schema = this.target.schema ?? rows[0]?.name ?? 'public';
      }
      await client.query(`listen ${SCHEDULED_CHANNEL}; listen ${LIVE_CHANNEL}`);
    } catch (err) {
      client.removeAllListeners('end');
      await client.end().catch(() => {});
      this.opts.log.warn(
        { err, retryInMs: this.backoffMs },
        'PostgreSQL LISTEN connection failed; wake-ups from other nodes wait for the re-check until it is back',
      );
      this.scheduleReconnect();
      return;
    }
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
    this.connects++;
    this.backoffMs = this.minBackoff;
  }

  private dropped(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = null;
    if (this.closed) return;
    this.opts.log.warn({}, 'PostgreSQL LISTEN connection lost; reconnecting');
    void client.end().catch(() => {});
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.retryTimer !== null) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.opts.maxBackoffMs ?? 5000);
    this.retryTimer = setTimeout(() => void this.connect(), delay);
    // A pending reconnect must not keep a process alive that is otherwise done.
    this.retryTimer.unref();
  }

  /** `<nodeId> <schema> <type>`; the type is the rest, whatever it contains. */
  private received(n: pg.Notification): void {
    if ((n.channel !== SCHEDULED_CHANNEL && n.channel !== LIVE_CHANNEL) || !n.payload) return;
    const first = n.payload.indexOf(' ');
    const second = n.payload.indexOf(' ', first + 1);
    if (first < 0 || second < 0) return;
    if (n.payload.slice(0, first) === this.nodeId || n.payload.slice(first + 1, second) !== this.schema) return;
    if (n.channel === LIVE_CHANNEL) this.onLive?.(n.payload.slice(second + 1));
    else this.onType?.(n.payload.slice(second + 1));
  }
}
