import { cannedFrom } from '../lib/ceiling.js';
import { type Ctx, type Node, interleavedLoad, userHeaders } from '../lib/context.js';
import { FloorServer, pushFloorRows } from '../lib/floor-server.js';
import { Http } from '../lib/http.js';
import { taskPath } from '../lib/worker-protocol.js';

/**
 * get: GET task/{id} as its owner, a random one of the bench user's tasks on every request, over
 * the large store. On SQLite the same rounds also load the read floor (read-floor-server.ts): a
 * bare server that reads the same row from the same file and answers the same bytes, nothing else.
 */
export async function getScenario(ctx: Ctx, big: Node): Promise<void> {
  const ids = big.install.seed?.benchTaskIds ?? [];
  if (ids.length === 0) throw new Error('get: the large store has no tasks of the bench user');
  const headers = userHeaders(big.install);
  const paths = ids.map(taskPath);
  const http = new Http(big.server.url, headers, 1);
  const real = await http.ok('GET', paths[Math.floor(paths.length / 2)] as string).finally(() => http.close());
  await ctx.ceiling.setRoutes([cannedFrom('GET', paths[0] as string, real)]);
  const floor = ctx.dialect === 'sqlite' ? await FloorServer.read(big.install.target.dataDir, real.body.toString('utf8')) : null;
  const res = await interleavedLoad(
    ctx,
    `get-${ctx.dialect}`,
    [{ key: 'ceiling', url: ctx.ceiling.url }, { key: 'taskproc', url: big.server.url }, ...(floor ? [{ key: 'floor', url: floor.url }] : [])],
    { method: 'GET', path: paths[0] as string, paths, headers, connections: ctx.opts.connections },
  ).finally(() => floor?.stop());
  ctx.rows.push({
    scenario: 'get',
    dialect: ctx.dialect,
    measure: `GET task/{id}, ${real.body.length}-byte answer, random of ${ids.length.toLocaleString('en-US')} ids, ${ctx.opts.sizes.bigStore.toLocaleString('en-US')} stored`,
    unit: 'req/s',
    values: (res.taskproc ?? []).map((r) => r.rps),
    ceiling: (res.ceiling ?? []).map((r) => r.rps),
    better: 'higher',
    target: { on: 'ratio', op: '>=', threshold: 0.6, text: '≥ 60 % of ceiling' },
  });
  if (floor)
    pushFloorRows(
      ctx,
      'get',
      'read floor: bare node:http + the same read by id from the same SQLite file (row JSON-encoded, same answer bytes), nothing else',
      res,
    );
}
