import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReadCache } from '../../src/store/read-cache.js';

/** A cache over a fake table, counting the loads that reach it. */
function fixture(limits?: ConstructorParameters<typeof ReadCache<string, { v: string }>>[1]) {
  let version = 1;
  const table = new Map<string, string>([
    ['a', 'A1'],
    ['b', 'B1'],
    ['c', 'C1'],
  ]);
  let loads = 0;
  const cache = new ReadCache<string, { v: string }>(() => version, limits);
  const load = (key: string) => async () => {
    loads++;
    const v = table.get(key);
    return v === undefined ? undefined : { v };
  };
  const get = async (key: string) => (await cache.get(key, load(key)))?.v;
  return { cache, table, get, load, loads: () => loads, bumpVersion: () => version++ };
}

describe('ReadCache', () => {
  it('answers a second read from memory, and reads again when the external counter moves', async () => {
    const f = fixture();
    assert.equal(await f.get('a'), 'A1');
    assert.equal(await f.get('a'), 'A1');
    assert.equal(f.loads(), 1);
    f.table.set('a', 'A2'); // another process commits
    f.bumpVersion();
    assert.equal(await f.get('a'), 'A2');
    assert.equal(f.loads(), 2);
  });

  it('forgets the rows a write names, and keeps the others', async () => {
    const f = fixture();
    await f.get('a');
    await f.get('b');
    await f.cache.changing(
      async () => f.table.set('a', 'A2'),
      () => ['a'],
    );
    assert.equal(await f.get('a'), 'A2');
    assert.equal(await f.get('b'), 'B1');
    assert.equal(f.loads(), 3); // a, b, then a again
  });

  it('forgets every row after a write that names none, and after a write that fails', async () => {
    const f = fixture();
    await f.get('a');
    await f.get('b');
    await f.cache.changing(async () => f.table.set('b', 'B2'));
    assert.deepEqual([await f.get('a'), await f.get('b')], ['A1', 'B2']);
    assert.equal(f.loads(), 4);
    await assert.rejects(
      f.cache.changing(
        async () => {
          f.table.set('a', 'A3');
          throw new Error('commit failed after the statement');
        },
        () => [],
      ),
      /commit failed/,
    );
    assert.equal(await f.get('a'), 'A3');
  });

  it('does not keep a read that overlapped a write', async () => {
    const f = fixture();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    // The read loads the old row and is slow to come back; the write lands meanwhile.
    const slowRead = f.cache.get('a', async () => {
      const old = { v: f.table.get('a') as string };
      await gate;
      return old;
    });
    const write = f.cache.changing(
      async () => f.table.set('a', 'A2'),
      () => ['a'],
    );
    await write;
    release();
    assert.equal((await slowRead)?.v, 'A1'); // what it read, returned to its caller
    assert.equal(await f.get('a'), 'A2'); // but not kept
  });

  it('gives copies: what a caller does to its answer never reaches the next caller', async () => {
    const f = fixture();
    const first = (await f.cache.get('a', f.load('a'))) as { v: string };
    first.v = 'changed by a caller';
    assert.equal(await f.get('a'), 'A1');
  });

  it('keeps at most maxRows rows and maxWeight of weight, dropping the oldest, and never a row heavier than maxWeight', async () => {
    const f = fixture({ maxRows: 2, maxWeight: 5, weigh: (r) => r.v.length });
    await f.get('a');
    await f.get('b');
    await f.get('c'); // a goes
    assert.equal(f.loads(), 3);
    await f.get('b');
    await f.get('c');
    assert.equal(f.loads(), 3);
    await f.get('a');
    assert.equal(f.loads(), 4);
    f.table.set('big', 'xxxxxxxx'); // weight 8 > 5
    await f.get('big');
    await f.get('big');
    assert.equal(f.loads(), 6);
    // Weight: two rows of 2 fit in 5, a third pushes the oldest out.
    f.table.set('d', 'D1');
    await f.get('d'); // now c (2) and a (2) → d (2) exceeds 5: c goes
    await f.get('a');
    await f.get('d');
    assert.equal(f.loads(), 7);
    await f.get('c');
    assert.equal(f.loads(), 8);
  });

  it('without an external counter, caches nothing', async () => {
    let loads = 0;
    const cache = new ReadCache<string, { v: number }>(null);
    await cache.get('k', async () => ({ v: ++loads }));
    await cache.get('k', async () => ({ v: ++loads }));
    assert.equal(loads, 2);
  });
});
