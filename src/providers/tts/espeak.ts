import { setImmediate as nextTurn } from 'node:timers/promises';
import type { ESpeakNGWorker } from '@echogarden/espeak-ng-emscripten';
import { ProviderError } from '../../core/provider.js';
import { detectLanguage, type Language } from '../extractive/stopwords.js';
import { splitSentences, tokenize } from '../extractive/text.js';

/**
 * eSpeak NG compiled to WebAssembly (@echogarden/espeak-ng-emscripten), used in-process.
 * Formant synthesis: intelligible and robotic, nothing like a neural voice.
 */

/** eSpeak's names for the voices of the languages `detectLanguage` tells apart. */
export const VOICES: Readonly<Record<Language, string>> = Object.freeze({ en: 'en-us', de: 'de', fr: 'fr' });

// About 19 minutes of speech and a 50 MB WAV. The samples are in memory twice at the end (the
// sentences' blocks, then the joined array; later the array and the file), and at about 100×
// real time once warm the synthesis takes some 10 s of CPU.
export const MAX_INPUT_CHARS = 20_000;

/** The samples of one synthesis, and what read them. */
export interface Speech {
  /** 16-bit mono PCM. */
  samples: Int16Array;
  sampleRate: number;
  language: Language;
  /** The eSpeak voice name that was used, e.g. `de`. */
  voice: string;
}

export interface SpeakOptions {
  /** Checked while waiting for the engine and between sentences (one sentence's engine call cannot be interrupted). */
  signal?: AbortSignal;
  /** Called after each sentence with the share of the text read so far (0..1]. */
  onProgress?(fraction: number): void;
}

/** The loaded engine; one per process. */
export interface EspeakEngine {
  readonly worker: ESpeakNGWorker;
  readonly sampleRate: number;
}

let engine: Promise<EspeakEngine> | undefined;

/**
 * The engine, loaded on first use and shared by every later call. Loading instantiates the
 * WebAssembly module and reads the 24 MB voice data file into its in-memory file system
 * (about 0.3 s and 45 MB of resident memory, kept for the life of the process), so it is
 * done once; a failed load is forgotten so the next task tries again.
 */
export function loadEspeak(): Promise<EspeakEngine> {
  if (!engine) {
    const loading = (async () => {
      const { default: initialize } = await import('@echogarden/espeak-ng-emscripten');
      const worker = new (await initialize()).eSpeakNGWorker();
      return { worker, sampleRate: worker.get_samplerate() };
    })();
    loading.catch(() => {
      if (engine === loading) engine = undefined;
    });
    engine = loading;
  }
  return engine;
}

/**
 * Reads the text aloud in the voice of its language (English, German or French; English when
 * unsure). One text is read at a time, in call order; sentences are synthesized one by one with
 * a turn of the event loop between them, so the server keeps answering requests and a
 * cancellation lands within one sentence.
 */
export async function speak(text: string, { signal, onProgress }: SpeakOptions = {}): Promise<Speech> {
  signal?.throwIfAborted();
  if (text.length > MAX_INPUT_CHARS) {
    throw new ProviderError(
      `Input of ${text.length} characters exceeds the ${MAX_INPUT_CHARS}-character limit of eSpeak NG`,
      `The text is too long to be read aloud: at most ${MAX_INPUT_CHARS} characters (it has ${text.length})`,
    );
  }
  const sentences = splitSentences(text).filter((s) => /[\p{L}\p{N}\p{S}]/u.test(s));
  if (sentences.length === 0) {
    throw new ProviderError('Input has nothing to speak', 'The text is empty: there is nothing to read aloud');
  }
  const language = detectLanguage(lowerWords(sentences));
  const voice = VOICES[language];
  const { samples, sampleRate } = await oneAtATime(signal, () => read(sentences, voice, signal, onProgress));
  return { samples, sampleRate, language, voice };
}

async function read(
  sentences: readonly string[],
  voice: string,
  signal: AbortSignal | undefined,
  onProgress: ((fraction: number) => void) | undefined,
): Promise<Pick<Speech, 'samples' | 'sampleRate'>> {
  const { worker, sampleRate } = await loadEspeak();
  const total = sentences.reduce((n, s) => n + s.length, 0);
  const blocks: Int16Array[] = [];
  let length = 0;
  let done = 0;
  try {
    // Set for every text: the engine keeps the previous text's voice.
    const status = worker.set_voice(voice);
    if (status !== 0) throw new Error(`eSpeak NG has no voice "${voice}" (status ${status})`);
    for (const sentence of sentences) {
      signal?.throwIfAborted();
      worker.synthesize(literal(sentence), (samples) => {
        blocks.push(samples);
        length += samples.length;
        return false;
      });
      done += sentence.length;
      onProgress?.(done / total);
      await nextTurn();
    }
  } catch (err) {
    // An Emscripten abort leaves the module unusable; the next text loads a fresh one.
    if (err instanceof WebAssembly.RuntimeError) engine = undefined;
    throw err;
  }
  signal?.throwIfAborted();
  const samples = new Int16Array(length);
  let at = 0;
  for (const block of blocks) {
    samples.set(block, at);
    at += block.length;
  }
  return { samples, sampleRate };
}

// The tail of the queue: settles when every text handed to the engine so far is done.
let queue: Promise<void> = Promise.resolve();

/**
 * Runs `work` after every earlier call has finished. Sentences of two texts could interleave
 * safely (each engine call is synchronous), but one text at a time keeps the memory bound to
 * one text's samples however many tasks the runner starts, and finishes the first task first
 * instead of slowing all of them down. A call aborted while it waits leaves the queue at once.
 */
async function oneAtATime<T>(signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
  const previous = queue;
  let release!: () => void;
  const mine = new Promise<void>((resolve) => {
    release = resolve;
  });
  // Later calls wait for `previous` too, so leaving early never lets two texts run at once.
  queue = previous.then(() => mine);
  try {
    await untilAborted(previous, signal);
    return await work();
  } finally {
    release();
  }
}

async function untilAborted(turn: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return turn;
  signal.throwIfAborted();
  let onAbort = (): void => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([turn, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/**
 * The binding always parses its input as SSML with [[phoneme]] escapes, so a user's text could
 * otherwise command minutes of silence (`<break time="300s"/>`) or switch voices. Escaped this
 * way eSpeak reads `<`, `&` and `[[` as the characters they are. Control characters go too: a
 * NUL would end the C string early.
 */
function literal(sentence: string): string {
  return sentence
    .replace(/[\u0000-\u001f\u007f]/gu, ' ')
    .replace(/&/gu, '&amp;')
    .replace(/</gu, '&lt;')
    .replace(/>/gu, '&gt;')
    .replace(/\[(?=\[)/gu, '[ ');
}

function* lowerWords(sentences: readonly string[]): Generator<string> {
  for (const sentence of sentences) for (const token of tokenize(sentence)) yield token.lower;
}
