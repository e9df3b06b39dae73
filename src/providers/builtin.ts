import type { Config } from '../config.js';
import type { InProcessProvider } from '../core/provider.js';
import { offlineProviders } from './offline.js';

/**
 * The providers that ship inside taskproc, in registration order (the first registered is the
 * default for its type). The server and the admin commands both build this list, so
 * `tasktype:set-provider` knows the same providers the server runs.
 */
export function builtinProviders(_config: Config): InProcessProvider[] {
  return [...offlineProviders()];
}
