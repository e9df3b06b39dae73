import type { StoredFile } from '../../files/file-service.js';
import { type Clark, clark, escapeXml, NS } from './dav-xml.js';

/**
 * Nextcloud appends its instance id to file ids in OC-FileId and oc:id. taskproc has one
 * instance and no random id to keep, so this constant stands in for it.
 */
const INSTANCE_ID = 'taskproc0';

/**
 * The id as Nextcloud formats OC-FileId and oc:id: `sprintf('%08d', $id) . $instanceId`, so
 * `00000042taskproc0`. `parseInt` of it gives the id; oc:fileid carries the plain number.
 */
export function ocFileId(id: number): string {
  return `${String(id).padStart(8, '0')}${INSTANCE_ID}`;
}

/** Timestamps are unix seconds; HTTP and DAV want RFC 1123 dates in GMT. */
export function httpDate(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toUTCString();
}

export const quoted = (etag: string): string => `"${etag}"`;

/**
 * Nextcloud's permission letters for a user's own, unshared node: G read, D delete, N rename,
 * V move, W write (files), C/K create files/folders (folders), R reshare.
 */
const FILE_PERMISSIONS = 'RGDNVW';
const FOLDER_PERMISSIONS = 'RGDNVCK';

const P = {
  lastModified: clark(NS.dav, 'getlastmodified'),
  contentLength: clark(NS.dav, 'getcontentlength'),
  resourceType: clark(NS.dav, 'resourcetype'),
  etag: clark(NS.dav, 'getetag'),
  contentType: clark(NS.dav, 'getcontenttype'),
  displayName: clark(NS.dav, 'displayname'),
  fileId: clark(NS.oc, 'fileid'),
  id: clark(NS.oc, 'id'),
  size: clark(NS.oc, 'size'),
  permissions: clark(NS.oc, 'permissions'),
  ownerId: clark(NS.oc, 'owner-id'),
} as const;

/**
 * The properties a file or folder has, in the order allprop lists them. Folders have no content
 * length or type: Sabre only gives those to files, and reports them as 404 when a client asks.
 */
export function propsOf(file: StoredFile): Array<readonly [Clark, string]> {
  const props: Array<readonly [Clark, string]> = [[P.lastModified, httpDate(file.updatedAt)]];
  if (!file.isFolder) props.push([P.contentLength, String(file.size)]);
  props.push([P.resourceType, file.isFolder ? '<d:collection/>' : '']);
  props.push([P.etag, escapeXml(quoted(file.etag))]);
  if (!file.isFolder) props.push([P.contentType, escapeXml(file.mime)]);
  props.push(
    [P.fileId, String(file.id)],
    [P.id, ocFileId(file.id)],
    [P.size, String(file.size)],
    [P.permissions, file.isFolder ? FOLDER_PERMISSIONS : FILE_PERMISSIONS],
    [P.displayName, escapeXml(file.name)],
  );
  if (file.owner !== null) props.push([P.ownerId, escapeXml(file.owner)]);
  return props;
}
