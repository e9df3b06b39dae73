import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BlobStore } from '../../src/files/blob-store.js';
import { LocalFileService } from '../../src/files/local-file-service.js';
import { systemClock } from '../../src/core/clock.js';
import { openStore } from '../../src/store/open-store.js';
import { type CliResult, ensureBuilt, migratedDataDir, runCli } from './run-cli.js';

before(ensureBuilt);

function ok(r: CliResult): string {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

/** The contents the server would serve for a user's path, read the way the server reads them. */
async function contentsOf(dataDir: string, uid: string, path: string): Promise<{ id: number; text: string } | undefined> {
  const store = await openStore({ dataDir, databaseUrl: null });
  try {
    const files = new LocalFileService({ files: store.files, users: store.users, blobs: new BlobStore(dataDir), clock: systemClock, maxUpload: 1 << 20 });
    const file = await files.stat(uid, path);
    if (file === undefined) return undefined;
    const opened = await files.open(file.id);
    assert.ok(opened);
    return { id: file.id, text: (await opened.buffer()).toString() };
  } finally {
    await store.close();
  }
}

describe('taskproc file:put, file:list, file:delete', () => {
  let dir = '';
  let local = '';
  const cli = (args: string[]) => runCli([...args, '--data-dir', dir]);

  before(async () => {
    dir = await migratedDataDir('taskproc-cli-files-');
    local = join(dir, 'notes.txt');
    writeFileSync(local, 'some notes');
    ok(await cli(['user:add', 'alice']));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('file:put stores the file under its own name and prints the id last', async () => {
    const out = ok(await cli(['file:put', 'alice', local]));
    const lines = out.trimEnd().split('\n');
    const id = Number(lines.at(-1));
    assert.ok(Number.isInteger(id) && id > 0, out);
    assert.equal(lines[0], `File "notes.txt" stored for alice with id ${id}.`);
    assert.deepEqual(await contentsOf(dir, 'alice', 'notes.txt'), { id, text: 'some notes' });
  });

  it('file:put into a missing folder fails, and succeeds with --parents', async () => {
    const refused = await cli(['file:put', 'alice', local, '--remote-path', 'docs/2024/a.txt']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^Error: The parent folder "docs\/2024" does not exist\nAdd --parents/);
    assert.equal(refused.stdout, '');
    assert.equal(await contentsOf(dir, 'alice', 'docs/2024/a.txt'), undefined);

    const out = ok(await cli(['file:put', 'alice', local, 'docs/2024/a.txt', '--parents']));
    assert.match(out, /^File "docs\/2024\/a.txt" stored for alice with id \d+\.\n\d+\n$/);
    assert.equal((await contentsOf(dir, 'alice', 'docs/2024/a.txt'))?.text, 'some notes');
  });

  it('file:put replaces an existing file, keeping its id', async () => {
    const first = ok(await cli(['file:put', 'alice', local, '--remote-path', 'again.txt']))
      .trimEnd()
      .split('\n')
      .at(-1);
    writeFileSync(local, 'newer notes');
    const second = ok(await cli(['file:put', 'alice', local, 'again.txt']))
      .trimEnd()
      .split('\n')
      .at(-1);
    assert.equal(second, first);
    assert.equal((await contentsOf(dir, 'alice', 'again.txt'))?.text, 'newer notes');
  });

  it('file:put refuses a path with .., a missing local file and an unknown user', async () => {
    const traversal = await cli(['file:put', 'alice', local, '--remote-path', '../bob/x.txt']);
    assert.equal(traversal.code, 1);
    assert.match(traversal.stderr, /^Error: "\.\." is not allowed in a path/);
    const missing = await cli(['file:put', 'alice', join(dir, 'nope.txt')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^Error: Cannot read ".*nope\.txt": ENOENT/);
    const nobody = await cli(['file:put', 'nobody', local]);
    assert.equal(nobody.code, 1);
    assert.match(nobody.stderr, /^Error: User "nobody" does not exist/);
  });

  it('file:list shows what file:put stored, as a table and as JSON', async () => {
    const table = ok(await cli(['file:list', 'alice']));
    assert.match(table, /^ID +SIZE +TYPE +MODIFIED +NAME$/m);
    assert.match(table, /^\d+ +10 +text\/plain +\S+Z +notes\.txt$/m);
    assert.match(table, /^\d+ +- +folder +\S+Z +docs\/$/m);

    const stored = await contentsOf(dir, 'alice', 'docs/2024/a.txt');
    const rows = JSON.parse(ok(await cli(['file:list', 'alice', '--folder', 'docs/2024', '--output', 'json']))) as Array<Record<string, unknown>>;
    assert.deepEqual(
      rows.map((r) => [r.id, r.name, r.path, r.folder, r.size]),
      [[stored?.id, 'a.txt', 'docs/2024/a.txt', false, 10]],
    );
  });

  it('file:list of a missing folder fails', async () => {
    const r = await cli(['file:list', 'alice', '--folder', 'nope']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: File with name nope could not be located/);
  });

  it('file:delete removes a folder with its contents, then says it is gone', async () => {
    assert.equal(ok(await cli(['file:delete', 'alice', 'docs'])), 'Deleted folder "docs" of alice and everything in it.\n');
    assert.equal(await contentsOf(dir, 'alice', 'docs/2024/a.txt'), undefined);
    const again = await cli(['file:delete', 'alice', 'docs']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^Error: User "alice" has no file or folder "docs"/);
  });
});

describe('taskproc user:set-quota', () => {
  it('sets a quota that uploads respect, and lifts it', async () => {
    const dir = await migratedDataDir('taskproc-quota-');
    const local = join(dir, 'ten.bin');
    writeFileSync(local, 'x'.repeat(10));
    const cli = (args: string[]) => runCli([...args, '--data-dir', dir], { TASKPROC_PASS: 'pw' });
    try {
      assert.equal((await cli(['user:add', 'quinn', '--password-from-env'])).code, 0);
      const set = await cli(['user:set-quota', 'quinn', '15']);
      assert.equal(set.code, 0, set.stderr);
      assert.match(set.stdout, /may store 15 bytes/);
      assert.equal((await cli(['file:put', 'quinn', local, 'one.bin'])).code, 0);
      const full = await cli(['file:put', 'quinn', local, 'two.bin']);
      assert.equal(full.code, 1);
      assert.match(full.stderr, /Not enough free space/);
      assert.equal((await cli(['user:set-quota', 'quinn', 'none'])).code, 0);
      assert.equal((await cli(['file:put', 'quinn', local, 'two.bin'])).code, 0);
      const bad = await cli(['user:set-quota', 'quinn', 'lots']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /is not a quota/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
