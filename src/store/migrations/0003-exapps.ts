import type { Kysely, Migration } from 'kysely';
import type { DialectCapabilities } from '../dialects.js';

/** ExApps (AppAPI worker apps) and the task-processing providers they register. A snapshot, like every migration. */
export function exAppsSchema(caps: DialectCapabilities): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('exapps')
        .addColumn('app_id', 'text', (col) => col.primaryKey())
        .addColumn('version', 'text', (col) => col.notNull())
        .addColumn('secret_hash', 'text', (col) => col.notNull())
        // The secret sealed with the server key, only for calls to the app (webhooks, triggers).
        .addColumn('sealed_secret', 'text')
        .addColumn('base_url', 'text')
        .addColumn('enabled', 'integer', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .execute();
      await db.schema
        .createTable('exapp_providers')
        .addColumn('id', caps.idColumn.type, caps.idColumn.define)
        .addColumn('app_id', 'text', (col) => col.notNull().references('exapps.app_id').onDelete('cascade'))
        .addColumn('provider_id', 'text', (col) => col.notNull())
        .addColumn('display_name', 'text', (col) => col.notNull())
        .addColumn('task_type', 'text', (col) => col.notNull())
        // The registration payloads as sent (JSON), as AppAPI keeps them.
        .addColumn('provider_json', 'text', (col) => col.notNull())
        .addColumn('custom_task_type_json', 'text')
        .addColumn('registered_at', 'bigint', (col) => col.notNull())
        .execute();
      await db.schema.createIndex('exapp_providers_app_provider_key').unique().on('exapp_providers').columns(['app_id', 'provider_id']).execute();
    },
  };
}
