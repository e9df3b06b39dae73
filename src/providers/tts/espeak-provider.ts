import { ProviderError, providerInfo, type InProcessProvider, type ProcessContext } from '../../core/provider.js';
import type { TaskIO } from '../../core/shapes.js';
import { speak } from './espeak.js';
import { encodeWav } from './wav.js';

/**
 * core:text2speech offline, with eSpeak NG in WebAssembly: no network, no model download.
 * The name says it is a robotic formant voice so nobody expects a neural one. English, German
 * and French are told apart by their function words; anything else is read as English.
 */
export function espeakProvider(): InProcessProvider {
  return {
    ...providerInfo({
      id: 'taskproc:espeak:text2speech',
      name: 'Offline speech (eSpeak NG, robotic voice)',
      taskType: 'core:text2speech',
      // A paragraph takes well under a second once the engine is warm; the first task also loads it.
      expectedRuntime: 5,
    }),
    async process(input: TaskIO, ctx: ProcessContext): Promise<TaskIO> {
      const text = input.input;
      if (typeof text !== 'string') throw new ProviderError(`input.input must be a string, got ${typeof text}`);
      const speech = await speak(text, { signal: ctx.signal, onProgress: (p) => ctx.reportProgress(p) });
      return { speech: { data: encodeWav(speech.samples, speech.sampleRate), mime: 'audio/wav', name: 'speech.wav' } };
    },
  };
}
