import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { configWith } from '../../src/config.js';
import type { FileHandle } from '../../src/core/file-access.js';
import { type InProcessProvider, type ProcessContext, ProviderError } from '../../src/core/provider.js';
import type { TaskIO } from '../../src/core/shapes.js';
import { retryAfterMs } from '../../src/providers/openai/client.js';
import { USER_MESSAGES } from '../../src/providers/openai/errors.js';
import { openaiProviders } from '../../src/providers/openai/index.js';
import { TOO_FEW_IMAGES, TOO_MANY_IMAGES } from '../../src/providers/openai/media.js';
import { fakeEditedImage, fakeReply, fakeSpeech, startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.js';
import { tinyPng } from '../helpers/providers.js';

const MODELS = {
  default: 'text-model',
  'core:analyze-images': 'vision-model',
  'core:text2image': 'img-model',
  'core:audio2text': 'stt-model',
  'core:text2speech': 'tts-model',
  'core:text2text:multimodal-chatwithtools': 'vision-model',
  'core:image2image': 'edit-model',
  voice: 'nova',
};

interface Harness {
  get(type: string): InProcessProvider;
  logs: string[];
  clock: { ms: number };
}

interface InputFile {
  name: string;
  mime: string;
  bytes: Buffer;
}

/** A ProcessContext as the runner makes one, with input files from memory. */
function context(files: Record<number, InputFile> = {}, signal = new AbortController().signal): { ctx: ProcessContext; progress: number[] } {
  const progress: number[] = [];
  const ctx: ProcessContext = {
    taskId: 1,
    userId: 'alice',
    signal,
    reportProgress: (p) => progress.push(p),
    preferStreaming: false,
    reportPartialOutput: () => undefined,
    async inputFile(id): Promise<FileHandle> {
      const f = files[id];
      if (!f) throw new Error(`file ${id} is not referenced`);
      return { file: { id, name: f.name, mime: f.mime, size: f.bytes.length }, stream: () => Readable.from([f.bytes]), buffer: async () => f.bytes };
    },
  };
  return { ctx, progress };
}

/** Expects a ProviderError with a technical message matching `technical` and this user-facing message. */
async function rejectsWith(work: Promise<unknown>, technical: RegExp, userFacing: string | RegExp): Promise<ProviderError> {
  let caught: unknown;
  await work.then(
    () => assert.fail('expected the task to fail'),
    (err) => {
      caught = err;
    },
  );
  assert.ok(caught instanceof ProviderError, `not a ProviderError: ${caught}`);
  assert.match(caught.message, technical);
  if (typeof userFacing === 'string') assert.equal(caught.userFacingMessage, userFacing);
  else assert.match(caught.userFacingMessage ?? '', userFacing);
  return caught;
}

const lastMessages = (fake: FakeOpenAI) =>
  fake.requestsTo('chat').at(-1)?.json.messages as { role: string; content: unknown; tool_calls?: unknown; tool_call_id?: string }[];

describe('OpenAI-compatible providers', () => {
  let fake: FakeOpenAI;
  let dir: string;
  let files = 0;

  before(async () => {
    fake = await startFakeOpenAI();
    dir = await mkdtemp(join(tmpdir(), 'taskproc-openai-'));
  });
  after(async () => {
    await fake.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Fresh providers (fresh health) for one back end at `baseUrl` (default: the fake). */
  async function harness(backend: Record<string, unknown> = {}, baseUrl = `${fake.url}/v1`): Promise<Harness> {
    const path = join(dir, `providers-${files++}.json`);
    await writeFile(path, JSON.stringify({ backends: { test: { baseUrl, timeoutSeconds: 5, maxRetries: 2, models: MODELS, ...backend } } }));
    const logs: string[] = [];
    const clock = { ms: 1_000_000 };
    const providers = openaiProviders(configWith({ providersConfig: path }), { now: () => clock.ms, log: (m) => logs.push(m) });
    return {
      logs,
      clock,
      get(type) {
        const p = providers.find((x) => x.taskType === type);
        assert.ok(p, `no provider for ${type}`);
        return p;
      },
    };
  }

  describe('text types through chat completions', () => {
    it('streams a summary: system rules, the fenced text, rising progress that stays below 1', async () => {
      const h = await harness();
      const { ctx, progress } = context();
      const text = 'The council met on Monday. It approved the new bridge. Work starts in spring.';
      const long = 'word '.repeat(60);
      fake.script('chat', { kind: 'chat', content: long });
      const out = await h.get('core:text2text:summary').process({ input: text }, ctx);
      assert.deepEqual(out, { output: long.trim() });
      const req = fake.requestsTo('chat').at(-1);
      assert.equal(req?.json.stream, true);
      assert.equal(req?.json.model, 'text-model');
      const [system, user] = lastMessages(fake);
      assert.equal(system?.role, 'system');
      assert.match(String(system?.content), /Summarize the text/);
      assert.equal(user?.role, 'user');
      assert.equal(user?.content, `Text to summarize:\n"""\n${text}\n"""`);
      assert.ok(progress.length >= 3, `progress was reported while streaming: ${progress}`);
      assert.deepEqual(
        [...progress].sort((a, b) => a - b),
        progress,
        'progress only rises',
      );
      assert.ok(progress.every((p) => p > 0 && p <= 0.95));
    });

    it('reads a whole completion when streaming is off, and a plain JSON answer to a streaming request', async () => {
      const h = await harness({ stream: false });
      const { ctx } = context();
      assert.deepEqual(await h.get('core:text2text').process({ input: 'Say hi' }, ctx), { output: fakeReply('text-model', 'Say hi') });
      assert.equal(fake.requestsTo('chat').at(-1)?.json.stream, undefined);

      const streaming = await harness();
      const completion = { choices: [{ index: 0, message: { role: 'assistant', content: 'plain JSON answer' }, finish_reason: 'stop' }] };
      fake.script('chat', { kind: 'raw', contentType: 'application/json', body: JSON.stringify(completion) });
      assert.deepEqual(await streaming.get('core:text2text').process({ input: 'Say hi' }, ctx), { output: 'plain JSON answer' });
    });

    it('gives every single-shot type its own instructions and fills in its parameters', async () => {
      const h = await harness();
      const { ctx } = context();
      const cases: [string, TaskIO, RegExp, RegExp][] = [
        ['core:text2text:headline', { input: 'Long text' }, /one headline/, /^Text:\n"""\nLong text\n"""$/],
        ['core:text2text:topics', { input: 'Long text' }, /separated by commas/, /Long text/],
        ['core:text2text:formalization', { input: 'hey u' }, /formal/, /Text to formalize/],
        ['core:text2text:simplification', { input: 'Complex' }, /12-year-old/, /Text to simplify/],
        ['core:text2text:reformulation', { input: 'Say it' }, /different words/, /Text to reformulate/],
        [
          'core:text2text:improve',
          { input: 'draft', instructions: 'Make it shorter' },
          /following the user's instructions/,
          /^Instructions: Make it shorter\n\nText to improve/,
        ],
        ['core:text2text:changetone', { input: 'Pay now', tone: 'humorous' }, /in a humorous tone/, /Text to rewrite in a humorous tone/],
        ['core:text2text:proofread', { input: 'Teh cat' }, /"mistake" → "correction"/, /Text to proofread/],
        ['core:text2text:reformatparagraphs', { input: 'a b c' }, /Keep every word/, /Text to split into paragraphs/],
        [
          'core:text2text:translate',
          { input: 'Hallo', origin_language: 'detect_language', target_language: 'fr' },
          /Detect the language of the text and translate it into French/,
          /Text to translate into French/,
        ],
        ['core:text2text:translate', { input: 'Hallo', origin_language: 'de', target_language: 'en' }, /from German into English/, /Hallo/],
        [
          'core:contextwrite',
          { style_input: 'Yo!', source_input: 'Meeting at 5' },
          /style of the sample/,
          /Writing style sample:\n"""\nYo!\n"""\n\nSource material:\n"""\nMeeting at 5\n"""/,
        ],
        ['core:generateemoji', { input: 'Birthday party' }, /exactly one emoji/, /Birthday party/],
      ];
      for (const [type, input, system, user] of cases) {
        fake.script('chat', { kind: 'chat', content: type === 'core:generateemoji' ? '🎉' : `result for ${type}` });
        const out = await h.get(type).process(input, ctx);
        assert.equal(out.output, type === 'core:generateemoji' ? '🎉' : `result for ${type}`, type);
        const [sys, usr] = lastMessages(fake);
        assert.match(String(sys?.content), system, type);
        assert.match(String(usr?.content), user, type);
      }
      // The free prompt goes as it is, with no system message.
      await h.get('core:text2text').process({ input: 'Write a haiku' }, ctx);
      assert.deepEqual(lastMessages(fake), [{ role: 'user', content: 'Write a haiku' }]);
    });

    it('declares enum values and defaults for translate and change tone, and max_tokens for every text type', async () => {
      const h = await harness();
      const translate = h.get('core:text2text:translate');
      assert.equal(translate.inputShapeDefaults.origin_language, 'detect_language');
      assert.deepEqual(translate.inputShapeEnumValues.origin_language?.[0], { name: 'Detect language', value: 'detect_language' });
      assert.ok((translate.inputShapeEnumValues.target_language?.length ?? 0) >= 20);
      assert.ok(!translate.inputShapeEnumValues.target_language?.some((l) => l.value === 'detect_language'));
      const tone = h.get('core:text2text:changetone');
      assert.deepEqual(tone.inputShapeEnumValues.tone?.map((t) => t.value).slice(0, 6), [
        'friendly',
        'formal',
        'casual',
        'professional',
        'humorous',
        'serious',
      ]);
      assert.equal(tone.inputShapeDefaults.tone, 'friendly');
      assert.equal(h.get('core:text2text:summary').optionalInputShape.max_tokens?.type, 'Number');
      const { ctx } = context();
      await h.get('core:text2text').process({ input: 'Short', max_tokens: 50 }, ctx);
      assert.equal(fake.requestsTo('chat').at(-1)?.json.max_tokens, 50);
    });

    it('tidies what models add despite the rules', async () => {
      const h = await harness();
      const { ctx } = context();
      const cases: [string, string, string][] = [
        ['core:text2text:headline', '"Council Approves New Bridge."', 'Council Approves New Bridge'],
        ['core:text2text:topics', '- bridges\n- town council\n- budget', 'bridges, town council, budget'],
        ['core:generateemoji', 'Sure! Here is one: 🎂 enjoy', '🎂'],
        ['core:text2text:summary', '<think>The user wants a summary.</think>\n\nThe bridge was approved.', 'The bridge was approved.'],
      ];
      for (const [type, raw, tidy] of cases) {
        fake.script('chat', { kind: 'chat', content: raw });
        assert.equal((await h.get(type).process({ input: 'Some text' }, ctx)).output, tidy, type);
      }
    });

    it('refuses an empty text before calling the back end', async () => {
      const h = await harness();
      const before = fake.requestsTo('chat').length;
      await rejectsWith(h.get('core:text2text:summary').process({ input: '   ' }, context().ctx), /input\.input is empty/, /The text is empty/);
      assert.equal(fake.requestsTo('chat').length, before);
    });
  });

  describe('chat and chat with tools', () => {
    it('sends the system prompt, then the history with "human" as user, then the new message', async () => {
      const h = await harness();
      const history = [JSON.stringify({ role: 'human', content: 'Hi, I am Ana' }), JSON.stringify({ role: 'assistant', content: 'Hello Ana!' })];
      const out = await h.get('core:text2text:chat').process({ system_prompt: 'Be brief.', input: 'What is my name?', history }, context().ctx);
      assert.deepEqual(out, { output: fakeReply('text-model', 'What is my name?') });
      assert.deepEqual(lastMessages(fake), [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi, I am Ana' },
        { role: 'assistant', content: 'Hello Ana!' },
        { role: 'user', content: 'What is my name?' },
      ]);
    });

    it('refuses a history entry that is not JSON, with a message for the user', async () => {
      const h = await harness();
      await rejectsWith(
        h.get('core:text2text:chat').process({ system_prompt: '', input: 'x', history: ['not json'] }, context().ctx),
        /input\.history\[0\] is not valid JSON/,
        'The chat history is not valid',
      );
    });

    for (const stream of [true, false]) {
      it(`returns tool calls in Nextcloud's shape (${stream ? 'streamed in fragments' : 'not streamed'}), and hands tool results back`, async () => {
        const h = await harness({ stream });
        const tools = JSON.stringify([
          {
            type: 'function',
            function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
          },
        ]);
        fake.script('chat', { kind: 'chat', toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }] });
        const first = await h
          .get('core:text2text:chatwithtools')
          .process({ system_prompt: '', input: 'Weather in Paris?', history: [], tools, tool_message: '' }, context().ctx);
        assert.deepEqual(first, { output: '', tool_calls: JSON.stringify([{ name: 'get_weather', id: 'call_1', args: { city: 'Paris' } }]) });
        assert.deepEqual(fake.requestsTo('chat').at(-1)?.json.tools, JSON.parse(tools));

        // The next turn: the client sends the calls back in the history and the results as tool_message.
        const history = [
          JSON.stringify({ role: 'human', content: 'Weather in Paris?' }),
          JSON.stringify({ role: 'assistant', content: '', tool_calls: [{ name: 'get_weather', id: 'call_1', args: { city: 'Paris' } }] }),
        ];
        fake.script('chat', { kind: 'chat', content: 'Sunny, 21 °C.' });
        const second = await h
          .get('core:text2text:chatwithtools')
          .process(
            { system_prompt: '', input: '', history, tools, tool_message: JSON.stringify([{ tool_call_id: 'call_1', content: { temp: 21 } }]) },
            context().ctx,
          );
        assert.deepEqual(second, { output: 'Sunny, 21 °C.', tool_calls: '' });
        assert.deepEqual(lastMessages(fake), [
          { role: 'user', content: 'Weather in Paris?' },
          {
            role: 'assistant',
            content: null,
            tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
          },
          { role: 'tool', tool_call_id: 'call_1', content: '{"temp":21}' },
        ]);
      });
    }

    it('refuses tools that are not a JSON list', async () => {
      const h = await harness();
      await rejectsWith(
        h.get('core:text2text:chatwithtools').process({ system_prompt: '', input: 'x', history: [], tools: '{"name": 1}', tool_message: '' }, context().ctx),
        /input\.tools must be a JSON list/,
        'The tool definitions are not valid',
      );
    });
  });

  describe('multimodal chat with tools (core:text2text:multimodal-chatwithtools)', () => {
    const TOOLS = JSON.stringify([
      { type: 'function', function: { name: 'find_file', parameters: { type: 'object', properties: { name: { type: 'string' } } } } },
    ]);
    const base = { system_prompt: 'Be brief.', history: [], tools: TOOLS, tool_message: '' };

    it('sends the image attachments as image parts after the text, with the tools, and returns tool calls and no attachments', async () => {
      const h = await harness();
      const png = tinyPng(3);
      const gif = Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1');
      const { ctx } = context({ 31: { name: 'plan.png', mime: 'image/png', bytes: png }, 32: { name: 'anim', mime: 'application/octet-stream', bytes: gif } });
      fake.script('chat', { kind: 'chat', toolCalls: [{ id: 'call_7', name: 'find_file', arguments: '{"name":"plan.pdf"}' }] });
      const out = await h
        .get('core:text2text:multimodal-chatwithtools')
        .process({ ...base, input: 'Find the file shown here', input_attachments: [31, 32] }, ctx);
      assert.deepEqual(out, {
        output: '',
        output_attachments: [],
        tool_calls: JSON.stringify([{ name: 'find_file', id: 'call_7', args: { name: 'plan.pdf' } }]),
      });
      const req = fake.requestsTo('chat').at(-1);
      assert.equal(req?.json.model, 'vision-model');
      assert.deepEqual(req?.json.tools, JSON.parse(TOOLS));
      assert.deepEqual(lastMessages(fake), [
        { role: 'system', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Find the file shown here' },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${png.toString('base64')}` } },
            { type: 'image_url', image_url: { url: `data:image/gif;base64,${gif.toString('base64')}` } },
          ],
        },
      ]);
    });

    it('without attachments sends the message as text, like chat with tools, and hands tool results back', async () => {
      const h = await harness();
      const history = [
        JSON.stringify({ role: 'human', content: 'Find plan.pdf' }),
        JSON.stringify({ role: 'assistant', content: '', tool_calls: [{ name: 'find_file', id: 'call_7', args: {} }] }),
      ];
      fake.script('chat', { kind: 'chat', content: 'It is in /plans.' });
      const out = await h
        .get('core:text2text:multimodal-chatwithtools')
        .process(
          { ...base, input: '', input_attachments: [], history, tool_message: JSON.stringify({ tool_call_id: 'call_7', content: '/plans/plan.pdf' }) },
          context().ctx,
        );
      assert.deepEqual(out, { output: 'It is in /plans.', output_attachments: [], tool_calls: '' });
      assert.deepEqual(lastMessages(fake).slice(1), [
        { role: 'user', content: 'Find plan.pdf' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_7', type: 'function', function: { name: 'find_file', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'call_7', content: '/plans/plan.pdf' },
      ]);
      // Images alone are a message too.
      const { ctx } = context({ 33: { name: 'p.png', mime: 'image/png', bytes: tinyPng(4) } });
      await h.get('core:text2text:multimodal-chatwithtools').process({ ...base, input: '', input_attachments: [33] }, ctx);
      assert.deepEqual(lastMessages(fake).at(-1), {
        role: 'user',
        content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${tinyPng(4).toString('base64')}` } }],
      });
    });

    it('refuses an attachment that is not an image, and an empty turn, before calling the back end', async () => {
      const h = await harness();
      const before = fake.requestsTo('chat').length;
      const { ctx } = context({ 34: { name: 'report.pdf', mime: 'application/pdf', bytes: Buffer.from('%PDF-1.7 ...') } });
      await rejectsWith(
        h.get('core:text2text:multimodal-chatwithtools').process({ ...base, input: 'Summarize this', input_attachments: [34] }, ctx),
        /Input file 34 \(application\/pdf\) is not a PNG, JPEG, WEBP or GIF image/,
        '"report.pdf" cannot be sent to the AI model: only PNG, JPEG, WEBP and GIF images can be attached',
      );
      await rejectsWith(
        h.get('core:text2text:multimodal-chatwithtools').process({ ...base, input: ' ', input_attachments: [] }, context().ctx),
        /input\.input is empty/,
        'The message is empty',
      );
      assert.equal(fake.requestsTo('chat').length, before);
    });
  });

  describe('image editing (core:image2image)', () => {
    it('sends one image as the "image" part with the prompt, and returns the edited image as the output file', async () => {
      const h = await harness({ imageSize: '512x512' });
      const png = tinyPng(9);
      const { ctx } = context({ 41: { name: 'cat.png', mime: 'image/png', bytes: png } });
      const out = await h.get('core:image2image').process({ input: [41], prompt: 'Give the cat a hat' }, ctx);
      assert.deepEqual(out, { output: { data: fakeEditedImage(1), mime: 'image/png', name: 'image-1.png' } });
      const req = fake.requestsTo('edits').at(-1);
      assert.deepEqual(req?.fields, { model: 'edit-model', prompt: 'Give the cat a hat', response_format: 'b64_json', size: '512x512' });
      assert.deepEqual(req?.files, [{ field: 'image', name: 'cat.png', mime: 'image/png', bytes: png }]);
    });

    it('sends several images as "image[]" parts, and no response_format to gpt-image models', async () => {
      const h = await harness({ models: { ...MODELS, 'core:image2image': 'gpt-image-1' } });
      const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 9, 9]);
      const { ctx } = context({ 42: { name: 'a.png', mime: 'image/png', bytes: tinyPng(1) }, 43: { name: 'b.jpg', mime: 'image/jpeg', bytes: jpeg } });
      const out = await h.get('core:image2image').process({ input: [42, 43], prompt: 'Put both in one picture' }, ctx);
      assert.deepEqual((out.output as { data: Buffer }).data, fakeEditedImage(2));
      const req = fake.requestsTo('edits').at(-1);
      assert.deepEqual(req?.fields, { model: 'gpt-image-1', prompt: 'Put both in one picture' });
      assert.deepEqual(
        req?.files.map((f) => [f.field, f.name, f.mime, f.bytes]),
        [
          ['image[]', 'a.png', 'image/png', tinyPng(1)],
          ['image[]', 'b.jpg', 'image/jpeg', jpeg],
        ],
      );
    });

    it('refuses a non-image input and an empty prompt before calling the back end, and fails on an answer that is not an image', async () => {
      const h = await harness();
      const before = fake.requestsTo('edits').length;
      const { ctx } = context({
        44: { name: 'notes.txt', mime: 'text/plain', bytes: Buffer.from('hello') },
        45: { name: 'ok.png', mime: 'image/png', bytes: tinyPng(2) },
      });
      await rejectsWith(
        h.get('core:image2image').process({ input: [45, 44], prompt: 'Edit' }, ctx),
        /Input file 44 \(text\/plain\) is not a PNG/,
        '"notes.txt" is not an image that can be edited',
      );
      await rejectsWith(
        h.get('core:image2image').process({ input: [45], prompt: '  ' }, ctx),
        /input\.prompt is empty/,
        'The prompt is empty: describe the changes you want',
      );
      assert.equal(fake.requestsTo('edits').length, before);
      fake.script('edits', { kind: 'images', b64: [Buffer.from('<html>oops</html>').toString('base64')] });
      await rejectsWith(
        h.get('core:image2image').process({ input: [45], prompt: 'Edit' }, ctx),
        /image 1 is not a PNG, JPEG, WEBP or GIF image/,
        USER_MESSAGES.invalidAnswer,
      );
    });
  });

  describe('images and audio', () => {
    it('analyze-images sends each image as a data URL typed by its bytes', async () => {
      const h = await harness();
      const png = tinyPng(7);
      const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);
      const { ctx } = context({ 11: { name: 'a.png', mime: 'application/octet-stream', bytes: png }, 12: { name: 'b.jpg', mime: 'image/jpeg', bytes: jpeg } });
      const out = await h.get('core:analyze-images').process({ images: [11, 12], input: 'What is shown?' }, ctx);
      assert.deepEqual(out, { output: fakeReply('vision-model', 'What is shown?').trim() });
      const user = lastMessages(fake)[1];
      assert.deepEqual(user?.content, [
        { type: 'text', text: 'What is shown?' },
        { type: 'image_url', image_url: { url: `data:image/png;base64,${png.toString('base64')}` } },
        { type: 'image_url', image_url: { url: `data:image/jpeg;base64,${jpeg.toString('base64')}` } },
      ]);
      assert.equal(fake.requestsTo('chat').at(-1)?.json.model, 'vision-model');
      const notImage = context({ 13: { name: 'notes.png', mime: 'image/png', bytes: Buffer.from('hello') } });
      await rejectsWith(
        h.get('core:analyze-images').process({ images: [13], input: 'Q' }, notImage.ctx),
        /is not a PNG, JPEG, WEBP or GIF image/,
        '"notes.png" is not an image that can be analyzed',
      );
    });

    it('text2image returns the decoded images as PNG output files, and defaults to one image', async () => {
      const h = await harness({ imageSize: '512x512' });
      const provider = h.get('core:text2image');
      assert.deepEqual(provider.inputShapeDefaults, { numberOfImages: 1 });
      const { ctx, progress } = context();
      const out = await provider.process({ input: 'two cats', numberOfImages: 3 }, ctx);
      assert.deepEqual(
        out.images,
        [0, 1, 2].map((i) => ({ data: tinyPng(i), mime: 'image/png', name: `image-${i + 1}.png` })),
      );
      const req = fake.requestsTo('images').at(-1)?.json;
      assert.deepEqual(req, { model: 'img-model', prompt: 'two cats', n: 3, response_format: 'b64_json', size: '512x512' });
      assert.deepEqual(progress, [0.95]);
    });

    it("text2image keeps upstream's bounds and their messages", async () => {
      const h = await harness();
      const { ctx } = context();
      await rejectsWith(h.get('core:text2image').process({ input: 'cats', numberOfImages: 13 }, ctx), /numberOfImages is 13/, TOO_MANY_IMAGES);
      await rejectsWith(h.get('core:text2image').process({ input: 'cats', numberOfImages: 0 }, ctx), /numberOfImages is 0/, TOO_FEW_IMAGES);
      assert.equal(TOO_MANY_IMAGES, 'Cannot generate more than 12 images');
      assert.equal(TOO_FEW_IMAGES, 'Cannot generate less than 1 image');
    });

    it('text2image asks again when the back end ignores n, and asks dall-e-3 for one image at a time', async () => {
      const h = await harness();
      const before = fake.requestsTo('images').length;
      fake.script('images', { kind: 'images', b64: [tinyPng(5).toString('base64')] });
      const out = await h.get('core:text2image').process({ input: 'cats', numberOfImages: 2 }, context().ctx);
      assert.equal((out.images as unknown[]).length, 2);
      assert.deepEqual(
        fake
          .requestsTo('images')
          .slice(before)
          .map((r) => r.json.n),
        [2, 1],
      );

      const dalle = await harness({ models: { 'core:text2image': 'dall-e-3' } });
      const start = fake.requestsTo('images').length;
      await dalle.get('core:text2image').process({ input: 'cats', numberOfImages: 2 }, context().ctx);
      assert.deepEqual(
        fake
          .requestsTo('images')
          .slice(start)
          .map((r) => r.json.n),
        [1, 1],
      );
    });

    it('text2image fails clearly on bytes that are not an image and on a missing b64_json', async () => {
      const h = await harness();
      fake.script('images', { kind: 'images', b64: [Buffer.from('<html>error</html>').toString('base64')] });
      await rejectsWith(
        h.get('core:text2image').process({ input: 'cats', numberOfImages: 1 }, context().ctx),
        /image 1 is not a PNG, JPEG, WEBP or GIF image/,
        USER_MESSAGES.invalidAnswer,
      );
      fake.script('images', { kind: 'raw', contentType: 'application/json', body: JSON.stringify({ data: [{ url: 'http://example.invalid/x.png' }] }) });
      await rejectsWith(
        h.get('core:text2image').process({ input: 'cats', numberOfImages: 1 }, context().ctx),
        /image 1 has no "b64_json" data/,
        USER_MESSAGES.invalidAnswer,
      );
    });

    it('audio2text uploads the input file as multipart and returns the transcript', async () => {
      const h = await harness();
      const audio = Buffer.from('RIFF-fake-wave-bytes');
      const { ctx } = context({ 21: { name: 'memo.wav', mime: 'audio/wav', bytes: audio } });
      const out = await h.get('core:audio2text').process({ input: 21 }, ctx);
      assert.deepEqual(out, { output: `transcript of memo.wav (${audio.length} bytes): RIFF-fake-wave-bytes` });
      const req = fake.requestsTo('transcriptions').at(-1);
      assert.equal(req?.fields.model, 'stt-model');
      assert.deepEqual(req?.file, { name: 'memo.wav', mime: 'audio/wav', bytes: audio });
    });

    it('text2speech returns the audio bytes typed by their content', async () => {
      const h = await harness();
      const out = await h.get('core:text2speech').process({ input: 'Hello there' }, context().ctx);
      assert.deepEqual(out, { speech: { data: fakeSpeech('Hello there'), mime: 'audio/mpeg', name: 'speech.mp3' } });
      assert.deepEqual(fake.requestsTo('speech').at(-1)?.json, { model: 'tts-model', voice: 'nova', input: 'Hello there', response_format: 'mp3' });
      fake.script('speech', { kind: 'raw', contentType: 'audio/mpeg', body: '<!DOCTYPE html><html>Bad gateway</html>' });
      await rejectsWith(
        h.get('core:text2speech').process({ input: 'Hello' }, context().ctx),
        /the answer is an HTML page, not audio/,
        USER_MESSAGES.invalidAnswer,
      );
    });
  });

  describe('back-end errors', () => {
    it('401: tells the admin to check the key, the user that the service is misconfigured, and hides the back end for 60 s', async () => {
      const h = await harness();
      const summary = h.get('core:text2text:summary');
      assert.equal(summary.isAvailable?.(), true);
      fake.script('chat', { kind: 'status', status: 401, message: 'Incorrect API key provided' });
      await rejectsWith(
        summary.process({ input: 'Some text' }, context().ctx),
        /HTTP 401 from back end "test" .*: check the API key configured for back end "test" \(Incorrect API key provided\)/,
        'The AI service is not configured correctly; please contact your administrator',
      );
      assert.equal(summary.isAvailable?.(), false);
      assert.equal(h.get('core:text2image').isAvailable?.(), false, 'every type of the back end drops out');
      assert.match(h.logs.join('\n'), /back end "test" .* is unavailable: it refused the API key \(HTTP 401\)/);
      h.clock.ms += 59_000;
      assert.equal(summary.isAvailable?.(), false);
      h.clock.ms += 1_000;
      assert.equal(summary.isAvailable?.(), false, 'the re-check is under way');
      for (let i = 0; i < 200 && !summary.isAvailable?.(); i++) await new Promise((r) => setTimeout(r, 5));
      assert.equal(summary.isAvailable?.(), true, 'GET /models answered 200, so the back end is back');
      assert.match(h.logs.at(-1) ?? '', /is available again/);
    });

    it('403 is treated as a key problem too', async () => {
      const h = await harness();
      fake.script('chat', { kind: 'status', status: 403 });
      await rejectsWith(h.get('core:text2text').process({ input: 'x' }, context().ctx), /HTTP 403 .*check the API key/, USER_MESSAGES.misconfigured);
    });

    it('429 then success: retries, honouring Retry-After in seconds', async () => {
      const h = await harness();
      const before = fake.requestsTo('chat').length;
      fake.script('chat', { kind: 'status', status: 429, retryAfter: '0' }, { kind: 'status', status: 429, retryAfter: '1' });
      const started = Date.now();
      const out = await h.get('core:text2text').process({ input: 'busy?' }, context().ctx);
      const elapsed = Date.now() - started;
      assert.deepEqual(out, { output: fakeReply('text-model', 'busy?') });
      assert.equal(fake.requestsTo('chat').length - before, 3);
      assert.ok(elapsed >= 900 && elapsed < 3000, `waited ${elapsed} ms for Retry-After: 1`);
    });

    it('429 with a Retry-After beyond what taskproc waits fails at once instead of sleeping', async () => {
      const h = await harness();
      const before = fake.requestsTo('chat').length;
      fake.script('chat', { kind: 'status', status: 429, retryAfter: '3600' });
      const started = Date.now();
      await rejectsWith(
        h.get('core:text2text').process({ input: 'x' }, context().ctx),
        /HTTP 429 .*it asked to wait 3600 s, longer than taskproc waits/,
        USER_MESSAGES.busy,
      );
      assert.ok(Date.now() - started < 1000);
      assert.equal(fake.requestsTo('chat').length - before, 1);
    });

    it('reads Retry-After as seconds, as an HTTP date, and as retry-after-ms', () => {
      const now = Date.parse('2025-01-01T00:00:00Z');
      assert.equal(retryAfterMs(new Headers({ 'retry-after': '2' }), now), 2000);
      assert.equal(retryAfterMs(new Headers({ 'retry-after': 'Wed, 01 Jan 2025 00:00:05 GMT' }), now), 5000);
      assert.equal(retryAfterMs(new Headers({ 'retry-after-ms': '150', 'retry-after': '9' }), now), 150);
      assert.equal(retryAfterMs(new Headers({ 'retry-after': 'Tue, 31 Dec 2024 00:00:00 GMT' }), now), 0);
      assert.equal(retryAfterMs(new Headers({}), now), null);
    });

    it('500: retries with back-off, then fails after maxRetries with a message for the user', async () => {
      const h = await harness({ maxRetries: 1 });
      const before = fake.requestsTo('chat').length;
      fake.script('chat', { kind: 'status', status: 500 });
      assert.deepEqual(await h.get('core:text2text').process({ input: 'again' }, context().ctx), { output: fakeReply('text-model', 'again') });
      fake.script('chat', { kind: 'status', status: 502, retryAfter: '0' }, { kind: 'status', status: 503, retryAfter: '0', message: 'overloaded' });
      await rejectsWith(
        h.get('core:text2text').process({ input: 'x' }, context().ctx),
        /HTTP 503 from back end "test" .* after 1 retry \(overloaded\)/,
        USER_MESSAGES.failed,
      );
      assert.equal(fake.requestsTo('chat').length - before, 4);
    });

    it('a back end that never answers fails with the time-out, without retrying', async () => {
      const h = await harness({ timeoutSeconds: 0.3 });
      const before = fake.requestsTo('chat').length;
      fake.script('chat', { kind: 'hang' });
      const started = Date.now();
      await rejectsWith(
        h.get('core:text2text').process({ input: 'x' }, context().ctx),
        /No answer within 0\.3 s from back end "test"/,
        'The AI service did not answer within 0.3 seconds',
      );
      assert.ok(Date.now() - started < 1500);
      assert.equal(fake.requestsTo('chat').length - before, 1);
      await fake.abortedRequest('chat');
    });

    it('a stream that stalls times out, while a slow but steady stream does not', async () => {
      const h = await harness({ timeoutSeconds: 0.4 });
      fake.script('chat', { kind: 'chat', content: 'a long answer that stops', stallAfterChunks: 3 });
      await rejectsWith(
        h.get('core:text2text').process({ input: 'x' }, context().ctx),
        /No answer within 0\.4 s/,
        'The AI service did not answer within 0.4 seconds',
      );
      fake.script('chat', { kind: 'chat', content: 'twenty chars, slowly', chunkDelayMs: 100 });
      assert.deepEqual(await h.get('core:text2text').process({ input: 'x' }, context().ctx), { output: 'twenty chars, slowly' });
    });

    it('fails clearly on malformed answers: invalid JSON, HTML, empty choices, no choices in a stream', async () => {
      const h = await harness();
      const plain = await harness({ stream: false });
      const run = (p: Harness) => p.get('core:text2text').process({ input: 'x' }, context().ctx);
      fake.script('chat', { kind: 'raw', contentType: 'application/json', body: '{"choices": [{"message": ' });
      await rejectsWith(run(plain), /invalid JSON/, USER_MESSAGES.invalidAnswer);
      fake.script('chat', { kind: 'raw', contentType: 'text/html', body: '<!DOCTYPE html><html><body>502 Bad Gateway</body></html>' });
      await rejectsWith(run(plain), /the answer is an HTML page, not JSON/, USER_MESSAGES.invalidAnswer);
      fake.script('chat', { kind: 'raw', contentType: 'text/html', body: '<html><body>Login</body></html>' });
      await rejectsWith(run(h), /a streaming request was answered with an HTML page instead of an event stream/, USER_MESSAGES.invalidAnswer);
      fake.script('chat', { kind: 'raw', contentType: 'application/json', body: '{"choices": []}' });
      await rejectsWith(run(plain), /an empty "choices" list/, USER_MESSAGES.invalidAnswer);
      fake.script('chat', { kind: 'raw', contentType: 'text/event-stream', body: 'data: {"id":"x","choices":[]}\n\ndata: [DONE]\n\n' });
      await rejectsWith(run(h), /the event stream carried no choices/, USER_MESSAGES.invalidAnswer);
      fake.script('chat', { kind: 'raw', contentType: 'text/event-stream', body: 'data: {not json\n\n' });
      await rejectsWith(run(h), /invalid JSON/, USER_MESSAGES.invalidAnswer);
      fake.script('chat', { kind: 'chat', content: '' });
      await rejectsWith(run(h), /the model returned an empty answer/, USER_MESSAGES.invalidAnswer);
      fake.script('chat', { kind: 'chat', content: '', finishReason: 'content_filter' });
      await rejectsWith(run(h), /content filter/, USER_MESSAGES.filtered);
    });

    it('fails on an answer larger than maxResponseMB, declared or not', async () => {
      const h = await harness({ maxResponseMB: 0.5, stream: false });
      for (const declareLength of [true, false]) {
        fake.script('chat', { kind: 'huge', bytes: 2 * 1024 * 1024, declareLength });
        await rejectsWith(
          h.get('core:text2text').process({ input: 'x' }, context().ctx),
          /was cut off: the answer is larger than 512 KB \(backends\.test\.maxResponseMB\)/,
          USER_MESSAGES.invalidAnswer,
        );
      }
    });

    it('an unknown model fails naming the model', async () => {
      const h = await harness({ models: { default: 'llama9' } });
      fake.script('chat', { kind: 'unknown-model' });
      await rejectsWith(
        h.get('core:text2text').process({ input: 'x' }, context().ctx),
        /HTTP 404 from back end "test" .*: the back end does not know the model "llama9"/,
        'The AI model "llama9" is not available; please contact your administrator',
      );
    });

    it('nothing listening: fails as unreachable and hides the back end', async () => {
      const port = await closedPort();
      const h = await harness({ maxRetries: 0 }, `http://127.0.0.1:${port}/v1`);
      await rejectsWith(
        h.get('core:text2text').process({ input: 'x' }, context().ctx),
        /Cannot connect to back end "test" .*ECONNREFUSED/,
        USER_MESSAGES.unreachable,
      );
      assert.equal(h.get('core:text2text').isAvailable?.(), false);
    });

    it('cancelling aborts the HTTP request mid-stream and settles at once', async () => {
      const h = await harness();
      const controller = new AbortController();
      fake.script('chat', { kind: 'chat', content: 'x'.repeat(400), chunkDelayMs: 50 });
      const { ctx, progress } = context({}, controller.signal);
      const work = h.get('core:text2text').process({ input: 'long story' }, ctx);
      while (progress.length === 0) await new Promise((r) => setTimeout(r, 5));
      controller.abort(new Error('The task was cancelled'));
      await assert.rejects(work, /The task was cancelled/);
      await fake.abortedRequest('chat', (r) => r.json.messages[0].content === 'long story');
    });

    it('cancelling during a Retry-After wait settles at once and sends nothing more', async () => {
      const h = await harness({ timeoutSeconds: 60 });
      const controller = new AbortController();
      const before = fake.requestsTo('chat').length;
      fake.script('chat', { kind: 'status', status: 429, retryAfter: '20' });
      const work = h.get('core:text2text').process({ input: 'x' }, context({}, controller.signal).ctx);
      while (fake.requestsTo('chat').length === before) await new Promise((r) => setTimeout(r, 5));
      const started = Date.now();
      controller.abort(new Error('The task was cancelled'));
      await assert.rejects(work, /The task was cancelled/);
      assert.ok(Date.now() - started < 200);
      assert.equal(fake.requestsTo('chat').length - before, 1);
    });
  });

  describe('availability at start', () => {
    it('sends nothing until asked, then probes GET /models once', async () => {
      const before = fake.requestsTo('models').length;
      const h = await harness();
      assert.equal(fake.requestsTo('models').length, before);
      assert.equal(h.get('core:text2text').isAvailable?.(), true);
      h.get('core:text2text:summary').isAvailable?.();
      while (fake.requestsTo('models').length === before) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(fake.requestsTo('models').length - before, 1);
      assert.equal(h.get('core:text2text').isAvailable?.(), true);
    });

    it('is unavailable when GET /models answers 401, and when nothing listens', async () => {
      const guarded = await startFakeOpenAI({ apiKey: 'sk-right' });
      try {
        const h = await harness({ apiKey: 'sk-wrong' }, `${guarded.url}/v1`);
        const p = h.get('core:text2text');
        p.isAvailable?.();
        for (let i = 0; i < 200 && p.isAvailable?.(); i++) await new Promise((r) => setTimeout(r, 5));
        assert.equal(p.isAvailable?.(), false);
        assert.match(h.logs.join('\n'), /GET \/models was refused \(HTTP 401\/403\): check its API key/);
        const right = await harness({ apiKey: 'sk-right' }, `${guarded.url}/v1`);
        assert.deepEqual(await right.get('core:text2text').process({ input: 'hi' }, context().ctx), { output: fakeReply('text-model', 'hi') });
        assert.equal(guarded.requestsTo('chat').at(-1)?.headers.authorization, 'Bearer sk-right');
      } finally {
        await guarded.close();
      }
      const down = await harness({}, `http://127.0.0.1:${await closedPort()}/v1`);
      const p = down.get('core:text2text');
      p.isAvailable?.();
      for (let i = 0; i < 200 && p.isAvailable?.(); i++) await new Promise((r) => setTimeout(r, 5));
      assert.equal(p.isAvailable?.(), false);
    });

    it('stays available when the back end has no /models (404)', async () => {
      const h = await harness({}, `${fake.url}/v1/no-models-here`);
      const p = h.get('core:text2text');
      p.isAvailable?.();
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(p.isAvailable?.(), true);
    });
  });
});

/** A port nothing listens on (bound, read, released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
