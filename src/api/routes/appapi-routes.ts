import { type Clock, unixSeconds } from '../../core/clock.js';
import { DomainError } from '../../core/errors.js';
import { type ExAppCatalog, parseRegistration, type Registration, RegistrationError } from '../../core/exapp-catalog.js';
import type { ExApp, ExAppProvider, Store } from '../../store/store.js';
import type { OcsContext, OcsResult, OcsRoute } from '../ocs-route.js';
import { stringParam } from '../php-params.js';

export interface AppApiRouteDeps {
  store: Store;
  catalog: ExAppCatalog;
  clock: Clock;
}

const BASE = '/apps/app_api/api/v1/ai_provider/task_processing';

/**
 * AppAPI's provider registration routes (EXAPP.md §3): register (an upsert keyed by app and
 * provider id), read and delete, each only for the calling ExApp's own providers. Failures answer
 * upstream's bare `data: []`; a refused registration also carries its reason in meta.message,
 * which upstream only logs (clients ignore meta.message, and nc_py_api shows it in its exception).
 */
export function appApiRoutes(deps: AppApiRouteDeps): OcsRoute[] {
  const { store, catalog, clock } = deps;
  return [
    {
      method: 'POST',
      path: BASE,
      auth: 'appapi',
      handler: async (ctx) => {
        const app = callingApp(ctx);
        const { provider } = ctx.params;
        // A missing parameter reaches PHP as null; so does an explicit null.
        const custom = ctx.params.customTaskType ?? null;
        let registration: Registration;
        try {
          registration = parseRegistration(provider, custom);
          const taken = await catalog.providerIdConflict(app.appId, registration.info.id);
          if (taken !== undefined) throw new RegistrationError(taken);
        } catch (err) {
          if (!(err instanceof RegistrationError)) throw err;
          ctx.req.log.warn({ appId: app.appId, provider: providerName(provider), reason: err.message }, 'ExApp task-processing provider refused');
          return { status: 400, data: [], message: err.message };
        }
        const { info } = registration;
        await store.exapps.upsertProvider({
          appId: app.appId,
          providerId: info.id,
          displayName: info.name,
          taskType: info.taskType,
          provider: provider as Record<string, unknown>,
          customTaskType: custom as Record<string, unknown> | null,
          registeredAt: unixSeconds(clock),
        });
        catalog.invalidate();
        return { data: [] };
      },
    },
    {
      method: 'GET',
      path: BASE,
      auth: 'appapi',
      handler: async (ctx) => {
        const row = await store.exapps.getProvider(callingApp(ctx).appId, stringParam(ctx.params, 'name'));
        return row ? { data: providerRecord(row) } : NOT_FOUND;
      },
    },
    {
      method: 'DELETE',
      path: BASE,
      auth: 'appapi',
      handler: async (ctx) => {
        const deleted = await store.exapps.deleteProvider(callingApp(ctx).appId, stringParam(ctx.params, 'name'));
        if (!deleted) return NOT_FOUND;
        catalog.invalidate();
        return { data: [] };
      },
    },
  ];
}

const NOT_FOUND: OcsResult = Object.freeze({ status: 404, data: [] });

function callingApp(ctx: OcsContext): ExApp {
  // The 'appapi' auth mode has refused the request before the handler when there is no app.
  if (ctx.exApp === null) throw new DomainError('internal', 'AppAPI route reached without an ExApp');
  return ctx.exApp;
}

/**
 * TaskProcessingProvider::jsonSerialize: `name` is the provider id, `display_name` its name, and
 * the payloads are JSON strings ("null" without a custom type). Our strings are JSON.stringify of
 * what was sent; upstream's are PHP's re-encoding, which writes an empty `{}` as `[]`.
 */
function providerRecord(row: ExAppProvider): Record<string, unknown> {
  return {
    id: row.id,
    app_id: row.appId,
    name: row.providerId,
    display_name: row.displayName,
    task_type: row.taskType,
    provider: JSON.stringify(row.provider),
    custom_task_type: JSON.stringify(row.customTaskType),
  };
}

/** For the log line, as upstream's: the display name, or a placeholder when the payload has none. */
function providerName(provider: unknown): string {
  const name = (provider as Record<string, unknown> | null | undefined)?.name;
  return typeof name === 'string' ? name : '(no name found)';
}
