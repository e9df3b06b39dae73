import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';
import { createTestSchema, type TestSchema } from '../helpers/store.js';

/**
 * The per-user quota under concurrent uploads, through the real server: the check and the write
 * are one step, so uploads racing for the last free bytes never store more than the quota, on one
 * node (the database TASKPROC_TEST_DIALECT names) and on two nodes sharing one PostgreSQL schema.
 */

const KIB = 1024;
const QUOTA = 1024 * KIB;
const SIZE = 300 * KIB;
/** How many SIZE files fit in QUOTA. */
const FITS = Math.floor(QUOTA / SIZE);

interface DavResponse {
  status: number;
  text: string;
}

const davPath = (user: TestUser, name = '') => `/remote.php/dav/files/${user.uid}/${name}`;

async function put(url: string, user: TestUser, name: string, body: Uint8Array<ArrayBuffer>): Promise<DavResponse> {
  const res = await fetch(`${url}${davPath(user, name)}`, { method: 'PUT', headers: { authorization: user.auth }, body });
  return { status: res.status, text: await res.text() };
}

/** Name → size of the files in the user's root, as PROPFIND (Depth 1) lists them. */
async function listed(url: string, user: TestUser): Promise<Map<string, number>> {
  const res = await fetch(`${url}${davPath(user)}`, { method: 'PROPFIND', headers: { authorization: user.auth, depth: '1' } });
  const text = await res.text();
  assert.equal(res.status, 207, text);
  const sizes = new Map<string, number>();
  for (const response of text.split('<d:response>').slice(1)) {
    const href = /<d:href>([^<]*)<\/d:href>/.exec(response)?.[1];
    const length = /<d:getcontentlength>(\d+)<\/d:getcontentlength>/.exec(response)?.[1];
    if (href === undefined || length === undefined) continue; // the folder itself
    sizes.set(decodeURIComponent(href.slice(davPath(user).length)), Number(length));
  }
  return sizes;
}

const total = (sizes: Map<string, number>) => [...sizes.values()].reduce((a, b) => a + b, 0);

function assertInsufficientStorage(res: DavResponse, needed: number): void {
  assert.equal(res.status, 507, res.text);
  assert.ok(res.text.includes('<s:exception>Sabre\\DAV\\Exception\\InsufficientStorage</s:exception>'), res.text);
  assert.match(res.text, new RegExp(`<s:message>Not enough free space: ${needed} bytes needed, \\d+ available</s:message>`));
}

/** Blob files under `<dataDir>/files`, temporaries included. */
async function blobsOnDisk(dir: string): Promise<number> {
  const entries = await readdir(join(dir, 'files'), { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).length;
}

/** Distinct contents per upload, so a stored file shows which upload it came from. */
const contents = (size: number, fill: number) => new Uint8Array(size).fill(fill);

async function racingUploads(urls: string[], user: TestUser, count: number, prefix: string): Promise<{ created: string[]; refused: DavResponse[] }> {
  const names = Array.from({ length: count }, (_, i) => `${prefix}-${i}.bin`);
  const results = await Promise.all(names.map((name, i) => put(urls[i % urls.length]!, user, name, contents(SIZE, i + 1))));
  const created = names.filter((_, i) => results[i]?.status === 201);
  const refused = results.filter((r) => r.status !== 201);
  for (const r of refused) assertInsufficientStorage(r, SIZE);
  return { created, refused };
}

describe('WebDAV PUT under a per-user quota', () => {
  let s: TestServer;
  let bob: TestUser;

  before(async () => {
    s = await startServer();
    bob = await s.addUser('bob');
    await s.app.store.users.updateUser('bob', { quotaBytes: QUOTA });
  });
  after(() => s.close());

  it('stores at most the quota of 8 parallel uploads; the others get 507 and leave nothing behind', async () => {
    const { created, refused } = await racingUploads([s.url], bob, 8, 'race');
    assert.equal(created.length, FITS, `${created.length} of 8 uploads stored`);
    assert.equal(refused.length, 8 - FITS);
    const stored = await listed(s.url, bob);
    assert.deepEqual([...stored.keys()].sort(), created.sort());
    assert.equal(total(stored), FITS * SIZE);
    assert.ok(total(stored) <= QUOTA);
    // Each stored file has the contents of the upload that named it.
    for (const name of created) {
      const res = await fetch(`${s.url}${davPath(bob, name)}`, { headers: { authorization: bob.auth } });
      const fill = Number(/race-(\d+)/.exec(name)?.[1]) + 1;
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(contents(SIZE, fill)), name);
    }
    // The refused uploads' contents are gone: one blob per stored file.
    assert.equal(await blobsOnDisk(s.dir), FITS);
  });

  it('leaks nothing from the refused uploads: the space left can be filled to the byte', async () => {
    const free = QUOTA - total(await listed(s.url, bob));
    assert.equal((await put(s.url, bob, 'filler.bin', contents(free, 9))).status, 201);
    assertInsufficientStorage(await put(s.url, bob, 'one-more.bin', contents(1, 9)), 1);
    assert.equal(total(await listed(s.url, bob)), QUOTA);
    assert.equal((await fetch(`${s.url}${davPath(bob, 'filler.bin')}`, { method: 'DELETE', headers: { authorization: bob.auth } })).status, 204);
  });

  it('counts a replaced file only by its growth, and keeps the old contents when the growth does not fit', async () => {
    const [name] = [...(await listed(s.url, bob)).keys()];
    assert.ok(name);
    const free = QUOTA - total(await listed(s.url, bob));
    // The same size again fits with no byte free; so does growing into exactly the free space.
    const full = await put(s.url, bob, 'full.bin', contents(free, 7));
    assert.equal(full.status, 201, full.text);
    assert.equal((await put(s.url, bob, name, contents(SIZE, 42))).status, 204);
    assert.equal((await fetch(`${s.url}${davPath(bob, 'full.bin')}`, { method: 'DELETE', headers: { authorization: bob.auth } })).status, 204);
    assert.equal((await put(s.url, bob, name, contents(SIZE + free, 43))).status, 204);
    const grown = SIZE + free + 1;
    assertInsufficientStorage(await put(s.url, bob, name, contents(grown, 44)), grown);
    const res = await fetch(`${s.url}${davPath(bob, name)}`, { headers: { authorization: bob.auth } });
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(contents(SIZE + free, 43)));
    // Shrinking is always allowed, and frees the difference.
    assert.equal((await put(s.url, bob, name, contents(SIZE, 45))).status, 204);
    assert.equal(total(await listed(s.url, bob)), FITS * SIZE);
  });

  it("does not count other users' files", async () => {
    const carol = await s.addUser('carol');
    assert.equal((await put(s.url, carol, 'big.bin', contents(2 * QUOTA, 1))).status, 201);
    const free = QUOTA - total(await listed(s.url, bob));
    assert.equal((await put(s.url, bob, 'still-fits.bin', contents(free, 2))).status, 201);
  });
});

describe('WebDAV PUT under a per-user quota, two nodes on one PostgreSQL schema', () => {
  // Like cross-node.test.ts, always on PostgreSQL: only there can several nodes share a database.
  let schema: TestSchema;
  let a: TestServer;
  let b: TestServer;
  let dave: TestUser;

  before(async () => {
    schema = await createTestSchema();
    // Contents in the database, as nodes without a shared disk keep them.
    const config = { databaseUrl: schema.url, fileStorage: 'database' as const, runnerConcurrency: 0 };
    a = await startServer({ config });
    b = await startServer({ config });
    dave = await a.addUser('dave');
    await a.app.store.users.updateUser('dave', { quotaBytes: QUOTA });
  });
  after(async () => {
    await Promise.allSettled([a?.close(), b?.close()]);
    await schema?.drop();
  });

  it('stores at most the quota of 16 uploads racing on both nodes; the others get 507', async () => {
    const { created } = await racingUploads([a.url, b.url], dave, 16, 'both');
    assert.equal(created.length, FITS, `${created.length} of 16 uploads stored`);
    for (const url of [a.url, b.url]) {
      const stored = await listed(url, dave);
      assert.deepEqual([...stored.keys()].sort(), created.sort());
      assert.equal(total(stored), FITS * SIZE);
    }
    // Nothing leaked on either node: the rest of the quota is there to the byte.
    const free = QUOTA - FITS * SIZE;
    const [first, second] = await Promise.all([put(a.url, dave, 'last-a.bin', contents(free, 1)), put(b.url, dave, 'last-b.bin', contents(free, 2))]);
    assert.deepEqual([first.status, second.status].sort(), [201, 507], `${first.text}\n${second.text}`);
    assert.equal(total(await listed(b.url, dave)), QUOTA);
  });
});
