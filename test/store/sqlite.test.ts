import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openSqlite } from '../../src/store/sqlite.js';

describe('openSqlite', () => {
  it('opens the file durable, in WAL mode, with foreign keys and a bounded -wal file', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'taskproc-test-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const db = openSqlite(join(dir, 'x.db'));
    t.after(() => db.close());
    const pragma = (name: string) => db.pragma(name, { simple: true });
    assert.equal(pragma('journal_mode'), 'wal');
    assert.equal(pragma('synchronous'), 2); // FULL
    assert.equal(pragma('foreign_keys'), 1);
    assert.equal(pragma('busy_timeout'), 5000);
    assert.equal(pragma('journal_size_limit'), 64 * 1024 * 1024);
    assert.equal(pragma('wal_autocheckpoint'), 1000);
  });
});
