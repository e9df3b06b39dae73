/** How recently a connection must have polled to count as a live worker. */
export const PRESENCE_WINDOW_MS = 60_000;
/** Most connections remembered per ExApp; past it the longest silent one is forgotten first. */
const MAX_SOCKETS_PER_APP = 10_000;
/** Most ExApps remembered; past it the one silent longest is forgotten first. */
const MAX_APPS = 1_000;

/** What is known of one ExApp's workers at a moment. */
export interface AppPresence {
  appId: string;
  /** Connections that polled (next, next_batch) within the window: one per worker process, as workers keep their connection. */
  liveWorkers: number;
  /** Seconds since any of its connections last polled (0 for one that polls now). */
  secondsSinceLastPoll: number;
}

/**
 * Which ExApps have workers polling this node, and how many: each poll reports its app and its
 * connection. A worker is a connection that polled within the last 60 s; a connection's key is the
 * caller's choice (address and port of the socket). Memory is bounded: connections that fell out
 * of the window are dropped as new polls arrive (oldest first, since a Map keeps the order of
 * last polls), and past the caps the longest silent ones go. Apps are remembered after their
 * workers go quiet, so `secondsSinceLastPoll` keeps growing for a worker that died.
 * Per node: with several nodes, each knows only the polls it answered.
 */
export class WorkerPresence {
  /** appId → (socket key → ms of its last poll), both in order of last poll, oldest first. */
  private readonly apps = new Map<string, Map<string, number>>();
  private readonly lastPollMs = new Map<string, number>();

  constructor(private readonly windowMs = PRESENCE_WINDOW_MS) {}

  seen(appId: string, socketKey: string, nowMs: number): void {
    let sockets = this.apps.get(appId);
    if (sockets) this.apps.delete(appId);
    else sockets = new Map();
    this.apps.set(appId, sockets);
    this.lastPollMs.delete(appId);
    this.lastPollMs.set(appId, nowMs);
    sockets.delete(socketKey);
    sockets.set(socketKey, nowMs);
    dropExpired(sockets, nowMs - this.windowMs);
    if (sockets.size > MAX_SOCKETS_PER_APP) sockets.delete(sockets.keys().next().value as string);
    if (this.apps.size > MAX_APPS) {
      const oldest = this.apps.keys().next().value as string;
      this.apps.delete(oldest);
      this.lastPollMs.delete(oldest);
    }
  }

  /** Every app seen (by app id), with its connections that polled within the window at `nowMs`. */
  snapshot(nowMs: number): AppPresence[] {
    const out: AppPresence[] = [];
    for (const [appId, sockets] of this.apps) {
      dropExpired(sockets, nowMs - this.windowMs);
      const last = this.lastPollMs.get(appId) ?? nowMs;
      out.push({ appId, liveWorkers: sockets.size, secondsSinceLastPoll: Math.max(0, (nowMs - last) / 1000) });
    }
    return out.sort((a, b) => (a.appId < b.appId ? -1 : a.appId > b.appId ? 1 : 0));
  }
}

/** Drops the entries polled at or before `cutoffMs`; they are the first ones, in order of last poll. */
function dropExpired(sockets: Map<string, number>, cutoffMs: number): void {
  for (const [key, at] of sockets) {
    if (at > cutoffMs) return;
    sockets.delete(key);
  }
}
