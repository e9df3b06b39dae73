import { DomainError } from '../core/errors.js';
import type { ExApp, ExAppStore, User, UserStore } from '../store/store.js';
import type { LoginThrottle } from './login-throttle.js';
import { constantTimeEqual } from './passwords.js';
import { sha256Hex } from './sha256.js';

export interface AppApiIdentity {
  app: ExApp;
  /** The user named in AUTHORIZATION-APP-API, or null for "no user context". */
  user: User | null;
}

type Headers = Record<string, string | string[] | undefined>;

const header = (h: Headers, name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

/** True when the request tries AppAPI authentication at all (then it must succeed or fail as such). */
export function hasAppApiHeaders(h: Headers): boolean {
  return header(h, 'ex-app-id') !== undefined || header(h, 'authorization-app-api') !== undefined;
}

/** The hash an ExApp secret is kept under; secrets are long random strings, so sha-256 suffices. */
export function secretHash(secret: string): string {
  return sha256Hex(secret);
}

/**
 * AppAPI's check of an ExApp request (EXAPP.md §1): a known, enabled app; a non-empty
 * EX-APP-VERSION (a higher one is stored, as AppAPI does); AUTHORIZATION-APP-API =
 * base64("<user>:<secret>") with the right secret; a named user must exist and be enabled.
 * AA-VERSION is accepted and ignored, as AppAPI ignores it. The secret check is a login attempt of
 * the LoginThrottle naming the app as its account, like a password naming its login.
 */
export class AppApiAuthenticator {
  constructor(
    private readonly apps: ExAppStore,
    private readonly users: UserStore,
    private readonly throttle: LoginThrottle,
  ) {}

  async authenticate(h: Headers, ip: string): Promise<AppApiIdentity> {
    const appId = header(h, 'ex-app-id') ?? '';
    const version = header(h, 'ex-app-version') ?? '';
    const authorization = header(h, 'authorization-app-api') ?? '';
    // A request that presents no secret is refused without counting: nothing was guessed.
    if (appId === '') throw fail('the EX-APP-ID header is missing');
    if (version === '') throw fail('the EX-APP-VERSION header is missing');
    if (authorization === '') throw fail('the AUTHORIZATION-APP-API header is missing');
    const decoded = Buffer.from(authorization, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw fail('AUTHORIZATION-APP-API is not base64("<user>:<secret>")');
    const userId = decoded.slice(0, colon);
    const secret = decoded.slice(colon + 1);

    // The secret is all that can be guessed. Concurrent requests of one app share one check,
    // whichever user they act for (an ExApp serving many users at once is not throttled).
    const credential = sha256Hex(JSON.stringify([appId, secret]));
    const app = await this.throttle.attempt(ip, appId, credential, () => this.checkSecret(appId, secret));
    if (!app.enabled) throw fail(`the ExApp "${appId}" is disabled`);
    if (compareVersions(version, app.version) > 0) {
      await this.apps.updateExApp(appId, { version });
      app.version = version;
    }
    if (userId === '') return { app, user: null };
    const user = await this.users.getUser(userId);
    if (!user?.enabled) throw fail(`the user "${userId}" does not exist or is disabled`);
    return { app, user };
  }

  private async checkSecret(appId: string, secret: string): Promise<ExApp> {
    const app = await this.apps.getExApp(appId);
    // One message for unknown apps and wrong secrets, so the answer does not reveal which apps exist.
    if (!app || !constantTimeEqual(app.secretHash, secretHash(secret))) throw fail('unknown ExApp or wrong secret');
    return app;
  }
}

const fail = (why: string) => new DomainError('not_logged_in', `AppAPI authentication failed: ${why}`);

/** PHP's version_compare for the plain dotted numbers ExApps use ("1.2.10" > "1.2.9"). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.\-+]/).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  const pb = b.split(/[.\-+]/).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0;
    const y = pb[i] ?? 0;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x < y ? -1 : 1;
    // A number outranks a pre-release word ("1.0" > "1.0-beta"), as version_compare has it.
    if (typeof x === 'number') return 1;
    if (typeof y === 'number') return -1;
    return x < y ? -1 : 1;
  }
  return 0;
}
