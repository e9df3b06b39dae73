import { DomainError } from '../../core/errors.js';

/** Where a DAV request points, still unchecked against the caller. */
export interface DavUrl {
  /** The user named in `/remote.php/dav/files/{user}`, decoded; null on the legacy `/remote.php/webdav`, which means the caller. */
  user: string | null;
  /** The part below the user's root, percent-decoded once but not yet validated. */
  rawPath: string;
}

const DAV_FILES = /^\/remote\.php\/dav\/files\/([^/]+)(?:\/(.*))?$/;
const LEGACY = /^\/remote\.php\/webdav(?:\/(.*))?$/;

/** True for URLs this module serves (for the 405-or-404 decision on unknown methods). */
export function isDavUrl(url: string): boolean {
  const path = url.split('?')[0] ?? '';
  return DAV_FILES.test(path) || LEGACY.test(path);
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new DomainError('bad_request', 'The path contains a malformed percent-encoding');
  }
}

/**
 * Splits the raw request URL. The router's own decoded parameters are not used: decoding here,
 * exactly once per segment, is what keeps `%252e` from becoming `.` and lets `%2e%2e` and `%2F..`
 * reach normalizePath as the `..` they are.
 */
export function parseDavUrl(url: string): DavUrl {
  const path = url.split('?')[0] ?? '';
  const files = DAV_FILES.exec(path);
  if (files) return { user: decodeSegment(files[1] ?? ''), rawPath: decodeRest(files[2] ?? '') };
  const legacy = LEGACY.exec(path);
  if (legacy) return { user: null, rawPath: decodeRest(legacy[1] ?? '') };
  throw new DomainError('not_found', 'Not found');
}

function decodeRest(rest: string): string {
  return rest.split('/').map(decodeSegment).join('/');
}

/** The href prefix of responses: the form the client used, so the legacy alias answers in kind. */
export function hrefBase(url: DavUrl, uid: string): string {
  return url.user === null ? '/remote.php/webdav' : `/remote.php/dav/files/${encodeURIComponent(uid)}`;
}

/** Each segment percent-encoded; folders end with '/', as Sabre writes collection hrefs. */
export function hrefOf(base: string, path: string, isFolder: boolean): string {
  if (path === '') return `${base}/`;
  return `${base}/${path.split('/').map(encodeURIComponent).join('/')}${isFolder ? '/' : ''}`;
}
