import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Fair and prioritised dispatch (issue 22, docs/ARCHITECTURE.md "Dispatch order"):
 *
 * - `tasks.priority` (higher first) and `tasks.vtime`, the task's virtual start time in its type's
 *   fair queue. Tasks stored before keep their age order: their vtime is their id, and every party
 *   starts above them.
 * - `dispatch_parties`: per task type and party (a user, an anonymous session, a user-less ExApp),
 *   the vtime of the party's newest task; a new task takes one more than that, but never less than
 *   the head of the queue, so a party with a backlog queues behind its own tasks, not behind others'.
 * - `tasks_dispatch_idx` `(type, priority DESC, vtime, id) WHERE status = 1`: a claim reads each
 *   type's first rows from it, and queue places count ranges of it. The `(type, id)` claim index stays
 *   for the queries that want a type's queue as a set (hasScheduled, the queued types).
 *
 * A snapshot, like every migration.
 */
export function fairDispatchSchema(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .alterTable('tasks')
        .addColumn('priority', 'integer', (col) => col.notNull().defaultTo(0))
        .execute();
      await db.schema
        .alterTable('tasks')
        .addColumn('vtime', 'bigint', (col) => col.notNull().defaultTo(0))
        .execute();
      await sql`update tasks set vtime = id where status = 1`.execute(db);
      await db.schema
        .createTable('dispatch_parties')
        .addColumn('type', 'varchar(255)', (col) => col.notNull())
        .addColumn('party', 'varchar(300)', (col) => col.notNull())
        .addColumn('last_vtime', 'bigint', (col) => col.notNull())
        .addPrimaryKeyConstraint('dispatch_parties_pkey', ['type', 'party'])
        .execute();
      await db.schema
        .createIndex('tasks_dispatch_idx')
        .on('tasks')
        .columns(['type', 'priority desc', 'vtime', 'id'])
        .where(sql.ref('status'), '=', 1)
        .execute();
    },
  };
}
