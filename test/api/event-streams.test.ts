import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, afterEach, before, describe, it } from 'node:test';
import { EventSource } from 'eventsource';
import { configWith } from '../../src/config.js';
import { builtinProviders } from '../../src/providers/builtin.js';
import { type FakeOpenAI, startFakeOpenAI } from '../helpers/fake-openai.js';
import type { HttpWorker } from '../helpers/http-worker.js';
import { providerPayload, SHAPE } from '../helpers/http-worker.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';
import { until } from '../helpers/until.js';

// Server-sent events for clients (issue 20) through the real server, read with the `eventsource`
// package (the browser's EventSource API for Node), fed by a simulated ExApp worker.

const V2 = '/ocs/v2.php/taskprocessing';
const EXT = '/ocs/v2.php/apps/taskproc/api/v1';
const TYPE = 'sse:echo';
const PROVIDER = 'sse-echo';
const APP = 'sse-worker';
const CUSTOM_TYPE = {
  id: TYPE,
  name: 'Echo',
  description: 'Says it back',
  input_shape: [{ name: 'input', description: 'Text', shape_type: SHAPE.Text }],
  output_shape: [{ name: 'output', description: 'Text', shape_type: SHAPE.Text }],
};

interface Got {
  type: string;
  data: unknown;
  id: string;
}

/** An EventSource with Basic auth (Node's EventSource takes a fetch to add headers), recording what it gets. */
class Watcher {
  readonly got: Got[] = [];
  readonly es: EventSource;
  errors = 0;
  constructor(url: string, auth: string | null, opts: { lastEventId?: string; cookie?: string } = {}) {
    this.es = new EventSource(url, {
      fetch: (input, init) =>
        fetch(input, {
          ...init,
          headers: {
            ...(init?.headers as Record<string, string>),
            ...(auth ? { authorization: auth } : {}),
            ...(opts.cookie ? { cookie: opts.cookie } : {}),
            ...(opts.lastEventId ? { 'last-event-id': opts.lastEventId } : {}),
          },
        }),
    });
    for (const type of ['status', 'progress', 'output', 'queue', 'task', 'deleted', 'skipped']) {
      this.es.addEventListener(type, (e) => this.got.push({ type, data: JSON.parse(e.data), id: e.lastEventId }));
    }
    this.es.onerror = () => {
      this.errors++;
    };
  }
  of(type: string): Got[] {
    return this.got.filter((g) => g.type === type);
  }
  text(): string {
    let t = '';
    for (const g of this.of('output')) {
      const d = g.data as { delta?: string; value?: string };
      t = d.delta !== undefined ? t + d.delta : String(d.value ?? '');
    }
    return t;
  }
  close(): void {
    this.es.close();
  }
}

describe('event streams: a client watches its task as it happens', { timeout: 60_000 }, () => {
  let s: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let worker: HttpWorker;

  before(async () => {
    // A long coalescing window: what the watchers see cannot have come from a database write.
    s = await startServer({ config: { partialWriteMs: 5000, eventStreamsPerUser: 3, bodyLimit: 32 * 1024 * 1024 } });
    alice = await s.addUser('alice');
    bob = await s.addUser('bob');
    worker = await s.addExApp(APP);
    const r = await worker.register(providerPayload({ id: PROVIDER, name: 'Echo', task_type: TYPE, expected_runtime: 10 }), CUSTOM_TYPE);
    assert.equal(r.status, 200, r.text);
  });
  after(async () => {
    await s.close();
  });

  const scheduled: [TestUser, number][] = [];
  const schedule = async (user: TestUser = alice, customId = ''): Promise<number> => {
    const r = await s.ocs('POST', `${V2}/schedule`, { auth: user.auth, body: { type: TYPE, appId: 'sse-test', customId, input: { input: 'hi' } } });
    assert.equal(r.status, 200, r.text);
    scheduled.push([user, r.json.ocs.data.task.id]);
    return r.json.ocs.data.task.id as number;
  };
  // Each test starts with an empty queue: the worker claims the oldest task.
  afterEach(async () => {
    for (const [user, id] of scheduled.splice(0)) await s.ocs('POST', `${V2}/task/${id}/cancel`, { auth: user.auth });
  });
  const claim = async (id: number) => {
    const r = await worker.next([PROVIDER], [TYPE]);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.ocs.data.task.id, id);
  };
  const stream = async (id: number, text: string) => {
    const r = await worker.streamResult(id, { output: text });
    assert.equal(r.status, 200, r.text);
  };

  it('status, queue position, progress and text deltas arrive in order, then the final task, then the stream ends', async () => {
    const id = await schedule();
    const w = new Watcher(`${s.url}${EXT}/tasks/${id}/events`, alice.auth);
    await until('the expected events', () => w.of('queue').length > 0);
    assert.deepEqual(w.of('status')[0]?.data, { taskId: id, status: 'STATUS_SCHEDULED' });
    assert.deepEqual(w.of('queue')[0]?.data, { taskId: id, position: 1, estimatedStartAt: null });
    await claim(id);
    await until('the expected events', () => w.of('status').length === 2);
    assert.equal((w.of('status')[1]?.data as { status: string } | undefined)?.status, 'STATUS_RUNNING');
    assert.equal((await worker.progress(id, 0.25)).status, 200);
    await until('the expected events', () => w.of('progress').length === 1);
    for (const t of ['Hel', 'Hello', 'Hello, wor', 'Hello, world']) await stream(id, t);
    await until('the expected events', () => w.text() === 'Hello, world');
    assert.deepEqual(
      w.of('output').map((g) => (g.data as { delta: string }).delta),
      ['Hel', 'lo', ', wor', 'ld'],
    );
    assert.equal((await worker.result(id, { output: 'Hello, world!' })).status, 200);
    await until('the expected events', () => w.of('task').length === 1);
    const final = w.of('task')[0]?.data as { task: Record<string, unknown> };
    const get = await s.ocs('GET', `${V2}/task/${id}`, { auth: alice.auth });
    assert.deepEqual(final.task, get.json.ocs.data.task);
    assert.equal(final.task.status, 'STATUS_SUCCESSFUL');
    // Every event has an id.
    assert.ok(w.got.every((g) => g.id.startsWith('t1.')));
    w.close();
  });

  it('a reconnect with Last-Event-ID gets exactly what it missed: no gap, no repeat', async () => {
    const id = await schedule();
    await claim(id);
    await stream(id, 'one ');
    const first = new Watcher(`${s.url}${EXT}/tasks/${id}/events`, alice.auth);
    await until('the expected events', () => first.text() === 'one ');
    const lastId = first.got.at(-1)?.id as string;
    first.close();
    await stream(id, 'one two ');
    await stream(id, 'one two three');
    const again = new Watcher(`${s.url}${EXT}/tasks/${id}/events`, alice.auth, { lastEventId: lastId });
    await until('the expected events', () => again.of('output').length > 0);
    assert.deepEqual(
      again.got.map((g) => [g.type, g.data]),
      [['output', { taskId: id, slot: 'output', delta: 'two three' }]],
    );
    again.close();
  });

  it('another user and an anonymous caller get 404 and 401, before any stream opens', async () => {
    const id = await schedule();
    const r = await s.ocs('GET', `${EXT}/tasks/${id}/events`, { auth: bob.auth });
    assert.equal(r.status, 404);
    assert.equal(r.json.ocs.data.message, 'Task not found');
    const anon = await s.ocs('GET', `${EXT}/tasks/${id}/events`, {});
    assert.equal(anon.status, 401);
  });

  it('a Last-Event-ID that is not one of ours is a 400 that says so', async () => {
    const id = await schedule();
    const r = await s.ocs('GET', `${EXT}/tasks/${id}/events`, { auth: alice.auth, headers: { 'last-event-id': 'garbage' } });
    assert.equal(r.status, 400);
    assert.match(r.json.ocs.data.message, /Last-Event-ID/);
  });

  it('the stream of all of a caller’s tasks: new tasks, filters by customId, and nothing of other users', async () => {
    const w = new Watcher(`${s.url}${EXT}/tasks/events?customId=batch`, alice.auth);
    await until('the expected events', () => w.got.length === 0 && w.es.readyState === 1);
    const mine = await schedule(alice, 'batch');
    await schedule(alice, 'other');
    await schedule(bob, 'batch');
    await until('the expected events', () => w.of('status').length === 1);
    assert.deepEqual(w.of('status')[0]?.data, { taskId: mine, status: 'STATUS_SCHEDULED' });
    await claim(mine);
    await stream(mine, 'abc');
    await until('the expected events', () => w.text() === 'abc');
    assert.equal((await worker.result(mine, { output: 'abc' })).status, 200);
    await until('the expected events', () => w.of('task').length === 1);
    assert.ok(
      w.got.every((g) => (g.data as { taskId?: number; task?: { id: number } }).taskId === mine || (g.data as { task: { id: number } }).task?.id === mine),
    );
    // Clear the other queued tasks for the tests after this one.
    w.close();
  });

  it('the limit on open streams per user answers 429 in the envelope, and a closed stream frees its place', async () => {
    const id = await schedule();
    const ws = [0, 1, 2].map(() => new Watcher(`${s.url}${EXT}/tasks/${id}/events`, alice.auth));
    await until('the expected events', () => s.app.streams.size >= 3);
    const r = await s.ocs('GET', `${EXT}/tasks/${id}/events`, { auth: alice.auth });
    assert.equal(r.status, 429);
    assert.match(r.json.ocs.data.message, /event streams open/);
    ws[0]?.close();
    await until('the expected events', () => s.app.streams.size === 2);
    const ok = new Watcher(`${s.url}${EXT}/tasks/${id}/events`, alice.auth);
    await until('the expected events', () => ok.got.length > 0);
    for (const w of [...ws, ok]) w.close();
    await until('the expected events', () => s.app.streams.size === 0);
  });

  it('an anonymous caller watches by its cookie alone (as a browser EventSource can); another cookie gets 404', async () => {
    await s.app.settings.set('anonymousAccess', true);
    try {
      const r = await s.ocs('POST', `${V2}/schedule`, { auth: null, body: { type: TYPE, appId: 'sse-anon', input: { input: 'anon' } } });
      assert.equal(r.status, 200, r.text);
      const id = r.json.ocs.data.task.id as number;
      const cookie = (r.headers.get('set-cookie') ?? '').split(';')[0] as string;
      // No OCS-APIRequest header: an EventSource cannot send one.
      const w = new Watcher(`${s.url}${EXT}/tasks/${id}/events`, null, { cookie });
      await until('the anonymous status', () => w.of('status').length === 1);
      assert.deepEqual(w.of('status')[0]?.data, { taskId: id, status: 'STATUS_SCHEDULED' });
      w.close();
      const stranger = await fetch(`${s.url}${EXT}/tasks/${id}/events?format=json`, { headers: { cookie: `taskproc_anon=${'0'.repeat(64)}` } });
      assert.equal(stranger.status, 404);
      const user = await s.ocs('GET', `${EXT}/tasks/${id}/events`, { auth: alice.auth });
      assert.equal(user.status, 404, 'a user does not see anonymous tasks');
      // Anonymous callers cannot cancel (upstream's rule): the worker finishes it, so the queue is empty again.
      await claim(id);
      assert.equal((await worker.result(id, { output: 'done' })).status, 200);
    } finally {
      await s.app.settings.set('anonymousAccess', false);
    }
  });

  it('the caller stream resumes with Last-Event-ID: the deltas and the final event it missed, nothing twice', async () => {
    const id = await schedule(alice, 'resume');
    const first = new Watcher(`${s.url}${EXT}/tasks/events?customId=resume`, alice.auth);
    await until('the scheduled status', () => first.of('status').length === 1);
    await claim(id);
    await stream(id, 'alpha ');
    await until('the first delta', () => first.text() === 'alpha ');
    const lastId = first.got.at(-1)?.id as string;
    assert.ok(lastId.startsWith('c1.'));
    first.close();
    await stream(id, 'alpha beta');
    assert.equal((await worker.result(id, { output: 'alpha beta' })).status, 200);
    const again = new Watcher(`${s.url}${EXT}/tasks/events?customId=resume`, alice.auth, { lastEventId: lastId });
    await until('the final event', () => again.of('task').length === 1);
    assert.deepEqual(
      again.got.map((g) => g.type),
      ['status', 'progress', 'task'],
      'what it missed: the end, progress 1 (the result replaces the partial output; no delta is sent for a final task)',
    );
    assert.equal((again.of('task')[0]?.data as { task: { output: { output: string } } } | undefined)?.task.output.output, 'alpha beta');
    again.close();
  });

  it('a long-poll on a scheduled task answers with its queue position beside the task', async () => {
    const id = await schedule();
    const r = await s.ocs('GET', `${V2}/task/${id}?wait=0`, { auth: alice.auth });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.ocs.data.task.id, id);
    assert.equal(r.json.ocs.data.queuePosition, 1);
    assert.equal(r.json.ocs.data.estimatedStartAt, null);
    const plain = await s.ocs('GET', `${V2}/task/${id}`, { auth: alice.auth });
    assert.deepEqual(Object.keys(plain.json.ocs.data), ['task'], "without wait, upstream's answer");
  });

  it('a reader that stops reading is not buffered for: it gets a skipped event and the present when it reads again', async () => {
    const id = await schedule();
    await claim(id);
    // A raw HTTP client whose socket is paused: the server sees the client fall behind.
    const chunks: string[] = [];
    let res!: import('node:http').IncomingMessage;
    await new Promise<void>((resolve, reject) => {
      const req = request(`${s.url}${EXT}/tasks/${id}/events`, { headers: { authorization: alice.auth } }, (r) => {
        res = r;
        r.setEncoding('utf8');
        r.on('data', (c: string) => chunks.push(c));
        resolve();
      });
      req.on('error', reject);
      req.end();
    });
    res.pause();
    res.socket.pause();
    // 10 MB of text in 1 MB steps: more than the loopback socket's buffers hold.
    let text = '';
    for (let i = 0; i < 10; i++) {
      text += String.fromCharCode(97 + (i % 26)).repeat(1024 * 1024);
      await stream(id, text);
    }
    res.socket.resume();
    res.resume();
    await until('the skipped event', () => chunks.join('').includes('event: skipped'), 10_000);
    // What it got, deltas put together, is the whole text: skipped intermediate chunks lose nothing.
    await until('the expected events', () => {
      const body = chunks.join('');
      let got = '';
      for (const m of body.matchAll(/event: output\ndata: (.*)\n/g)) got += (JSON.parse(m[1] as string) as { delta: string }).delta;
      return got === text;
    });
    // It skipped: fewer output events than chunks streamed, and the text still whole.
    assert.ok([...chunks.join('').matchAll(/event: output/g)].length < 10);
    res.destroy();
  });
});

describe('event streams: the OpenAI-compatible provider streams its tokens when the client prefers streaming', { timeout: 60_000 }, () => {
  let s: TestServer;
  let fake: FakeOpenAI;
  let alice: TestUser;
  const ANSWER = 'Streaming answers arrive as the model writes them.';

  before(async () => {
    fake = await startFakeOpenAI({ apiKey: 'sk-stream' });
    const providers = builtinProviders(
      configWith({ openaiBaseUrl: `${fake.url}/v1`, openaiApiKey: 'sk-stream', openaiModel: 'm', offlineProviders: false, logLevel: 'silent' }),
    );
    s = await startServer({ providers, config: { partialWriteMs: 5000 } });
    alice = await s.addUser('alice');
  });
  after(async () => {
    await s.close();
    await fake.close();
  });

  const watch = async (preferStreaming: boolean): Promise<Watcher> => {
    // Slow enough that the watcher is connected before the model's first token.
    fake.script('chat', { kind: 'chat', content: ANSWER, chunkDelayMs: 40 });
    const r = await s.ocs('POST', `${V2}/schedule`, {
      auth: alice.auth,
      body: { type: 'core:text2text', appId: 'sse-openai', input: { input: 'Say something' }, preferStreaming },
    });
    assert.equal(r.status, 200, r.text);
    const w = new Watcher(`${s.url}${EXT}/tasks/${r.json.ocs.data.task.id}/events`, alice.auth);
    await until('the final event', () => w.of('task').length === 1, 10_000);
    return w;
  };

  it('preferStreaming: the text arrives in deltas before the final event, and adds up to the answer', async () => {
    const w = await watch(true);
    const deltas = w.of('output').map((g) => (g.data as { delta: string }).delta);
    assert.ok(deltas.length >= 3, `only ${deltas.length} deltas`);
    assert.equal(deltas.join(''), ANSWER);
    assert.equal((w.of('task')[0]?.data as { task: { output: { output: string } } } | undefined)?.task.output.output, ANSWER);
    w.close();
  });

  it('without preferStreaming: no deltas, only the final task', async () => {
    const w = await watch(false);
    assert.equal(w.of('output').length, 0);
    assert.equal((w.of('task')[0]?.data as { task: { output: { output: string } } } | undefined)?.task.output.output, ANSWER);
    w.close();
  });
});

describe('event streams end cleanly when the server shuts down', { timeout: 60_000 }, () => {
  it('an open stream gets its end, and close() does not wait for it', async () => {
    const s = await startServer();
    const alice = await s.addUser('alice');
    // A stream of all of alice's tasks: open until the client or the server ends it.
    const res = await fetch(`${s.url}${EXT}/tasks/events`, { headers: { authorization: alice.auth } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const body = res.text();
    await s.close();
    assert.match(await body, /: server shutting down/);
    assert.equal(s.app.streams.size, 0);
  });
});
