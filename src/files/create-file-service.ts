import type { Config } from '../config.js';
import type { Clock } from '../core/clock.js';
import type { Store } from '../store/store.js';
import { BlobStore } from './blob-store.js';
import type { FileService } from './file-service.js';
import { LocalFileService } from './local-file-service.js';

/** The file store on this node's disk under `<dataDir>/files`; the server and the CLI build the same one. */
export function createFileService(store: Store, config: Pick<Config, 'dataDir' | 'maxUpload'>, clock: Clock): FileService {
  return new LocalFileService({ files: store.files, users: store.users, blobs: new BlobStore(config.dataDir), clock, maxUpload: config.maxUpload });
}
