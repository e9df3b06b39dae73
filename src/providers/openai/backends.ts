import { readFileSync } from 'node:fs';
import type { Config } from '../../config.js';
import { CORE_TASK_TYPES } from '../../core/task-types.js';

/** One OpenAI-compatible server as configured: where it is, how to talk to it, which models serve which task types. */
export interface BackendConfig {
  /** Part of the provider ids (`openai:<name>:<taskType>`) and of every error message about it. */
  name: string;
  /** Without a trailing slash, e.g. `http://127.0.0.1:11434/v1`. */
  baseUrl: string;
  /** null: no Authorization header at all (Ollama, llama.cpp and vLLM need none by default). */
  apiKey: string | null;
  timeoutSeconds: number;
  maxRetries: number;
  maxResponseBytes: number;
  /** Sent as `size` to image generation when set; the back end's default otherwise. */
  imageSize: string | null;
  /** Stream chat completions (progress while tokens arrive); off for servers whose streaming is broken. */
  stream: boolean;
  /** `default`, `voice` and task type ids → model (or voice) names. */
  models: Readonly<Record<string, string>>;
  /** The task types this back end serves, in catalogue order. */
  taskTypes: readonly string[];
}

/** Thrown at start-up for a bad configuration; `serve` prints it and exits with 1. */
export class ProvidersConfigError extends Error {
  override name = 'ProvidersConfigError';
}

/**
 * Types that need a model of their own kind (vision, image generation and editing, speech): served
 * only when the configuration names a model for them, because nothing else tells what a model can do.
 * The multimodal chat sends its image attachments as image parts, which only vision models take.
 */
const MODEL_SPECIFIC_TASK_TYPES: readonly string[] = Object.freeze([
  'core:text2text:multimodal-chatwithtools',
  'core:analyze-images',
  'core:text2image',
  'core:audio2text',
  'core:text2speech',
  'core:image2image',
]);

/** Types served through chat completions: a text model can do them all. */
const CHAT_TASK_TYPES: readonly string[] = Object.freeze([
  ...CORE_TASK_TYPES.filter((t) => t.id === 'core:text2text' || t.id.startsWith('core:text2text:'))
    .map((t) => t.id)
    .filter((id) => !MODEL_SPECIFIC_TASK_TYPES.includes(id)),
  'core:contextwrite',
  'core:generateemoji',
]);

const SERVABLE = new Set([...CHAT_TASK_TYPES, ...MODEL_SPECIFIC_TASK_TYPES]);
const CATALOGUE_ORDER = CORE_TASK_TYPES.map((t) => t.id).filter((id) => SERVABLE.has(id));

export const DEFAULT_VOICE = 'alloy';
const DEFAULTS = { timeoutSeconds: 120, maxRetries: 2, maxResponseMB: 50, stream: true } as const;
/** The back end that TASKPROC_OPENAI_BASE_URL describes. */
const ENV_BACKEND_NAME = 'openai';
const OPENAI_BASE_URL = 'https://api.openai.com/v1';
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const BACKEND_KEYS = new Set(['baseUrl', 'apiKey', 'timeoutSeconds', 'maxRetries', 'maxResponseMB', 'imageSize', 'stream', 'models', 'taskTypes']);

/**
 * The back ends of a configuration: the simple one from TASKPROC_OPENAI_* first, then those of the
 * providers config file in file order. Reads the file synchronously: this runs once at start-up.
 */
export function loadBackends(config: Config): BackendConfig[] {
  const backends: BackendConfig[] = [];
  const fromEnv = envBackend(config);
  if (fromEnv) backends.push(fromEnv);
  if (config.providersConfig !== null) {
    for (const b of fileBackends(config.providersConfig)) {
      if (fromEnv && b.name === fromEnv.name) {
        throw new ProvidersConfigError(
          `${config.providersConfig}: backends.${b.name} is also the back end configured by TASKPROC_OPENAI_BASE_URL; give it another name`,
        );
      }
      backends.push(b);
    }
  }
  return backends;
}

function envBackend(config: Config): BackendConfig | null {
  if (config.openaiBaseUrl === null && config.openaiApiKey === null && config.openaiModel === null) return null;
  // An API key alone means OpenAI itself, as upstream's integration assumes.
  const baseUrl = parseBaseUrl(config.openaiBaseUrl ?? OPENAI_BASE_URL, 'TASKPROC_OPENAI_BASE_URL');
  if (config.openaiModel === null) {
    throw new ProvidersConfigError(
      'TASKPROC_OPENAI_MODEL must name the model to use (e.g. "gpt-4o-mini" or "llama3.1") when TASKPROC_OPENAI_BASE_URL or TASKPROC_OPENAI_API_KEY is set',
    );
  }
  const models = parseModelList(config.openaiModel);
  return resolve(
    {
      name: ENV_BACKEND_NAME,
      baseUrl,
      apiKey: config.openaiApiKey,
      timeoutSeconds: DEFAULTS.timeoutSeconds,
      maxRetries: DEFAULTS.maxRetries,
      maxResponseBytes: DEFAULTS.maxResponseMB * 1024 * 1024,
      imageSize: null,
      stream: DEFAULTS.stream,
      models,
    },
    null,
    'TASKPROC_OPENAI_MODEL',
  );
}

/**
 * TASKPROC_OPENAI_MODEL is a model name, optionally followed by `type=model` pairs for the types that
 * need a model of their own: `gpt-4o-mini,core:text2image=dall-e-3,core:audio2text=whisper-1,voice=nova`.
 */
function parseModelList(raw: string): Record<string, string> {
  const models: Record<string, string> = {};
  for (const [i, part] of raw
    .split(',')
    .map((p) => p.trim())
    .entries()) {
    const eq = part.indexOf('=');
    const key = eq === -1 ? (i === 0 ? 'default' : '') : part.slice(0, eq).trim();
    const value = eq === -1 ? part : part.slice(eq + 1).trim();
    if (key === '') {
      throw new ProvidersConfigError(`TASKPROC_OPENAI_MODEL: "${part}" must be written as <task type>=<model> (only the first entry may be a bare model name)`);
    }
    checkModelEntry(key, value, `TASKPROC_OPENAI_MODEL entry "${part}"`);
    if (key in models) throw new ProvidersConfigError(`TASKPROC_OPENAI_MODEL names "${key}" twice`);
    models[key] = value;
  }
  return models;
}

function fileBackends(file: string): BackendConfig[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ProvidersConfigError(`Cannot read the providers config file ${file} (TASKPROC_PROVIDERS_CONFIG): ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ProvidersConfigError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  const fail = (key: string, problem: string): never => {
    throw new ProvidersConfigError(`${file}: ${key} ${problem}`);
  };
  if (!isObject(doc)) return fail('the top level', 'must be an object with a "backends" key');
  for (const key of Object.keys(doc)) if (key !== 'backends') fail(key, 'is not a known key (the file has only "backends")');
  const backends = doc.backends;
  if (!isObject(backends) || Object.keys(backends).length === 0) return fail('backends', 'must be an object with at least one named back end');
  return Object.entries(backends).map(([name, raw]) => fileBackend(name, raw, fail));
}

function fileBackend(name: string, raw: unknown, fail: (key: string, problem: string) => never): BackendConfig {
  const at = `backends.${name}`;
  if (!NAME_PATTERN.test(name)) fail(at, 'is not a usable name: use letters, digits, "_", "-" or "." (it becomes part of provider ids)');
  if (!isObject(raw)) return fail(at, 'must be an object');
  for (const key of Object.keys(raw)) {
    if (!BACKEND_KEYS.has(key)) fail(`${at}.${key}`, `is not a known key (known: ${[...BACKEND_KEYS].join(', ')})`);
  }
  const str = (key: string, required: boolean): string | null => {
    const v = raw[key];
    if (v === undefined || (v === '' && !required)) {
      if (required) fail(`${at}.${key}`, 'is required');
      return null;
    }
    if (typeof v !== 'string' || v.trim() === '') return fail(`${at}.${key}`, `must be a non-empty string, got ${JSON.stringify(v)}`);
    return v.trim();
  };
  const num = (key: string, min: number, max: number, fallback: number, integer = false): number => {
    const v = raw[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      return fail(`${at}.${key}`, `must be ${integer ? 'a whole number' : 'a number'} between ${min} and ${max}, got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const baseUrl = parseBaseUrl(str('baseUrl', true) as string, `${at}.baseUrl`);
  const imageSize = str('imageSize', false);
  if (imageSize !== null && !/^\d+x\d+$/.test(imageSize)) fail(`${at}.imageSize`, `must look like "1024x1024", got ${JSON.stringify(imageSize)}`);
  const stream = raw.stream;
  if (stream !== undefined && typeof stream !== 'boolean') fail(`${at}.stream`, `must be true or false, got ${JSON.stringify(stream)}`);

  const models = raw.models;
  if (!isObject(models) || Object.keys(models).length === 0)
    return fail(`${at}.models`, 'must be an object naming at least one model, e.g. {"default": "llama3.1"}');
  const checked: Record<string, string> = {};
  for (const [key, value] of Object.entries(models)) {
    if (typeof value !== 'string') fail(`${at}.models["${key}"]`, `must be a model name (a string), got ${JSON.stringify(value)}`);
    checkModelEntry(key, value as string, `${at}.models["${key}"]`);
    checked[key] = (value as string).trim();
  }

  let taskTypes: string[] | null = null;
  const listed = raw.taskTypes;
  if (listed !== undefined) {
    if (!Array.isArray(listed) || listed.length === 0)
      return fail(`${at}.taskTypes`, 'must be a non-empty list of task type ids (leave it out to serve every type the models allow)');
    taskTypes = [];
    for (const [i, type] of listed.entries()) {
      if (typeof type !== 'string' || !SERVABLE.has(type)) {
        fail(
          `${at}.taskTypes[${i}]`,
          `is ${JSON.stringify(type)}, not a task type an OpenAI-compatible back end can serve (one of ${CATALOGUE_ORDER.join(', ')})`,
        );
      }
      if (taskTypes.includes(type)) fail(`${at}.taskTypes[${i}]`, `lists "${type}" twice`);
      taskTypes.push(type);
    }
  }

  return resolve(
    {
      name,
      baseUrl,
      apiKey: str('apiKey', false),
      timeoutSeconds: num('timeoutSeconds', 0.1, 3600, DEFAULTS.timeoutSeconds),
      maxRetries: num('maxRetries', 0, 10, DEFAULTS.maxRetries, true),
      maxResponseBytes: Math.round(num('maxResponseMB', 0.001, 2048, DEFAULTS.maxResponseMB) * 1024 * 1024),
      imageSize,
      stream: (stream as boolean | undefined) ?? DEFAULTS.stream,
      models: checked,
    },
    taskTypes,
    `${at}.models`,
  );
}

/** Decides the served types: the listed ones (each needing a model), else every type the models allow. */
function resolve(b: Omit<BackendConfig, 'taskTypes'>, listed: string[] | null, modelsKey: string): BackendConfig {
  let taskTypes: string[];
  if (listed !== null) {
    for (const type of listed) {
      if (modelFor(b, type) === null) {
        throw new ProvidersConfigError(`${modelsKey}: back end "${b.name}" lists "${type}" in taskTypes but names no model for it: set "${type}" or "default"`);
      }
    }
    taskTypes = CATALOGUE_ORDER.filter((t) => listed.includes(t));
  } else {
    taskTypes = CATALOGUE_ORDER.filter((t) => (MODEL_SPECIFIC_TASK_TYPES.includes(t) ? b.models[t] !== undefined : modelFor(b, t) !== null));
  }
  if (taskTypes.length === 0) {
    throw new ProvidersConfigError(`${modelsKey}: back end "${b.name}" serves no task type: name a "default" text model, or a model per task type`);
  }
  return Object.freeze({ ...b, models: Object.freeze({ ...b.models }), taskTypes: Object.freeze(taskTypes) });
}

/** The model for a type: its own, else the default. null when neither is configured. */
export function modelFor(b: Pick<BackendConfig, 'models'>, taskType: string): string | null {
  return b.models[taskType] ?? b.models.default ?? null;
}

function checkModelEntry(key: string, value: string, where: string): void {
  if (key !== 'default' && key !== 'voice' && !SERVABLE.has(key)) {
    throw new ProvidersConfigError(
      `${where}: "${key}" is neither "default", "voice" nor a task type an OpenAI-compatible back end can serve (${CATALOGUE_ORDER.join(', ')})`,
    );
  }
  if (value.trim() === '') throw new ProvidersConfigError(`${where}: the model name is empty`);
}

function parseBaseUrl(raw: string, key: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ProvidersConfigError(`${key} must be an http:// or https:// URL such as http://127.0.0.1:11434/v1, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ProvidersConfigError(`${key} must be an http:// or https:// URL, got "${raw}"`);
  }
  if (url.search !== '' || url.hash !== '') throw new ProvidersConfigError(`${key} must not have a query or fragment, got "${raw}"`);
  return url.href.replace(/\/+$/, '');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
