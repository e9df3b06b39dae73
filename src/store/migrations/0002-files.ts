import type { Kysely, Migration } from 'kysely';
import type { DialectCapabilities } from '../dialects.js';

/**
 * User files (WebDAV) and task output files, plus per-user quotas. Like every migration, a
 * snapshot: it imports no code that may change later.
 */
export function filesSchema(caps: DialectCapabilities): Migration {
  return {
    async up(db: Kysely<any>) {
      // null: no quota.
      await db.schema.alterTable('users').addColumn('quota_bytes', 'bigint').execute();

      // owner and task_id have no foreign keys, as tasks.user_id has none: an ExApp's task may
      // belong to a user this server never stored, and its outputs belong to that user too.
      await db.schema
        .createTable('files')
        .addColumn('id', caps.idColumn.type, caps.idColumn.define)
        .addColumn('owner', 'text')
        // '' for the root's children; null, like path, for task outputs, which live in no tree.
        .addColumn('parent_path', 'text')
        .addColumn('name', 'text', (col) => col.notNull())
        .addColumn('path', 'text')
        .addColumn('is_folder', 'integer', (col) => col.notNull())
        .addColumn('mime', 'text', (col) => col.notNull())
        .addColumn('size', 'bigint', (col) => col.notNull())
        .addColumn('sha256', 'text')
        .addColumn('etag', 'text', (col) => col.notNull())
        .addColumn('storage_key', 'text')
        .addColumn('task_id', 'bigint')
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addColumn('updated_at', 'bigint', (col) => col.notNull())
        .execute();

      // One entry per path and owner. Task outputs have a null path, and both SQLite and
      // PostgreSQL treat NULLs as distinct in a unique index, so they never collide.
      await db.schema.createIndex('files_owner_path_key').unique().on('files').columns(['owner', 'path']).execute();
      await db.schema.createIndex('files_owner_parent_idx').on('files').columns(['owner', 'parent_path', 'name']).execute();
      await db.schema.createIndex('files_task_id_idx').on('files').column('task_id').where('task_id', 'is not', null).execute();
    },
  };
}
