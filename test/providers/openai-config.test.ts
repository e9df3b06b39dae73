import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { configWith, type Config } from '../../src/config.js';
import { builtinProviders } from '../../src/providers/builtin.js';
import { loadBackends, ProvidersConfigError } from '../../src/providers/openai/backends.js';
import { openaiProviders } from '../../src/providers/openai/index.js';

const TEXT_TYPES = [
  'core:text2text',
  'core:text2text:topics',
  'core:text2text:headline',
  'core:text2text:summary',
  'core:text2text:formalization',
  'core:text2text:simplification',
  'core:text2text:chat',
  'core:text2text:translate',
  'core:text2text:reformulation',
  'core:text2text:improve',
  'core:contextwrite',
  'core:generateemoji',
  'core:text2text:changetone',
  'core:text2text:chatwithtools',
  'core:text2text:proofread',
  'core:text2text:reformatparagraphs',
];

describe('OpenAI-compatible back ends: configuration', () => {
  let dir: string;
  let n = 0;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'taskproc-openai-config-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const file = async (content: unknown): Promise<string> => {
    const path = join(dir, `providers-${n++}.json`);
    await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  };
  const fails = (config: Config, pattern: RegExp) =>
    assert.throws(
      () => loadBackends(config),
      (err: Error) => {
        assert.ok(err instanceof ProvidersConfigError, `not a ProvidersConfigError: ${err}`);
        assert.match(err.message, pattern);
        return true;
      },
    );

  it('configures nothing without settings', () => {
    assert.deepEqual(openaiProviders(configWith({})), []);
  });

  it('makes one back end named "openai" from TASKPROC_OPENAI_*, serving the text types of its model', () => {
    const providers = openaiProviders(configWith({ openaiBaseUrl: 'http://127.0.0.1:11434/v1/', openaiModel: 'llama3.1' }));
    assert.deepEqual(providers.map((p) => p.taskType).sort(), [...TEXT_TYPES].sort());
    const summary = providers.find((p) => p.taskType === 'core:text2text:summary');
    assert.equal(summary?.id, 'openai:openai:core:text2text:summary');
    assert.equal(summary?.name, 'OpenAI-compatible (openai): Summarize');
    const [backend] = loadBackends(configWith({ openaiBaseUrl: 'http://127.0.0.1:11434/v1/', openaiModel: 'llama3.1' }));
    assert.equal(backend?.baseUrl, 'http://127.0.0.1:11434/v1');
    assert.equal(backend?.apiKey, null);
  });

  it('adds image, audio and vision types only for models named for them in TASKPROC_OPENAI_MODEL', () => {
    const [backend] = loadBackends(
      configWith({
        openaiApiKey: 'sk-test',
        openaiModel: 'gpt-4o-mini, core:text2image=dall-e-3, core:audio2text=whisper-1, core:text2speech=tts-1, core:analyze-images=gpt-4o, voice=nova',
      }),
    );
    assert.equal(backend?.baseUrl, 'https://api.openai.com/v1', 'an API key alone means OpenAI');
    assert.deepEqual(backend?.models, {
      default: 'gpt-4o-mini',
      'core:text2image': 'dall-e-3',
      'core:audio2text': 'whisper-1',
      'core:text2speech': 'tts-1',
      'core:analyze-images': 'gpt-4o',
      voice: 'nova',
    });
    for (const type of ['core:text2image', 'core:audio2text', 'core:text2speech', 'core:analyze-images']) assert.ok(backend?.taskTypes.includes(type), type);
  });

  it('refuses a base URL without a model, and bad model lists, naming the setting', () => {
    fails(configWith({ openaiBaseUrl: 'http://127.0.0.1:8000/v1' }), /TASKPROC_OPENAI_MODEL must name the model/);
    fails(configWith({ openaiBaseUrl: 'ftp://host/v1', openaiModel: 'm' }), /TASKPROC_OPENAI_BASE_URL must be an http:\/\/ or https:\/\/ URL/);
    fails(configWith({ openaiBaseUrl: 'http://h/v1', openaiModel: 'm,whisper' }), /TASKPROC_OPENAI_MODEL: "whisper" must be written as <task type>=<model>/);
    fails(configWith({ openaiBaseUrl: 'http://h/v1', openaiModel: 'm,core:nonsense=x' }), /"core:nonsense" is neither "default", "voice" nor a task type/);
  });

  it('reads several named back ends from the config file, in file order, each with its own provider ids', async () => {
    const path = await file({
      backends: {
        local: {
          baseUrl: 'http://127.0.0.1:11434/v1',
          timeoutSeconds: 30,
          maxRetries: 3,
          models: { default: 'llama3.1', 'core:text2text:translate': 'aya' },
          taskTypes: ['core:text2text:translate', 'core:text2text:summary'],
        },
        images: { baseUrl: 'http://127.0.0.1:8080/v1', apiKey: 'sk-img', imageSize: '512x512', models: { 'core:text2image': 'sdxl' } },
      },
    });
    const backends = loadBackends(configWith({ providersConfig: path }));
    assert.deepEqual(
      backends.map((b) => [b.name, b.taskTypes, b.timeoutSeconds, b.maxRetries]),
      [
        ['local', ['core:text2text:summary', 'core:text2text:translate'], 30, 3],
        ['images', ['core:text2image'], 120, 2],
      ],
    );
    assert.equal(backends[1]?.apiKey, 'sk-img');
    assert.equal(backends[1]?.imageSize, '512x512');
    const ids = openaiProviders(configWith({ providersConfig: path })).map((p) => p.id);
    assert.deepEqual(ids, ['openai:local:core:text2text:summary', 'openai:local:core:text2text:translate', 'openai:images:core:text2image']);
  });

  it('puts the TASKPROC_OPENAI_* back end before the file ones and refuses a second "openai"', async () => {
    const path = await file({ backends: { other: { baseUrl: 'http://127.0.0.1:1/v1', models: { default: 'm2' } } } });
    const names = loadBackends(configWith({ providersConfig: path, openaiBaseUrl: 'http://127.0.0.1:2/v1', openaiModel: 'm1' })).map((b) => b.name);
    assert.deepEqual(names, ['openai', 'other']);
    const clash = await file({ backends: { openai: { baseUrl: 'http://127.0.0.1:1/v1', models: { default: 'm2' } } } });
    fails(
      configWith({ providersConfig: clash, openaiBaseUrl: 'http://127.0.0.1:2/v1', openaiModel: 'm1' }),
      /backends\.openai is also the back end configured by TASKPROC_OPENAI_BASE_URL/,
    );
  });

  it('names the bad key of a broken config file', async () => {
    const cfg = async (content: unknown) => configWith({ providersConfig: await file(content) });
    const ok = { baseUrl: 'http://127.0.0.1:1/v1', models: { default: 'm' } };
    fails(configWith({ providersConfig: join(dir, 'missing.json') }), /Cannot read the providers config file .*missing\.json/);
    fails(await cfg('{"backends": '), /is not valid JSON/);
    fails(await cfg([]), /the top level must be an object/);
    fails(await cfg({ backend: {} }), /backend is not a known key/);
    fails(await cfg({ backends: {} }), /backends must be an object with at least one named back end/);
    fails(await cfg({ backends: { 'bad name': ok } }), /backends\.bad name is not a usable name/);
    fails(await cfg({ backends: { a: { ...ok, baseURL: 'x' } } }), /backends\.a\.baseURL is not a known key/);
    fails(await cfg({ backends: { a: { models: { default: 'm' } } } }), /backends\.a\.baseUrl is required/);
    fails(await cfg({ backends: { a: { ...ok, baseUrl: 'localhost:11434' } } }), /backends\.a\.baseUrl must be an http:\/\/ or https:\/\/ URL/);
    fails(await cfg({ backends: { a: { ...ok, timeoutSeconds: '30' } } }), /backends\.a\.timeoutSeconds must be a number between 0\.1 and 3600, got "30"/);
    fails(await cfg({ backends: { a: { ...ok, maxRetries: 1.5 } } }), /backends\.a\.maxRetries must be a whole number between 0 and 10/);
    fails(await cfg({ backends: { a: { ...ok, stream: 'yes' } } }), /backends\.a\.stream must be true or false/);
    fails(await cfg({ backends: { a: { ...ok, imageSize: 'big' } } }), /backends\.a\.imageSize must look like "1024x1024"/);
    fails(await cfg({ backends: { a: { ...ok, models: {} } } }), /backends\.a\.models must be an object naming at least one model/);
    fails(await cfg({ backends: { a: { ...ok, models: { default: 3 } } } }), /backends\.a\.models\["default"\] must be a model name/);
    fails(
      await cfg({ backends: { a: { ...ok, models: { 'core:text2text:sumary': 'm' } } } }),
      /backends\.a\.models\["core:text2text:sumary"\]: "core:text2text:sumary" is neither/,
    );
    fails(
      await cfg({ backends: { a: { ...ok, taskTypes: ['core:audio2audio:chat'] } } }),
      /backends\.a\.taskTypes\[0\] is "core:audio2audio:chat", not a task type an OpenAI-compatible back end can serve/,
    );
    fails(
      await cfg({ backends: { a: { ...ok, taskTypes: ['core:text2text', 'core:text2text'] } } }),
      /backends\.a\.taskTypes\[1\] lists "core:text2text" twice/,
    );
    fails(
      await cfg({ backends: { a: { baseUrl: 'http://127.0.0.1:1/v1', models: { 'core:text2image': 'sdxl' }, taskTypes: ['core:text2text'] } } }),
      /lists "core:text2text" in taskTypes but names no model for it/,
    );
  });

  it('serves a listed image type with the default model, but never guesses image or audio support', async () => {
    const listed = await file({ backends: { a: { baseUrl: 'http://127.0.0.1:1/v1', models: { default: 'localai-all' }, taskTypes: ['core:text2image'] } } });
    assert.deepEqual(loadBackends(configWith({ providersConfig: listed }))[0]?.taskTypes, ['core:text2image']);
    const unlisted = await file({ backends: { a: { baseUrl: 'http://127.0.0.1:1/v1', models: { default: 'llama3.1' } } } });
    const types = loadBackends(configWith({ providersConfig: unlisted }))[0]?.taskTypes ?? [];
    for (const type of ['core:text2image', 'core:audio2text', 'core:text2speech', 'core:analyze-images']) assert.ok(!types.includes(type), type);
  });

  it('serves the multimodal chat and image editing only with a model named for them, never the multimodal context agent', async () => {
    const textOnly = loadBackends(configWith({ openaiBaseUrl: 'http://127.0.0.1:1/v1', openaiModel: 'llama3.1' }))[0]?.taskTypes ?? [];
    assert.ok(!textOnly.includes('core:text2text:multimodal-chatwithtools'), 'a text model does not get image attachments');
    assert.ok(!textOnly.includes('core:image2image'));
    const [named] = loadBackends(
      configWith({
        openaiBaseUrl: 'http://127.0.0.1:1/v1',
        openaiModel: 'llama3.1,core:text2text:multimodal-chatwithtools=llava,core:image2image=gpt-image-1',
      }),
    );
    assert.equal(named?.models['core:text2text:multimodal-chatwithtools'], 'llava');
    // In catalogue order: the multimodal chat right after chat with tools, image2image last.
    assert.deepEqual(named?.taskTypes.slice(-5), [
      'core:text2text:chatwithtools',
      'core:text2text:multimodal-chatwithtools',
      'core:text2text:proofread',
      'core:text2text:reformatparagraphs',
      'core:image2image',
    ]);
    fails(
      configWith({
        providersConfig: await file({
          backends: { a: { baseUrl: 'http://127.0.0.1:1/v1', models: { default: 'm' }, taskTypes: ['core:contextagent:multimodal-interaction'] } },
        }),
      }),
      /backends\.a\.taskTypes\[0\] is "core:contextagent:multimodal-interaction", not a task type an OpenAI-compatible back end can serve/,
    );
  });

  it('builtinProviders registers OpenAI providers first, and offline ones only when enabled', () => {
    const withOffline = builtinProviders(configWith({ openaiBaseUrl: 'http://127.0.0.1:1/v1', openaiModel: 'm', logLevel: 'silent' }));
    const summaries = withOffline.filter((p) => p.taskType === 'core:text2text:summary').map((p) => p.id);
    assert.equal(summaries[0], 'openai:openai:core:text2text:summary');
    assert.ok(summaries.length >= 2, 'the offline summary follows');
    const without = builtinProviders(configWith({ openaiBaseUrl: 'http://127.0.0.1:1/v1', openaiModel: 'm', offlineProviders: false, logLevel: 'silent' }));
    assert.ok(without.every((p) => p.id.startsWith('openai:')));
    assert.throws(() => builtinProviders(configWith({ openaiBaseUrl: 'http://127.0.0.1:1/v1' })), ProvidersConfigError);
  });
});
