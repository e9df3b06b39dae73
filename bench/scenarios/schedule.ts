import { cannedFrom } from '../lib/ceiling.js';
import { type Ctx, type Node, interleavedLoad, userHeaders } from '../lib/context.js';
import { Http } from '../lib/http.js';
import { FloorServer, pushFloorRows, pushRatioRow } from '../lib/floor-server.js';
import { SCHED_TYPE } from '../lib/install.js';
import { SCHEDULE, scheduleBody } from '../lib/worker-protocol.js';

/**
 * schedule: POST schedule as the bench user (Basic auth with an app password) with a ~300-byte
 * input; every 200 is a durable insert. The type is one no worker serves, so the tasks stay queued.
 *
 * On SQLite the same rounds also measure the insert floor (bench/lib/insert-floor-server.ts): a
 * bare server doing nothing but the durable, group-committed insert into the same table. The
 * distance from the ceiling to the floor is the disk and the table; from the floor to taskproc,
 * our request path. A second floor does the same with a table of one text column
 * (`one-column`): the durable group commit with next to no row to write, which bounds what any
 * server reaches here without loosening what a 200 promises.
 */
export async function scheduleScenario(ctx: Ctx, node: Node): Promise<void> {
  const headers = { ...userHeaders(node.install), 'content-type': 'application/json' };
  const body = scheduleBody('schedule-bench', SCHED_TYPE);
  const http = new Http(node.server.url, headers, 1);
  const real = await http.ok('POST', SCHEDULE, body).finally(() => http.close());
  await ctx.ceiling.setRoutes([cannedFrom('POST', SCHEDULE, real)]);
  const answer = real.body.toString('utf8');
  const floor = ctx.dialect === 'sqlite' ? await FloorServer.insert(answer) : null;
  const oneColumn = ctx.dialect === 'sqlite' ? await FloorServer.insert(answer, 'one-column') : null;
  const res = await interleavedLoad(
    ctx,
    `schedule-${ctx.dialect}`,
    [
      { key: 'ceiling', url: ctx.ceiling.url },
      { key: 'taskproc', url: node.server.url },
      ...(floor ? [{ key: 'floor', url: floor.url }] : []),
      ...(oneColumn ? [{ key: 'one-column', url: oneColumn.url }] : []),
    ],
    { method: 'POST', path: SCHEDULE, headers, body, connections: ctx.opts.connections },
  ).finally(() => Promise.all([floor?.stop(), oneColumn?.stop()]));
  ctx.rows.push({
    scenario: 'schedule',
    dialect: ctx.dialect,
    measure: `POST schedule, ${Buffer.byteLength(body)}-byte body, durable insert`,
    unit: 'req/s',
    values: (res.taskproc ?? []).map((r) => r.rps),
    ceiling: (res.ceiling ?? []).map((r) => r.rps),
    better: 'higher',
    ...(ctx.dialect === 'sqlite' && { target: { on: 'ratio', op: '>=', threshold: 0.5, text: '≥ 50 % of ceiling' } }),
  });
  if (floor)
    pushFloorRows(ctx, 'schedule', 'insert floor: bare node:http + the same durable insert into the tasks table (group commit, FULL), nothing else', res);
  if (oneColumn) {
    const measure = 'one-column floor: the insert floor with a table of one text column and its key instead of tasks (group commit, FULL)';
    pushRatioRow(ctx, 'schedule', measure, res, 'one-column', 'ceiling');
  }
}
