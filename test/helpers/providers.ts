import { type InProcessProvider, type ProcessContext, ProviderError, providerInfo } from '../../src/core/provider.js';

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

/** A 1×1 PNG, generated per call so tests can tell images apart by their last bytes. */
export function tinyPng(seed: number): Buffer {
  const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');
  return Buffer.concat([png, Buffer.from([seed & 0xff, 0x1f, 0x15, 0xc4, 0x89])]);
}

/** core:text2image provider returning `numberOfImages` PNG buffers as output files. */
export function imageProvider(): InProcessProvider {
  return {
    ...providerInfo({ id: 'test:images', name: 'Images (test)', taskType: 'core:text2image', inputShapeDefaults: { numberOfImages: 1 } }),
    async process(input) {
      const n = Number(input.numberOfImages);
      return { images: Array.from({ length: n }, (_, i) => ({ data: tinyPng(i), mime: 'image/png', name: `image-${i}.png` })) };
    },
  };
}

/** core:audio2text provider that "transcribes" by reading the input file's bytes as text. */
export function transcriptProvider(): InProcessProvider {
  return {
    ...providerInfo({ id: 'test:transcript', name: 'Transcript (test)', taskType: 'core:audio2text' }),
    async process(input, ctx) {
      const file = await ctx.inputFile(Number(input.input));
      const bytes = await file.buffer();
      return { output: `${file.file.name} (${file.file.mime}, ${file.file.size} bytes): ${bytes.toString('utf8')}` };
    },
  };
}

/** A ProcessContext for calling a provider directly: records progress; text providers read no files. */
export function providerContext(signal: AbortSignal = new AbortController().signal): ProcessContext & { progress: number[] } {
  const progress: number[] = [];
  return {
    taskId: 1,
    userId: 'alice',
    signal,
    progress,
    reportProgress: (p) => progress.push(p),
    preferStreaming: false,
    reportPartialOutput: () => undefined,
    inputFile: (id) => Promise.reject(new Error(`this provider reads no files (asked for ${id})`)),
  };
}
