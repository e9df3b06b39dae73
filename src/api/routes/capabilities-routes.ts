import { readFileSync } from 'node:fs';
import type { OcsRoute } from '../ocs-route.js';

/**
 * The Nextcloud version we answer as. nc_py_api reads `version.{major,minor,micro,string,
 * extendedSupport}` (ServerVersion) and ExApps gate features on `major`: `next_batch` and
 * `userFacingErrorMessage` are documented as 33+ and this server implements both, so we answer 33.
 * A lower number would make ExApps fall back to `next` and drop user-facing errors.
 */
export const NEXTCLOUD = Object.freeze({ major: 33, minor: 0, micro: 0 });
export const NEXTCLOUD_VERSION = `${NEXTCLOUD.major}.${NEXTCLOUD.minor}.${NEXTCLOUD.micro}`;

/** The protocol additions this server offers beyond upstream (`wait`: long-polling `next`/`next_batch`). */
export const TASKPROC_EXTENSIONS: readonly string[] = Object.freeze(['wait', 'stream-result', 'partial-output', 'openapi']);

// package.json sits three levels up from both src/api/routes and dist/api/routes.
export const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface CapabilitiesDeps {
  extensions?: readonly string[];
}

/**
 * GET /cloud/capabilities (core's OCSController::getCapabilities). The same answer with or without
 * a user: nc_py_api asks as an ExApp without a user before registering a provider and needs
 * `capabilities.app_api` then (require_capabilities("app_api")). `app_api.loglevel` is what
 * NextcloudApp.log compares against (2 = warning, Nextcloud's default). `taskprocessing` is ours,
 * so clients can tell this server and its extensions apart from a real Nextcloud.
 */
export function capabilitiesRoutes(deps: CapabilitiesDeps = {}): OcsRoute[] {
  const data = {
    version: { ...NEXTCLOUD, string: NEXTCLOUD_VERSION, edition: '', extendedSupport: false },
    capabilities: {
      core: { pollinterval: 60, 'webdav-root': 'remote.php/webdav' },
      // AppAPI ships with the server and carries its major version.
      app_api: { loglevel: 2, version: NEXTCLOUD_VERSION },
      taskprocessing: { taskproc: true, version: PACKAGE_VERSION, extensions: [...(deps.extensions ?? TASKPROC_EXTENSIONS)] },
    },
  };
  return [{ method: 'GET', path: '/cloud/capabilities', auth: 'public', handler: async () => ({ data }) }];
}
