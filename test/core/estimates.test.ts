import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { estimateStartAt, RecentMaximum, RunTimeWindows, type RunTimeSample } from '../../src/core/estimates.js';

const NOW = 1_767_225_600;
const run = (taskId: number, seconds: number, type = 'core:text2text', providerId = 'p1'): RunTimeSample => ({ taskId, type, providerId, seconds });

describe('estimateStartAt', () => {
  const base = { ahead: 0, running: 0, parallelism: 1, meanRunSeconds: 10, now: NOW };

  it('is null when the run time or the parallelism is unknown, or the parallelism is none', () => {
    assert.equal(estimateStartAt({ ...base, meanRunSeconds: null }), null);
    assert.equal(estimateStartAt({ ...base, parallelism: null }), null);
    assert.equal(estimateStartAt({ ...base, parallelism: 0 }), null);
    assert.equal(estimateStartAt({ ...base, parallelism: Number.NaN }), null);
    assert.equal(estimateStartAt({ ...base, meanRunSeconds: Number.NaN }), null);
    assert.equal(estimateStartAt({ ...base, ahead: -1 }), null);
  });

  it('starts now when a slot is free for it', () => {
    assert.equal(estimateStartAt(base), NOW);
    // Two of three slots free: the one task ahead takes one, this task the other.
    assert.equal(estimateStartAt({ ...base, ahead: 1, running: 1, parallelism: 3 }), NOW);
  });

  it('waits a full run per round of tasks ahead, and half a run for a slot whose task is running', () => {
    // Nothing running, one slot: the task ahead starts now and runs 10 s.
    assert.equal(estimateStartAt({ ...base, ahead: 1 }), NOW + 10);
    // One slot, busy: its task is taken to be half done.
    assert.equal(estimateStartAt({ ...base, running: 1 }), NOW + 5);
    assert.equal(estimateStartAt({ ...base, running: 1, ahead: 2 }), NOW + 25);
    // Two slots, both busy, three ahead: two start at +5, the third and this one at +15.
    assert.equal(estimateStartAt({ ...base, parallelism: 2, running: 2, ahead: 3 }), NOW + 15);
    // Two slots, one busy: ahead 0 takes the free one, ahead 1 the busy one at +5, this one the free one again at +10.
    assert.equal(estimateStartAt({ ...base, parallelism: 2, running: 1, ahead: 2 }), NOW + 10);
    // More running than slots (the parallelism measured is behind): no slot is free.
    assert.equal(estimateStartAt({ ...base, parallelism: 2, running: 5, ahead: 0 }), NOW + 5);
  });

  it('rounds to whole seconds and takes a fractional parallelism down', () => {
    assert.equal(estimateStartAt({ ...base, meanRunSeconds: 2.4, ahead: 3 }), NOW + 7);
    assert.equal(estimateStartAt({ ...base, parallelism: 2.9, ahead: 2 }), NOW + 10);
  });
});

describe('RunTimeWindows', () => {
  it('has no mean before a run is measured, per type and provider', () => {
    const w = new RunTimeWindows(3);
    assert.equal(w.mean('core:text2text', 'p1'), null);
    w.add(run(1, 4));
    assert.equal(w.mean('core:text2text', 'p1'), 4);
    assert.equal(w.mean('core:text2text', 'p2'), null);
    assert.equal(w.mean('core:text2image', 'p1'), null);
  });

  it('keeps the mean of the last runs only, each task once', () => {
    const w = new RunTimeWindows(3);
    for (const [id, s] of [
      [1, 100],
      [2, 1],
      [3, 2],
      [4, 3],
    ] as const)
      w.add(run(id, s));
    assert.equal(w.mean('core:text2text', 'p1'), 2);
    w.add(run(4, 3));
    w.add(run(5, 6));
    assert.equal(w.mean('core:text2text', 'p1'), (2 + 3 + 6) / 3);
  });

  it('ignores run times that cannot be (negative, not a number)', () => {
    const w = new RunTimeWindows(3);
    w.add(run(1, -1));
    w.add(run(2, Number.NaN));
    assert.equal(w.mean('core:text2text', 'p1'), null);
    w.add(run(3, 0));
    assert.equal(w.mean('core:text2text', 'p1'), 0);
  });

  it('puts history read later before the runs already seen, so these stay in the window', () => {
    const w = new RunTimeWindows(2);
    w.add(run(10, 8));
    // Task 10 is in the history too (it ended before the read); it counts once.
    w.addOlder([run(7, 100), run(8, 2), run(9, 2, 'core:text2image'), run(10, 8)]);
    assert.equal(w.mean('core:text2text', 'p1'), (2 + 8) / 2);
    assert.equal(w.mean('core:text2image', 'p1'), 2);
    w.add(run(11, 4));
    assert.equal(w.mean('core:text2text', 'p1'), 6);
  });

  it('tells keys apart whatever characters their ids hold', () => {
    const w = new RunTimeWindows();
    w.add(run(1, 1, 'a', 'b|c'));
    assert.equal(w.mean('a|b', 'c'), null);
    assert.equal(w.mean('a', 'b|c'), 1);
  });
});

describe('RecentMaximum', () => {
  it('answers the most recorded within the window, and 0 once it has passed', () => {
    const m = new RecentMaximum(600);
    assert.equal(m.max('p1', NOW), 0);
    m.record('p1', 3, NOW);
    m.record('p1', 1, NOW + 1);
    m.record('p2', 7, NOW + 1);
    assert.equal(m.max('p1', NOW + 1), 3);
    m.record('p1', 2, NOW + 300);
    assert.equal(m.max('p1', NOW + 300), 3);
    // NOW's minute has left the window; the 2 recorded five minutes later has not.
    assert.equal(m.max('p1', NOW + 660), 2);
    assert.equal(m.max('p1', NOW + 960), 0);
    assert.equal(m.max('p2', NOW + 2), 7);
  });

  it('keeps one number per minute and key', () => {
    const m = new RecentMaximum(600);
    for (let s = 0; s < 3600; s++) m.record('p1', s % 5, NOW + s);
    const kept = (m as unknown as { minutes: Map<string, unknown[]> }).minutes.get('p1') ?? [];
    assert.ok(kept.length <= 11, `kept ${kept.length}`);
    assert.equal(m.max('p1', NOW + 3599), 4);
  });
});
