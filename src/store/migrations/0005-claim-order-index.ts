import { sql, type Kysely, type Migration } from 'kysely';

/**
 * The scheduled rows by id alone, for claims that ask for several task types at once (a worker
 * serving several providers). With only `(type, id) WHERE status = 1`, PostgreSQL cannot read
 * several types in id order, so after ANALYZE it chose the primary key for `ORDER BY id LIMIT n`
 * and walked every finished task before the first scheduled one (measured at 200 000 finished
 * rows; nextcloud/server#61053 is the same trap). This index holds only the queue, so the walk
 * starts at the oldest scheduled task. A snapshot, like every migration.
 */
export function claimOrderIndexSchema(): Migration {
  return {
    async up(db: Kysely<any>) {
      // 1 = SCHEDULED, spelled as a literal: a partial index is used only when the query repeats it.
      await db.schema.createIndex('tasks_claim_order_idx').on('tasks').column('id').where(sql.ref('status'), '=', 1).execute();
    },
  };
}
