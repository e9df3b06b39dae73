import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { configWith } from '../../src/config.js';
import { builtinProviders } from '../../src/providers/builtin.js';
import { USER_MESSAGES } from '../../src/providers/openai/errors.js';
import { fakeEditedImage, fakeSpeech, startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.js';
import { tinyPng } from '../helpers/providers.js';
import { startServer, type TestServer, type TestUser } from '../helpers/server.js';

const V2 = '/ocs/v2.php/taskprocessing';
const KEY = 'sk-test-key';

const TEXT_CASES: [string, Record<string, unknown>][] = [
  ['core:text2text', { input: 'Write a haiku about bridges' }],
  ['core:text2text:topics', { input: 'The council approved the bridge and the bicycle lanes.' }],
  ['core:text2text:headline', { input: 'The council approved the bridge.' }],
  ['core:text2text:summary', { input: 'The council met on Monday. It approved the bridge. Work starts in spring.' }],
  ['core:text2text:formalization', { input: 'hey, send me the stuff' }],
  ['core:text2text:simplification', { input: 'The ordinance was promulgated forthwith.' }],
  [
    'core:text2text:chat',
    {
      system_prompt: 'Be brief.',
      input: 'What is a bridge?',
      history: [JSON.stringify({ role: 'human', content: 'Hi' }), JSON.stringify({ role: 'assistant', content: 'Hello!' })],
    },
  ],
  ['core:text2text:translate', { input: 'Guten Morgen', target_language: 'en' }],
  ['core:text2text:reformulation', { input: 'The bridge opens in May.' }],
  ['core:text2text:improve', { input: 'bridge open may', instructions: 'Make it a full sentence' }],
  ['core:contextwrite', { style_input: 'Ahoy, mateys!', source_input: 'The meeting is at five.' }],
  ['core:text2text:changetone', { input: 'Pay the invoice.', tone: 'friendly' }],
  ['core:text2text:proofread', { input: 'Teh bridge is opne.' }],
  ['core:text2text:reformatparagraphs', { input: 'First topic. Second topic.' }],
];

describe('OpenAI-compatible back ends through the HTTP API', () => {
  let fake: FakeOpenAI;
  let s: TestServer;
  let alice: TestUser;
  let dir: string;

  before(async () => {
    fake = await startFakeOpenAI({ apiKey: KEY });
    dir = await mkdtemp(join(tmpdir(), 'taskproc-openai-api-'));
    const path = join(dir, 'providers.json');
    const baseUrl = `${fake.url}/v1`;
    await writeFile(
      path,
      JSON.stringify({
        backends: {
          // First, so that it serves reformulation: its short time-out is for the time-out test.
          slow: { baseUrl, apiKey: KEY, timeoutSeconds: 0.5, maxRetries: 0, models: { default: 'slow-model' }, taskTypes: ['core:text2text:reformulation'] },
          text: {
            baseUrl,
            apiKey: KEY,
            timeoutSeconds: 10,
            maxRetries: 1,
            models: { default: 'text-model', 'core:analyze-images': 'vision-model', 'core:text2text:multimodal-chatwithtools': 'vision-model' },
          },
          media: {
            baseUrl,
            apiKey: KEY,
            models: {
              'core:text2image': 'img-model',
              'core:audio2text': 'stt-model',
              'core:text2speech': 'tts-model',
              'core:image2image': 'edit-model',
              voice: 'nova',
            },
          },
        },
      }),
    );
    s = await startServer({ providers: builtinProviders(configWith({ providersConfig: path, offlineProviders: false, logLevel: 'silent' })) });
    alice = await s.addUser('alice');
    await s.app.settings.set('rateLimitEnabled', false);
  });
  after(async () => {
    await s.close();
    await fake.close();
    await rm(dir, { recursive: true, force: true });
  });

  const schedule = async (type: string, input: Record<string, unknown>) => {
    const r = await s.ocs('POST', `${V2}/schedule`, { auth: alice.auth, body: { type, appId: 'assistant', input } });
    assert.equal(r.status, 200, `${type}: ${r.text}`);
    return r.json.ocs.data.task.id as number;
  };
  const settled = async (id: number) => {
    for (let i = 0; i < 500; i++) {
      const task = (await s.ocs('GET', `${V2}/task/${id}`, { auth: alice.auth })).json.ocs.data.task;
      if (['STATUS_SUCCESSFUL', 'STATUS_FAILED', 'STATUS_CANCELLED'].includes(task.status)) return task;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`task ${id} did not finish`);
  };
  const run = async (type: string, input: Record<string, unknown>) => settled(await schedule(type, input));
  const download = (taskId: number, fileId: number) => fetch(`${s.url}${V2}/tasks/${taskId}/file/${fileId}`, { headers: { authorization: alice.auth } });
  const upload = async (name: string, body: Buffer, type: string) => {
    const res = await fetch(`${s.url}/remote.php/dav/files/alice/${name}`, {
      method: 'PUT',
      headers: { authorization: alice.auth, 'content-type': type },
      body: new Uint8Array(body),
    });
    assert.ok(res.status === 201 || res.status === 204, `PUT ${name}: ${res.status}`);
    // OC-FileId is Nextcloud's padded form ("00000012<instance>"); the number leads it.
    return parseInt(res.headers.get('oc-fileid') ?? '', 10);
  };

  it('lists every type the back ends serve in /tasktypes, with the enum values and defaults', async () => {
    const types = (await s.ocs('GET', `${V2}/tasktypes`, { auth: alice.auth })).json.ocs.data.types;
    for (const [type] of TEXT_CASES) assert.ok(types[type], type);
    const more = [
      'core:text2text:chatwithtools',
      'core:text2text:multimodal-chatwithtools',
      'core:generateemoji',
      'core:analyze-images',
      'core:text2image',
      'core:audio2text',
      'core:text2speech',
      'core:image2image',
    ];
    for (const type of more) assert.ok(types[type], type);
    // Served by the ExApp context_agent, as core:contextagent:interaction: no back end serves it.
    assert.equal(types['core:contextagent:multimodal-interaction'], undefined);
    assert.equal(types['core:text2text:multimodal-chatwithtools'].isInternal, true);
    assert.equal(types['core:image2image'].isInternal, false);
    const translate = types['core:text2text:translate'];
    assert.equal(translate.inputShapeDefaults.origin_language, 'detect_language');
    assert.ok(translate.inputShapeEnumValues.target_language.some((v: { value: string }) => v.value === 'de'));
    assert.equal(types['core:text2image'].inputShapeDefaults.numberOfImages, 1);
  });

  it('runs every text type through its back end and stores the answers', async () => {
    for (const [type, input] of TEXT_CASES) {
      const task = await run(type, input);
      assert.equal(task.status, 'STATUS_SUCCESSFUL', `${type}: ${task.userFacingErrorMessage}`);
      const model = type === 'core:text2text:reformulation' ? 'slow-model' : 'text-model';
      assert.match(task.output.output, new RegExp(`^\\[${model}\\] reply to: `), type);
      assert.equal(fake.requestsTo('chat').at(-1)?.json.model, model);
      assert.equal(fake.requestsTo('chat').at(-1)?.headers.authorization, `Bearer ${KEY}`);
    }
    fake.script('chat', { kind: 'chat', content: '🌉' });
    assert.equal((await run('core:generateemoji', { input: 'A new bridge' })).output.output, '🌉');
  });

  it('chat with tools returns the tool calls as a JSON string', async () => {
    fake.script('chat', { kind: 'chat', toolCalls: [{ id: 'call_9', name: 'find_file', arguments: '{"name":"plan.pdf"}' }] });
    const tools = JSON.stringify([
      { type: 'function', function: { name: 'find_file', parameters: { type: 'object', properties: { name: { type: 'string' } } } } },
    ]);
    const task = await run('core:text2text:chatwithtools', { system_prompt: '', input: 'Find plan.pdf', history: [], tools, tool_message: '' });
    assert.equal(task.status, 'STATUS_SUCCESSFUL');
    assert.deepEqual(JSON.parse(task.output.tool_calls), [{ name: 'find_file', id: 'call_9', args: { name: 'plan.pdf' } }]);
    assert.equal(task.output.output, '');
  });

  it('text2image stores each generated image as an output file, served byte for byte', async () => {
    const task = await run('core:text2image', { input: 'a bridge at dawn', numberOfImages: 3 });
    assert.equal(task.status, 'STATUS_SUCCESSFUL', task.userFacingErrorMessage);
    assert.equal(task.output.images.length, 3);
    for (const [i, fileId] of (task.output.images as number[]).entries()) {
      const res = await download(task.id, fileId);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'image/png');
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), tinyPng(i));
    }
    assert.equal(fake.requestsTo('images').at(-1)?.json.model, 'img-model');
  });

  it('text2speech stores the audio as an output file', async () => {
    const task = await run('core:text2speech', { input: 'The bridge is open.' });
    assert.equal(task.status, 'STATUS_SUCCESSFUL', task.userFacingErrorMessage);
    const res = await download(task.id, task.output.speech);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'audio/mpeg');
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), fakeSpeech('The bridge is open.'));
    assert.equal(fake.requestsTo('speech').at(-1)?.json.voice, 'nova');
  });

  it('audio2text sends the uploaded file and returns the transcript', async () => {
    const bytes = Buffer.from('RIFF....WAVEfmt fake audio');
    const id = await upload('memo.wav', bytes, 'audio/wav');
    const task = await run('core:audio2text', { input: id });
    assert.equal(task.status, 'STATUS_SUCCESSFUL', task.userFacingErrorMessage);
    assert.equal(task.output.output, `transcript of memo.wav (${bytes.length} bytes): ${bytes.toString('utf8')}`);
    assert.deepEqual(fake.requestsTo('transcriptions').at(-1)?.file?.bytes, bytes);
  });

  it('analyze-images sends the uploaded images to the vision model', async () => {
    const id = await upload('photo.png', tinyPng(42), 'image/png');
    const task = await run('core:analyze-images', { images: [id], input: 'What is this?' });
    assert.equal(task.status, 'STATUS_SUCCESSFUL', task.userFacingErrorMessage);
    assert.match(task.output.output, /^\[vision-model\] reply to: What is this\?/);
    const parts = fake.requestsTo('chat').at(-1)?.json.messages[1].content;
    assert.equal(parts[1].image_url.url, `data:image/png;base64,${tinyPng(42).toString('base64')}`);
  });

  it('multimodal chat with tools sends uploaded images as image parts and answers tool calls with no output attachments', async () => {
    const png = tinyPng(61);
    const id = await upload('whiteboard.png', png, 'image/png');
    fake.script('chat', { kind: 'chat', toolCalls: [{ id: 'call_4', name: 'create_task', arguments: '{"title":"Buy milk"}' }] });
    const tools = JSON.stringify([
      { type: 'function', function: { name: 'create_task', parameters: { type: 'object', properties: { title: { type: 'string' } } } } },
    ]);
    const input = { system_prompt: '', input: 'Make tasks from this whiteboard', input_attachments: [id], history: [], tools, tool_message: '' };
    const task = await run('core:text2text:multimodal-chatwithtools', input);
    assert.equal(task.status, 'STATUS_SUCCESSFUL', task.userFacingErrorMessage);
    assert.deepEqual(task.output, {
      output: '',
      output_attachments: [],
      tool_calls: JSON.stringify([{ name: 'create_task', id: 'call_4', args: { title: 'Buy milk' } }]),
    });
    const req = fake.requestsTo('chat').at(-1);
    assert.equal(req?.json.model, 'vision-model');
    assert.deepEqual(req?.json.tools, JSON.parse(tools));
    assert.deepEqual(req?.json.messages, [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Make tasks from this whiteboard' },
          { type: 'image_url', image_url: { url: `data:image/png;base64,${png.toString('base64')}` } },
        ],
      },
    ]);

    const pdf = await upload('minutes.pdf', Buffer.from('%PDF-1.7 minutes'), 'application/pdf');
    const refused = await run('core:text2text:multimodal-chatwithtools', { ...input, input_attachments: [pdf] });
    assert.equal(refused.status, 'STATUS_FAILED');
    assert.equal(refused.userFacingErrorMessage, '"minutes.pdf" cannot be sent to the AI model: only PNG, JPEG, WEBP and GIF images can be attached');
  });

  it('image2image sends the uploaded images to /images/edits and stores the edited image as the output file', async () => {
    const first = await upload('room.png', tinyPng(71), 'image/png');
    const second = await upload('sofa.png', tinyPng(72), 'image/png');
    const task = await run('core:image2image', { input: [first, second], prompt: 'Put the sofa in the room' });
    assert.equal(task.status, 'STATUS_SUCCESSFUL', task.userFacingErrorMessage);
    assert.equal(typeof task.output.output, 'number');
    const res = await download(task.id, task.output.output);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), fakeEditedImage(2));
    const req = fake.requestsTo('edits').at(-1);
    assert.deepEqual(req?.fields, { model: 'edit-model', prompt: 'Put the sofa in the room', response_format: 'b64_json' });
    assert.deepEqual(
      req?.files.map((f) => [f.field, f.name, f.bytes]),
      [
        ['image[]', 'room.png', tinyPng(71)],
        ['image[]', 'sofa.png', tinyPng(72)],
      ],
    );
  });

  it('fails tasks with a message for the user on back-end errors, and keeps serving', async () => {
    const cases: [string, Record<string, unknown>, () => void, string][] = [
      [
        'core:text2text:summary',
        { input: 'x' },
        () => fake.script('chat', { kind: 'status', status: 500, retryAfter: '0' }, { kind: 'status', status: 500, retryAfter: '0' }),
        USER_MESSAGES.failed,
      ],
      [
        'core:text2text:summary',
        { input: 'x' },
        () => fake.script('chat', { kind: 'raw', contentType: 'text/html', body: '<html><body>Proxy error</body></html>' }),
        USER_MESSAGES.invalidAnswer,
      ],
      [
        'core:text2text:summary',
        { input: 'x' },
        () => fake.script('chat', { kind: 'unknown-model' }),
        'The AI model "text-model" is not available; please contact your administrator',
      ],
      ['core:text2text:reformulation', { input: 'x' }, () => fake.script('chat', { kind: 'hang' }), 'The AI service did not answer within 0.5 seconds'],
      [
        'core:text2image',
        { input: 'x', numberOfImages: 1 },
        () => fake.script('images', { kind: 'images', b64: [Buffer.from('GIF? no').toString('base64')] }),
        USER_MESSAGES.invalidAnswer,
      ],
      ['core:text2image', { input: 'x', numberOfImages: 13 }, () => undefined, 'Cannot generate more than 12 images'],
    ];
    for (const [type, input, script, message] of cases) {
      script();
      const task = await run(type, input);
      assert.equal(task.status, 'STATUS_FAILED', type);
      assert.equal(task.userFacingErrorMessage, message);
    }
    const after = await run('core:text2text:summary', { input: 'Still there?' });
    assert.equal(after.status, 'STATUS_SUCCESSFUL');
  });

  it('cancelling a running task aborts its request to the back end', async () => {
    fake.script('chat', { kind: 'chat', content: 'x'.repeat(2000), chunkDelayMs: 20 });
    const id = await schedule('core:text2text', { input: 'A very long story, please' });
    while (!fake.requestsTo('chat').some((r) => r.json?.messages?.[0]?.content === 'A very long story, please')) await new Promise((r) => setTimeout(r, 10));
    const cancelled = await s.ocs('POST', `${V2}/tasks/${id}/cancel`, { auth: alice.auth });
    assert.equal(cancelled.json.ocs.data.task.status, 'STATUS_CANCELLED');
    await fake.abortedRequest('chat', (r) => r.json.messages[0].content === 'A very long story, please');
  });

  it('hides the types of a back end that refuses the API key', async () => {
    const other = await startServer({
      providers: builtinProviders(
        configWith({ openaiBaseUrl: `${fake.url}/v1`, openaiApiKey: 'sk-wrong', openaiModel: 'm', offlineProviders: false, logLevel: 'silent' }),
      ),
    });
    try {
      const bob = await other.addUser('bob');
      let types: unknown = null;
      for (let i = 0; i < 200; i++) {
        // spec: false, because an empty map is PHP's empty array `[]`, which the spec does not describe.
        types = (await other.ocs('GET', `${V2}/tasktypes`, { auth: bob.auth, spec: false })).json.ocs.data.types;
        if (Array.isArray(types) && types.length === 0) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.deepEqual(types, []);
      const refused = await other.ocs('POST', `${V2}/schedule`, { auth: bob.auth, body: { type: 'core:text2text', appId: 'x', input: { input: 'hi' } } });
      assert.equal(refused.status, 412);
    } finally {
      await other.close();
    }
  });
});
