import { badRequest } from '../../core/errors.js';
import type { QueueParty, TaskStore, TypeQueue } from '../../store/store.js';
import type { OcsRoute } from '../ocs-route.js';
import { stringListParam } from '../php-params.js';

export interface QueueRouteDeps {
  tasks: TaskStore;
}

const EXT = '/apps/taskproc/api/v1';

/** Most task types one call may name, as queue_stats (each is bound once per statement). */
const MAX_TYPES = 1000;

/**
 * Parties listed per type: the answer stays small and its party count cheap to rank however many
 * users wait; the others are counted in `otherParties` and `otherPartiesScheduled`.
 */
export const MAX_PARTIES = 100;

/**
 * The queues as admins see them (issue 22): beside upstream's `queue_stats`, which keeps its answer,
 * the waiting tasks of each type per priority and per party (docs/ARCHITECTURE.md "Dispatch order").
 * Anonymous sessions appear together as one "anonymous" party: their cookie hashes are never shown.
 */
export function queueRoutes(deps: QueueRouteDeps): OcsRoute[] {
  return [
    {
      method: 'GET',
      path: `${EXT}/queue`,
      auth: 'admin',
      handler: async (ctx) => {
        // As queue_stats: absent or null means every type; duplicates count once.
        const types = ctx.params.taskTypeIds == null ? [] : [...new Set(stringListParam(ctx.params, 'taskTypeIds'))];
        if (types.length > MAX_TYPES) throw badRequest(`Parameter "taskTypeIds" must name at most ${MAX_TYPES} task types`);
        const queues = await deps.tasks.queueBreakdown(types, MAX_PARTIES);
        return { data: { types: queues.map(queueJson) } };
      },
    },
  ];
}

function queueJson(q: TypeQueue) {
  return {
    taskTypeId: q.type,
    scheduled: q.scheduled,
    running: q.running,
    byPriority: q.byPriority,
    byParty: q.byParty.map(partyJson),
    otherParties: q.otherParties,
    otherPartiesScheduled: q.otherPartiesScheduled,
  };
}

/** `party` is a label for people: the user id, "anonymous", or "app:<appId>"; `kind` tells them apart. */
function partyJson(p: QueueParty) {
  const party = p.kind === 'user' ? (p.id as string) : p.kind === 'anonymous' ? 'anonymous' : `app:${p.id}`;
  return { party, kind: p.kind, scheduled: p.scheduled };
}
