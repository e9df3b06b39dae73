import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WorkerPresence } from '../../src/workers/worker-presence.js';

const T0 = Date.UTC(2026, 0, 1);

test('connections that polled within 60 s are the live workers of their app; seconds since the last poll count from the latest', () => {
  const presence = new WorkerPresence();
  presence.seen('llm2', '10.0.0.1:5000', T0);
  presence.seen('llm2', '10.0.0.1:5001', T0 + 1000);
  // The same connection polling again is still one worker.
  presence.seen('llm2', '10.0.0.1:5000', T0 + 2000);
  presence.seen('stt', '10.0.0.2:6000', T0 + 500);
  assert.deepEqual(presence.snapshot(T0 + 3000), [
    { appId: 'llm2', liveWorkers: 2, secondsSinceLastPoll: 1 },
    { appId: 'stt', liveWorkers: 1, secondsSinceLastPoll: 2.5 },
  ]);
});

test('a connection silent for the whole window no longer counts, and a silent app keeps its time since the last poll', () => {
  const presence = new WorkerPresence();
  presence.seen('llm2', 'a', T0);
  presence.seen('llm2', 'b', T0 + 30_000);
  assert.deepEqual(presence.snapshot(T0 + 59_999), [{ appId: 'llm2', liveWorkers: 2, secondsSinceLastPoll: 29.999 }]);
  assert.deepEqual(presence.snapshot(T0 + 60_000), [{ appId: 'llm2', liveWorkers: 1, secondsSinceLastPoll: 30 }]);
  assert.deepEqual(presence.snapshot(T0 + 200_000), [{ appId: 'llm2', liveWorkers: 0, secondsSinceLastPoll: 170 }]);
  // It comes back: one worker again.
  presence.seen('llm2', 'c', T0 + 200_000);
  assert.deepEqual(presence.snapshot(T0 + 200_000), [{ appId: 'llm2', liveWorkers: 1, secondsSinceLastPoll: 0 }]);
});

test('memory stays bounded: connections that left the window are dropped as new polls arrive, and an app holds at most 10 000', () => {
  const presence = new WorkerPresence();
  // 20 000 short-lived connections over ten minutes, one every 30 ms: only the last minute's remain.
  for (let i = 0; i < 20_000; i++) presence.seen('llm2', `c${i}`, T0 + i * 30);
  const last = T0 + 19_999 * 30;
  assert.equal(presence.snapshot(last)[0]?.liveWorkers, 2000);
  // 20 000 connections within one window: capped at 10 000, the longest silent dropped first.
  const crowd = new WorkerPresence();
  for (let i = 0; i < 20_000; i++) crowd.seen('llm2', `c${i}`, T0 + i);
  assert.equal(crowd.snapshot(T0 + 20_000)[0]?.liveWorkers, 10_000);
  crowd.seen('llm2', 'c0', T0 + 20_001);
  assert.equal(crowd.snapshot(T0 + 20_001)[0]?.liveWorkers, 10_000);
});
