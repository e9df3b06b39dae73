import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TaskEvents } from '../../src/core/task-events.js';
import { Waiters } from '../../src/workers/waiters.js';

test('a task scheduled between a mark and the park is reported, so the long-poll claims again instead of sleeping', () => {
  const events = new TaskEvents();
  const waiters = new Waiters(events);
  const types = new Set(['core:text2text']);
  const mark = waiters.mark();
  assert.equal(waiters.scheduledSince(mark, types), false);
  // Another type does not count; the right one does, from any node.
  events.scheduledElsewhere('core:other');
  assert.equal(waiters.scheduledSince(mark, types), false);
  events.scheduledElsewhere('core:text2text');
  assert.equal(waiters.scheduledSince(mark, types), true);
  assert.equal(waiters.scheduledSince(waiters.mark(), types), false);
});

test('a parked long-poll is woken by a task of its type and not by another', async () => {
  const events = new TaskEvents();
  const waiters = new Waiters(events);
  let woken = false;
  const parked = waiters.wait(new Set(['a']), 10_000).then(() => (woken = true));
  events.scheduledElsewhere('b');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(woken, false);
  events.scheduledElsewhere('a');
  await parked;
  assert.equal(waiters.size, 0);
});
