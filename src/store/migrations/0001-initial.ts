import { sql, type Kysely, type Migration } from 'kysely';
import type { DialectCapabilities } from '../dialects.js';

/**
 * The first schema. A migration is a snapshot: it spells out status numbers and column types as
 * they were when it was written, and never imports code that may change later.
 */
export function initialSchema(caps: DialectCapabilities): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('display_name', 'text', (col) => col.notNull())
        .addColumn('password_hash', 'text')
        .addColumn('is_admin', 'integer', (col) => col.notNull())
        .addColumn('is_guest', 'integer', (col) => col.notNull())
        .addColumn('enabled', 'integer', (col) => col.notNull())
        .addColumn('auth_epoch', 'integer', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .execute();

      await db.schema
        .createTable('app_passwords')
        .addColumn('id', caps.idColumn.type, caps.idColumn.define)
        .addColumn('user_id', 'text', (col) => col.notNull().references('users.id').onDelete('cascade'))
        .addColumn('token_hash', 'text', (col) => col.notNull())
        .addColumn('name', 'text', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addColumn('last_used_at', 'bigint')
        .execute();
      await db.schema.createIndex('app_passwords_token_hash_key').unique().on('app_passwords').column('token_hash').execute();
      await db.schema.createIndex('app_passwords_user_id_idx').on('app_passwords').column('user_id').execute();

      await db.schema
        .createTable('settings')
        .addColumn('key', 'text', (col) => col.primaryKey())
        .addColumn('value', 'text', (col) => col.notNull())
        .execute();

      // user_id has no foreign key on purpose: an ExApp may act for a user this server never
      // stored, and deleteUser removes a user's tasks itself.
      await db.schema
        .createTable('tasks')
        .addColumn('id', caps.idColumn.type, caps.idColumn.define)
        .addColumn('type', 'text', (col) => col.notNull())
        .addColumn('status', 'smallint', (col) => col.notNull())
        .addColumn('user_id', 'text')
        .addColumn('anon_key', 'text')
        .addColumn('app_id', 'text', (col) => col.notNull())
        .addColumn('custom_id', 'text', (col) => col.notNull())
        .addColumn('input', 'text', (col) => col.notNull())
        .addColumn('output', 'text')
        // double precision, not real: PostgreSQL's real is 4 bytes. SQLite maps both to REAL.
        .addColumn('progress', 'double precision')
        .addColumn('error_message', 'text')
        .addColumn('user_facing_error', 'text')
        .addColumn('webhook_uri', 'text')
        .addColumn('webhook_method', 'text')
        .addColumn('include_watermark', 'integer', (col) => col.notNull())
        .addColumn('allow_cleanup', 'integer', (col) => col.notNull())
        .addColumn('provider_id', 'text')
        .addColumn('lease_owner', 'text')
        .addColumn('lease_expires_at', 'bigint')
        .addColumn('attempts', 'integer', (col) => col.notNull())
        .addColumn('scheduled_at', 'bigint')
        .addColumn('started_at', 'bigint')
        .addColumn('ended_at', 'bigint')
        .addColumn('last_updated', 'bigint', (col) => col.notNull())
        .addColumn('completion_expected_at', 'bigint')
        .execute();

      // One index per query shape; see task-queries.ts.
      await db.schema.createIndex('tasks_user_id_idx').on('tasks').columns(['user_id', 'id']).execute();
      await db.schema.createIndex('tasks_user_app_custom_idx').on('tasks').columns(['user_id', 'app_id', 'custom_id']).execute();
      await db.schema.createIndex('tasks_user_type_custom_idx').on('tasks').columns(['user_id', 'type', 'custom_id']).execute();
      await db.schema.createIndex('tasks_anon_key_idx').on('tasks').column('anon_key').where('anon_key', 'is not', null).execute();
      // Partial: only queued (1 = SCHEDULED) and leased (2 = RUNNING) rows, a small part of the
      // table, are indexed for claims and for the lease sweeper.
      await db.schema.createIndex('tasks_claim_idx').on('tasks').columns(['type', 'id']).where(sql.ref('status'), '=', 1).execute();
      await db.schema.createIndex('tasks_lease_idx').on('tasks').column('lease_expires_at').where(sql.ref('status'), '=', 2).execute();
      await db.schema.createIndex('tasks_last_updated_idx').on('tasks').column('last_updated').execute();
    },
  };
}
