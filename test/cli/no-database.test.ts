import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { adminQuery, createTestSchema, type TestSchema } from '../helpers/store.js';
import { type CliResult, ensureBuilt, runCli } from './run-cli.js';

/**
 * Issue 18, item 11: an admin command run from another folder than the server's (or without its
 * TASKPROC_DATA_DIR / TASKPROC_DATABASE_URL) used to create a new, empty database there and then
 * answer that the server's users did not exist. It must refuse, say where it looked, and create
 * nothing; `migrate` (and `serve`) still create the database.
 */

before(ensureBuilt);

const ADMIN_COMMANDS = [['user:app-password', 'admin'], ['user:list'], ['config:set', 'anonymous_access', 'true'], ['app:list'], ['task:list']];

function refused(r: CliResult, where: RegExp, hint: RegExp): void {
  assert.equal(r.code, 1, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, where);
  assert.match(r.stderr, hint);
  assert.match(r.stderr, /"taskproc migrate"/);
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe("taskproc admin commands without the server's SQLite database", () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'taskproc-nodb-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('run from another folder without TASKPROC_DATA_DIR: refused, naming ./data there, and nothing is created', async () => {
    for (const args of ADMIN_COMMANDS) {
      const r = await runCli(args, {}, { cwd: dir });
      const where = new RegExp(`^Error: There is no taskproc database at ${escapeRegExp(join(dir, 'data', 'taskproc.db'))}\\.$`, 'm');
      refused(r, where, /TASKPROC_DATA_DIR \(--data-dir\) or TASKPROC_DATABASE_URL/);
      assert.match(r.stderr, /from the folder the server was started in/);
    }
    assert.deepEqual(readdirSync(dir), [], 'no data directory or database file was made');
  });

  it('with a data directory that holds no database: refused, and the directory stays as it was', async () => {
    const missing = join(dir, 'not', 'there');
    const r = await runCli(['user:list', '--data-dir', missing]);
    const where = new RegExp(`There is no taskproc database at ${escapeRegExp(join(missing, 'taskproc.db'))}\\.`);
    refused(r, where, new RegExp(`The data directory is ${escapeRegExp(missing)}\\.`));
    refused(await runCli(['user:list'], { TASKPROC_DATA_DIR: missing }), where, /TASKPROC_DATA_DIR/);
    assert.deepEqual(readdirSync(dir), []);
  });

  it('with a database file that taskproc never migrated (empty): refused, and the file is left untouched', async () => {
    const file = join(dir, 'empty.db');
    writeFileSync(file, '');
    const r = await runCli(['user:list', '--database-url', `sqlite:${file}`]);
    const where = new RegExp(`There is no taskproc database at ${escapeRegExp(file)} \\(the file has no taskproc tables\\)`);
    refused(r, where, /TASKPROC_DATABASE_URL \(--database-url\)/);
    assert.equal(statSync(file).size, 0);
    assert.deepEqual(readdirSync(dir).sort(), ['empty.db']);
    rmSync(file);
  });

  it('migrate creates the database, after which the same commands work', async () => {
    const data = join(dir, 'data');
    const migrated = await runCli(['migrate'], {}, { cwd: dir });
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.ok(statSync(join(data, 'taskproc.db')).size > 0);
    const added = await runCli(['user:add', 'zoe'], {}, { cwd: dir });
    assert.equal(added.code, 0, added.stderr);
    const listed = await runCli(['user:list', '--output', 'json'], {}, { cwd: dir });
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(
      (JSON.parse(listed.stdout) as { uid: string }[]).map((u) => u.uid),
      ['zoe'],
    );
  });
});

describe("taskproc admin commands on a PostgreSQL schema without taskproc's tables", () => {
  let schema: TestSchema;
  before(async () => {
    schema = await createTestSchema();
  });
  after(() => schema?.drop());

  const tablesIn = async (name: string) => {
    const { rows } = await adminQuery('select table_name from information_schema.tables where table_schema = $1 order by 1', [name]);
    return rows.map((r) => r.table_name as string);
  };

  it('refuses, naming the schema and the database (never the password), and creates no table', async () => {
    const url = new URL(schema.url);
    url.password = 'not-shown';
    for (const args of ADMIN_COMMANDS) {
      const r = await runCli([...args, '--database-url', url.toString()]);
      const database = `the PostgreSQL database "${escapeRegExp(url.pathname.slice(1))}" at ${escapeRegExp(url.host)}`;
      const where = new RegExp(`^Error: There is no taskproc database in schema "${schema.name}" of ${database}\\.$`, 'm');
      refused(r, where, /TASKPROC_DATABASE_URL \(--database-url\), with its \?schema=/);
      assert.doesNotMatch(r.stderr, /not-shown/);
    }
    assert.deepEqual(await tablesIn(schema.name), []);
  });

  it('refuses a ?schema= that does not exist, and does not create it', async () => {
    const url = new URL(schema.url);
    const missing = `${schema.name}_none`;
    url.searchParams.set('schema', missing);
    const r = await runCli(['user:list', '--database-url', url.toString()]);
    refused(r, new RegExp(`in schema "${missing}" of the PostgreSQL database`), /--database-url/);
    const { rows } = await adminQuery('select 1 from pg_namespace where nspname = $1', [missing]);
    assert.equal(rows.length, 0);
  });

  it('migrate creates the tables, after which the same commands work', async () => {
    const migrated = await runCli(['migrate', '--database-url', schema.url]);
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.ok((await tablesIn(schema.name)).includes('tasks'));
    const added = await runCli(['user:add', 'zoe', '--database-url', schema.url]);
    assert.equal(added.code, 0, added.stderr);
    const listed = await runCli(['user:list', '--output', 'json', '--database-url', schema.url]);
    assert.deepEqual(
      (JSON.parse(listed.stdout) as { uid: string }[]).map((u) => u.uid),
      ['zoe'],
    );
  });
});
