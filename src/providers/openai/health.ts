import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { BackendConfig } from './backends.js';

/** After a sign of misconfiguration the back end stays unavailable this long before it is checked again. */
export const RECHECK_MS = 60_000;
const PROBE_TIMEOUT_MS = 10_000;
/** Error codes that mean nothing listens at the configured address (a wrong URL, or the server is down). */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

type ProbeResult = 'ok' | 'auth' | 'unreachable' | 'unknown';

export interface HealthDeps {
  /** Milliseconds; injected so tests can pass the 60 s re-check without waiting. */
  now(): number;
  log(message: string): void;
}

/**
 * Whether a back end can be used, shared by all providers of that back end. Optimistic: a back end
 * is available until something shows it is misconfigured (a 401/403, or nothing listening), so a
 * slow probe never hides task types. While it is down its task types drop out of /tasktypes; the
 * first availability check after RECHECK_MS probes GET /models again and brings it back on success.
 */
export class BackendHealth {
  private downUntil: number | null = null;
  private probing: Promise<void> | null = null;
  private probedOnce = false;

  constructor(
    private readonly backend: BackendConfig,
    private readonly deps: HealthDeps,
  ) {}

  isAvailable(): boolean {
    // The first check starts the start-up probe: constructing providers (the CLI does) sends nothing.
    if (!this.probedOnce) {
      this.probedOnce = true;
      void this.probe();
    }
    if (this.downUntil === null) return true;
    if (this.deps.now() >= this.downUntil) void this.probe();
    return false;
  }

  /** A request showed the back end is misconfigured or unreachable. */
  markDown(reason: string): void {
    if (this.downUntil === null) {
      this.deps.log(
        `OpenAI-compatible back end "${this.backend.name}" (${this.backend.baseUrl}) is unavailable: ${reason}. Its task types are hidden; it is checked again in ${RECHECK_MS / 1000} s.`,
      );
    }
    this.downUntil = this.deps.now() + RECHECK_MS;
  }

  markUp(): void {
    if (this.downUntil !== null) this.deps.log(`OpenAI-compatible back end "${this.backend.name}" (${this.backend.baseUrl}) is available again.`);
    this.downUntil = null;
  }

  /** Runs one probe (or joins the running one) and applies its result. */
  probe(): Promise<void> {
    this.probing ??= probeModels(this.backend)
      .then((result) => {
        if (result === 'ok') this.markUp();
        else if (result === 'auth') this.markDown('GET /models was refused (HTTP 401/403): check its API key');
        else if (result === 'unreachable') this.markDown('nothing answers at its base URL');
        // 'unknown' (a time-out, an odd status) proves nothing: an available back end stays so, a
        // down one waits for the next check.
        else if (this.downUntil !== null) this.downUntil = this.deps.now() + RECHECK_MS;
      })
      .finally(() => {
        this.probing = null;
      });
    return this.probing;
  }
}

/**
 * GET <baseUrl>/models with plain node:http rather than the OpenAI client: its socket is unref'd,
 * so an admin command that built the providers exits at once instead of waiting for the answer.
 * Only the status matters; a back end without /models (404) is not misconfigured.
 */
function probeModels(backend: BackendConfig): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const url = new URL(`${backend.baseUrl}/models`);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (backend.apiKey !== null) headers.authorization = `Bearer ${backend.apiKey}`;
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { method: 'GET', headers, timeout: PROBE_TIMEOUT_MS });
    req.on('socket', (socket) => socket.unref());
    req.on('response', (res) => {
      res.resume();
      req.destroy();
      const status = res.statusCode ?? 0;
      resolve(status === 401 || status === 403 ? 'auth' : status >= 200 && status < 300 ? 'ok' : 'unknown');
    });
    req.on('timeout', () => {
      req.destroy();
      resolve('unknown');
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(UNREACHABLE_CODES.has(err.code ?? '') ? 'unreachable' : 'unknown'));
    req.end();
  });
}
