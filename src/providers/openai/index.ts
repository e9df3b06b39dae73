import type { Config } from '../../config.js';
import type { InProcessProvider } from '../../core/provider.js';
import { CORE_TASK_TYPES } from '../../core/task-types.js';
import { type BackendConfig, loadBackends, modelFor } from './backends.js';
import type { Target } from './call.js';
import { chatProvider } from './chat.js';
import { createClient } from './client.js';
import { BackendHealth, type HealthDeps } from './health.js';
import { audioToTextProvider, imageToImageProvider, textToImageProvider, textToSpeechProvider } from './media.js';

export interface OpenAIProviderDeps {
  /** Milliseconds since the epoch; tests inject one to pass the 60 s re-check. */
  now?: () => number;
  /** Where availability changes are reported (a back end going down or coming back). */
  log?: (message: string) => void;
}

/**
 * One provider per (back end, task type), id `openai:<back end>:<type>`, in configuration order:
 * TASKPROC_OPENAI_* first, then the config file's back ends. Construction is synchronous and sends
 * nothing; each back end probes GET /models the first time its availability is asked, which the
 * server's runner does as soon as it starts. Throws ProvidersConfigError for a bad configuration.
 */
export function openaiProviders(config: Config, deps: OpenAIProviderDeps = {}): InProcessProvider[] {
  const healthDeps: HealthDeps = { now: deps.now ?? Date.now, log: deps.log ?? (() => undefined) };
  return loadBackends(config).flatMap((backend) => {
    const target: Target = { backend, client: createClient(backend), health: new BackendHealth(backend, healthDeps) };
    return backend.taskTypes.map((taskType) => providerFor(target, taskType));
  });
}

function providerFor(target: Target, taskType: string): InProcessProvider {
  const { backend } = target;
  const base = {
    id: `openai:${backend.name}:${taskType}`,
    name: `OpenAI-compatible (${backend.name}): ${CORE_TASK_TYPES.find((t) => t.id === taskType)?.name ?? taskType}`,
    taskType,
    model: modelOf(backend, taskType),
  };
  switch (taskType) {
    case 'core:text2image':
      return textToImageProvider(target, base);
    case 'core:audio2text':
      return audioToTextProvider(target, base);
    case 'core:text2speech':
      return textToSpeechProvider(target, base);
    case 'core:image2image':
      return imageToImageProvider(target, base);
    default:
      return chatProvider(target, base);
  }
}

function modelOf(backend: BackendConfig, taskType: string): string {
  const model = modelFor(backend, taskType);
  // loadBackends only lets through types that have a model.
  if (model === null) throw new Error(`No model for ${taskType} on back end "${backend.name}"`);
  return model;
}
