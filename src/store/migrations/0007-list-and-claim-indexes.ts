import type { Kysely, Migration } from 'kysely';

/**
 * Two index changes found by the benchmarks at a million stored tasks (docs/BENCHMARKS.md):
 *
 * - `(user_id, custom_id, id)` for `GET tasks?customId=`, the Assistant's list: without it SQLite
 *   read every task of the user (by `(user_id, id)`) to find the few with the customId, 23 ms per
 *   request for a user with 10 000 tasks.
 * - `tasks_claim_order_idx` (0005) goes: claims now read each type's oldest rows from the
 *   `(type, id)` partial index (store/task-queries.ts), and with the id-only index present
 *   PostgreSQL kept choosing it for single-type claims and walked every queued task of other
 *   types first.
 *
 * A snapshot, like every migration.
 */
export function listAndClaimIndexesSchema(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema.createIndex('tasks_user_custom_idx').on('tasks').columns(['user_id', 'custom_id', 'id']).execute();
      await db.schema.dropIndex('tasks_claim_order_idx').execute();
    },
  };
}
