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

// About 20 minutes of speech and 55 MB of WAV: the samples are held in memory twice at the end
// (the chunks, then the file), and at 60–100× real time the synthesis alone takes 10–20 s of CPU.
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
  /** Checked between sentences: the engine call for one sentence cannot be interrupted. */
  signal?: AbortSignal;
  /** Called after each sentence with the share of the text read so far (0..1]. */
  onProgress?(fraction: number): void;
}

/** The loaded engine; one per process. */
export interface EspeakEngine {
  readonly worker: ESpeakNGWorker;
  readonly sampleRate: number;
  /** The voice the worker holds now, so consecutive sentences in one voice skip set_voice (1–3 ms). */
  voice: string | null;
}

let engine: Promise<EspeakEngine> | undefined;

/**
 * The engine, loaded on first use and shared by every later call. Loading instantiates the
 * WebAssembly module and reads the 24 MB voice data file into its in-memory file system
 * (about 0.2 s and 55 MB of resident memory, kept for the life of the process), so it is
 * done once; a failed load is forgotten so the next task tries again.
 */
export function loadEspeak(): Promise<EspeakEngine> {
  if (!engine) {
    const loading = (async () => {
      const { default: initialize } = await import('@echogarden/espeak-ng-emscripten');
      const worker = new (await initialize()).eSpeakNGWorker();
      return { worker, sampleRate: worker.get_samplerate(), voice: null };
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
 * unsure). Sentences are synthesized one at a time with a turn of the event loop between them,
 * so other requests are served and a cancellation lands within one sentence.
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
  const loaded = await loadEspeak();

  const total = sentences.reduce((n, s) => n + s.length, 0);
  const chunks: Int16Array[] = [];
  let length = 0;
  let done = 0;
  for (const sentence of sentences) {
    signal?.throwIfAborted();
    length += synthesize(loaded, voice, sentence, chunks);
    done += sentence.length;
    onProgress?.(done / total);
    await nextTurn();
  }
  signal?.throwIfAborted();

  const samples = new Int16Array(length);
  let at = 0;
  for (const chunk of chunks) {
    samples.set(chunk, at);
    at += chunk.length;
  }
  return { samples, sampleRate: loaded.sampleRate, language, voice };
}

/**
 * One engine call. Tasks running at the same time need no queue: the call is synchronous, and
 * the voice (the only engine state that differs between tasks) is set in the same turn of the
 * event loop, so another task's sentence cannot run in between.
 */
function synthesize(loaded: EspeakEngine, voice: string, sentence: string, chunks: Int16Array[]): number {
  try {
    if (loaded.voice !== voice) {
      loaded.voice = null;
      const status = loaded.worker.set_voice(voice);
      if (status !== 0) throw new Error(`eSpeak NG has no voice "${voice}" (status ${status})`);
      loaded.voice = voice;
    }
    let length = 0;
    loaded.worker.synthesize(literal(sentence), (samples) => {
      chunks.push(samples);
      length += samples.length;
      return false;
    });
    return length;
  } catch (err) {
    // An Emscripten abort leaves the module unusable; the next task loads a fresh one.
    if (err instanceof WebAssembly.RuntimeError) engine = undefined;
    throw err;
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
