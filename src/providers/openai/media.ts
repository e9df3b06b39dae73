import { toFile } from 'openai';
import type { FileOutputValue } from '../../core/file-access.js';
import { type InProcessProvider, type ProcessContext, ProviderError, providerInfo } from '../../core/provider.js';
import type { TaskIO } from '../../core/shapes.js';
import { DEFAULT_VOICE } from './backends.js';
import { runCall, type Target } from './call.js';
import { MalformedAnswerError } from './errors.js';
import { audioExtension, audioMime, IMAGE_EXTENSIONS, imageMime, looksLikeHtml } from './media-types.js';
import { text } from './prompts.js';

interface Base {
  id: string;
  name: string;
  taskType: string;
  model: string;
}

/** Upstream's limits and messages for the number of images (the legacy text-to-image API). */
const MAX_IMAGES = 12;
export const TOO_MANY_IMAGES = `Cannot generate more than ${MAX_IMAGES} images`;
export const TOO_FEW_IMAGES = 'Cannot generate less than 1 image';

/**
 * core:text2image through POST /images/generations with b64_json answers. Two model-name rules,
 * both from OpenAI's documented limits: dall-e-3 makes one image per request, and gpt-image-*
 * always answers base64 and rejects `response_format`. A back end that returns fewer images than
 * asked (many ignore `n`) is asked again for the rest.
 */
export function textToImageProvider(target: Target, base: Base): InProcessProvider {
  const { model } = base;
  return {
    ...providerInfo({ ...base, expectedRuntime: 60, inputShapeDefaults: { numberOfImages: 1 } }),
    isAvailable: () => target.health.isAvailable(),
    async process(input: TaskIO, ctx: ProcessContext): Promise<TaskIO> {
      const prompt = text(input, 'input');
      if (prompt.trim() === '') throw new ProviderError('input.input is empty', 'The prompt is empty: describe the image you want');
      const wanted = input.numberOfImages ?? 1;
      if (typeof wanted !== 'number' || !Number.isInteger(wanted))
        throw new ProviderError(`numberOfImages must be a whole number, got ${String(wanted)}`, 'The number of images must be a whole number');
      if (wanted > MAX_IMAGES) throw new ProviderError(`numberOfImages is ${wanted}`, TOO_MANY_IMAGES);
      if (wanted < 1) throw new ProviderError(`numberOfImages is ${wanted}`, TOO_FEW_IMAGES);
      const perRequest = model.startsWith('dall-e-3') ? 1 : wanted;
      const images: FileOutputValue[] = [];
      for (let request = 0; images.length < wanted && request < wanted; request++) {
        const n = Math.min(perRequest, wanted - images.length);
        const batch = await runCall(target, ctx, { endpoint: 'POST /images/generations', model }, async ({ options }) => {
          const answer: unknown = await target.client.images.generate(
            {
              model,
              prompt,
              n,
              ...(model.startsWith('gpt-image') ? {} : { response_format: 'b64_json' as const }),
              ...(target.backend.imageSize ? { size: target.backend.imageSize as '1024x1024' } : {}),
            },
            options,
          );
          return decodeImages(answer, images.length);
        });
        images.push(...batch.slice(0, wanted - images.length));
        ctx.reportProgress(Math.min(0.95, images.length / wanted));
      }
      if (images.length < wanted)
        throw new ProviderError(
          `Back end "${target.backend.name}" returned ${images.length} of ${wanted} images after ${wanted} requests`,
          'Fewer images than asked for could be generated',
        );
      return { images };
    },
  };
}

/**
 * core:image2image through POST /images/edits (multipart): the input images and the prompt go up, one
 * edited image comes back as b64_json. One image goes as the `image` part, which every server that has
 * the endpoint takes (dall-e-2 takes nothing else); several go as `image[]` (gpt-image-*). Inputs are
 * typed by their bytes: a file that is not an image fails the task before anything is sent.
 */
export function imageToImageProvider(target: Target, base: Base): InProcessProvider {
  const { model } = base;
  return {
    ...providerInfo({ ...base, expectedRuntime: 60 }),
    isAvailable: () => target.health.isAvailable(),
    async process(input: TaskIO, ctx: ProcessContext): Promise<TaskIO> {
      const prompt = text(input, 'prompt');
      if (prompt.trim() === '') throw new ProviderError('input.prompt is empty', 'The prompt is empty: describe the changes you want');
      const ids = input.input;
      if (!Array.isArray(ids) || ids.length === 0) throw new ProviderError('input.input must be a non-empty list of file ids', 'No image to edit was given');
      const images: { bytes: Buffer; mime: string; name: string }[] = [];
      for (const id of ids) {
        const handle = await ctx.inputFile(Number(id));
        const bytes = await handle.buffer();
        const mime = imageMime(bytes);
        if (mime === null) {
          throw new ProviderError(
            `Input file ${handle.file.id} (${handle.file.mime}) is not a PNG, JPEG, WEBP or GIF image`,
            `"${handle.file.name}" is not an image that can be edited`,
          );
        }
        images.push({ bytes, mime, name: handle.file.name });
      }
      const edited = await runCall(target, ctx, { endpoint: 'POST /images/edits', model }, async ({ options }) => {
        const files = await Promise.all(images.map((i) => toFile(i.bytes, i.name, { type: i.mime })));
        const answer: unknown = await target.client.images.edit(
          {
            model,
            prompt,
            image: files.length === 1 ? (files[0] as (typeof files)[number]) : files,
            ...(model.startsWith('gpt-image') ? {} : { response_format: 'b64_json' as const }),
            ...(target.backend.imageSize ? { size: target.backend.imageSize } : {}),
          },
          options,
        );
        // A server that returns several images (some ignore n) answers with the first.
        return decodeImages(answer, 0)[0] as FileOutputValue;
      });
      return { output: edited };
    },
  };
}

function decodeImages(answer: unknown, offset: number): FileOutputValue[] {
  if (typeof answer === 'string')
    throw new MalformedAnswerError(looksLikeHtml(answer) ? 'the answer is an HTML page, not JSON' : 'the answer is text, not JSON');
  const data = (answer as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) throw new MalformedAnswerError('the answer has no "data" list');
  if (data.length === 0) throw new MalformedAnswerError('the answer has an empty "data" list');
  return data.map((item: { b64_json?: unknown } | null, i) => {
    const b64 = item?.b64_json;
    if (typeof b64 !== 'string' || b64 === '') throw new MalformedAnswerError(`image ${i + 1} has no "b64_json" data (was response_format b64_json ignored?)`);
    if (!/^[A-Za-z0-9+/\s]*=*\s*$/.test(b64)) throw new MalformedAnswerError(`image ${i + 1} is not valid base64`);
    const bytes = Buffer.from(b64, 'base64');
    const mime = imageMime(bytes);
    if (mime === null)
      throw new MalformedAnswerError(`image ${i + 1} is not a PNG, JPEG, WEBP or GIF image (first bytes ${bytes.subarray(0, 8).toString('hex')})`);
    return { data: bytes, mime, name: `image-${offset + i + 1}.${IMAGE_EXTENSIONS[mime]}` };
  });
}

/**
 * core:audio2text through POST /audio/transcriptions. The file goes up as multipart through the
 * client's toFile, which reads the stream into memory first (the client needs a File).
 */
export function audioToTextProvider(target: Target, base: Base): InProcessProvider {
  const { model } = base;
  return {
    ...providerInfo({ ...base, expectedRuntime: 60 }),
    isAvailable: () => target.health.isAvailable(),
    async process(input: TaskIO, ctx: ProcessContext): Promise<TaskIO> {
      const handle = await ctx.inputFile(Number(input.input));
      if (handle.file.size === 0) throw new ProviderError(`Input file ${handle.file.id} is empty`, 'The audio file is empty');
      const transcript = await runCall(target, ctx, { endpoint: 'POST /audio/transcriptions', model }, async ({ options }) => {
        const file = await toFile(handle.stream(), handle.file.name, { type: handle.file.mime });
        const answer: unknown = await target.client.audio.transcriptions.create({ file, model }, options);
        // Some servers answer text/plain whatever the format asked for; a plain transcript is fine.
        if (typeof answer === 'string') {
          if (looksLikeHtml(answer)) throw new MalformedAnswerError('the answer is an HTML page, not a transcript');
          return answer;
        }
        const t = (answer as { text?: unknown } | null)?.text;
        if (typeof t !== 'string') throw new MalformedAnswerError('the answer has no "text"');
        return t;
      });
      return { output: transcript.trim() };
    },
  };
}

/** core:text2speech through POST /audio/speech (mp3 asked); the bytes become the output file. */
export function textToSpeechProvider(target: Target, base: Base): InProcessProvider {
  const { model } = base;
  const voice = target.backend.models.voice ?? DEFAULT_VOICE;
  return {
    ...providerInfo({ ...base, expectedRuntime: 30 }),
    isAvailable: () => target.health.isAvailable(),
    async process(input: TaskIO, ctx: ProcessContext): Promise<TaskIO> {
      const transcript = text(input, 'input');
      if (transcript.trim() === '') throw new ProviderError('input.input is empty', 'The text is empty: there is nothing to speak');
      const speech = await runCall(target, ctx, { endpoint: 'POST /audio/speech', model }, async ({ options }) => {
        const res = await target.client.audio.speech.create({ model, voice, input: transcript, response_format: 'mp3' }, options);
        const declared = (res.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
        const bytes = Buffer.from(await res.arrayBuffer());
        if (bytes.length === 0) throw new MalformedAnswerError('the answer is empty');
        const sniffed = audioMime(bytes);
        if (sniffed === null) {
          const what = looksLikeHtml(bytes.subarray(0, 200).toString('utf8'))
            ? 'an HTML page'
            : `${declared || 'untyped'} data (first bytes ${bytes.subarray(0, 8).toString('hex')})`;
          throw new MalformedAnswerError(`the answer is ${what}, not audio`);
        }
        // The bytes decide: a server may label mp3 as application/octet-stream.
        return { data: bytes, mime: sniffed, name: `speech.${audioExtension(sniffed)}` };
      });
      return { speech };
    },
  };
}
