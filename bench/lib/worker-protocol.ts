/**
 * The requests of the worker scenarios (claim, pipeline, pickup), shared by the taskproc runs and
 * the ceiling runs so that both send the same bytes: schedule as the bench user, next_batch and
 * result as the bench ExApp (AppAPI headers, JSON body on GET as nc_py_api sends it), and GET task.
 */
import { type CannedRoute, batchTemplate, cannedFrom } from './ceiling.js';
import { OCS, type Node, userHeaders } from './context.js';
import { Http, type Reply, appApiHeaders } from './http.js';
import { BENCH_APP, CLIENT_APP_ID, ECHO_PROVIDER, ECHO_TYPE, type Install } from './install.js';
import { INPUT_TEXT } from './seed.js';

export const SCHEDULE = `${OCS}/schedule?format=json`;
export const NEXT_BATCH = `${OCS}/tasks_provider/next_batch?format=json`;
export const resultPath = (id: number) => `${OCS}/tasks_provider/${id}/result?format=json`;
export const taskPath = (id: number) => `${OCS}/task/${id}?format=json`;

export const scheduleBody = (customId: string, type = ECHO_TYPE): string =>
  JSON.stringify({ type, appId: CLIENT_APP_ID, customId, input: { input: INPUT_TEXT } });

export const resultBody = (id: number): string =>
  JSON.stringify({ taskId: id, output: { output: `done ${id}` }, errorMessage: null, userFacingErrorMessage: null });

/**
 * A claim of up to `n` tasks, waiting up to `wait` seconds (0: answer at once). The x-bench-*
 * headers tell the ceiling what taskproc reads from the body; taskproc ignores them.
 */
export function claimRequest(n: number, wait: number): { body: string; headers: Record<string, string> } {
  const json: Record<string, unknown> = { providerIds: [ECHO_PROVIDER], taskTypeIds: [ECHO_TYPE], numberOfTasks: n };
  if (wait > 0) json.wait = wait;
  return { body: JSON.stringify(json), headers: { 'x-bench-n': String(n), 'x-bench-wait': String(wait) } };
}

export const clientHttp = (url: string, install: Install, sockets: number): Http => new Http(url, userHeaders(install), sockets);
export const workerHttp = (url: string, install: Install, sockets: number): Http => new Http(url, appApiHeaders(BENCH_APP, install.appSecret), sockets);

const json = (r: Reply): any => JSON.parse(r.body.toString('utf8'));

/** The task id of a schedule answer. */
export const scheduledId = (r: Reply): number => Number(json(r).ocs.data.task.id);

/**
 * The task ids of a next_batch answer. The ceiling's tasks are emulated: it says how many it
 * handed out in x-bench-count, and the caller makes up their ids.
 */
export function claimedIds(r: Reply, ceiling: boolean, makeId: () => number): number[] {
  if (ceiling) return Array.from({ length: Number(r.headers['x-bench-count'] ?? 0) }, makeId);
  return (json(r).ocs.data.tasks as { task: { id: number } }[]).map((t) => Number(t.task.id));
}

/**
 * One real answer of each worker-scenario route, from a task taken through its whole life on
 * `node`, turned into the ceiling's canned answers (schedule queues, next_batch claims). With
 * `othersQueued` (the claim scenario's stores, where 1 000 users wait ahead of the bench user in the
 * fair queue) the claim hands out another user's task: its claim and result answers are canned (the
 * same route, the same shape), and the GET is of the bench user's own task, still queued.
 */
export async function captureWorkerRoutes(node: Node, othersQueued = false): Promise<CannedRoute[]> {
  const client = clientHttp(node.server.url, node.install, 1);
  const worker = workerHttp(node.server.url, node.install, 1);
  try {
    const s = await client.ok('POST', SCHEDULE, scheduleBody('capture'));
    const id = scheduledId(s);
    const claim = claimRequest(1, 0);
    const b = await worker.ok('GET', NEXT_BATCH, claim.body, claim.headers);
    const claimed = claimedIds(b, false, () => 0);
    const got = claimed[0];
    if (got === undefined || claimed.length !== 1 || (!othersQueued && got !== id))
      throw new Error(`capture: next_batch handed out ${JSON.stringify(claimed)}, expected [${othersQueued ? 'one task' : id}]`);
    const r = await worker.ok('POST', resultPath(got), resultBody(got));
    const g = await client.ok('GET', taskPath(id));
    const want = got === id ? 'STATUS_SUCCESSFUL' : 'STATUS_SCHEDULED';
    if (!g.body.toString('utf8').includes(`"status":"${want}"`))
      throw new Error(`capture: task ${id} is not ${want}: ${g.body.toString('utf8').slice(0, 300)}`);
    return [
      cannedFrom('POST', SCHEDULE, s, { queue: 'push' }),
      cannedFrom('GET', NEXT_BATCH, b, { queue: 'pop', batch: batchTemplate(b.body.toString('utf8')) }),
      cannedFrom('POST', resultPath(got), r),
      cannedFrom('GET', taskPath(id), g),
    ];
  } finally {
    client.close();
    worker.close();
  }
}
