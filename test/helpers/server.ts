import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, type App, type AppOptions } from '../../src/app.js';
import { hashPassword, randomToken, tokenHash } from '../../src/auth/passwords.js';
import { configWith, type Config } from '../../src/config.js';
import { secretHash } from '../../src/auth/appapi.js';
import { unixSeconds } from '../../src/core/clock.js';
import { HttpWorker } from './http-worker.js';
import { assertMatchesSpec } from './openapi.js';
import { createTestSchema, TEST_DIALECT, type TestSchema } from './store.js';

export interface TestUser {
  uid: string;
  password: string;
  appPassword: string;
  /** Authorization header with the app password (cheap: no argon2). */
  auth: string;
  /** Authorization header with the login password. */
  passwordAuth: string;
}

export interface OcsRequest {
  auth?: string | null;
  body?: unknown;
  /** Sent as application/x-www-form-urlencoded instead of JSON. */
  form?: string;
  headers?: Record<string, string>;
  /** Default: `?format=json` is added unless `format: null` or 'xml'. */
  format?: 'json' | 'xml' | null;
  /** Validate a 200 JSON body against the OpenAPI spec (default true). */
  spec?: boolean;
}

export interface OcsResponse {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON body, when it is JSON. */
  json: any;
}

export interface TestServer {
  url: string;
  app: App;
  dir: string;
  admin: TestUser;
  addUser(uid: string, opts?: { admin?: boolean; guest?: boolean; enabled?: boolean }): Promise<TestUser>;
  /**
   * Registers an enabled ExApp (once; its secret is `<appId>-secret-0123456789` unless given) and
   * returns a worker speaking for it, acting for `userId` when one is given.
   */
  addExApp(appId: string, opts?: { secret?: string; userId?: string }): Promise<HttpWorker>;
  ocs(method: string, path: string, req?: OcsRequest): Promise<OcsResponse>;
  /** Stops the server, keeping the data directory (for restart tests). */
  stop(): Promise<void>;
  close(): Promise<void>;
}

export const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/**
 * The PostgreSQL schema of each data directory a server was started on, so a restart on the same
 * `dir` finds its database again, as it finds the SQLite file there.
 */
const schemas = new Map<string, TestSchema>();

/**
 * Starts the real server on an ephemeral port over a fresh data directory (or `dir`), on the
 * database TASKPROC_TEST_DIALECT names: the SQLite file in the directory, or a fresh PostgreSQL
 * schema (files still go to the directory). `stop()` keeps both for a restart; `close()` removes both.
 */
export async function startServer(opts: Partial<Omit<AppOptions, 'config'>> & { config?: Partial<Config>; dir?: string } = {}): Promise<TestServer> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'taskproc-test-')));
  let schema: TestSchema | undefined;
  if (TEST_DIALECT === 'postgres') {
    schema = schemas.get(dir) ?? (await createTestSchema());
    schemas.set(dir, schema);
  }
  const dropSchema = async () => {
    schemas.delete(dir);
    await schema?.drop();
  };
  const adminPassword = 'admin-password-for-tests';
  let app: App;
  try {
    app = await createApp({
      providers: [],
      leaseIntervalMs: 50,
      runnerPollMs: 50,
      ...opts,
      config: configWith({
        port: 0,
        dataDir: dir,
        ...(schema && { databaseUrl: schema.url }),
        adminPassword,
        logLevel: 'silent',
        runnerConcurrency: 2,
        ...opts.config,
      }),
    });
  } catch (error) {
    if (!opts.dir) {
      await dropSchema();
      await rm(dir, { recursive: true, force: true });
    }
    throw error;
  }
  const url = await app.listen();

  const addUser: TestServer['addUser'] = async (uid, o = {}) => {
    const password = `pw-${uid}-${randomToken(8)}`;
    if (!(await app.store.users.getUser(uid))) {
      await app.store.users.createUser({
        id: uid,
        displayName: uid,
        passwordHash: await hashPassword(password),
        isAdmin: o.admin ?? false,
        isGuest: o.guest ?? false,
        enabled: o.enabled ?? true,
        createdAt: unixSeconds({ nowMs: () => Date.now() }),
      });
    }
    const appPassword = randomToken(72);
    await app.store.users.createAppPassword({ userId: uid, tokenHash: tokenHash(appPassword), name: 'test', createdAt: 0 });
    return { uid, password, appPassword, auth: basic(uid, appPassword), passwordAuth: basic(uid, password) };
  };

  const addExApp: TestServer['addExApp'] = async (appId, o = {}) => {
    const secret = o.secret ?? `${appId}-secret-0123456789`;
    if (!(await app.store.exapps.getExApp(appId))) {
      const row = { appId, version: '1.0.0', secretHash: secretHash(secret), sealedSecret: null, baseUrl: null, enabled: true, createdAt: 0 };
      await app.store.exapps.createExApp(row);
    }
    return new HttpWorker(url, appId, secret, o.userId === undefined ? {} : { userId: o.userId });
  };

  const ocs: TestServer['ocs'] = async (method, path, r = {}) => {
    const headers: Record<string, string> = { 'OCS-APIRequest': 'true', ...r.headers };
    if (r.auth) headers.authorization = r.auth;
    let body: string | undefined;
    if (r.form !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = r.form;
    } else if (r.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
    }
    const format = r.format === undefined ? 'json' : r.format;
    const sep = path.includes('?') ? '&' : '?';
    const full = `${url}${path}${format ? `${sep}format=${format}` : ''}`;
    const res = await fetch(full, { method, headers, body });
    const text = await res.text();
    let json: any;
    if ((res.headers.get('content-type') ?? '').includes('json') && text !== '') json = JSON.parse(text);
    if (
      r.spec !== false &&
      res.status === 200 &&
      json?.ocs &&
      path.includes('/taskprocessing/') &&
      (r.auth !== undefined || json.ocs.meta.statuscode !== 997)
    ) {
      if ([100, 200].includes(json.ocs.meta.statuscode)) assertMatchesSpec(method, path, 200, json);
    }
    return { status: res.status, headers: res.headers, text, json };
  };

  const admin = { ...(await addUser('admin')), password: adminPassword, passwordAuth: basic('admin', adminPassword) };
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await app.close();
  };
  return {
    url,
    app,
    dir,
    admin,
    addUser,
    addExApp,
    ocs,
    stop,
    async close() {
      await stop();
      await dropSchema();
      if (!opts.dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls GET task/{id} as `user` until the task has `status`; fails after ~4 s. */
export async function waitForStatus(s: TestServer, user: TestUser, id: number, status: string): Promise<any> {
  for (let i = 0; i < 400; i++) {
    const r = await s.ocs('GET', `/ocs/v2.php/taskprocessing/task/${id}`, { auth: user.auth });
    if (r.json.ocs.data.task.status === status) return r.json.ocs.data.task;
    await new Promise((res) => setTimeout(res, 10));
  }
  throw new Error(`task ${id} did not reach ${status}`);
}
