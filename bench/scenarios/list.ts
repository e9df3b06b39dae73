import { cannedFrom } from '../lib/ceiling.js';
import { type Ctx, type Node, OCS, interleavedLoad, userHeaders } from '../lib/context.js';
import { Http } from '../lib/http.js';
import { LIST_CUSTOM_ID, LIST_MATCHES } from '../lib/install.js';
import { ratios } from '../lib/stats.js';

const LIST = `${OCS}/tasks?customId=${LIST_CUSTOM_ID}&format=json`;

/**
 * list: GET tasks?customId= for the bench user, who owns 10 k tasks of the large store (100 of
 * the small one); the same LIST_MATCHES tasks match in both, so the answers are the same size
 * and any difference in cost comes from the stores' size.
 */
export async function listScenario(ctx: Ctx, small: Node, big: Node): Promise<void> {
  const headers = userHeaders(big.install);
  const http = new Http(big.server.url, headers, 1);
  const real = await http.ok('GET', LIST).finally(() => http.close());
  const found = JSON.parse(real.body.toString('utf8')).ocs.data.tasks.length;
  if (found !== LIST_MATCHES) throw new Error(`list: the large store answered ${found} tasks, expected ${LIST_MATCHES}`);
  await ctx.ceiling.setRoutes([cannedFrom('GET', LIST, real)]);
  const res = await interleavedLoad(
    ctx,
    `list-${ctx.dialect}`,
    [
      { key: 'ceiling', url: ctx.ceiling.url },
      { key: 'small', url: small.server.url, headers: userHeaders(small.install) },
      { key: 'big', url: big.server.url },
    ],
    { method: 'GET', path: LIST, headers, connections: ctx.opts.connections },
  );
  const ceiling = (res.ceiling ?? []).map((r) => r.rps);
  const smallRps = (res.small ?? []).map((r) => r.rps);
  const bigRps = (res.big ?? []).map((r) => r.rps);
  const { sizes } = ctx.opts;
  ctx.rows.push(
    {
      scenario: 'list',
      dialect: ctx.dialect,
      measure: `GET tasks?customId= (${LIST_MATCHES} of ${sizes.benchUserBig.toLocaleString('en-US')} own tasks), ${sizes.bigStore.toLocaleString('en-US')} stored`,
      unit: 'req/s',
      values: bigRps,
      ceiling,
      better: 'higher',
    },
    {
      scenario: 'list',
      dialect: ctx.dialect,
      measure: `same, ${sizes.smallStore.toLocaleString('en-US')} stored (${sizes.benchUserSmall} own tasks)`,
      unit: 'req/s',
      values: smallRps,
      ceiling,
      better: 'higher',
    },
    {
      scenario: 'list',
      dialect: ctx.dialect,
      measure: `cost at ${sizes.bigStore.toLocaleString('en-US')} / cost at ${sizes.smallStore.toLocaleString('en-US')} (same round)`,
      unit: '×',
      values: ratios(smallRps, bigRps),
      better: 'lower',
      target: { on: 'value', op: '<=', threshold: 1.3, text: '≤ 1.3×' },
    },
  );
}
