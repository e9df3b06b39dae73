import type { Kysely, Migration } from 'kysely';

/**
 * The latest intermediate output a worker streamed for a running task (`stream-result`), kept
 * apart from `output` so a partial answer is never mistaken for a result. A snapshot, like every
 * migration.
 */
export function partialOutputSchema(): Migration {
  return {
    async up(db: Kysely<any>) {
      // JSON text; null until a worker streams something.
      await db.schema.alterTable('tasks').addColumn('partial_output', 'text').execute();
    },
  };
}
