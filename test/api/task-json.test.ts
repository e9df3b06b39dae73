import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { phpJsonEncode } from '../../src/api/php-json.js';
import { taskJson } from '../../src/api/task-json.js';
import { deepFreeze } from '../../src/core/deep-freeze.js';
import type { Task } from '../../src/core/task.js';

const task = (over: Partial<Task> = {}): Task => ({
  id: 42,
  type: 'core:text2text',
  status: 2,
  userId: 'alice',
  anonKey: null,
  appId: 'assistant',
  customId: 'c/1',
  input: { input: 'Héllo <b>' },
  output: null,
  progress: 0.25,
  errorMessage: 'never shown',
  userFacingErrorMessage: null,
  webhookUri: null,
  webhookMethod: null,
  includeWatermark: true,
  allowCleanup: false,
  providerId: 'p',
  leaseOwner: null,
  leaseExpiresAt: null,
  attempts: 0,
  scheduledAt: 1_700_000_000,
  startedAt: null,
  endedAt: null,
  lastUpdated: 1_700_000_001,
  completionExpectedAt: 1_700_000_010,
  preferStreaming: false,
  priority: 0,
  vtime: 0,
  ...over,
});

/** What the task cache hands out: a deep-frozen copy. */
const frozen = (t: Task): Task => deepFreeze(structuredClone(t));

describe('taskJson', () => {
  it('writes upstream keys in order, progress as a float and an empty map as []', () => {
    const json = phpJsonEncode(taskJson(task({ input: {}, progress: 1 })));
    assert.match(
      json,
      /^\{"id":42,"type":"core:text2text","lastUpdated":1700000001,"status":"STATUS_RUNNING","userId":"alice","appId":"assistant","input":\[\],"output":null,"customId":"c\\\/1",/,
    );
    assert.match(json, /"progress":1,"scheduledAt":1700000000,/);
    assert.doesNotMatch(json, /never shown/);
  });

  it('gives a cached (frozen) task the same JSON as a fresh one, built once and reused', () => {
    for (const t of [task(), task({ input: {}, output: { output: ['a', 'b'] }, progress: null }), task({ progress: 0.1 + 0.2 })]) {
      const cached = frozen(t);
      const first = taskJson(cached);
      assert.equal(phpJsonEncode(first), phpJsonEncode(taskJson(t)));
      assert.equal(taskJson(cached), first, 'the same object on the next hit');
      assert.equal(phpJsonEncode({ task: taskJson(cached) }), `{"task":${phpJsonEncode(taskJson(t))}}`);
    }
  });

  it('gives a changed task (a new cached copy) its new JSON', () => {
    const before = frozen(task());
    assert.match(phpJsonEncode(taskJson(before)), /"status":"STATUS_RUNNING"/);
    const after = frozen(task({ status: 3, output: { output: 'done' }, progress: 1, endedAt: 1_700_000_005 }));
    const json = phpJsonEncode(taskJson(after));
    assert.match(json, /"status":"STATUS_SUCCESSFUL".*"output":\{"output":"done"\}/);
    assert.match(phpJsonEncode(taskJson(before)), /"status":"STATUS_RUNNING"/);
  });

  it("never lets a caller change a cached task's JSON", () => {
    const json = taskJson(frozen(task()));
    assert.throws(() => {
      (json as Record<string, unknown>).status = 'STATUS_FAILED';
    }, TypeError);
  });
});
