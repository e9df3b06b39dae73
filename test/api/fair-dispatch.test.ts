import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type HttpWorker, providerPayload, SHAPE } from '../helpers/http-worker.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';
import { createTestSchema, type TestSchema } from '../helpers/store.js';
import { until } from '../helpers/until.js';

/**
 * Fair and prioritised dispatch (issue 22), seen from outside: users schedule through the user
 * routes or through an ExApp acting for them on `tasks_consumer` (no rate limit), ExApp workers
 * claim over HTTP, and the order they are handed tasks in is what the test asserts. The built-in
 * runner takes nothing (`runnerConcurrency: 0`), so every claim is one the test sees.
 */

const V2 = '/ocs/v2.php/taskprocessing';
const APP = 'fairapp';
const TYPE = 'fair:echo';
const PROVIDER = 'fair-echo';
const URGENT = 'fair:urgent';
const URGENT_PROVIDER = 'fair-urgent';
const TYPES = [TYPE, URGENT];
const PROVIDERS = [PROVIDER, URGENT_PROVIDER];
/** Schedules in flight at once: enough to keep both cores busy, few enough for a 2-core machine. */
const LANES = 25;

const customType = (id: string) => ({
  id,
  name: id,
  description: 'Echoes its input',
  input_shape: [{ name: 'input', description: 'Text', shape_type: SHAPE.Text }],
  output_shape: [{ name: 'output', description: 'Text', shape_type: SHAPE.Text }],
});

/** Starts a node whose ExApp serves both test types; the rate limit is off so users can schedule in bulk. */
async function startFairServer(config: Parameters<typeof startServer>[0] = {}): Promise<TestServer> {
  const s = await startServer({ ...config, config: { runnerConcurrency: 0, ...config.config } });
  await s.app.settings.set('rateLimitEnabled', false);
  return s;
}

async function registerTypes(s: TestServer): Promise<void> {
  const w = await s.addExApp(APP);
  for (const [provider, type] of [
    [PROVIDER, TYPE],
    [URGENT_PROVIDER, URGENT],
  ] as const) {
    const r = await w.register(providerPayload({ id: provider, task_type: type }), customType(type));
    assert.equal(r.status, 200, r.text);
  }
  w.close();
}

/**
 * A user known to the server without a password: ExApps act for users by name alone, and hashing
 * fifty passwords with argon2 would cost seconds for nothing.
 */
async function addBareUser(s: TestServer, uid: string): Promise<void> {
  await s.app.store.users.createUser({ id: uid, displayName: uid, passwordHash: 'unused', isAdmin: false, isGuest: false, enabled: true, createdAt: 0 });
}

/** ExApp clients acting for `uid` on `servers` (round robin), enough sockets for LANES requests in flight. */
async function consumersFor(servers: TestServer[], uid: string): Promise<HttpWorker[]> {
  const clients: HttpWorker[] = [];
  for (let i = 0; i < Math.ceil(LANES / 4); i++) clients.push(await (servers[i % servers.length] as TestServer).addExApp(APP, { userId: uid }));
  return clients;
}

const consumerSchedule = (c: HttpWorker, body: Record<string, unknown>) =>
  c.request('POST', `${V2}/tasks_consumer/schedule`, { json: { type: TYPE, appId: 'fair', input: { input: 'x' }, ...body } });

/**
 * Schedules `count` tasks through `clients`, `lanes` at a time; returns their ids, ascending.
 * Schedules that overlap in time have no age order between them: one party's concurrent schedules
 * may take their vtimes in another order than their ids (store/task-queries.ts createTask: on
 * PostgreSQL the insert may draw its id before it waits for the party's row; on SQLite they are two
 * statements), so tests that assert strict age order schedule one at a time.
 */
async function scheduleMany(clients: HttpWorker[], count: number, body: Record<string, unknown> = {}, lanes = LANES): Promise<number[]> {
  const ids: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(lanes, count) }, async (_, lane) => {
      const c = clients[lane % clients.length] as HttpWorker;
      while (next < count) {
        next++;
        const r = await consumerSchedule(c, body);
        assert.equal(r.status, 200, r.text);
        ids.push(r.json.ocs.data.task.id);
      }
    }),
  );
  return ids.sort((a, b) => a - b);
}

async function userSchedule(s: TestServer, user: TestUser, body: Record<string, unknown> = {}): Promise<number> {
  const r = await s.ocs('POST', `${V2}/schedule`, { auth: user.auth, body: { type: TYPE, appId: 'fair', input: { input: 'x' }, ...body } });
  assert.equal(r.status, 200, r.text);
  return r.json.ocs.data.task.id;
}

async function queuePosition(s: TestServer, user: TestUser, id: number): Promise<number> {
  const r = await s.ocs('GET', `${V2}/tasks/${id}/queue_position`, { auth: user.auth });
  assert.equal(r.status, 200, r.text);
  return r.json.ocs.data;
}

interface Claim {
  /** The order the claim's request was sent in, over all workers (0 first). */
  seq: number;
  id: number;
  userId: string | null;
}

/**
 * Workers polling with `next` (a 1 s long-poll, so an empty queue costs no spinning), each
 * finishing its task before it asks again, as an ExApp's loop does. A claim's `seq` is taken when
 * its request is sent: every claim sent after a schedule's answer sees that task.
 */
class Claimers {
  readonly claims: Claim[] = [];
  readonly errors: string[] = [];
  sent = 0;
  private readonly done: Promise<unknown>;

  constructor(
    readonly workers: HttpWorker[],
    private readonly stop: (c: Claimers) => boolean,
  ) {
    this.done = Promise.all(workers.map((w) => this.loop(w)));
  }

  private async loop(w: HttpWorker): Promise<void> {
    while (this.errors.length === 0 && !this.stop(this)) {
      const seq = this.sent++;
      const r = await w.next(PROVIDERS, TYPES, { wait: 1 });
      if (r.status === 204) continue;
      if (r.status !== 200) {
        this.errors.push(`next: ${r.status} ${r.text}`);
        return;
      }
      const task = r.json.ocs.data.task;
      this.claims.push({ seq, id: task.id, userId: task.userId });
      const done = await w.result(task.id, { output: `done ${task.id}` });
      if (done.status !== 200) this.errors.push(`result ${task.id}: ${done.status} ${done.text}`);
    }
  }

  async finish(): Promise<Claim[]> {
    await this.done;
    assert.deepEqual(this.errors, []);
    return [...this.claims].sort((a, b) => a.seq - b.seq);
  }

  seqOf(id: number): number | undefined {
    return this.claims.find((c) => c.id === id)?.seq;
  }
}

const WORKERS = 4;
const BACKLOG = 2000;

/**
 * Case 1 on `nodes` (one node, or two sharing a database): A schedules BACKLOG tasks through
 * tasks_consumer, B one task after them; B's place is 2 (behind A's first). WORKERS workers, spread
 * over the nodes, claim; B's task is among the first WORKERS + 1 claims sent. When 100 claims are
 * done, C schedules one: it is among the first WORKERS + 1 claims sent after C's schedule answered.
 * (At most WORKERS claims are in flight when a task arrives, each takes one task, and only the
 * head of A's queue shares the newcomer's vtime and is older: so WORKERS + 1 is a strict bound.)
 * A's tasks come out in age order: the ones claimed are A's oldest, give or take the LANES schedules
 * that were in flight together (see scheduleMany) and one per other worker.
 */
async function backlogThenNewcomer(nodes: TestServer[], backlog = BACKLOG): Promise<void> {
  const first = nodes[0] as TestServer;
  const last = nodes.at(-1) as TestServer;
  const tag = randomBytes(3).toString('hex');
  const [a, b, c] = ['a', 'b', 'c'].map((x) => `${x}-${tag}`) as [string, string, string];
  await addBareUser(first, a);
  const bUser = await last.addUser(b);
  const cUser = await first.addUser(c);
  const aClients = await consumersFor(nodes, a);
  const workers = await Promise.all(Array.from({ length: WORKERS }, (_, i) => (nodes[i % nodes.length] as TestServer).addExApp(APP)));
  try {
    const aIds = await scheduleMany(aClients, backlog);
    const bId = await userSchedule(last, bUser);
    assert.equal(await queuePosition(last, bUser, bId), 2, "B's task waits behind A's first only");
    assert.equal(await queuePosition(first, bUser, bId), 2, 'every node counts the same place');

    let cId: number | undefined;
    let cSentFrom = -1;
    const claimers = new Claimers(workers, (k) => cId !== undefined && k.seqOf(cId) !== undefined);
    await until('100 claims', () => claimers.claims.length >= 100 || claimers.errors.length > 0, 30_000);
    cId = await userSchedule(first, cUser);
    cSentFrom = claimers.sent;
    const claims = await claimers.finish();

    const bSeq = claimers.seqOf(bId);
    assert.ok(bSeq !== undefined && bSeq < WORKERS + 1, `B's task was claim #${bSeq}, not among the first ${WORKERS + 1}`);
    const cSeq = claimers.seqOf(cId) as number;
    assert.ok(cSeq - cSentFrom < WORKERS + 1, `C's task was claim #${cSeq - cSentFrom} sent after it was scheduled, not among the first ${WORKERS + 1}`);

    const ids = claims.map((k) => k.id);
    assert.equal(new Set(ids).size, ids.length, 'no task claimed twice');
    const aClaimed = claims.filter((k) => k.userId === a).map((k) => k.id);
    assert.ok(aClaimed.length >= 100, `A's tasks claimed: ${aClaimed.length}`);
    // A's schedules ran LANES at a time, and schedules that overlap in time have no age order between
    // them (on PostgreSQL a statement may draw its id before it waits for the party's row, so their ids
    // and vtimes may disagree); concurrent claims skip rows another claim has locked (SKIP LOCKED). So
    // the claimed ones are A's oldest give or take the schedules in flight together and one per worker.
    const newestAllowed = [...aIds].sort((x, y) => x - y)[aClaimed.length - 1 + LANES - 1 + WORKERS - 1] as number;
    assert.ok(
      aClaimed.every((id) => id <= newestAllowed),
      `the claimed tasks of A are A's oldest: age decides within a user (newest claimed ${Math.max(...aClaimed)}, allowed ${newestAllowed})`,
    );
  } finally {
    for (const w of [...aClients, ...workers]) w.close();
  }
}

describe('fair dispatch: a backlog does not hold up a newcomer', () => {
  let s: TestServer;
  before(async () => {
    s = await startFairServer();
    await registerTypes(s);
  });
  after(async () => s?.close());

  it(`A schedules ${BACKLOG} through tasks_consumer, then B one: B is 2nd in the queue and among the first ${WORKERS + 1} claims of ${WORKERS} workers; so is C, arriving mid-run`, async () => {
    await backlogThenNewcomer([s]);
  });
});

describe('fair dispatch: 50 users × 200 tasks, scheduled user by user', () => {
  const USERS = 50;
  const EACH = 200;
  let s: TestServer;
  before(async () => {
    s = await startFairServer();
    await registerTypes(s);
  });
  after(async () => s?.close());

  it("hands every user's first task out within the first round of 50 claims, and their second within the next", async () => {
    const uids = Array.from({ length: USERS }, (_, i) => `user${String(i).padStart(2, '0')}`);
    const firstIds: number[] = [];
    for (const uid of uids) {
      await addBareUser(s, uid);
      const clients = await consumersFor([s], uid);
      // The first alone, so it is the user's oldest in both id and queue order; then the rest.
      const [first] = await scheduleMany(clients, 1);
      await scheduleMany(clients, EACH - 1);
      for (const c of clients) c.close();
      firstIds.push(first as number);
    }
    // The last user's first task is the 50th in the queue (behind every user's first), not the 9 801st.
    const last = await s.addUser(uids.at(-1) as string);
    assert.equal(await queuePosition(s, last, firstIds.at(-1) as number), USERS);

    const workers = await Promise.all(Array.from({ length: WORKERS }, () => s.addExApp(APP)));
    try {
      for (const round of [1, 2]) {
        // Exactly USERS claims sent: they take the USERS tasks at the head of the queue.
        const claims = await new Claimers(workers, (k) => k.sent >= USERS).finish();
        assert.equal(claims.length, USERS);
        const users = new Set(claims.map((k) => k.userId));
        assert.equal(users.size, USERS, `round ${round}: the ${USERS} claims served ${users.size} users`);
        if (round === 1)
          assert.deepEqual(
            claims.map((k) => k.id).sort((x, y) => x - y),
            firstIds,
            "round 1 is each user's oldest task",
          );
      }
    } finally {
      for (const w of workers) w.close();
    }
  });
});

describe('fair dispatch: priority first, then fairness, then age', () => {
  let s: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  let dave: TestUser;
  let aliceApp: HttpWorker;
  let worker: HttpWorker;

  before(async () => {
    s = await startFairServer();
    await registerTypes(s);
    [alice, bob, carol, dave] = (await Promise.all(['alice', 'bob', 'carol', 'dave'].map((u) => s.addUser(u)))) as [TestUser, TestUser, TestUser, TestUser];
    aliceApp = await s.addExApp(APP, { userId: 'alice' });
    worker = await s.addExApp(APP);
    await s.app.settings.set('typePriorities', { [URGENT]: 5 });
  });
  after(async () => {
    aliceApp?.close();
    worker?.close();
    await s?.close();
  });

  /** Claims one at a time until the queue is empty; the ids in the order handed out. */
  const drain = async (): Promise<number[]> => {
    const order: number[] = [];
    for (;;) {
      const r = await worker.next(PROVIDERS, TYPES);
      if (r.status === 204) return order;
      assert.equal(r.status, 200, r.text);
      order.push(r.json.ocs.data.task.id);
      assert.equal((await worker.result(r.json.ocs.data.task.id, { output: 'ok' })).status, 200);
    }
  };

  it('claims the higher-priority type first, a lowered task last, and a backlog in age order; each place matches the claim order', async () => {
    // One at a time: age order is asserted.
    const aIds = await scheduleMany([aliceApp], 20, {}, 1);
    const low = await userSchedule(s, bob, { priority: -1 });
    const fair = await userSchedule(s, dave);
    const urgent = await userSchedule(s, carol, { type: URGENT });
    const expected = [urgent, aIds[0], fair, ...aIds.slice(1), low] as number[];
    const owner = new Map<number, TestUser>([[urgent, carol], [fair, dave], [low, bob], ...aIds.map((id) => [id, alice] as [number, TestUser])]);
    // Before any claim, each task's place is 1 + the number of tasks claimed before it.
    for (const [i, id] of expected.entries()) assert.equal(await queuePosition(s, owner.get(id) as TestUser, id), i + 1, `place of task ${id}`);
    assert.deepEqual(await drain(), expected);
  });

  it('refuses a priority above the type’s from a user, and anything but a whole number from -100 to 100, with a message', async () => {
    const refused = async (body: Record<string, unknown>, message: string) => {
      const r = await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body: { type: TYPE, appId: 'fair', input: { input: 'x' }, ...body } });
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.json.ocs.meta.statuscode, 400);
      assert.deepEqual(r.json.ocs.data, { message }, JSON.stringify(body));
    };
    const behind = (n: number) => `Parameter "priority" may be at most ${n}, this task type's priority: a task can only be put behind others`;
    const range = 'Parameter "priority" must be a whole number from -100 to 100';
    await refused({ priority: 1 }, behind(0));
    await refused({ priority: '1' }, behind(0));
    await refused({ type: URGENT, priority: 6 }, behind(5));
    for (const priority of ['high', 1.5, -101, 101, [1], true]) await refused({ priority }, range);
    // Equal to the type's, or lower, is accepted; a form-encoded string too.
    await userSchedule(s, alice, { type: URGENT, priority: 5 });
    await userSchedule(s, alice, { priority: -100 });
    const form = await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, form: `type=${TYPE}&appId=fair&input[input]=x&priority=-3` });
    assert.equal(form.status, 200, form.text);
    await drain();
  });

  it('lets an ExApp on tasks_consumer raise a task by at most exapp_priority_boost, and hands that task out first', async () => {
    const appRefused = async (priority: number, message: string) => {
      const r = await consumerSchedule(aliceApp, { priority });
      assert.equal(r.status, 400, r.text);
      assert.deepEqual(r.json.ocs.data, { message });
    };
    await appRefused(1, 'Parameter "priority" may be at most 0 for this task type (its priority 0 plus the 0 the admin allows apps)');
    await s.app.settings.set('exAppPriorityBoost', 10);
    await appRefused(11, 'Parameter "priority" may be at most 10 for this task type (its priority 0 plus the 10 the admin allows apps)');
    // The boost is for apps: a user still may not raise.
    const user = await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body: { type: TYPE, appId: 'fair', input: { input: 'x' }, priority: 1 } });
    assert.equal(user.status, 400, user.text);

    const backlog = await scheduleMany([aliceApp], 5, {}, 1);
    const urgent = await userSchedule(s, carol, { type: URGENT });
    const boosted = await consumerSchedule(aliceApp, { priority: 10 });
    assert.equal(boosted.status, 200, boosted.text);
    const boostedId = boosted.json.ocs.data.task.id as number;
    assert.equal(await queuePosition(s, alice, boostedId), 1);
    assert.deepEqual(await drain(), [boostedId, urgent, ...backlog]);
    await s.app.settings.set('exAppPriorityBoost', 0);
  });
});

describe('fair dispatch: two nodes on one PostgreSQL schema', () => {
  let schema: TestSchema;
  let nodes: TestServer[] = [];
  const tag = randomBytes(4).toString('hex');

  before(async () => {
    // Like cross-node.test.ts: this runs on PostgreSQL in both passes, on a schema of its own.
    schema = await createTestSchema();
    const url = (name: string) => {
      const u = new URL(schema.url);
      u.searchParams.set('application_name', name);
      return u.toString();
    };
    nodes = [
      await startFairServer({ config: { databaseUrl: url(`fair_a_${tag}`) } }),
      await startFairServer({ config: { databaseUrl: url(`fair_b_${tag}`) } }),
    ];
    await registerTypes(nodes[0] as TestServer);
    const probe = await (nodes[1] as TestServer).addUser('probe');
    // The second node learns of the registration from the database, within its catalog's reload time.
    await until(
      'node B to know the types',
      async () => (await (nodes[1] as TestServer).ocs('GET', `${V2}/tasktypes`, { auth: probe.auth })).json.ocs.data.types[TYPE] !== undefined,
    );
  });
  after(async () => {
    for (const n of nodes) await n.close();
    await schema?.drop();
  });

  it('case 1 holds with A scheduling and workers claiming on both nodes', async () => {
    // Half the backlog keeps the file's time down; the bounds do not depend on the backlog's size.
    await backlogThenNewcomer(nodes, BACKLOG / 2);
  });
});

describe('fair dispatch: 16 workers, several users, mixed priorities', () => {
  const USERS = 6;
  const EACH = 120;
  let s: TestServer;
  before(async () => {
    s = await startFairServer();
    await registerTypes(s);
  });
  after(async () => s?.close());

  it(`claims each of ${USERS * EACH} tasks exactly once, with next, next_batch and long-polls, while users schedule`, async () => {
    const workers = await Promise.all(Array.from({ length: 16 }, () => s.addExApp(APP)));
    const claimedBy: number[][] = workers.map(() => []);
    const total = USERS * EACH;
    let finished = 0;
    let scheduledAll = false;
    const errors: string[] = [];
    const run = async (i: number) => {
      const w = workers[i] as HttpWorker;
      while ((!scheduledAll || finished < total) && errors.length === 0) {
        let tasks: any[] = [];
        if (i % 4 === 1) {
          const r = await w.nextBatch(PROVIDERS, TYPES, 7, { wait: 1 });
          if (r.status !== 200) errors.push(`next_batch: ${r.status} ${r.text}`);
          else tasks = r.json.ocs.data.tasks.map((e: any) => e.task);
        } else {
          const r = await w.next(PROVIDERS, TYPES, { wait: 1 });
          if (r.status === 200) tasks = [r.json.ocs.data.task];
          else if (r.status !== 204) errors.push(`next: ${r.status} ${r.text}`);
        }
        for (const task of tasks) {
          (claimedBy[i] as number[]).push(task.id);
          const r = await w.result(task.id, { output: `done ${task.id}` });
          if (r.status !== 200) errors.push(`result ${task.id}: ${r.status} ${r.text}`);
          finished++;
        }
      }
    };
    const running = workers.map((_, i) => run(i));
    const scheduled = (
      await Promise.all(
        Array.from({ length: USERS }, async (_, u) => {
          const uid = `many${u}`;
          await addBareUser(s, uid);
          const clients = await consumersFor([s], uid);
          // Every other user's tasks are lowered; one user's go to the urgent type.
          const body = u === 0 ? { type: URGENT } : u % 2 === 0 ? { priority: -2 } : {};
          const ids = await scheduleMany(clients, EACH, body);
          for (const c of clients) c.close();
          return ids;
        }),
      )
    ).flat();
    scheduledAll = true;
    await Promise.all(running);
    for (const w of workers) w.close();
    assert.deepEqual(errors, []);
    const all = claimedBy.flat();
    assert.equal(all.length, total, 'as many claims as tasks');
    assert.equal(new Set(all).size, total, 'no task claimed twice');
    assert.deepEqual(
      [...all].sort((a, b) => a - b),
      [...scheduled].sort((a, b) => a - b),
      'every scheduled task was claimed',
    );
    assert.ok(claimedBy.filter((ids) => ids.length > 0).length > 1, 'the work was shared');
  });
});
