import type { Config } from '../config.js';
import type { Clock } from '../core/clock.js';
import type { OpsCounters } from '../core/ops-counters.js';
import type { Store } from '../store/store.js';
import { BlobStore } from './blob-store.js';
import { DbBlobStore } from './db-blob-store.js';
import type { FileService } from './file-service.js';
import { LocalFileService } from './local-file-service.js';

/**
 * The file store: metadata in the database, contents on this node's disk under `<dataDir>/files`
 * or, with `fileStorage: 'database'`, in the database too. The server and the CLI build the same one.
 */
export function createFileService(
  store: Store,
  config: Pick<Config, 'dataDir' | 'maxUpload' | 'fileStorage'>,
  clock: Clock,
  counters?: OpsCounters,
): FileService {
  const blobs = config.fileStorage === 'database' ? new DbBlobStore(store.blobs) : new BlobStore(config.dataDir);
  return new LocalFileService({ files: store.files, users: store.users, blobs, clock, maxUpload: config.maxUpload, counters });
}
