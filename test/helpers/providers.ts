import { type InProcessProvider, ProviderError, providerInfo } from '../../src/core/provider.js';

/** core:text2text provider that answers "echo: <input>", reporting progress on the way. */
export function echoProvider(id = 'test:echo'): InProcessProvider {
  return {
    ...providerInfo({ id, name: 'Echo (test)', taskType: 'core:text2text', expectedRuntime: 10 }),
    async process(input, ctx) {
      ctx.reportProgress(0.5);
      return { output: `echo: ${String(input.input)}` };
    },
  };
}

/** Fails every task with a technical and a user-facing message. */
export function failingProvider(): InProcessProvider {
  return {
    ...providerInfo({ id: 'test:failing', name: 'Failing (test)', taskType: 'core:text2text:headline' }),
    async process() {
      throw new ProviderError('backend exploded: HTTP 500 from upstream', 'The headline service is unavailable right now');
    },
  };
}

/** Returns an output that does not match the output shape. */
export function badOutputProvider(): InProcessProvider {
  return {
    ...providerInfo({ id: 'test:bad-output', name: 'Bad output (test)', taskType: 'core:text2text:topics' }),
    async process() {
      return { wrong: 'key' };
    },
  };
}

/** Blocks until its task is aborted; records the abort so tests can see the signal fired. */
export function blockingProvider(): InProcessProvider & { aborted: number[]; started: number[] } {
  const aborted: number[] = [];
  const started: number[] = [];
  return {
    ...providerInfo({ id: 'test:blocking', name: 'Blocking (test)', taskType: 'core:text2text:summary' }),
    aborted,
    started,
    process(_input, ctx) {
      started.push(ctx.taskId);
      return new Promise((_resolve, reject) => {
        ctx.signal.addEventListener('abort', () => {
          aborted.push(ctx.taskId);
          reject(new Error('aborted'));
        });
      });
    },
  };
}

/** A translate provider with enum values, defaults and an optional slot, for validation tests. */
export function translateProvider(): InProcessProvider {
  const languages = [
    { name: 'English', value: 'en' },
    { name: 'German', value: 'de' },
  ];
  return {
    ...providerInfo({
      id: 'test:translate',
      name: 'Translate (test)',
      taskType: 'core:text2text:translate',
      inputShapeEnumValues: { origin_language: [{ name: 'Detect language', value: 'detect_language' }, ...languages], target_language: languages },
      inputShapeDefaults: { origin_language: 'detect_language' },
      optionalInputShape: { max_tokens: { name: 'max_tokens', description: 'Maximum output words', type: 'Number' } },
      optionalInputShapeDefaults: { max_tokens: 1234 },
    }),
    async process(input) {
      return { output: `[${String(input.target_language)}] ${String(input.input)}` };
    },
  };
}
