import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { type Generated, Kysely, sql } from 'kysely';
import { GroupCommitSqliteDialect, openSqlite } from '../../src/store/sqlite.js';

interface Db {
  items: { id: Generated<number>; name: string };
  refs: { id: Generated<number>; item_id: number };
}

/** A Kysely on the group-commit driver, and a second connection that sees only committed rows. */
async function open(t: TestContext) {
  const dir = await mkdtemp(join(tmpdir(), 'taskproc-group-'));
  const file = join(dir, 'g.db');
  const db = new Kysely<Db>({ dialect: new GroupCommitSqliteDialect(openSqlite(file)) });
  await sql`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)`.execute(db);
  // A deferred foreign key is checked at COMMIT: the way to make a commit itself fail.
  await sql`CREATE TABLE refs (id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL REFERENCES items(id) DEFERRABLE INITIALLY DEFERRED)`.execute(db);
  const observer = new BetterSqlite3(file, { readonly: true });
  const committedNames = () => (observer.prepare('SELECT name FROM items ORDER BY id').all() as { name: string }[]).map((r) => r.name);
  t.after(async () => {
    observer.close();
    await db.destroy();
    await rm(dir, { recursive: true, force: true });
  });
  return { db, committedNames };
}

const insert = (db: Kysely<Db>, name: string) => db.insertInto('items').values({ name }).returning('id').executeTakeFirstOrThrow();

test('writes of one turn commit together, and each caller hears back only once its row is committed', async (t) => {
  const { db, committedNames } = await open(t);
  const seenAtResolve: string[][] = [];
  await Promise.all(['a', 'b', 'c'].map((name) => insert(db, name).then(() => seenAtResolve.push(committedNames()))));
  // Every caller, when told "done", could already read all three rows from another connection.
  assert.deepEqual(seenAtResolve, [
    ['a', 'b', 'c'],
    ['a', 'b', 'c'],
    ['a', 'b', 'c'],
  ]);
});

test('a write of the next turn joins the open group: nobody hears back before the one commit of both', async (t) => {
  const { db, committedNames } = await open(t);
  const seenAtResolve: string[][] = [];
  const first = insert(db, 'first').then(() => seenAtResolve.push(committedNames()));
  // The next event-loop turn (when the requests answered by the previous commit arrive): the
  // first setImmediate runs before the driver's end-of-turn check, the second after it.
  for (let i = 0; i < 2; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(committedNames(), [], 'the first write is not committed after one turn');
  const second = insert(db, 'second').then(() => seenAtResolve.push(committedNames()));
  await Promise.all([first, second]);
  assert.deepEqual(seenAtResolve, [
    ['first', 'second'],
    ['first', 'second'],
  ]);
});

test('a failing statement fails alone; the rest of its group commits', async (t) => {
  const { db, committedNames } = await open(t);
  await insert(db, 'taken');
  const results = await Promise.allSettled([insert(db, 'x'), insert(db, 'taken'), insert(db, 'y')]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  assert.match(String((results[1] as PromiseRejectedResult).reason), /UNIQUE constraint failed/);
  assert.deepEqual(committedNames(), ['taken', 'x', 'y']);
});

test('a commit that fails rejects every member of the group, and none of its rows exist', async (t) => {
  const { db, committedNames } = await open(t);
  await insert(db, 'before');
  const results = await Promise.allSettled([insert(db, 'lost-1'), db.insertInto('refs').values({ item_id: 999 }).execute(), insert(db, 'lost-2')]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['rejected', 'rejected', 'rejected'],
  );
  for (const r of results) assert.match(String((r as PromiseRejectedResult).reason), /FOREIGN KEY constraint failed/);
  assert.deepEqual(committedNames(), ['before']);
  // The connection is usable afterwards.
  await insert(db, 'after');
  assert.deepEqual(committedNames(), ['before', 'after']);
});

test('a transaction joins the group as a unit: its rollback keeps the neighbours, its commit waits for the group', async (t) => {
  const { db, committedNames } = await open(t);
  const rolledBack = db.transaction().execute(async (trx) => {
    await insert(trx, 'inside');
    throw new Error('changed my mind');
  });
  const neighbour = insert(db, 'neighbour');
  await assert.rejects(rolledBack, /changed my mind/);
  await neighbour;
  assert.deepEqual(committedNames(), ['neighbour']);

  let seen: string[] = [];
  await db
    .transaction()
    .execute(async (trx) => {
      await insert(trx, 't1');
      await new Promise((resolve) => setTimeout(resolve, 5)); // spans several turns
      await insert(trx, 't2');
    })
    .then(() => (seen = committedNames()));
  assert.deepEqual(seen, ['neighbour', 't1', 't2']);
});

test('a read in a turn with uncommitted writes waits for their commit; a read alone does not open a transaction', async (t) => {
  const { db, committedNames } = await open(t);
  const write = insert(db, 'w');
  const read = db
    .selectFrom('items')
    .select('name')
    .execute()
    .then((rows) => ({ rows: rows.map((r) => r.name), committed: committedNames() }));
  await write;
  assert.deepEqual(await read, { rows: ['w'], committed: ['w'] });
  assert.deepEqual(
    (await db.selectFrom('items').select('name').execute()).map((r) => r.name),
    ['w'],
  );
});
