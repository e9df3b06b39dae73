import { type Compilable, CompiledQuery, type ExpressionBuilder, type Insertable, type Kysely, type Selectable, sql } from 'kysely';
import type { RunTimeSample } from '../core/estimates.js';
import type { TaskIO } from '../core/shapes.js';
import { TASK_STATUS, type NewTask, type Task, type TaskStatus } from '../core/task.js';
import type { Database, TasksTable } from './database.js';
import type { DialectCapabilities } from './dialects.js';
import type { AdminTaskFilter, ClaimRequest, QueueParty, TaskFilter, TaskOwner, TaskResult, TaskStore, TypeQueue } from './store.js';
import { ReadCache } from './read-cache.js';
import { isRowId, refuseNulParameters, storableText } from './value-guards.js';
import { deepFreeze } from '../core/deep-freeze.js';
import { dispatchParty } from '../core/dispatch.js';
import { compareText } from './text-order.js';

/**
 * The columns a Task is made of, named rather than `*`: a statement PostgreSQL has prepared
 * (pg-prepared.ts) keeps working when a migration adds a column. partial_output is left out: it
 * can be large, no Task carries it, and getPartialOutput reads it alone.
 */
const TASK_COLUMNS = [
  'id',
  'type',
  'status',
  'user_id',
  'anon_key',
  'app_id',
  'custom_id',
  'input',
  'output',
  'progress',
  'error_message',
  'user_facing_error',
  'webhook_uri',
  'webhook_method',
  'include_watermark',
  'allow_cleanup',
  'provider_id',
  'lease_owner',
  'lease_expires_at',
  'attempts',
  'scheduled_at',
  'started_at',
  'ended_at',
  'last_updated',
  'completion_expected_at',
  'prefer_streaming',
  'priority',
  'vtime',
] as const satisfies readonly (keyof TasksTable)[];

// A column added to TasksTable does not compile here until it is listed above or named as left out.
type Unlisted = Exclude<keyof TasksTable, (typeof TASK_COLUMNS)[number]>;
const everyColumnListed: [Unlisted] extends ['partial_output'] ? (['partial_output'] extends [Unlisted] ? true : never) : never = true;
void everyColumnListed;

type TaskRow = Pick<Selectable<TasksTable>, (typeof TASK_COLUMNS)[number]>;

/** A task read by id, frozen (input and output too), with the size of the row it came from. */
interface CachedTask {
  task: Task;
  weight: number;
}

/**
 * Tasks read by id (a client polling its task) answered from memory while unchanged; see
 * ReadCache. Every caller gets the same frozen Task, so nothing a caller does can reach the next
 * one, and what is derived from a task once (its JSON, api/task-json.ts) can be kept with it.
 */
export type TaskRowCache = ReadCache<number, CachedTask>;

/**
 * At most `maxRows` tasks (TASKPROC_TASK_CACHE_ROWS) and 1 Ki characters of text per row on
 * average: a store of large inputs keeps fewer tasks rather than growing the server (a task of
 * the bench's size, ~300 characters of input, weighs about 650 and takes about 1 KB of heap).
 */
export function taskRowCache(externalChanges: (() => number) | null, maxRows: number): TaskRowCache {
  return new ReadCache<number, CachedTask>(maxRows > 0 ? externalChanges : null, { maxRows, maxWeight: maxRows * 1024, weigh: (c) => c.weight }, (c) => c);
}

function cachedTask(row: TaskRow): CachedTask {
  const text = (v: string | null) => (v === null ? 0 : v.length);
  const weight = 200 + text(row.input) + text(row.output) + text(row.error_message) + text(row.user_facing_error) + text(row.webhook_uri);
  // A copy, not toTask's own object: V8 learns per allocation site whether its objects live long
  // and, once most do, allocates all of them straight in the old generation. Kept here, toTask's
  // objects would teach it that, and every task of every list and claim would then be old-space
  // garbage (measured: RSS after gets and lists with 10 000 kept tasks 200–250 MiB instead of
  // 150). structuredClone allocates outside that site (3 µs, on a miss only).
  return { task: deepFreeze(structuredClone(toTask(row))), weight };
}

const idsOf = (rows: { id: number | string }[]): number[] => rows.map((r) => Number(r.id));
const oneId = (id: number) => () => [id];
type Tasks = ExpressionBuilder<Database, 'tasks'>;

/**
 * Statuses are written into conditions as literals, not parameters: SQLite uses a partial index
 * (status = 1 for claims, status = 2 for the sweeper) only when the query repeats its literal.
 */
const inStatus = (eb: Tasks, ...statuses: TaskStatus[]) =>
  statuses.length === 1
    ? eb('status', '=', eb.lit(statuses[0] as TaskStatus))
    : eb(
        'status',
        'in',
        statuses.map((s) => eb.lit(s)),
      );

const ownedBy = (eb: Tasks, owner: TaskOwner) => {
  if (owner.userId !== null) return eb('user_id', '=', owner.userId);
  if (owner.anonKey !== null) return eb.and([eb('user_id', 'is', null), eb('anon_key', '=', owner.anonKey)]);
  return eb.and([eb('user_id', 'is', null), eb('anon_key', 'is', null)]);
};

const scheduled = (eb: Tasks) => inStatus(eb, TASK_STATUS.SCHEDULED);

const LEASE_CLEARED = { lease_owner: null, lease_expires_at: null } as const;

/**
 * A task going back to the queue. Its output can only be what the lost attempt streamed
 * (setPartialOutput): upstream never shows an output on a scheduled task, so it goes too.
 * partial_output stays for the extension route, which shows the latest chunk ever streamed.
 */
const REQUEUED = { status: TASK_STATUS.SCHEDULED, output: null, ...LEASE_CLEARED } as const;

/** The row a schedule inserts; its key order is the insert's column (and parameter) order. */
/** A scheduled row (`tasks`) ahead of `me` in dispatch order: a higher priority; or the same and a lower vtime; or both the same and older. */
function aheadOfMe(c: ExpressionBuilder<Database & { me: TasksTable }, 'tasks' | 'me'>) {
  return c.or([
    c('tasks.priority', '>', c.ref('me.priority')),
    c.and([c('tasks.priority', '=', c.ref('me.priority')), c('tasks.vtime', '<', c.ref('me.vtime'))]),
    c.and([c('tasks.priority', '=', c.ref('me.priority')), c('tasks.vtime', '=', c.ref('me.vtime')), c('tasks.id', '<', c.ref('me.id'))]),
  ]);
}

/** Dispatch order: priority (higher first), then vtime, then age. */
export function inDispatchOrder(a: Pick<Task, 'priority' | 'vtime' | 'id'>, b: Pick<Task, 'priority' | 'vtime' | 'id'>): number {
  return b.priority - a.priority || a.vtime - b.vtime || a.id - b.id;
}

function newTaskRow(task: NewTask, vtime: number): Insertable<TasksTable> {
  return {
    type: task.type,
    status: TASK_STATUS.SCHEDULED,
    user_id: task.userId,
    anon_key: task.anonKey,
    app_id: task.appId,
    custom_id: task.customId,
    input: JSON.stringify(task.input),
    output: null,
    progress: null,
    error_message: null,
    user_facing_error: null,
    webhook_uri: task.webhookUri,
    webhook_method: task.webhookMethod,
    include_watermark: task.includeWatermark ? 1 : 0,
    // NewTask has no allowCleanup: the API cannot opt out, as upstream's OCS API cannot.
    allow_cleanup: 1,
    provider_id: task.providerId,
    lease_owner: null,
    lease_expires_at: null,
    attempts: 0,
    scheduled_at: task.scheduledAt,
    started_at: null,
    ended_at: null,
    last_updated: task.lastUpdated,
    completion_expected_at: task.completionExpectedAt,
    prefer_streaming: task.preferStreaming === true ? 1 : 0,
    priority: task.priority ?? 0,
    vtime,
  };
}

/**
 * A statement run on every request of a hot route, built and compiled by Kysely once. Its SQL
 * never changes, only its values: the first call compiles it and checks that it takes exactly
 * `parameters`, in that order; later calls run that SQL with new values. Kysely's plugins do not
 * see these runs, so the NUL check the guard plugin does on built queries is done here.
 */
class CompiledOnce {
  private sql: string | null = null;

  constructor(private readonly name: string) {}

  /** `build` makes the query with these very values; it runs on the first call only. */
  query(parameters: readonly unknown[], build: () => Compilable): CompiledQuery {
    if (this.sql === null) {
      const compiled = build().compile();
      const inOrder = compiled.parameters.length === parameters.length && compiled.parameters.every((p, i) => p === parameters[i]);
      if (!inOrder) throw new Error(`${this.name} does not take its parameters in the expected order`);
      this.sql = compiled.sql;
    }
    refuseNulParameters(parameters);
    return CompiledQuery.raw(this.sql, [...parameters]);
  }
}

/**
 * CompiledOnce for a query whose SQL takes a few forms (the number of task types of a claim, a
 * condition present or not): one compiled SQL per form, named by `shape`. Past MAX_SHAPES forms
 * (a caller sending ever new numbers of types) it compiles each call, as Kysely would.
 */
class CompiledByShape {
  private static readonly MAX_SHAPES = 64;
  private readonly shapes = new Map<string, CompiledOnce>();

  constructor(private readonly name: string) {}

  query(shape: string, parameters: readonly unknown[], build: () => Compilable): CompiledQuery {
    let once = this.shapes.get(shape);
    if (once === undefined) {
      if (this.shapes.size >= CompiledByShape.MAX_SHAPES) {
        const compiled = build().compile();
        refuseNulParameters(compiled.parameters);
        return compiled;
      }
      once = new CompiledOnce(`${this.name} (${shape})`);
      this.shapes.set(shape, once);
    }
    return once.query(parameters, build);
  }
}

export class KyselyTaskStore implements TaskStore {
  /** The insert behind every schedule: building it through Kysely cost a tenth of the request. */
  private readonly insert = new CompiledOnce('The tasks insert');
  /** The read behind every poll of a task (when not cached). */
  private readonly byId = new CompiledOnce('The task read');
  /** A worker's claim, per number of types; and its result. Built by Kysely each time, they cost a tenth of a task's store time. */
  private readonly claim = new CompiledByShape('The claim');
  private readonly finish = new CompiledByShape('The result update');

  constructor(
    private readonly db: Kysely<Database>,
    private readonly caps: DialectCapabilities,
    /** Every write below goes through `rows.changing`, naming the rows it changed where it knows them. */
    private readonly rows: TaskRowCache = taskRowCache(null, 0),
  ) {}

  async createTask(task: NewTask): Promise<Task> {
    const party = task.party ?? dispatchParty(task);
    // PostgreSQL: the vtime upsert and the insert are one statement (a data-modifying CTE): one commit,
    // and a party's concurrent schedules take distinct vtimes in the order they get its row of
    // dispatch_parties (the id may be drawn before that wait, so among schedules that overlap in time
    // ids and vtimes may disagree; such requests have no age between them). SQLite runs one statement
    // at a time in call order.
    const values = this.caps.dataModifyingCte ? newTaskRow(task, 0) : newTaskRow(task, await this.nextVtime(this.db, task.type, party));
    const insert = this.caps.dataModifyingCte
      ? this.db
          .with('p', (db) => this.vtimeUpsert(db as unknown as Kysely<Database>, task.type, party))
          .insertInto('tasks')
          .values({ ...values, vtime: sql<number>`(select last_vtime from p)` })
          .returning(TASK_COLUMNS)
          .compile()
      : // The row's keys are the insert's columns, so its values are the parameters in order.
        this.insert.query(Object.values(values), () => this.db.insertInto('tasks').values(values).returning(TASK_COLUMNS));
    // A new id, but SQLite may hand out the id of a deleted last row again: forget that one.
    const row = await this.rows.changing(
      async () => (await this.db.executeQuery<TaskRow>(insert)).rows[0],
      (inserted) => (inserted ? [Number(inserted.id)] : []),
    );
    if (row === undefined) throw new Error('The tasks insert returned no row');
    return toTask(row);
  }

  /**
   * The vtime of a party's next task in a type's queue (docs/ARCHITECTURE.md "Dispatch order"): one more
   * than its newest, but not below the head of the queue (a party that was idle does not jump ahead of
   * the others by its old share), nor, when the queue is empty, below the highest of any party. One
   * upsert, atomic on both databases, so concurrent schedules of one party never share a vtime.
   */
  private vtimeUpsert(db: Kysely<Database>, type: string, party: string) {
    // 1 = SCHEDULED as a literal, so the partial dispatch index serves the head's lookup.
    const start = sql<number>`coalesce((select vtime from tasks where status = 1 and type = ${type} order by priority desc, vtime, id limit 1), (select max(last_vtime) from dispatch_parties where type = ${type}), 0)`;
    const greatest = this.caps.greatest;
    return db
      .insertInto('dispatch_parties')
      .values({ type, party, last_vtime: start })
      .onConflict((oc) =>
        oc.columns(['type', 'party']).doUpdateSet((eb) => ({
          last_vtime: sql<number>`${sql.raw(greatest)}(${eb.ref('dispatch_parties.last_vtime')} + 1, ${eb.ref('excluded.last_vtime')})`,
        })),
      )
      .returning('last_vtime');
  }

  private async nextVtime(db: Kysely<Database>, type: string, party: string): Promise<number> {
    return Number((await this.vtimeUpsert(db, type, party).executeTakeFirstOrThrow()).last_vtime);
  }

  async getTask(id: number): Promise<Task | undefined> {
    if (!isRowId(id)) return undefined;
    const cached = await this.rows.get(id, async () => {
      const read = this.byId.query([id], () => this.db.selectFrom('tasks').select(TASK_COLUMNS).where('id', '=', id));
      const row = (await this.db.executeQuery<TaskRow>(read)).rows[0];
      return row && cachedTask(row);
    });
    return cached?.task;
  }

  async listTasks(filter: TaskFilter): Promise<Task[]> {
    let query = this.db
      .selectFrom('tasks')
      .select(TASK_COLUMNS)
      .where((eb) => ownedBy(eb, filter.owner));
    if (filter.type !== undefined) query = query.where('type', '=', filter.type);
    if (filter.appId !== undefined) query = query.where('app_id', '=', filter.appId);
    if (filter.customId !== undefined) query = query.where('custom_id', '=', filter.customId);
    if (filter.unfinished) query = query.where('status', 'in', [TASK_STATUS.SCHEDULED, TASK_STATUS.RUNNING]);
    if (filter.afterId !== undefined) query = query.where('id', '>', filter.afterId);
    if (filter.limit !== undefined) query = query.limit(filter.limit);
    const rows = await query.orderBy('id').execute();
    return rows.map(toTask);
  }

  async adminListTasks(filter: AdminTaskFilter): Promise<Task[]> {
    let query = this.db.selectFrom('tasks').select(TASK_COLUMNS);
    if (filter.userId !== undefined) query = query.where('user_id', '=', filter.userId);
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
    if (filter.type !== undefined) query = query.where('type', '=', filter.type);
    const rows = await query.orderBy('id', 'desc').limit(filter.limit).execute();
    return rows.map(toTask);
  }

  async deleteTask(id: number, owner: TaskOwner): Promise<boolean> {
    if (!isRowId(id)) return false;
    const result = await this.rows.changing(
      () =>
        this.db
          .deleteFrom('tasks')
          .where('id', '=', id)
          .where((eb) => ownedBy(eb, owner))
          .executeTakeFirst(),
      oneId(id),
    );
    return result.numDeletedRows > 0n;
  }

  async cancelTask(id: number, owner: TaskOwner, now: number): Promise<Task | undefined> {
    if (!isRowId(id)) return undefined;
    const row = await this.rows.changing(
      () =>
        this.db
          .updateTable('tasks')
          .set({ status: TASK_STATUS.CANCELLED, ended_at: now, last_updated: now, ...LEASE_CLEARED })
          .where('id', '=', id)
          .where((eb) => eb.and([ownedBy(eb, owner), inStatus(eb, TASK_STATUS.SCHEDULED, TASK_STATUS.RUNNING)]))
          .returning(TASK_COLUMNS)
          .executeTakeFirst(),
      oneId(id),
    );
    if (row) return toTask(row);
    // Not cancellable: the owner gets the (final, hence unchanged) task back, anyone else nothing.
    const current = await this.db
      .selectFrom('tasks')
      .select(TASK_COLUMNS)
      .where('id', '=', id)
      .where((eb) => ownedBy(eb, owner))
      .executeTakeFirst();
    return current && toTask(current);
  }

  async claimTasks(req: ClaimRequest): Promise<Task[]> {
    if (req.types.length === 0 || req.limit <= 0) return [];
    // The oldest `limit` of each type, read from the (type, id) partial index, then the oldest
    // `limit` of those. One ordered scan over all scheduled rows (WHERE type IN … ORDER BY id)
    // would walk past every queued task of the other types first: with a backlog of 10 000 tasks
    // for an ExApp that is down, PostgreSQL chose exactly that and a claim read 10 000 rows
    // (docs/POSTGRESQL.md). Per type, each branch starts at its first row whatever else is queued.
    // Dispatch order (docs/ARCHITECTURE.md "Dispatch order"): priority first, then the fair queue's
    // vtime, then age. Each branch reads its type's first rows from the (type, priority DESC, vtime,
    // id) dispatch index, so a claim costs the same however many tasks or parties are waiting.
    const oldestOf = (type: string, i: number) => {
      let branch = this.db
        .selectFrom('tasks')
        .select(['id', 'priority', 'vtime'])
        .where((eb) => inStatus(eb, TASK_STATUS.SCHEDULED))
        .where('type', '=', type)
        .orderBy('priority', 'desc')
        .orderBy('vtime')
        .orderBy('id')
        .limit(req.limit);
      if (this.caps.skipLocked) branch = branch.forUpdate().skipLocked();
      return this.db.selectFrom(branch.as(`t${i}`)).select([`t${i}.id as id`, `t${i}.priority as priority`, `t${i}.vtime as vtime`]);
    };
    const types = [...new Set(req.types)];
    const build = () => {
      let union = oldestOf(types[0] as string, 0);
      for (let i = 1; i < types.length; i++) union = union.unionAll(oldestOf(types[i] as string, i));
      const candidates = this.db
        .selectFrom(union.as('queued'))
        .select('queued.id')
        .orderBy('queued.priority', 'desc')
        .orderBy('queued.vtime')
        .orderBy('queued.id')
        .limit(req.limit);
      // The candidates are a MATERIALIZED CTE, not `id IN (subquery)`: PostgreSQL may plan the IN
      // as a nested-loop semi-join that re-runs the subquery for every row of the outer scan, and
      // each re-run, skipping the rows this very statement has just locked, hands out `limit` more
      // (a claim of 1 took every scheduled task of the type). A CTE runs once. Rows a branch locked
      // but the final LIMIT dropped are unlocked when the statement ends.
      // started_at only when asked: upstream's ExApp lock leaves it null, its synchronous runs set it.
      return (
        this.db
          .with(
            (cte) => cte('candidates').materialized(),
            () => candidates,
          )
          .updateTable('tasks')
          .set((eb) => ({
            status: TASK_STATUS.RUNNING,
            lease_owner: req.leaseOwner,
            lease_expires_at: req.leaseExpiresAt,
            last_updated: req.now,
            attempts: eb('attempts', '+', 1),
            ...(req.startedAt !== undefined && { started_at: req.startedAt }),
          }))
          .where('id', 'in', (eb) => eb.selectFrom('candidates').select('candidates.id'))
          // Repeated outside the CTE: under READ COMMITTED another claimer may have won the row.
          .where((eb) => inStatus(eb, TASK_STATUS.SCHEDULED))
          .returning(TASK_COLUMNS)
      );
    };
    // In the compiled order: each branch's type and limit, the final limit, then the SET values.
    const parameters = [
      ...types.flatMap((type) => [type, req.limit]),
      req.limit,
      TASK_STATUS.RUNNING,
      req.leaseOwner,
      req.leaseExpiresAt,
      req.now,
      1,
      ...(req.startedAt !== undefined ? [req.startedAt] : []),
    ];
    const compiled = this.claim.query(`${types.length} types${req.startedAt !== undefined ? ', started' : ''}`, parameters, build);
    const rows = await this.rows.changing(async () => (await this.db.executeQuery<TaskRow>(compiled)).rows, idsOf);
    return rows.map(toTask).sort(inDispatchOrder);
  }

  async setProgress(
    id: number,
    progress: number,
    now: number,
    leaseOwner: string | null,
    leaseExpiresAt: number | null,
    completionExpectedAt: number | null,
  ): Promise<Task | undefined> {
    if (!isRowId(id)) return undefined;
    let query = this.db
      .updateTable('tasks')
      .set({
        progress,
        last_updated: now,
        ...(leaseExpiresAt !== null && { lease_expires_at: leaseExpiresAt }),
        ...(completionExpectedAt !== null && { completion_expected_at: completionExpectedAt }),
      })
      .where('id', '=', id)
      .where((eb) => inStatus(eb, TASK_STATUS.RUNNING));
    if (leaseOwner !== null) query = query.where('lease_owner', '=', leaseOwner);
    const row = await this.rows.changing(() => query.returning(TASK_COLUMNS).executeTakeFirst(), oneId(id));
    return row && toTask(row);
  }

  async extendLease(id: number, leaseOwner: string, leaseExpiresAt: number, now: number): Promise<boolean> {
    if (!isRowId(id)) return false;
    const result = await this.rows.changing(
      () =>
        this.db
          .updateTable('tasks')
          .set({ lease_expires_at: leaseExpiresAt, last_updated: now })
          .where('id', '=', id)
          .where((eb) => inStatus(eb, TASK_STATUS.RUNNING))
          .where('lease_owner', '=', leaseOwner)
          .executeTakeFirst(),
      oneId(id),
    );
    return result.numUpdatedRows > 0n;
  }

  async releaseClaims(allIds: number[], leaseOwner: string, now: number): Promise<number> {
    const ids = allIds.filter(isRowId);
    if (ids.length === 0) return 0;
    const result = await this.rows.changing(
      () =>
        this.db
          .updateTable('tasks')
          .set((eb) => ({ ...REQUEUED, last_updated: now, attempts: eb('attempts', '-', 1) }))
          .where('id', 'in', ids)
          .where((eb) => inStatus(eb, TASK_STATUS.RUNNING))
          .where('lease_owner', '=', leaseOwner)
          .executeTakeFirst(),
      () => ids,
    );
    return Number(result.numUpdatedRows);
  }

  async hasScheduled(types: string[]): Promise<boolean> {
    if (types.length === 0) return false;
    // EXISTS over the partial claim index: stops at the first row, however long the queue.
    const row = await this.db
      .selectNoFrom((eb) =>
        eb
          .exists(
            eb
              .selectFrom('tasks')
              .select('id')
              .where((e) => inStatus(e, TASK_STATUS.SCHEDULED))
              .where('type', 'in', types),
          )
          .as('found'),
      )
      .executeTakeFirstOrThrow();
    // SQLite answers 0/1, PostgreSQL a boolean.
    return Boolean(Number(row.found));
  }

  async setPartialOutput(id: number, partialOutput: TaskIO, leaseOwner: string, leaseExpiresAt: number, now: number): Promise<Task | undefined> {
    if (!isRowId(id)) return undefined;
    const json = JSON.stringify(partialOutput);
    const row = await this.rows.changing(
      () =>
        this.db
          .updateTable('tasks')
          // Also the task's output while it runs, as upstream's setTaskIntermediateOutput (PR #60500): clients of
          // GET task see it there; the result replaces it. partial_output keeps it for the extension route.
          .set({ output: json, partial_output: json, lease_expires_at: leaseExpiresAt, last_updated: now })
          .where('id', '=', id)
          .where((eb) => inStatus(eb, TASK_STATUS.RUNNING))
          .where('lease_owner', '=', leaseOwner)
          .returning(TASK_COLUMNS)
          .executeTakeFirst(),
      oneId(id),
    );
    return row && toTask(row);
  }

  async getPartialOutput(id: number): Promise<TaskIO | null | undefined> {
    if (!isRowId(id)) return undefined;
    const row = await this.db.selectFrom('tasks').select('partial_output').where('id', '=', id).executeTakeFirst();
    if (!row) return undefined;
    return row.partial_output === null ? null : (JSON.parse(row.partial_output) as TaskIO);
  }

  async finishTask(id: number, leaseOwner: string | null, result: TaskResult): Promise<Task | undefined> {
    if (!isRowId(id)) return undefined;
    const values = {
      status: result.status,
      // No output (a failure) leaves the column alone: it holds what the worker streamed last, or null, and
      // upstream's failed task keeps showing that chunk (Manager::setTaskResult never clears the output).
      ...(result.output !== null && { output: JSON.stringify(result.output) }),
      // Kept, not refused: a worker's message with a NUL in it must not leave its task running.
      error_message: result.errorMessage === null ? null : storableText(result.errorMessage),
      user_facing_error: result.userFacingErrorMessage === null ? null : storableText(result.userFacingErrorMessage),
      progress: result.progress,
      ended_at: result.now,
      last_updated: result.now,
      ...LEASE_CLEARED,
    };
    // The SET values in key order, then the id, then the lease owner when it is checked.
    const parameters = [...Object.values(values), id, ...(leaseOwner !== null ? [leaseOwner] : [])];
    const shape = `${leaseOwner !== null ? 'by its lease owner' : 'by anyone'}, ${result.output !== null ? 'with' : 'without'} output`;
    const compiled = this.finish.query(shape, parameters, () => {
      let query = this.db
        .updateTable('tasks')
        .set(values)
        .where('id', '=', id)
        .where((eb) => inStatus(eb, TASK_STATUS.SCHEDULED, TASK_STATUS.RUNNING));
      if (leaseOwner !== null) query = query.where('lease_owner', '=', leaseOwner);
      return query.returning(TASK_COLUMNS);
    });
    const row = await this.rows.changing(async () => (await this.db.executeQuery<TaskRow>(compiled)).rows[0], oneId(id));
    return row && toTask(row);
  }

  async expireLeases(now: number, maxAttempts: number, failMessage: string): Promise<{ requeued: number; requeuedIds: number[]; failed: Task[] }> {
    // The sweeper runs every few seconds and usually changes nothing: it names the rows it changed,
    // so that it does not empty the cache of polled tasks each time.
    const { requeuedIds, failed } = await this.rows.changing(
      () => this.expireLeasesUncached(now, maxAttempts, failMessage),
      (r) => [...r.requeuedIds, ...r.failed.map((t) => t.id)],
    );
    return { requeued: requeuedIds.length, requeuedIds, failed };
  }

  private async expireLeasesUncached(now: number, maxAttempts: number, failMessage: string): Promise<{ requeuedIds: number[]; failed: Task[] }> {
    const requeued = await this.db
      .updateTable('tasks')
      .set({ ...REQUEUED, last_updated: now })
      .where((eb) => inStatus(eb, TASK_STATUS.RUNNING))
      .where('lease_expires_at', '<', now)
      .where('attempts', '<', maxAttempts)
      .returning('id')
      .execute();
    const failed = await this.db
      .updateTable('tasks')
      .set({ status: TASK_STATUS.FAILED, error_message: failMessage, ended_at: now, last_updated: now, ...LEASE_CLEARED })
      .where((eb) => inStatus(eb, TASK_STATUS.RUNNING))
      .where('lease_expires_at', '<', now)
      .where('attempts', '>=', maxAttempts)
      .returning(TASK_COLUMNS)
      .execute();
    return { requeuedIds: idsOf(requeued), failed: failed.map(toTask).sort((a, b) => a.id - b.id) };
  }

  async releaseLeases(prefix: string, now: number): Promise<number> {
    // A prefix test without LIKE: SQLite's LIKE ignores ASCII case and PostgreSQL's does not, and
    // the prefix would need its % and _ escaped. substr counts characters, hence the code points.
    const result = await this.rows.changing(() =>
      this.db
        .updateTable('tasks')
        .set({ ...REQUEUED, last_updated: now })
        .where((eb) => inStatus(eb, TASK_STATUS.RUNNING))
        .where((eb) => eb(eb.fn<string>('substr', ['lease_owner', eb.lit(1), eb.val([...prefix].length)]), '=', prefix))
        .executeTakeFirst(),
    );
    return Number(result.numUpdatedRows);
  }

  async deleteTasksUpdatedBefore(cutoff: number, limit: number): Promise<number[]> {
    if (limit <= 0) return [];
    const batch = this.db
      .selectFrom('tasks')
      .select('id')
      .where('allow_cleanup', '=', 1)
      .where('last_updated', '<', cutoff)
      .orderBy('last_updated')
      .limit(limit);
    const rows = await this.rows.changing(() => this.db.deleteFrom('tasks').where('id', 'in', batch).returning('id').execute(), idsOf);
    return idsOf(rows).sort((a, b) => a - b);
  }

  async queueStats(types: string[]): Promise<{ scheduled: number; running: number }> {
    // One count per status rather than `status IN (1, 2)`: each partial index covers one status,
    // and a query spanning both would scan the whole table, finished tasks included.
    const count = (eb: ExpressionBuilder<Database, never>, status: TaskStatus) => {
      let query = eb
        .selectFrom('tasks')
        .select((e) => e.fn.countAll<number | string>().as('n'))
        .where((e) => inStatus(e, status));
      if (types.length > 0) query = query.where('type', 'in', types);
      return query;
    };
    const row = await this.db
      .selectNoFrom((eb) => [count(eb, TASK_STATUS.SCHEDULED).as('scheduled'), count(eb, TASK_STATUS.RUNNING).as('running')])
      .executeTakeFirstOrThrow();
    return { scheduled: Number(row.scheduled ?? 0), running: Number(row.running ?? 0) };
  }

  async queueDepth(): Promise<{ type: string; status: typeof TASK_STATUS.SCHEDULED | typeof TASK_STATUS.RUNNING; count: number }[]> {
    // One statement per status, as queueStats: `status IN (1, 2)` would match neither partial index.
    const byType = (status: typeof TASK_STATUS.SCHEDULED | typeof TASK_STATUS.RUNNING) =>
      this.db
        .selectFrom('tasks')
        .select((e) => ['type', e.fn.countAll<number | string>().as('n')])
        .where((e) => inStatus(e, status))
        .groupBy('type')
        .execute()
        .then((rows) => rows.map((r) => ({ type: r.type, status, count: Number(r.n) })));
    const [scheduled, running] = await Promise.all([byType(TASK_STATUS.SCHEDULED), byType(TASK_STATUS.RUNNING)]);
    return [...scheduled, ...running];
  }

  async queuePosition(id: number): Promise<number | undefined> {
    if (!isRowId(id)) return undefined;
    // Claims hand out the lowest ids first (claimTasks), so a task's place is the count of the
    // scheduled ids below its own, of every type. A plain `status = 1 AND id < ?` count has no
    // index that holds the queue in id order (the id-only one was dropped, docs/POSTGRESQL.md):
    // PostgreSQL scanned the whole table for it. So the queued types are found first by skipping
    // through the (type, id) claim index, one probe per type; then one count reads, from that
    // index, each type's range of ids below this one, which is only the queue ahead of the task.
    // Two statements, not one: in one, PostgreSQL guesses 100 rows for the recursive part and
    // costs the counts a hundred times over, past jit_above_cost (300 ms of JIT compilation for a
    // 10 ms count at 100 000 queued tasks). Plans measured in docs/UPSTREAM.md.
    const types = await this.queuedTypes();
    if (types.length === 0) return undefined;
    const row = await this.db
      .selectNoFrom((eb) => [
        // The task itself is checked by the same statement that counts: a claim in between would
        // give a running task a place in the queue.
        eb
          .selectFrom('tasks')
          .select((e) => e.fn.countAll<number | string>().as('n'))
          .where('id', '=', id)
          .where(scheduled)
          .as('mine'),
        // Three ranges of the (type, priority DESC, vtime, id) index, each only the rows ahead.
        eb
          .selectFrom('tasks as me')
          .select((e) =>
            e
              .selectFrom('tasks')
              .select((c) => c.fn.countAll<number | string>().as('n'))
              .where(scheduled)
              .where('type', 'in', types)
              .where(aheadOfMe)
              .as('n'),
          )
          .where('me.id', '=', id)
          .as('ahead'),
      ])
      .executeTakeFirstOrThrow();
    if (Number(row.mine ?? 0) === 0) return undefined;
    return Number(row.ahead ?? 0) + 1;
  }

  async scheduledAhead(type: string, id: number): Promise<number> {
    if (!isRowId(id)) return 0;
    const row = await this.db
      .selectFrom('tasks as me')
      .select((e) =>
        e
          .selectFrom('tasks')
          .select((c) => c.fn.countAll<number | string>().as('n'))
          .where(scheduled)
          .where('type', '=', type)
          .where(aheadOfMe)
          .as('n'),
      )
      .where('me.id', '=', id)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /**
   * An admin changed a type's priority: its waiting tasks move by the same step, so tasks a caller put
   * behind keep their distance. Returns how many moved.
   */
  async shiftPriority(type: string, delta: number): Promise<number> {
    if (delta === 0) return 0;
    const result = await this.rows.changing(
      () =>
        this.db
          .updateTable('tasks')
          .set((eb) => ({ priority: eb('priority', '+', delta) }))
          .where((eb) => inStatus(eb, TASK_STATUS.SCHEDULED))
          .where('type', '=', type)
          .executeTakeFirst(),
      // No ids to name: every kept task is forgotten (a rare admin action).
    );
    return Number(result.numUpdatedRows);
  }

  async runningByProvider(): Promise<Map<string, number>> {
    // status = 2 as a literal: both databases then read the running rows from the partial lease
    // index alone, never the finished tasks (plans seen at 300 000 rows: `SCAN tasks USING INDEX
    // tasks_lease_idx` on SQLite, an index scan of it on PostgreSQL, under 1 ms).
    const rows = await this.db
      .selectFrom('tasks')
      .select(['provider_id', (eb) => eb.fn.countAll<number | string>().as('n')])
      .where((eb) => inStatus(eb, TASK_STATUS.RUNNING))
      .where('provider_id', 'is not', null)
      .groupBy('provider_id')
      .execute();
    return new Map(rows.map((r) => [r.provider_id as string, Number(r.n)]));
  }

  async recentRunTimes(rowsToScan: number): Promise<RunTimeSample[]> {
    if (!(rowsToScan > 0)) return [];
    // The newest rows by the retention index, backwards, whatever their status, then the
    // successful ones among them: a bounded read with the indexes there are. "The last N per
    // type and provider" would need an index over every successful task that every success
    // writes, for a read done once at start-up; types that ran recently are the ones with a queue.
    const recent = this.db
      .selectFrom('tasks')
      .select(['id', 'type', 'provider_id', 'status', 'started_at', 'ended_at'])
      .orderBy('last_updated', 'desc')
      .limit(Math.floor(rowsToScan))
      .as('recent');
    const rows = await this.db
      .selectFrom(recent)
      .select(['recent.id', 'recent.type', 'recent.provider_id', 'recent.started_at', 'recent.ended_at'])
      .where('recent.status', '=', TASK_STATUS.SUCCESSFUL)
      .where('recent.started_at', 'is not', null)
      .where('recent.ended_at', 'is not', null)
      .where('recent.provider_id', 'is not', null)
      .orderBy('recent.ended_at')
      .orderBy('recent.id')
      .execute();
    return rows.map((r) => ({
      taskId: Number(r.id),
      type: r.type,
      providerId: r.provider_id as string,
      seconds: Number(r.ended_at) - Number(r.started_at),
    }));
  }

  /** The distinct types of the SCHEDULED tasks: a loose index scan of the claim index (min type, then the next above it…). */
  private async queuedTypes(): Promise<string[]> {
    const rows = await this.db
      .withRecursive('queued(type)', (db) =>
        db
          .selectFrom('tasks')
          .select((eb) => eb.fn.min<string | null>('type').as('type'))
          .where(scheduled)
          .unionAll(
            db
              .selectFrom('queued')
              .select((eb) =>
                eb
                  .selectFrom('tasks')
                  .select((e) => e.fn.min<string>('tasks.type').as('next'))
                  .where(scheduled)
                  .whereRef('tasks.type', '>', 'queued.type')
                  .as('type'),
              )
              .where('queued.type', 'is not', null),
          ),
      )
      .selectFrom('queued')
      .select('queued.type')
      .where('queued.type', 'is not', null)
      .execute();
    return rows.map((r) => r.type as string);
  }

  async queueBreakdown(types: string[], maxParties: number): Promise<TypeQueue[]> {
    const only = [...new Set(types)];
    // Checked here once: the three statements below run at once, and a refusal from each would leave
    // two rejections nobody awaits.
    refuseNulParameters(only);
    // Each count is its own statement over one status's partial index (status as a literal, see
    // inStatus): per priority an index-only read of the (type, priority DESC, vtime, id) dispatch
    // index; per party the same rows with their owner columns; running ones from the lease index.
    // Not one snapshot: a claim between the statements may show a task both waiting and running.
    const [priorities, parties, running] = await Promise.all([
      this.db
        .selectFrom('tasks')
        .select((eb) => ['type', 'priority', eb.fn.countAll<number | string>().as('n')])
        .where(scheduled)
        .$if(only.length > 0, (q) => q.where('type', 'in', only))
        .groupBy(['type', 'priority'])
        .execute(),
      this.partiesWaiting(only, maxParties),
      this.db
        .selectFrom('tasks')
        .select((eb) => ['type', eb.fn.countAll<number | string>().as('n')])
        .where((eb) => inStatus(eb, TASK_STATUS.RUNNING))
        .$if(only.length > 0, (q) => q.where('type', 'in', only))
        .groupBy('type')
        .execute(),
    ]);
    const queues = new Map<string, TypeQueue>();
    const queueOf = (type: string): TypeQueue => {
      let q = queues.get(type);
      if (q === undefined) {
        q = { type, scheduled: 0, running: 0, byPriority: [], byParty: [], otherParties: 0, otherPartiesScheduled: 0 };
        queues.set(type, q);
      }
      return q;
    };
    for (const type of only) queueOf(type);
    for (const r of priorities) {
      const q = queueOf(r.type);
      q.scheduled += Number(r.n);
      q.byPriority.push({ priority: r.priority, scheduled: Number(r.n) });
    }
    for (const r of running) queueOf(r.type).running = Number(r.n);
    for (const r of parties.sort((a, b) => Number(a.rank) - Number(b.rank))) {
      const q = queueOf(r.type);
      q.byParty.push({ kind: PARTY_KINDS[Number(r.kind)] ?? 'app', id: r.party, scheduled: Number(r.n) });
      q.otherParties = Number(r.parties);
    }
    for (const q of queues.values()) {
      q.byPriority.sort((a, b) => b.priority - a.priority);
      q.otherParties -= q.byParty.length;
      q.otherPartiesScheduled = q.scheduled - q.byParty.reduce((sum, p) => sum + p.scheduled, 0);
    }
    return [...queues.values()].sort((a, b) => compareText(a.type, b.type));
  }

  /**
   * The waiting tasks per type and party, the `maxParties` largest parties of each type (ties: the
   * one with the oldest waiting task first, the same on both databases), each row with the type's
   * number of parties. Anonymous sessions are one party here, their keys never read out.
   */
  private partiesWaiting(types: string[], maxParties: number) {
    const owners = this.db
      .selectFrom('tasks')
      .select((eb) => [
        'type',
        'id',
        eb.case().when('user_id', 'is not', null).then(eb.lit(0)).when('anon_key', 'is not', null).then(eb.lit(1)).else(eb.lit(2)).end().as('kind'),
        eb.fn.coalesce('user_id', eb.case().when('anon_key', 'is', null).then(eb.ref('app_id')).end()).as('party'),
      ])
      .where(scheduled)
      .$if(types.length > 0, (q) => q.where('type', 'in', types))
      .as('owners');
    const ranked = this.db
      .selectFrom(owners)
      .select((eb) => [
        'owners.type',
        'owners.kind',
        'owners.party',
        eb.fn.countAll<number | string>().as('n'),
        eb.fn
          .agg<number | string>('row_number', [])
          .over((ob) => ob.partitionBy('owners.type').orderBy(eb.fn.countAll(), 'desc').orderBy(eb.fn.min('owners.id')))
          .as('rank'),
        // Over the groups, not the rows: window functions run after GROUP BY.
        eb.fn
          .countAll<number | string>()
          .over((ob) => ob.partitionBy('owners.type'))
          .as('parties'),
      ])
      .groupBy(['owners.type', 'owners.kind', 'owners.party'])
      .as('ranked');
    return this.db.selectFrom(ranked).selectAll().where('ranked.rank', '<=', maxParties).execute();
  }

  async scheduledInDispatchOrder(filter: { type?: string; limit: number }): Promise<Task[]> {
    if (!(filter.limit > 0)) return [];
    const types = filter.type !== undefined ? [filter.type] : await this.queuedTypes();
    if (types.length === 0) return [];
    // As a claim picks its candidates (claimTasks): each type's first `limit` from the dispatch index,
    // then the first `limit` of those; only then the rows themselves, by id.
    const firstOf = (type: string, i: number) =>
      this.db
        .selectFrom(
          this.db
            .selectFrom('tasks')
            .select(['id', 'priority', 'vtime'])
            .where(scheduled)
            .where('type', '=', type)
            .orderBy('priority', 'desc')
            .orderBy('vtime')
            .orderBy('id')
            .limit(filter.limit)
            .as(`t${i}`),
        )
        .select([`t${i}.id as id`, `t${i}.priority as priority`, `t${i}.vtime as vtime`]);
    let union = firstOf(types[0] as string, 0);
    for (let i = 1; i < types.length; i++) union = union.unionAll(firstOf(types[i] as string, i));
    const first = this.db
      .selectFrom(union.as('queued'))
      .select('queued.id')
      .orderBy('queued.priority', 'desc')
      .orderBy('queued.vtime')
      .orderBy('queued.id')
      .limit(filter.limit);
    const rows = await this.db
      .selectFrom('tasks')
      .select(TASK_COLUMNS)
      .where('id', 'in', first)
      // Still waiting: read apart from the ids, a task claimed in between is left out.
      .where(scheduled)
      .execute();
    return rows.map(toTask).sort(inDispatchOrder);
  }
}

/** The party kinds of queueBreakdown's rows, by the number its query gives each. */
const PARTY_KINDS: Record<number, QueueParty['kind']> = { 0: 'user', 1: 'anonymous', 2: 'app' };

const num = (v: number | string): number => Number(v);
const numOrNull = (v: number | string | null): number | null => (v === null ? null : Number(v));

function toTask(row: TaskRow): Task {
  return {
    id: num(row.id),
    type: row.type,
    status: row.status as TaskStatus,
    userId: row.user_id,
    anonKey: row.anon_key,
    appId: row.app_id,
    customId: row.custom_id,
    input: JSON.parse(row.input) as TaskIO,
    output: row.output === null ? null : (JSON.parse(row.output) as TaskIO),
    progress: row.progress,
    errorMessage: row.error_message,
    userFacingErrorMessage: row.user_facing_error,
    webhookUri: row.webhook_uri,
    webhookMethod: row.webhook_method,
    includeWatermark: row.include_watermark === 1,
    allowCleanup: row.allow_cleanup === 1,
    providerId: row.provider_id,
    leaseOwner: row.lease_owner,
    leaseExpiresAt: numOrNull(row.lease_expires_at),
    attempts: row.attempts,
    scheduledAt: numOrNull(row.scheduled_at),
    startedAt: numOrNull(row.started_at),
    endedAt: numOrNull(row.ended_at),
    lastUpdated: num(row.last_updated),
    completionExpectedAt: numOrNull(row.completion_expected_at),
    preferStreaming: row.prefer_streaming === 1,
    priority: row.priority,
    vtime: num(row.vtime),
  };
}
