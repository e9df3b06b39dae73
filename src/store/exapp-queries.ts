import type { Kysely, Selectable } from 'kysely';
import { DomainError } from '../core/errors.js';
import type { Database, ExAppProvidersTable, ExAppsTable } from './database.js';
import type { DialectCapabilities } from './dialects.js';
import type { ExApp, ExAppProvider, ExAppStore } from './store.js';
import { ReadCache } from './read-cache.js';
import { compareText } from './text-order.js';

export class KyselyExAppStore implements ExAppStore {
  /** getExApp runs on every worker request; see ReadCache for when it answers from memory. */
  private readonly reads: ReadCache<string, ExApp>;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly caps: DialectCapabilities,
    externalChanges: (() => number) | null = null,
  ) {
    this.reads = new ReadCache(externalChanges);
  }

  async createExApp(app: ExApp): Promise<ExApp> {
    return this.reads.changing(async () => {
      try {
        const row = await this.db
          .insertInto('exapps')
          .values({
            app_id: app.appId,
            version: app.version,
            secret_hash: app.secretHash,
            sealed_secret: app.sealedSecret,
            base_url: app.baseUrl,
            enabled: app.enabled ? 1 : 0,
            created_at: app.createdAt,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        return toExApp(row);
      } catch (err) {
        if (this.caps.isUniqueViolation(err)) throw new DomainError('bad_request', `The ExApp "${app.appId}" is already registered`);
        throw err;
      }
    });
  }

  async getExApp(appId: string): Promise<ExApp | undefined> {
    return this.reads.get(appId, async () => {
      const row = await this.db.selectFrom('exapps').selectAll().where('app_id', '=', appId).executeTakeFirst();
      return row && toExApp(row);
    });
  }

  async listExApps(): Promise<ExApp[]> {
    const rows = await this.db.selectFrom('exapps').selectAll().execute();
    return rows.map(toExApp).sort((a, b) => compareText(a.appId, b.appId));
  }

  async updateExApp(
    appId: string,
    changes: Partial<Pick<ExApp, 'version' | 'enabled' | 'secretHash' | 'sealedSecret' | 'baseUrl'>>,
  ): Promise<ExApp | undefined> {
    return this.reads.changing(async () => {
      const row = await this.db
        .updateTable('exapps')
        .set({
          ...(changes.version !== undefined && { version: changes.version }),
          ...(changes.enabled !== undefined && { enabled: changes.enabled ? 1 : 0 }),
          ...(changes.secretHash !== undefined && { secret_hash: changes.secretHash }),
          ...(changes.sealedSecret !== undefined && { sealed_secret: changes.sealedSecret }),
          ...(changes.baseUrl !== undefined && { base_url: changes.baseUrl }),
        })
        .where('app_id', '=', appId)
        .returningAll()
        .executeTakeFirst();
      return row && toExApp(row);
    });
  }

  async deleteExApp(appId: string): Promise<boolean> {
    return this.reads.changing(async () => {
      return this.db.transaction().execute(async (trx) => {
        await trx.deleteFrom('exapp_providers').where('app_id', '=', appId).execute();
        const r = await trx.deleteFrom('exapps').where('app_id', '=', appId).executeTakeFirst();
        return r.numDeletedRows > 0n;
      });
    });
  }

  async upsertProvider(p: Omit<ExAppProvider, 'id'>): Promise<ExAppProvider> {
    const values = {
      display_name: p.displayName,
      task_type: p.taskType,
      provider_json: JSON.stringify(p.provider),
      custom_task_type_json: p.customTaskType === null ? null : JSON.stringify(p.customTaskType),
      registered_at: p.registeredAt,
    };
    const row = await this.db
      .insertInto('exapp_providers')
      .values({ app_id: p.appId, provider_id: p.providerId, ...values })
      .onConflict((oc) => oc.columns(['app_id', 'provider_id']).doUpdateSet(values))
      .returningAll()
      .executeTakeFirstOrThrow();
    return toProvider(row);
  }

  async getProvider(appId: string, providerId: string): Promise<ExAppProvider | undefined> {
    const row = await this.db.selectFrom('exapp_providers').selectAll().where('app_id', '=', appId).where('provider_id', '=', providerId).executeTakeFirst();
    return row && toProvider(row);
  }

  async deleteProvider(appId: string, providerId: string): Promise<boolean> {
    const r = await this.db.deleteFrom('exapp_providers').where('app_id', '=', appId).where('provider_id', '=', providerId).executeTakeFirst();
    return r.numDeletedRows > 0n;
  }

  async listProviders(): Promise<ExAppProvider[]> {
    return (await this.db.selectFrom('exapp_providers').selectAll().orderBy('id').execute()).map(toProvider);
  }
}

function toExApp(row: Selectable<ExAppsTable>): ExApp {
  return {
    appId: row.app_id,
    version: row.version,
    secretHash: row.secret_hash,
    sealedSecret: row.sealed_secret,
    baseUrl: row.base_url,
    enabled: row.enabled === 1,
    createdAt: Number(row.created_at),
  };
}

function toProvider(row: Selectable<ExAppProvidersTable>): ExAppProvider {
  return {
    id: Number(row.id),
    appId: row.app_id,
    providerId: row.provider_id,
    displayName: row.display_name,
    taskType: row.task_type,
    provider: JSON.parse(row.provider_json) as Record<string, unknown>,
    customTaskType: row.custom_task_type_json === null ? null : (JSON.parse(row.custom_task_type_json) as Record<string, unknown>),
    registeredAt: Number(row.registered_at),
  };
}
