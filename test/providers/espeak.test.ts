import { providerContext } from '../helpers/providers.js';
import assert from 'node:assert/strict';
import { get, type IncomingHttpHeaders } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { ProviderError } from '../../src/core/provider.js';
import { espeakProvider } from '../../src/providers/tts/espeak-provider.js';
import { loadEspeak, MAX_INPUT_CHARS, speak } from '../../src/providers/tts/espeak.js';
import { encodeWav, parseWavHeader } from '../../src/providers/tts/wav.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';
import { GERMAN } from './fixtures.js';

const SENTENCE = 'The quick brown fox jumps over the lazy dog.';
const V2 = '/ocs/v2.php/taskprocessing';

const context = providerContext;

/** Checks the header against the file itself and returns the samples. */
function wavSamples(wav: Buffer): { samples: Int16Array; seconds: number; sampleRate: number } {
  const h = parseWavHeader(wav);
  assert.equal(wav.toString('ascii', 0, 4), 'RIFF');
  assert.equal(wav.toString('ascii', 8, 12), 'WAVE');
  assert.deepEqual([h.format, h.channels, h.bitsPerSample, h.blockAlign, h.byteRate], [1, 1, 16, 2, h.sampleRate * 2], 'PCM, mono, 16-bit');
  assert.equal(h.riffSize, wav.length - 8, 'RIFF size is the file length minus 8');
  assert.equal(h.dataOffset + h.dataBytes, wav.length, 'the data chunk runs to the end of the file');
  assert.equal(h.dataBytes % 2, 0);
  const samples = new Int16Array(h.dataBytes / 2);
  for (let i = 0; i < samples.length; i++) samples[i] = wav.readInt16LE(h.dataOffset + i * 2);
  return { samples, seconds: samples.length / h.sampleRate, sampleRate: h.sampleRate };
}

/** Speech, not silence or a click: loud enough on average, and sound through most of it. */
function assertAudible(samples: Int16Array): void {
  let squares = 0;
  let nonZero = 0;
  for (const s of samples) {
    squares += s * s;
    if (s !== 0) nonZero++;
  }
  const rms = Math.sqrt(squares / samples.length);
  assert.ok(rms > 500, `RMS ${rms.toFixed(0)} is near silence`);
  assert.ok(nonZero > samples.length / 2, `only ${nonZero} of ${samples.length} samples are non-zero`);
}

/**
 * GET on a connection of its own that closes after the response. With fetch's pooled keep-alive
 * connection, the client can hold the whole streamed file before the server counts the response
 * finished; server.close() then waits out the 72 s keep-alive timeout for that connection.
 */
function download(url: string, auth: string): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false, headers: { authorization: auth } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (part: Buffer) => parts.push(part));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

function speechOf(output: Record<string, unknown>): Buffer {
  const speech = output.speech as { data: Buffer; mime: string; name: string };
  assert.equal(speech.mime, 'audio/wav');
  assert.equal(speech.name, 'speech.wav');
  return speech.data;
}

describe('encodeWav', () => {
  it('writes a 44-byte PCM header and clips float samples to 16 bits', () => {
    const wav = encodeWav(new Float32Array([0, 1, -1, 2, -0.5]), 16000);
    assert.equal(wav.length, 44 + 10);
    const { samples, sampleRate } = wavSamples(wav);
    assert.equal(sampleRate, 16000);
    assert.deepEqual([...samples], [0, 32767, -32768, 32767, -16384]);
  });

  it('copies 16-bit samples unchanged, also from a view into a larger buffer', () => {
    const backing = new Int16Array([9, 1, -2, 32767, -32768, 9]);
    const { samples } = wavSamples(encodeWav(backing.subarray(1, 5), 22050));
    assert.deepEqual([...samples], [1, -2, 32767, -32768]);
  });
});

describe('parseWavHeader', () => {
  it('skips unknown chunks and rejects what is not a WAV file', () => {
    const plain = encodeWav(new Int16Array([1, 2]), 8000);
    const list = Buffer.concat([Buffer.from('LIST'), Buffer.from([3, 0, 0, 0]), Buffer.from('abc\0')]);
    const withList = Buffer.concat([plain.subarray(0, 36), list, plain.subarray(36)]);
    withList.writeUInt32LE(withList.length - 8, 4);
    assert.equal(parseWavHeader(withList).dataOffset, 44 + list.length);
    assert.throws(() => parseWavHeader(Buffer.from('ID3 not a wave file')), /RIFF\/WAVE/);
    assert.throws(() => parseWavHeader(plain.subarray(0, 36)), /No data chunk/);
  });
});

describe('espeakProvider', () => {
  it('declares an honest offline core:text2speech provider', () => {
    const p = espeakProvider();
    assert.deepEqual(
      [p.id, p.name, p.taskType, p.expectedRuntime],
      ['taskproc:espeak:text2speech', 'Offline speech (eSpeak NG, robotic voice)', 'core:text2speech', 5],
    );
  });

  it('reads an English sentence into an audible WAV of plausible length', async () => {
    const ctx = context();
    const wav = speechOf(await espeakProvider().process({ input: SENTENCE }, ctx));
    const { samples, seconds, sampleRate } = wavSamples(wav);
    assert.equal(sampleRate, 22050);
    assert.ok(seconds > 0.5 && seconds < 10, `${seconds} s for one sentence`);
    assertAudible(samples);
    assert.deepEqual(ctx.progress, [1]);
  });

  it('reports progress once per sentence, rising to 1', async () => {
    const ctx = context();
    await espeakProvider().process({ input: 'One sentence here. Another one follows. And a third one ends it.' }, ctx);
    assert.equal(ctx.progress.length, 3);
    assert.deepEqual(
      [...ctx.progress].sort((a, b) => a - b),
      ctx.progress,
    );
    assert.equal(ctx.progress.at(-1), 1);
  });

  it('fails empty input, or input with nothing to pronounce, with a message for the user', async () => {
    for (const input of ['', '   \n\n  ', '... ?!']) {
      await assert.rejects(espeakProvider().process({ input }, context()), (err: unknown) => {
        assert.ok(err instanceof ProviderError);
        assert.equal(err.userFacingMessage, 'The text is empty: there is nothing to read aloud');
        return true;
      });
    }
  });

  it(`refuses text over ${MAX_INPUT_CHARS} characters before synthesizing anything`, async () => {
    const ctx = context();
    await assert.rejects(espeakProvider().process({ input: 'a'.repeat(MAX_INPUT_CHARS + 1) }, ctx), (err: unknown) => {
      assert.ok(err instanceof ProviderError);
      assert.match(err.userFacingMessage ?? '', /too long.*at most 20000 characters/);
      return true;
    });
    assert.deepEqual(ctx.progress, []);
  });
});

describe('speak', () => {
  it('picks the German voice for German text and still produces speech', async () => {
    const speech = await speak(GERMAN.split('\n\n')[0] ?? '');
    assert.equal(speech.language, 'de');
    assert.equal(speech.voice, 'de');
    assertAudible(speech.samples);
    assert.ok(speech.samples.length / speech.sampleRate > 3, 'three German sentences last more than 3 s');
  });

  it('picks en-us for English and fr for French', async () => {
    assert.equal((await speak(SENTENCE)).voice, 'en-us');
    assert.equal((await speak("L'abeille domestique joue un rôle essentiel dans la pollinisation des cultures.")).voice, 'fr');
  });

  it('reads markup as text: a <break> in the input does not become minutes of silence', async () => {
    const plain = await speak('hello world');
    const marked = await speak('hello <break time="300s"/> world');
    const seconds = marked.samples.length / marked.sampleRate;
    assert.ok(seconds > plain.samples.length / plain.sampleRate, 'the tag is read out');
    assert.ok(seconds < 10, `${seconds} s: the break was obeyed`);
  });

  it('rejects at once when the signal is already aborted', async () => {
    await assert.rejects(speak(SENTENCE, { signal: AbortSignal.abort() }), { name: 'AbortError' });
  });

  it('stops between sentences when the signal fires mid-way', async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    const text = 'First sentence. Second sentence. Third sentence. Fourth sentence.';
    const run = speak(text, {
      signal: controller.signal,
      onProgress: (p) => {
        seen.push(p);
        controller.abort();
      },
    });
    await assert.rejects(run, { name: 'AbortError' });
    assert.equal(seen.length, 1, 'no sentence is read after the abort');
  });

  it('reads concurrent texts one at a time, in call order, each in its own voice', async () => {
    const order: string[] = [];
    const [english, german] = await Promise.all([
      speak('One sentence here. Another one follows.', { onProgress: () => order.push('en') }),
      speak('Ein Satz hier. Ein weiterer folgt und der Hund ist nicht da.', { onProgress: () => order.push('de') }),
    ]);
    assert.deepEqual(order, ['en', 'en', 'de', 'de']);
    assert.deepEqual([english.voice, german.voice], ['en-us', 'de']);
  });

  it('lets a text waiting for the engine be cancelled before its turn', async () => {
    const controller = new AbortController();
    const first = speak('A first text that keeps the engine busy. It has two sentences.');
    const waiting = speak(SENTENCE, { signal: controller.signal, onProgress: () => assert.fail('it was read') });
    const third = speak('A third text.');
    controller.abort();
    await assert.rejects(waiting, { name: 'AbortError' });
    assertAudible((await first).samples);
    assertAudible((await third).samples);
  });

  it('loads the engine once and reuses it', async () => {
    const first = await loadEspeak();
    await speak(SENTENCE);
    assert.equal(await loadEspeak(), first);
    assert.equal(first.sampleRate, 22050);
  });
});

describe('core:text2speech through the server', () => {
  let s: TestServer;
  let alice: TestUser;

  before(async () => {
    s = await startServer({ providers: [espeakProvider()] });
    alice = await s.addUser('alice');
  });
  after(() => s.close());

  it('schedules a speech task and serves its WAV output file', async () => {
    const r = await s.ocs('POST', `${V2}/schedule`, {
      auth: alice.auth,
      body: { type: 'core:text2speech', appId: 'assistant', input: { input: SENTENCE } },
    });
    assert.equal(r.status, 200, r.text);
    const id: number = r.json.ocs.data.task.id;
    let task: any;
    // The first synthesis in a process also loads and compiles the engine: allow some seconds.
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await new Promise((res) => setTimeout(res, 25))) {
      task = (await s.ocs('GET', `${V2}/task/${id}`, { auth: alice.auth })).json.ocs.data.task;
      if (task.status !== 'STATUS_SCHEDULED' && task.status !== 'STATUS_RUNNING') break;
    }
    assert.equal(task.status, 'STATUS_SUCCESSFUL', JSON.stringify(task));
    const fileId = task.output.speech;
    assert.equal(typeof fileId, 'number');
    const res = await download(`${s.url}${V2}/tasks/${id}/file/${fileId}`, alice.auth);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'audio/wav');
    assert.match(res.headers['content-disposition'] ?? '', /filename="speech\.wav"/);
    const { samples, seconds } = wavSamples(res.body);
    assert.ok(seconds > 0.5 && seconds < 10, `${seconds} s`);
    assertAudible(samples);
  });
});
