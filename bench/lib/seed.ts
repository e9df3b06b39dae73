/**
 * Fills a freshly migrated taskproc database with many tasks, fast and directly (the server is not
 * running yet): one INSERT … SELECT over a generated series, in the real schema
 * (src/store/migrations/0001-initial.ts and later), then ANALYZE. The same SQL runs on both
 * databases; only the series differs (PostgreSQL's generate_series, a recursive CTE on SQLite).
 *
 * What the store holds afterwards, for `total` tasks:
 *  - `benchUserTasks` tasks of the bench user, spread evenly over the id range, all SUCCESSFUL,
 *    of the bench type, with a few customIds: `listMatches` of them `bench-list` (what the list
 *    scenario asks for), the rest c0..c3;
 *  - the others spread over `users` users (u0, u1, ...; the users rows are created too), 96 %
 *    SUCCESSFUL, 2 % FAILED, 1 % CANCELLED and 1 % SCHEDULED of a type nobody serves (the backlog
 *    of an ExApp that is down: a queue that claims for other types must skip), with customIds
 *    job-0..job-99 (the residues 37, 41, 43, 47 are odd, so they never fall on a bench user's row);
 *  - ~300-byte inputs and ~130-byte outputs, timestamps over the last 30 days (so retention,
 *    six months by default, deletes nothing);
 *  - when `waitingUsers` is given (the claim scenario, issue 22), on top of `total`: `waitingPerUser`
 *    SCHEDULED tasks of the bench type for each of users u0..u<waitingUsers-1>, inserted round-robin
 *    (u0, u1, …, u0, u1, …), so that a worker of the bench type has that many parties waiting;
 *  - every SCHEDULED task a fair-queue place as the schedule path gives it (migration 0009,
 *    `nextVtime` in src/store/task-queries.ts): priority 0, vtime = its rank among its party's waiting
 *    tasks of its type (1, 2, …), and each such party's row in `dispatch_parties` (last_vtime = its
 *    highest), so that a later schedule by one of them queues behind its own tasks.
 */
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';

export interface SeedSpec {
  total: number;
  benchUser: string;
  benchUserTasks: number;
  listCustomId: string;
  listMatches: number;
  users: number;
  benchType: string;
  benchProvider: string;
  /** The client app id the tasks were scheduled with (the `appId` of schedule). */
  appId: string;
  /** Users with SCHEDULED tasks of the bench type, beyond `total` (0 or absent: none). */
  waitingUsers?: number;
  /** SCHEDULED tasks of the bench type per waiting user. */
  waitingPerUser?: number;
}

export interface SeedResult {
  /** Ids of the bench user's tasks, ascending. */
  benchTaskIds: number[];
  seconds: number;
}

/** ~280 characters of text: what the schedule scenario sends too. */
export const INPUT_TEXT =
  'The town council met on Monday to discuss the new bridge. The bridge will connect the old town with the harbour. ' +
  'Construction starts in spring and should take two years. The council also approved a budget for bicycle lanes. ' +
  'Most residents welcomed the plans for the bridge.';
const OUTPUT_TEXT = 'The council discussed the new bridge to the harbour and approved a budget for bicycle lanes; residents welcomed it.';

const q = (s: string): string => `'${s.replace(/'/g, "''")}'`;

/** The INSERT … SELECT over `series(g)`, g = 0..total-1 (a bigint). */
function tasksInsert(spec: SeedSpec, seriesFrom: string, now: number): string {
  const step = Math.max(1, Math.floor(spec.total / spec.benchUserTasks));
  const perMatch = Math.max(1, Math.floor(spec.benchUserTasks / spec.listMatches));
  const span = 30 * 86_400;
  return `
INSERT INTO tasks (type, status, user_id, app_id, custom_id, input, output, progress, error_message,
                   include_watermark, allow_cleanup, provider_id, attempts,
                   scheduled_at, started_at, ended_at, last_updated, completion_expected_at)
SELECT typ, s, owner, ${q(spec.appId)}, cid,
       '{"input":"' || ${q(INPUT_TEXT)} || ' #' || g || '"}',
       CASE WHEN s = 3 THEN '{"output":"' || ${q(OUTPUT_TEXT)} || ' #' || g || '"}' ELSE NULL END,
       CASE WHEN s = 3 THEN 1.0 ELSE NULL END,
       CASE WHEN s = 4 THEN 'seeded failure' ELSE NULL END,
       0, 1,
       CASE WHEN typ = ${q(spec.benchType)} THEN ${q(spec.benchProvider)} ELSE 'seeded:provider' END,
       CASE WHEN s = 1 THEN 0 ELSE 1 END,
       t, CASE WHEN s = 1 THEN NULL ELSE t + 1 END, CASE WHEN s = 1 THEN NULL ELSE t + 2 END,
       CASE WHEN s = 1 THEN t ELSE t + 2 END, t + 60
FROM (
  SELECT g,
         CASE WHEN b THEN 3 WHEN g % 100 = 37 THEN 1 WHEN g % 100 IN (41, 43) THEN 4 WHEN g % 100 = 47 THEN 5 ELSE 3 END AS s,
         CASE WHEN b THEN ${q(spec.benchType)} WHEN g % 100 = 37 THEN 'core:text2text'
              WHEN g % 3 = 0 THEN ${q(spec.benchType)} WHEN g % 3 = 1 THEN 'core:text2text' ELSE 'core:text2text:summary' END AS typ,
         CASE WHEN b THEN ${q(spec.benchUser)} ELSE 'u' || (g * 7919 % ${spec.users}) END AS owner,
         CASE WHEN NOT b THEN 'job-' || (g % 100)
              WHEN (g / ${step}) % ${perMatch} = 0 AND (g / ${step}) / ${perMatch} < ${spec.listMatches} THEN ${q(spec.listCustomId)}
              ELSE 'c' || ((g / ${step}) % 4) END AS cid,
         ${now - span} + g * ${span} / ${spec.total} AS t
  FROM (SELECT g, (g % ${step} = 0 AND g / ${step} < ${spec.benchUserTasks}) AS b FROM ${seriesFrom}) AS x1
) AS x2
ORDER BY g`;
}

/** The waiting tasks over `series(g)`, g = 0..waitingUsers × waitingPerUser - 1, user u(g mod waitingUsers). */
function waitingInsert(spec: SeedSpec, seriesFrom: string, now: number): string {
  return `
INSERT INTO tasks (type, status, user_id, app_id, custom_id, input, include_watermark, allow_cleanup, provider_id,
                   attempts, scheduled_at, last_updated, completion_expected_at)
SELECT ${q(spec.benchType)}, 1, 'u' || (g % ${spec.waitingUsers}), ${q(spec.appId)}, 'wait-' || (g / ${spec.waitingUsers}),
       '{"input":"' || ${q(INPUT_TEXT)} || ' #w' || g || '"}', 0, 1, ${q(spec.benchProvider)},
       0, ${now}, ${now}, ${now + 60}
FROM ${seriesFrom}
ORDER BY g`;
}

/**
 * The fair-queue place of every waiting task (priority stays 0): its rank among its party's waiting
 * tasks of its type, by id, which is what successive schedules of that party give it; then each
 * party's last vtime. Parties are users here (`u:<user>`, src/core/dispatch.ts).
 */
const VTIME_UPDATE = `
UPDATE tasks SET vtime = r.rn
FROM (SELECT id, row_number() OVER (PARTITION BY type, user_id ORDER BY id) AS rn FROM tasks WHERE status = 1) AS r
WHERE tasks.id = r.id`;
const PARTIES_INSERT = `
INSERT INTO dispatch_parties (type, party, last_vtime)
SELECT type, 'u:' || user_id, max(vtime) FROM tasks WHERE status = 1 GROUP BY type, user_id`;

function usersInsert(seriesFrom: string, now: number): string {
  return `INSERT INTO users (id, display_name, password_hash, is_admin, is_guest, enabled, auth_epoch, created_at)
SELECT 'u' || g, 'Seeded user ' || g, NULL, 0, 0, 1, 0, ${now} FROM ${seriesFrom}`;
}

const waitingTasks = (spec: SeedSpec): number => (spec.waitingUsers ?? 0) * (spec.waitingPerUser ?? 0);
/** Users rows u0..: the owners of the seeded tasks and of the waiting ones. */
const userRows = (spec: SeedSpec): number => Math.max(spec.users, waitingTasks(spec) > 0 ? (spec.waitingUsers ?? 0) : 0);

const sqliteSeries = (n: number) =>
  `(WITH RECURSIVE series(g) AS (SELECT 0 UNION ALL SELECT g + 1 FROM series WHERE g < ${n - 1}) SELECT CAST(g AS BIGINT) AS g FROM series)`;
const pgSeries = (n: number) => `(SELECT g::bigint AS g FROM generate_series(0, ${n - 1}) AS gs(g))`;

/** Seeds the SQLite file of a migrated installation (the server must not be running). */
export function seedSqlite(file: string, spec: SeedSpec): SeedResult {
  const started = performance.now();
  const now = Math.floor(Date.now() / 1000);
  const db = new BetterSqlite3(file);
  try {
    db.pragma('busy_timeout = 5000');
    // Only this connection, only while seeding: the server reopens with synchronous=FULL.
    db.pragma('synchronous = OFF');
    db.transaction(() => {
      db.exec(usersInsert(`${sqliteSeries(userRows(spec))} AS s`, now));
      db.exec(tasksInsert(spec, `${sqliteSeries(spec.total)} AS s`, now));
      if (waitingTasks(spec) > 0) db.exec(waitingInsert(spec, `${sqliteSeries(waitingTasks(spec))} AS s`, now));
      db.exec(VTIME_UPDATE);
      db.exec(PARTIES_INSERT);
    })();
    db.exec('ANALYZE');
    db.pragma('wal_checkpoint(TRUNCATE)');
    const ids = db.prepare('SELECT id FROM tasks WHERE user_id = ? ORDER BY id').pluck().all(spec.benchUser) as number[];
    return { benchTaskIds: ids.map(Number), seconds: (performance.now() - started) / 1000 };
  } finally {
    db.close();
  }
}

/** Seeds the schema of a migrated installation on PostgreSQL (the server must not be running). */
export async function seedPostgres(connectionString: string, schema: string, spec: SeedSpec): Promise<SeedResult> {
  const started = performance.now();
  const now = Math.floor(Date.now() / 1000);
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query(`SET search_path = ${schema}`);
    await client.query('BEGIN');
    await client.query(usersInsert(`${pgSeries(userRows(spec))} AS s`, now));
    await client.query(tasksInsert(spec, `${pgSeries(spec.total)} AS s`, now));
    if (waitingTasks(spec) > 0) await client.query(waitingInsert(spec, `${pgSeries(waitingTasks(spec))} AS s`, now));
    await client.query(VTIME_UPDATE);
    await client.query(PARTIES_INSERT);
    await client.query('COMMIT');
    // VACUUM as well as ANALYZE: autovacuum would otherwise start on the new rows in the middle of a measurement.
    await client.query('VACUUM (ANALYZE) tasks');
    await client.query('VACUUM (ANALYZE) users');
    await client.query('VACUUM (ANALYZE) dispatch_parties');
    const { rows } = await client.query<{ id: string }>('SELECT id FROM tasks WHERE user_id = $1 ORDER BY id', [spec.benchUser]);
    return { benchTaskIds: rows.map((r) => Number(r.id)), seconds: (performance.now() - started) / 1000 };
  } finally {
    await client.end();
  }
}
