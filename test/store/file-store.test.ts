import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { DomainError } from '../../src/core/errors.js';
import type { FileContent, FileRecord } from '../../src/store/store.js';
import { createTestStore, TEST_DIALECTS, type TestDialect, type TestStore } from '../helpers/store.js';

const T0 = 1_767_225_600;

let keys = 0;
/** Distinct, well-formed contents; the store never looks at the blob itself. */
function content(over: Partial<FileContent> = {}): FileContent {
  keys += 1;
  return { storageKey: keys.toString(16).padStart(32, '0'), size: 10, sha256: 'c'.repeat(64), mime: 'text/plain', etag: `etag${keys}`, ...over };
}

async function setup(t: TestContext, dialect: TestDialect): Promise<TestStore> {
  const s = await createTestStore(dialect);
  t.after(s.cleanup);
  return s;
}

function isAlreadyExists(error: unknown): boolean {
  assert.ok(error instanceof DomainError);
  assert.equal(error.code, 'method_not_allowed');
  assert.equal(error.message, 'The resource you tried to create already exists');
  return true;
}

const names = (files: FileRecord[]) => files.map((f) => f.name);

const USER = { displayName: 'A', passwordHash: null, isAdmin: false, isGuest: false, enabled: true, createdAt: T0 };

/** The quota's refusal: `needed` bytes asked for, and `available` when given. */
function isNotEnoughSpace(needed: number, available?: number) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof DomainError, String(error));
    assert.equal(error.code, 'insufficient_storage');
    assert.match(error.message, new RegExp(`^Not enough free space: ${needed} bytes needed, ${available ?? '\\d+'} available$`));
    return true;
  };
}

for (const dialect of TEST_DIALECTS) {
  describe(`${dialect}: FileStore`, () => {
    it(`${dialect}: createFolder and createFile round-trip every field`, async (t) => {
      const { store } = await setup(t, dialect);
      const folder = await store.files.createFolder('alice', 'docs', 'etagfolder123', T0);
      assert.deepEqual(folder, {
        id: folder?.id,
        owner: 'alice',
        path: 'docs',
        name: 'docs',
        isFolder: true,
        mime: 'httpd/unix-directory',
        size: 0,
        sha256: null,
        etag: 'etagfolder123',
        storageKey: null,
        taskId: null,
        createdAt: T0,
        updatedAt: T0,
      });
      // Past 2^32: size is a bigint column.
      const c = content({ size: 5_000_000_000, mime: 'image/png' });
      const file = await store.files.createFile('alice', 'docs/Grüße 🌍.png', c, T0 + 1);
      assert.ok(file);
      assert.deepEqual(file, {
        id: file.id,
        owner: 'alice',
        path: 'docs/Grüße 🌍.png',
        name: 'Grüße 🌍.png',
        isFolder: false,
        mime: 'image/png',
        size: 5_000_000_000,
        sha256: c.sha256,
        etag: c.etag,
        storageKey: c.storageKey,
        taskId: null,
        createdAt: T0 + 1,
        updatedAt: T0 + 1,
      });
      assert.deepEqual(await store.files.getFile(file.id), file);
      assert.deepEqual(await store.files.getByPath('alice', 'docs/Grüße 🌍.png'), file);
      assert.equal(await store.files.getByPath('bob', 'docs/Grüße 🌍.png'), undefined);
      assert.equal(await store.files.getByPath('alice', 'docs/grüße 🌍.png'), undefined);
      assert.equal(await store.files.getFile(file.id + 100), undefined);
    });

    it(`${dialect}: create refuses a missing parent or a file as parent with undefined`, async (t) => {
      const { store } = await setup(t, dialect);
      assert.equal(await store.files.createFolder('alice', 'a/b', 'e', T0), undefined);
      assert.equal(await store.files.createFile('alice', 'a/b.txt', content(), T0), undefined);
      await store.files.createFile('alice', 'f.txt', content(), T0);
      assert.equal(await store.files.createFolder('alice', 'f.txt/sub', 'e', T0), undefined);
      assert.equal(await store.files.createFile('alice', 'f.txt/x', content(), T0), undefined);
      // The parent must be the owner's own.
      await store.files.createFolder('bob', 'a', 'e', T0);
      assert.equal(await store.files.createFile('alice', 'a/x', content(), T0), undefined);
      assert.deepEqual(names(await store.files.listChildren('alice', '')), ['f.txt']);
    });

    it(`${dialect}: create refuses a taken path with method_not_allowed, per owner`, async (t) => {
      const { store } = await setup(t, dialect);
      await store.files.createFolder('alice', 'a', 'e', T0);
      await store.files.createFile('alice', 'a/x', content(), T0);
      await assert.rejects(store.files.createFolder('alice', 'a', 'e', T0), isAlreadyExists);
      await assert.rejects(store.files.createFile('alice', 'a', content(), T0), isAlreadyExists);
      await assert.rejects(store.files.createFolder('alice', 'a/x', 'e', T0), isAlreadyExists);
      assert.ok(await store.files.createFolder('bob', 'a', 'e', T0));
    });

    it(`${dialect}: listChildren returns direct children of the owner's folder by name`, async (t) => {
      const { store } = await setup(t, dialect);
      await store.files.createFolder('alice', 'd', 'e', T0);
      for (const name of ['b', 'a', 'B', 'é', '_']) await store.files.createFile('alice', `d/${name}`, content(), T0);
      await store.files.createFolder('alice', 'd/sub', 'e', T0);
      await store.files.createFile('alice', 'd/sub/deep', content(), T0);
      await store.files.createFile('alice', 'top', content(), T0);
      await store.files.createFolder('bob', 'd', 'e', T0);
      await store.files.createFile('bob', 'd/bobs', content(), T0);
      // Code-unit order on every database, whatever its collation.
      assert.deepEqual(names(await store.files.listChildren('alice', 'd')), ['B', '_', 'a', 'b', 'sub', 'é']);
      assert.deepEqual(names(await store.files.listChildren('alice', '')), ['d', 'top']);
      assert.deepEqual(names(await store.files.listChildren('bob', 'd')), ['bobs']);
      assert.deepEqual(await store.files.listChildren('carol', ''), []);
    });

    it(`${dialect}: replaceContent keeps the id and applies only while the storage key matches`, async (t) => {
      const { store } = await setup(t, dialect);
      const first = content();
      const file = await store.files.createFile('alice', 'x.txt', first, T0);
      assert.ok(file);
      const second = content({ size: 20, mime: 'text/markdown' });
      const replaced = await store.files.replaceContent(file.id, first.storageKey, second, T0 + 5);
      assert.deepEqual(replaced, {
        ...file,
        size: 20,
        mime: 'text/markdown',
        sha256: second.sha256,
        etag: second.etag,
        storageKey: second.storageKey,
        updatedAt: T0 + 5,
      });
      // A writer that read the first key lost the race.
      assert.equal(await store.files.replaceContent(file.id, first.storageKey, content(), T0 + 6), undefined);
      assert.deepEqual(await store.files.getFile(file.id), replaced);
      const folder = await store.files.createFolder('alice', 'dir', 'e', T0);
      assert.ok(folder);
      assert.equal(await store.files.replaceContent(folder.id, '', content(), T0), undefined);
    });

    it(`${dialect}: deleteTree removes the entry and everything below, nothing else`, async (t) => {
      const { store } = await setup(t, dialect);
      const keysOf: Record<string, string> = {};
      const file = async (owner: string, path: string) => {
        const c = content();
        keysOf[`${owner}:${path}`] = c.storageKey;
        assert.ok(await store.files.createFile(owner, path, c, T0), path);
      };
      const folder = async (owner: string, path: string) => assert.ok(await store.files.createFolder(owner, path, 'e', T0), path);
      for (const owner of ['alice', 'bob']) {
        await folder(owner, 'a');
        await folder(owner, 'a/b');
        await file(owner, 'a/b/one');
        await folder(owner, 'a/b/c');
        await file(owner, 'a/b/c/two');
      }
      // Siblings a prefix test without the slash, LIKE, or a case-blind match would catch.
      await file('alice', 'a/bc');
      await file('alice', 'a/b.txt');
      await folder('alice', 'a/B');
      await file('alice', 'a/B/three');
      const result = await store.files.deleteTree('alice', 'a/b');
      assert.equal(result.deleted, 4);
      assert.deepEqual(result.storageKeys.sort(), [keysOf['alice:a/b/one'], keysOf['alice:a/b/c/two']].sort());
      assert.deepEqual(names(await store.files.listChildren('alice', 'a')), ['B', 'b.txt', 'bc']);
      assert.ok(await store.files.getByPath('bob', 'a/b/c/two'));
      // A single file, then a path that is not there.
      assert.deepEqual(await store.files.deleteTree('alice', 'a/bc'), { deleted: 1, storageKeys: [keysOf['alice:a/bc']] });
      assert.deepEqual(await store.files.deleteTree('alice', 'a/bc'), { deleted: 0, storageKeys: [] });
    });

    it(`${dialect}: deleteTree matches the prefix literally: % and _ and non-ASCII names`, async (t) => {
      const { store } = await setup(t, dialect);
      for (const path of ['x_%', 'xy%', 'x_%z', 'ü', 'üb']) await store.files.createFolder('alice', path, 'e', T0);
      await store.files.createFile('alice', 'x_%/in', content(), T0);
      await store.files.createFile('alice', 'xy%/in', content(), T0);
      await store.files.createFile('alice', 'ü/in', content(), T0);
      await store.files.createFile('alice', 'üb/in', content(), T0);
      assert.equal((await store.files.deleteTree('alice', 'x_%')).deleted, 2);
      assert.equal((await store.files.deleteTree('alice', 'ü')).deleted, 2);
      assert.deepEqual(names(await store.files.listChildren('alice', '')), ['x_%z', 'xy%', 'üb']);
      assert.ok(await store.files.getByPath('alice', 'xy%/in'));
      assert.ok(await store.files.getByPath('alice', 'üb/in'));
    });

    it(`${dialect}: usedBytes sums the owner's files, not task outputs or other owners'`, async (t) => {
      const { store } = await setup(t, dialect);
      assert.equal(await store.files.usedBytes('alice'), 0);
      await store.files.createFolder('alice', 'd', 'e', T0);
      await store.files.createFile('alice', 'd/big', content({ size: 4_000_000_000 }), T0);
      await store.files.createFile('alice', 'small', content({ size: 7 }), T0);
      await store.files.createFile('bob', 'other', content({ size: 1000 }), T0);
      await store.files.createTaskFile('alice', 1, '1-1.png', content({ size: 500 }), T0);
      assert.equal(await store.files.usedBytes('alice'), 4_000_000_007);
      assert.equal(await store.files.usedBytes('bob'), 1000);
    });

    it(`${dialect}: task files: no path, any number per task, deleted by task ids`, async (t) => {
      const { store } = await setup(t, dialect);
      const c = content({ mime: 'image/png', size: 3 });
      const out = await store.files.createTaskFile('alice', 12, '12-1.png', c, T0);
      assert.deepEqual(out, {
        id: out.id,
        owner: 'alice',
        path: null,
        name: '12-1.png',
        isFolder: false,
        mime: 'image/png',
        size: 3,
        sha256: c.sha256,
        etag: c.etag,
        storageKey: c.storageKey,
        taskId: 12,
        createdAt: T0,
        updatedAt: T0,
      });
      // Same owner and name, null paths: the unique index lets both in.
      const again = await store.files.createTaskFile('alice', 12, '12-1.png', content(), T0);
      const anonymous = await store.files.createTaskFile(null, 13, '13-1', content(), T0);
      const other = await store.files.createTaskFile('bob', 14, '14-1', content(), T0);
      assert.equal(anonymous.owner, null);
      assert.equal(await store.files.countTaskFiles(12), 2);
      assert.equal(await store.files.countTaskFiles(99), 0);
      assert.deepEqual(
        (await store.files.getFiles([other.id, out.id, 999_999, out.id])).map((f) => f.id).sort((a, b) => a - b),
        [out.id, other.id],
      );
      assert.deepEqual(await store.files.getFiles([]), []);

      const freed = await store.files.deleteTaskFiles([12, 13, 500]);
      assert.deepEqual(freed.sort(), [out.storageKey, again.storageKey, anonymous.storageKey].sort());
      assert.equal(await store.files.getFile(out.id), undefined);
      assert.ok(await store.files.getFile(other.id));
      assert.deepEqual(await store.files.deleteTaskFiles([]), []);
    });

    it(`${dialect}: getFiles and deleteTaskFiles take more ids than one IN list holds`, async (t) => {
      const { store } = await setup(t, dialect);
      const ids = Array.from({ length: 1200 }, (_, i) => i + 1);
      const last = await store.files.createTaskFile('alice', 1200, 'last', content(), T0);
      assert.deepEqual(
        (await store.files.getFiles([...ids, last.id])).map((f) => f.id),
        [last.id],
      );
      assert.equal((await store.files.deleteTaskFiles(ids)).length, 1);
    });

    it(`${dialect}: createFile and replaceContent keep the owner within quota_bytes, a replace counted by its growth`, async (t) => {
      const { store } = await setup(t, dialect);
      await store.users.createUser({ id: 'alice', ...USER, quotaBytes: 100 });
      const a = await store.files.createFile('alice', 'a', content({ size: 60 }), T0);
      assert.ok(a);
      await assert.rejects(store.files.createFile('alice', 'b', content({ size: 41 }), T0), isNotEnoughSpace(41, 40));
      assert.equal(await store.files.getByPath('alice', 'b'), undefined);
      // Folders, task outputs, other owners and owners without a users row take no room here.
      assert.ok(await store.files.createFolder('alice', 'd', 'e', T0));
      await store.files.createTaskFile('alice', 1, '1-1', content({ size: 1000 }), T0);
      assert.ok(await store.files.createFile('bob', 'big', content({ size: 1000 }), T0));
      const b = await store.files.createFile('alice', 'd/b', content({ size: 40 }), T0);
      assert.ok(b);
      assert.equal(await store.files.usedBytes('alice'), 100);
      // Full: a replace of the same size passes, growth by a byte does not, and the file stays as it was.
      const same = await store.files.replaceContent(a.id, a.storageKey!, content({ size: 60 }), T0);
      assert.ok(same);
      await assert.rejects(store.files.replaceContent(a.id, same.storageKey!, content({ size: 61 }), T0), isNotEnoughSpace(61, 60));
      assert.deepEqual(await store.files.getFile(a.id), same);
      // Under a lowered quota the owner can still shrink files, but not grow them or add one.
      await store.users.updateUser('alice', { quotaBytes: 10 });
      const shrunk = await store.files.replaceContent(a.id, same.storageKey!, content({ size: 30 }), T0);
      assert.equal(shrunk?.size, 30);
      await assert.rejects(store.files.replaceContent(a.id, shrunk!.storageKey!, content({ size: 31 }), T0), isNotEnoughSpace(31, 0));
      await assert.rejects(store.files.createFile('alice', 'c', content({ size: 1 }), T0), isNotEnoughSpace(1, 0));
      assert.ok(await store.files.createFile('alice', 'empty', content({ size: 0 }), T0));
      // A path taken meanwhile is a lost race (the caller retries as a replace), not a quota error.
      await assert.rejects(store.files.createFile('alice', 'd/b', content({ size: 50 }), T0), isAlreadyExists);
      // A lost race is still undefined, not a quota error, whatever the size.
      assert.equal(await store.files.replaceContent(a.id, same.storageKey!, content({ size: 5000 }), T0), undefined);
      await store.users.updateUser('alice', { quotaBytes: null });
      assert.ok(await store.files.createFile('alice', 'c', content({ size: 5000 }), T0));
    });

    it(`${dialect}: racing creates and replaces never take the owner past the quota, and fill it`, async (t) => {
      const s = await setup(t, dialect);
      await s.store.users.createUser({ id: 'alice', ...USER, quotaBytes: 1000 });
      const existing: FileRecord[] = [];
      for (let i = 0; i < 5; i++) existing.push((await s.store.files.createFile('alice', `old${i}`, content({ size: 100 }), T0))!);
      // On PostgreSQL through two stores (two pools, as two nodes have); SQLite has one writer per
      // process, so there one store's concurrent transactions race.
      const stores = dialect === 'postgres' ? [s.store, await s.open({ poolSize: 4 })] : [s.store];
      const storeFor = (i: number) => stores[i % stores.length]!;
      // 500 bytes stored, 1000 more asked for by 10 new files and 5 replaces growing by 100 each.
      const writes = [
        ...Array.from({ length: 10 }, (_, i) => () => storeFor(i).files.createFile('alice', `new${i}`, content({ size: 100 }), T0)),
        ...existing.map((f, i) => () => storeFor(i).files.replaceContent(f.id, f.storageKey!, content({ size: 200 }), T0)),
      ];
      const outcomes = await Promise.allSettled(writes.map((write) => write()));
      // A refused create needs its 100 bytes; a refused replace names its new size, 200.
      outcomes.forEach((o, i) => {
        if (o.status === 'fulfilled') assert.ok(o.value);
        else isNotEnoughSpace(i < 10 ? 100 : 200)(o.reason);
      });
      const refused = outcomes.filter((o) => o.status === 'rejected');
      // Each write needs 100 bytes and only a full quota refuses one, so exactly 5 of 15 got in.
      assert.equal(refused.length, 10);
      assert.equal(await s.store.files.usedBytes('alice'), 1000);
    });

    it(`${dialect}: users carry a quota: none by default, set and cleared by updateUser`, async (t) => {
      const { store } = await setup(t, dialect);
      const user = { displayName: 'A', passwordHash: null, isAdmin: false, isGuest: false, enabled: true, createdAt: T0 };
      assert.equal((await store.users.createUser({ id: 'alice', ...user })).quotaBytes, null);
      assert.equal((await store.users.createUser({ id: 'bob', ...user, quotaBytes: 5_000_000_000 })).quotaBytes, 5_000_000_000);
      assert.equal((await store.users.updateUser('alice', { quotaBytes: 100 }))?.quotaBytes, 100);
      assert.equal((await store.users.getUser('alice'))?.quotaBytes, 100);
      assert.equal((await store.users.updateUser('alice', { displayName: 'B' }))?.quotaBytes, 100);
      assert.equal((await store.users.updateUser('alice', { quotaBytes: null }))?.quotaBytes, null);
    });
  });
}
