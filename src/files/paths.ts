import { badRequest } from '../core/errors.js';

/**
 * Limits on names and paths: ext4 allows 255 bytes per name; the rest keeps rows and URLs bounded.
 * A path is indexed with its owner (and its parent with the name), and PostgreSQL refuses index
 * entries over 2704 bytes: 2000 bytes of path leave room for a 64-character login and a name.
 */
const MAX_SEGMENT_BYTES = 250;
const MAX_PATH_BYTES = 2000;
const MAX_DEPTH = 100;

/** C0 controls and DEL; NUL is reported on its own because it is the classic truncation trick. */
const CONTROL_CHARS = /[\u0001-\u001f\u007f]/;

/**
 * The canonical form of a path in a user's tree: segments joined by '/', no leading, trailing or
 * doubled slash; '' is the root. `raw` must already be URL-decoded, exactly once, by the caller:
 * this function decodes nothing, so "%2e%2e" is an ordinary (odd) name here. Throws
 * DomainError('bad_request') for "." and ".." segments, NUL, control characters, a backslash,
 * and names or paths over the limits.
 */
export function normalizePath(raw: string): string {
  const segments = raw.split('/').filter((s) => s !== '');
  if (segments.length > MAX_DEPTH) throw badRequest(`The path is more than ${MAX_DEPTH} folders deep`);
  for (const segment of segments) validateName(segment);
  const path = segments.join('/');
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) throw badRequest(`The path is longer than ${MAX_PATH_BYTES} bytes`);
  return path;
}

/** Checks one file or folder name (no slash allowed) by the rules of normalizePath. */
export function validateName(name: string): void {
  if (name === '' || name.includes('/')) throw badRequest(`"${name}" is not a valid file name`);
  if (name === '.' || name === '..') throw badRequest(`"${name}" is not allowed in a path`);
  if (name.includes('\0')) throw badRequest('A file name must not contain a NUL character');
  if (CONTROL_CHARS.test(name)) throw badRequest('A file name must not contain control characters');
  // Windows clients and some servers treat a backslash as a separator: refused so a name can
  // never be read as a path somewhere else.
  if (name.includes('\\')) throw badRequest('A file name must not contain a backslash');
  if (Buffer.byteLength(name) > MAX_SEGMENT_BYTES) throw badRequest(`A file name must not be longer than ${MAX_SEGMENT_BYTES} bytes`);
}

/** The folder holding a normalized path ('' for the root's children). */
export function parentOf(path: string): string {
  const cut = path.lastIndexOf('/');
  return cut < 0 ? '' : path.slice(0, cut);
}
