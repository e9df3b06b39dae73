import type { Config } from '../config.js';
import { configuredSecrets, secretScrubber } from '../logging.js';
import type { InProcessProvider } from '../core/provider.js';
import { offlineProviders } from './offline.js';
import { openaiProviders } from './openai/index.js';
import { espeakProvider } from './tts/espeak-provider.js';

/**
 * The providers that ship inside taskproc, in registration order (the first registered is the
 * default for its type). The server and the admin commands both build this list, so
 * `tasktype:set-provider` knows the same providers the server runs. Configured OpenAI-compatible
 * back ends come first, so a language model is the default wherever one is configured; the
 * offline providers follow (when enabled) and serve the types nothing else does. Throws for a bad
 * back-end configuration, which `serve` reports before exiting with 1.
 */
export function builtinProviders(config: Config): InProcessProvider[] {
  return [...openaiProviders(config, { log: warnUnlessQuiet(config) }), ...(config.offlineProviders ? [...offlineProviders(), espeakProvider()] : [])];
}

/** Availability changes of a back end matter to the admin, who reads the server's stderr. */
function warnUnlessQuiet(config: Config): ((message: string) => void) | undefined {
  if (config.logLevel === 'silent' || config.logLevel === 'fatal') return undefined;
  // A back end's error text may quote the key it was sent; the key is cut out as in the log.
  const scrub = secretScrubber(configuredSecrets(config));
  return (message) => void process.stderr.write(`taskproc: ${scrub(message)}\n`);
}
