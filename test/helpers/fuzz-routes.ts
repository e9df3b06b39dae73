import { appApiRoutes } from '../../src/api/routes/appapi-routes.js';
import { capabilitiesRoutes } from '../../src/api/routes/capabilities-routes.js';
import { consumerRoutes } from '../../src/api/routes/consumer-routes.js';
import { providerRoutes } from '../../src/api/routes/provider-routes.js';
import { queueRoutes } from '../../src/api/routes/queue-routes.js';
import { userRoutes } from '../../src/api/routes/user-routes.js';
import type { RawRequest } from './fuzz-http.js';

/**
 * What the fuzz tests know about the server: every OCS route as the route files declare it and
 * the parameters each reads, the users, ExApp, tasks and files of the test server (`FuzzWorld`)
 * so that authenticated handlers are reached and not only refused at the door, and the encodings
 * requests are built with.
 */

export interface OcsRouteInfo {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  auth: string;
}

// The route factories only close over their dependencies; building the list calls no handler.
const NO_DEPS = {} as never;

/** Every OCS route (below /ocs/v1.php and /ocs/v2.php), from the route files. */
export const OCS_ROUTES: readonly OcsRouteInfo[] = [
  ...userRoutes(NO_DEPS),
  ...appApiRoutes(NO_DEPS),
  ...capabilitiesRoutes(),
  ...providerRoutes(NO_DEPS),
  ...consumerRoutes(NO_DEPS),
  ...queueRoutes(NO_DEPS),
  // The event streams (api/routes/event-routes.ts) are left out: a stream of an unfinished task does
  // not end, which a request-and-answer fuzzer cannot wait for; test/api/event-streams.test.ts covers
  // their refusals (bad Last-Event-ID, 401, 404, 429).
].map(({ method, path, auth }) => ({ method, path, auth }));

const USER_SCHEDULE = ['input', 'type', 'appId', 'customId', 'webhookUri', 'webhookMethod', 'includeWatermark', 'preferStreaming', 'priority'];
const RESULT = ['output', 'errorMessage', 'userFacingErrorMessage'];
const CLAIM = ['providerIds', 'taskTypeIds', 'wait'];

/**
 * The parameters each route's handler reads (besides `format`, which every route reads). A route
 * missing here fails the fuzz test, so a new route cannot go unfuzzed.
 */
export const ROUTE_PARAMS: Readonly<Record<string, readonly string[]>> = {
  'GET /taskprocessing/tasktypes': [],
  'POST /taskprocessing/schedule': USER_SCHEDULE,
  'GET /taskprocessing/task/:id': ['id'],
  'POST /taskprocessing/task/:id': ['id'],
  'DELETE /taskprocessing/task/:id': ['id'],
  'GET /taskprocessing/tasks/app/:appId': ['appId', 'customId'],
  'GET /taskprocessing/tasks': ['taskType', 'customId'],
  'POST /taskprocessing/tasks/:taskId/cancel': ['taskId'],
  'GET /taskprocessing/tasks/:taskId/queue_position': ['taskId'],
  'GET /taskprocessing/tasks/:taskId/file/:fileId': ['taskId', 'fileId'],
  'GET /taskprocessing/task/:id/file/:fileId': ['id', 'fileId'],
  'POST /taskprocessing/task/:id/cancel': ['id'],
  'GET /taskprocessing/queue_stats': ['taskTypeIds'],
  'POST /apps/app_api/api/v1/ai_provider/task_processing': ['provider', 'customTaskType'],
  'GET /apps/app_api/api/v1/ai_provider/task_processing': ['name'],
  'DELETE /apps/app_api/api/v1/ai_provider/task_processing': ['name'],
  'GET /cloud/capabilities': [],
  'GET /taskprocessing/tasks_provider/next': CLAIM,
  'GET /taskprocessing/tasks_provider/next_batch': [...CLAIM, 'numberOfTasks'],
  'GET /taskprocessing/tasks_provider/:taskId/file/:fileId': ['taskId', 'fileId'],
  'POST /taskprocessing/tasks_provider/:taskId/file': ['taskId'],
  'POST /taskprocessing/tasks_provider/:taskId/progress': ['taskId', 'progress'],
  'POST /taskprocessing/tasks_provider/:taskId/result': ['taskId', ...RESULT],
  'POST /taskprocessing/tasks_provider/:taskId/stream-result': ['taskId', 'output'],
  'GET /taskprocessing/task/:id/progress': ['id', 'progress'],
  'POST /taskprocessing/task/:id/result': ['id', ...RESULT],
  'GET /apps/taskproc/api/v1/tasks/:id/partial': ['id'],
  'GET /apps/taskproc/api/v1/openapi': [],
  'GET /apps/taskproc/api/v1/queue': ['taskTypeIds'],
  'GET /taskprocessing/tasks_consumer/tasktypes': [],
  'POST /taskprocessing/tasks_consumer/schedule': USER_SCHEDULE,
  'GET /taskprocessing/tasks_consumer/task/:id': ['id'],
  'DELETE /taskprocessing/tasks_consumer/task/:id': ['id'],
  'POST /taskprocessing/tasks_consumer/tasks/:taskId/cancel': ['taskId'],
};

export const routeKey = (r: OcsRouteInfo): string => `${r.method} ${r.path}`;

/** Every parameter name some route reads. */
export const ALL_PARAMS = [...new Set(['format', ...Object.values(ROUTE_PARAMS).flat(), 'numberOfTasks', 'name'])];

/** What the fuzz needs to know about the server it talks to. */
export interface FuzzWorld {
  port: number;
  /** Authorization header values. */
  alice: string;
  aliceBearer: string;
  alicePassword: string;
  bob: string;
  admin: string;
  guest: string;
  /** AppAPI headers of the fuzz ExApp, acting for `user` (none: no user context). */
  exApp(user?: string): [string, string][];
  exAppId: string;
  exAppSecret: string;
  /** The ExApp's provider and its custom task type (Number, Text, Enum, File and list slots). */
  provider: string;
  taskType: string;
  /** Tasks: alice's (scheduled for the ExApp, claimed by it, finished by the runner), bob's. */
  ids: { scheduled: number; claimed: number[]; finished: number; bob: number; withFile: number };
  /** A file of alice's, referenced by the `withFile` task. */
  fileId: number;
  /** A valid anonymous session cookie value. */
  anonCookie: string;
}

/** One request to send, and whether the client stops writing after `cutAfter` bytes (then no answer is owed). */
export interface FuzzCase {
  name: string;
  request: RawRequest;
  cutAfter?: number;
  /** Bytes sent right after the request on the same connection (pipelined), owed an answer of their own. */
  pipelined?: string;
}

// Encodings

/** Percent-encodes the UTF-8 bytes of `s` (a lone surrogate becomes U+FFFD, as any UTF-8 encoder does). */
export function pct(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-_.~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** PHP-style form encoding (`a[b][0]=x`), the inverse of parse_str for what it can express. */
export function phpForm(params: Record<string, unknown>): string {
  const pairs: string[] = [];
  const walk = (name: string, value: unknown, depth: number): void => {
    if (value === null || value === undefined) pairs.push(name);
    else if (typeof value === 'object' && depth < 2000) {
      for (const [k, v] of Object.entries(value as object)) walk(`${name}[${pct(k)}]`, v, depth + 1);
    } else pairs.push(`${name}=${pct(String(value))}`);
  };
  for (const [k, v] of Object.entries(params)) walk(pct(k), v, 0);
  return pairs.join('&');
}

/** A multipart/form-data body of PHP-named fields (what forms and nc_py_api's uploads send). */
export function multipart(boundary: string, fields: [string, string][], file?: { name: string; data: string }): string {
  let out = '';
  for (const [name, value] of fields) out += `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  if (file) {
    out += `--${boundary}\r\nContent-Disposition: form-data; name="${file.name}"; filename="f.txt"\r\n`;
    out += `Content-Type: text/plain\r\n\r\n${file.data}\r\n`;
  }
  return `${out}--${boundary}--\r\n`;
}

/** Nested arrays (or objects under `a`) `depth` levels deep, built without recursion. */
export function nested(depth: number, kind: 'array' | 'object' = 'array'): unknown {
  let v: unknown = 'bottom';
  for (let i = 0; i < depth; i++) v = kind === 'array' ? [v] : { a: v };
  return v;
}

/** The same as JSON text, for depths JSON.stringify cannot reach. */
export function nestedJson(depth: number, kind: 'array' | 'object' = 'array'): string {
  return kind === 'array' ? `${'['.repeat(depth)}1${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

export function flatFields(params: Record<string, unknown>): [string, string][] {
  return phpForm(params)
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      const bytes = (s: string) => s.replace(/%([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
      const dec = (s: string) => Buffer.from(bytes(s), 'latin1').toString('utf8');
      return eq < 0 ? [dec(p), ''] : [dec(p.slice(0, eq)), dec(p.slice(eq + 1))];
    });
}

// Shared pieces of requests

export const OCS_API = ['OCS-APIRequest', 'true'] as [string, string];

/** The caller a route wants: the right credentials for its auth mode. */
export function rightAuth(w: FuzzWorld, route: OcsRouteInfo): [string, string][] {
  switch (route.auth) {
    case 'admin':
      return [['Authorization', w.admin]];
    case 'exapp':
    case 'appapi':
      return route.path.includes('tasks_consumer') ? w.exApp('alice') : w.exApp();
    case 'public':
      return [];
    default:
      return [['Authorization', w.alice]];
  }
}

/** Valid values for every parameter, so that one wrong value at a time reaches its check. */
export function validParams(w: FuzzWorld): Record<string, unknown> {
  return {
    input: { input: 'fuzz', number: 3, choice: 'a', texts: ['x'] },
    type: w.taskType,
    appId: 'fuzz',
    customId: 'fuzz',
    includeWatermark: true,
    taskType: w.taskType,
    taskTypeIds: [w.taskType],
    providerIds: [w.provider],
    numberOfTasks: 1,
    wait: 0,
    progress: 0.5,
    output: { output: 'done' },
    name: w.provider,
  };
}

/** A route's path with its placeholders filled in order. */
export function fillPath(path: string, ids: string[]): string {
  let i = 0;
  return path.replace(/:[A-Za-z]+/g, () => ids[i++ % ids.length] ?? '0');
}

/** Real ids first for the route's caller, so deep handlers are reached. */
export function realIds(w: FuzzWorld, route: OcsRouteInfo): string[] {
  if (route.path.includes('/file/')) return [String(w.ids.withFile), String(w.fileId)];
  if (route.path.includes('tasks_provider') || route.path.endsWith('/progress') || route.path.endsWith('/result')) {
    return [String(w.ids.claimed[0] ?? w.ids.scheduled)];
  }
  return [String(w.ids.finished)];
}
