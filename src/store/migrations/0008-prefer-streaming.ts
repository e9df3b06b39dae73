import type { Kysely, Migration } from 'kysely';

/**
 * `tasks.prefer_streaming` (upstream PR #61197, Nextcloud 35: `Version35000Date20260527162338`
 * as it was after that PR): whether the client asked the provider for progressive output. 0 for
 * every task stored before, which is upstream's default too. A snapshot, like every migration.
 */
export function preferStreamingSchema(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .alterTable('tasks')
        .addColumn('prefer_streaming', 'smallint', (col) => col.notNull().defaultTo(0))
        .execute();
    },
  };
}
