import type { ChatCompletionContentPart, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { type InProcessProvider, type ProcessContext, ProviderError, type ProviderInfo, providerInfo } from '../../core/provider.js';
import type { Shape, TaskIO } from '../../core/shapes.js';
import { type Target, runCall } from './call.js';
import { conversationMessages, parseTools } from './conversation.js';
import { imageMime } from './media-types.js';
import { complete } from './completion.js';
import { ANALYZE_IMAGES_SYSTEM, DETECT_LANGUAGE, expectedOutputChars, LANGUAGES, singleShotPrompt, text, tidyOutput, TONES } from './prompts.js';

const MAX_TOKENS_SLOT: Shape = {
  max_tokens: {
    name: 'Maximum output words',
    description: 'The maximum number of words/tokens that can be generated in the completion.',
    type: 'Number',
  },
};

/** Types whose answer may be tool calls: `tools` in, `tool_calls` out (as JSON strings). */
const TOOL_TYPES = new Set(['core:text2text:chatwithtools', 'core:text2text:multimodal-chatwithtools']);
const MULTIMODAL_CHAT = 'core:text2text:multimodal-chatwithtools';

/** The slot whose emptiness means there is nothing to do, per type (default: `input`). */
const MAIN_SLOT: Record<string, string> = { 'core:contextwrite': 'source_input' };

/** A provider for one of the types served through chat completions. */
export function chatProvider(target: Target, base: { id: string; name: string; taskType: string; model: string }): InProcessProvider {
  const { taskType, model } = base;
  return {
    ...providerInfo({
      id: base.id,
      name: base.name,
      taskType,
      expectedRuntime: taskType === 'core:analyze-images' || taskType === MULTIMODAL_CHAT ? 30 : 20,
      optionalInputShape: MAX_TOKENS_SLOT,
      ...enumsFor(taskType),
    }),
    isAvailable: () => target.health.isAvailable(),
    async process(input: TaskIO, ctx: ProcessContext): Promise<TaskIO> {
      const maxTokens = positiveInt(input.max_tokens);
      const tools = TOOL_TYPES.has(taskType) ? parseTools(text(input, 'tools')) : undefined;
      const messages = await messagesFor(taskType, input, ctx);
      const expected = expectedOutputChars(taskType, input);
      let reported = 0;
      const onText = (soFar: string) => {
        // The client asked for streamed output: every delta goes out as the task's output so far
        // (shown at once, written coalesced: workers/live-outputs.ts). Tool types show their text too.
        if (ctx.preferStreaming) ctx.reportPartialOutput({ output: soFar });
        // Only an estimate: the real length is unknown until the stream ends (README: progress).
        const p = Math.min(0.95, soFar.length / expected);
        if (p - reported >= 0.05) {
          reported = p;
          ctx.reportProgress(p);
        }
      };
      const result = await runCall(target, ctx, { endpoint: 'POST /chat/completions', model }, (scope) =>
        complete(target, scope, { model, messages, tools, maxTokens, allowEmptyContent: tools !== undefined }, onText),
      );
      if (TOOL_TYPES.has(taskType)) {
        const toolCalls = result.toolCalls.length > 0 ? JSON.stringify(result.toolCalls) : '';
        // Chat completions answer text only, so the mandatory output_attachments list is empty.
        if (taskType === MULTIMODAL_CHAT) return { output: tidyOutput(taskType, result.content), output_attachments: [], tool_calls: toolCalls };
        return { output: tidyOutput(taskType, result.content), tool_calls: toolCalls };
      }
      return { output: tidyOutput(taskType, result.content) };
    },
  };
}

function enumsFor(taskType: string): Pick<Partial<ProviderInfo>, 'inputShapeEnumValues' | 'inputShapeDefaults'> {
  if (taskType === 'core:text2text:translate') {
    return {
      inputShapeEnumValues: {
        origin_language: [{ name: 'Detect language', value: DETECT_LANGUAGE }, ...LANGUAGES],
        target_language: [...LANGUAGES],
      },
      inputShapeDefaults: { origin_language: DETECT_LANGUAGE, target_language: 'en' },
    };
  }
  if (taskType === 'core:text2text:changetone') {
    return { inputShapeEnumValues: { tone: [...TONES] }, inputShapeDefaults: { tone: 'friendly' } };
  }
  return {};
}

async function messagesFor(taskType: string, input: TaskIO, ctx: ProcessContext): Promise<ChatCompletionMessageParam[]> {
  if (taskType === 'core:text2text:chat' || taskType === 'core:text2text:chatwithtools') {
    return conversationMessages(input, taskType === 'core:text2text:chatwithtools');
  }
  if (taskType === MULTIMODAL_CHAT) {
    const ids = input.input_attachments;
    if (!Array.isArray(ids)) throw new ProviderError('input.input_attachments must be a list of file ids', 'The attachments are not valid');
    const urls = await imageDataUrls(ids, ctx, (name) => `"${name}" cannot be sent to the AI model: only PNG, JPEG, WEBP and GIF images can be attached`);
    return conversationMessages(
      input,
      true,
      urls.map((url) => ({ type: 'image_url', image_url: { url } })),
    );
  }
  if (taskType === 'core:analyze-images') {
    const question = nonEmpty(input, 'input');
    const parts: ChatCompletionContentPart[] = [{ type: 'text', text: question }];
    const ids = input.images;
    if (!Array.isArray(ids) || ids.length === 0) throw new ProviderError('input.images must be a non-empty list of file ids', 'No images were given');
    for (const url of await imageDataUrls(ids, ctx, (name) => `"${name}" is not an image that can be analyzed`))
      parts.push({ type: 'image_url', image_url: { url } });
    return [
      { role: 'system', content: ANALYZE_IMAGES_SYSTEM },
      { role: 'user', content: parts },
    ];
  }
  nonEmpty(input, MAIN_SLOT[taskType] ?? 'input');
  const prompt = singleShotPrompt(taskType, input);
  if (prompt === null) throw new ProviderError(`No prompt is defined for task type ${taskType}`);
  return [...(prompt.system === null ? [] : [{ role: 'system' as const, content: prompt.system }]), { role: 'user', content: prompt.user }];
}

/**
 * Vision input: each image inline as a base64 data URL, typed by its bytes rather than its name. A
 * file that is not an image fails the task with `notAnImage(file name)` for the user: skipping it
 * would let the model answer as if it had seen a file it never got.
 */
async function imageDataUrls(ids: readonly unknown[], ctx: ProcessContext, notAnImage: (name: string) => string): Promise<string[]> {
  const urls: string[] = [];
  for (const id of ids) {
    const handle = await ctx.inputFile(Number(id));
    const bytes = await handle.buffer();
    const mime = imageMime(bytes);
    if (mime === null) {
      throw new ProviderError(`Input file ${handle.file.id} (${handle.file.mime}) is not a PNG, JPEG, WEBP or GIF image`, notAnImage(handle.file.name));
    }
    urls.push(`data:${mime};base64,${bytes.toString('base64')}`);
  }
  return urls;
}

function nonEmpty(input: TaskIO, key: string): string {
  const value = text(input, key);
  if (value.trim() === '') throw new ProviderError(`input.${key} is empty`, 'The text is empty: there is nothing to work on');
  return value;
}

function positiveInt(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined;
}
