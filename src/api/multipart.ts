import { finished, type Readable } from 'node:stream';
import busboy from 'busboy';
import { DomainError } from '../core/errors.js';
import { parsePhpQuery } from './php-params.js';
import { bodyCutShort } from './request-body.js';

type Headers = Record<string, string | string[] | undefined>;

/** With the u flag a surrogate pair is one code point, so only lone surrogates match. */
const LONE_SURROGATE = /\p{Cs}/u;

const unreadable = (err: Error) => (err instanceof DomainError ? err : new DomainError('bad_request', `The multipart body cannot be read: ${err.message}`));

function parser(headers: Headers, limits: busboy.Limits): busboy.Busboy {
  try {
    return busboy({ headers: headers as busboy.BusboyConfig['headers'], limits });
  } catch (err) {
    throw unreadable(err as Error);
  }
}

/**
 * Feeds `body` to the parser and returns `settle`: the first outcome given to it runs, once the feed
 * has stopped; later ones (the parser's close after its error, say) are ignored.
 */
function feedOnce(body: Readable, bb: busboy.Busboy): (outcome: () => void) => void {
  const stop = feed(body, bb);
  let settled = false;
  return (outcome) => {
    if (settled) return;
    settled = true;
    stop();
    outcome();
  };
}

/**
 * Feeds `body` to the parser. pipe() alone passes on neither an error nor an early close of the
 * source: a client that went away mid-body would leave the parser (and whoever waits on it)
 * waiting forever. The returned function stops feeding and ends the parser; `body` itself is never
 * destroyed, so an answer can still go out on its connection and the rest of the body is drained
 * after it (api/http-connections.ts).
 */
function feed(body: Readable, bb: busboy.Busboy): () => void {
  const stopWatching = finished(body, { writable: false }, (err) => {
    if (err) bb.destroy(bodyCutShort());
  });
  body.pipe(bb);
  return () => {
    stopWatching();
    body.unpipe(bb);
    // The parser's own complaint about the end it never saw goes to its error listener, which stays.
    if (!bb.destroyed) bb.destroy();
  };
}

/**
 * The form fields of a multipart body as request parameters (PHP-style names such as `a[]`),
 * with file parts skipped: Nextcloud reads multipart parameters on POST. Over `limit` bytes of
 * fields the answer is 413 at once; a body that breaks off or does not parse is 400.
 */
export function multipartFields(headers: Headers, body: Readable, limit: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const bb = parser(headers, { fieldSize: limit, files: 0 });
    const pairs: string[] = [];
    let size = 0;
    const settle = feedOnce(body, bb);
    bb.on('field', (rawName?: string, rawValue?: string) => {
      // busboy gives an empty name as undefined; whatever this handler throws would escape the parser and end the process.
      const name = rawName ?? '';
      const value = rawValue ?? '';
      size += name.length + value.length;
      if (size > limit) settle(() => reject(new DomainError('body_too_large', `The request body is larger than the limit of ${limit} bytes`)));
      // A part may name its charset (utf-16le), which can decode to lone surrogates: encodeURIComponent would throw.
      else if (LONE_SURROGATE.test(name) || LONE_SURROGATE.test(value)) settle(() => reject(unreadable(new Error('a field is not valid text'))));
      else pairs.push(`${encodeURIComponent(name)}=${encodeURIComponent(value)}`);
    });
    bb.on('error', (err: Error) => settle(() => reject(unreadable(err))));
    bb.on('close', () =>
      settle(() => {
        try {
          resolve(parsePhpQuery(pairs.join('&')));
        } catch (err) {
          reject(err);
        }
      }),
    );
  });
}

export interface MultipartFile {
  stream: Readable;
  filename: string;
  mimeType: string;
}

/**
 * Hands the first file part named `field` to `consume` as a stream (never buffered), and skips
 * everything else. Resolves to undefined when the body has no such part. When `consume` fails
 * (over the upload limit, a full quota) its error is the answer at once, without reading the rest
 * of the body; a body that does not parse or breaks off before that part has ended is 400,
 * answered once `consume` has settled, so nothing it stored is left behind.
 */
export function withMultipartFile<T>(headers: Headers, body: Readable, field: string, consume: (file: MultipartFile) => Promise<T>): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const bb = parser(headers, { files: 10 });
    let result: Promise<T> | undefined;
    let broken = false;
    const settle = feedOnce(body, bb);
    bb.on('file', (name, stream, info) => {
      // busboy destroys an unfinished part's stream with its own error when the form breaks off;
      // with nobody listening that error would end the process. The consumer sees it through its
      // own listeners (or as an early end).
      stream.on('error', () => {});
      if (name !== field || result) {
        stream.resume();
        return;
      }
      result = consume({ stream, filename: info.filename ?? '', mimeType: info.mimeType });
      // A consumer that fails because the body broke off is answered below, with the reason.
      result.catch((err: unknown) => broken || settle(() => reject(err)));
    });
    bb.on('error', (err: Error) => {
      broken = true;
      const answer = () => reject(unreadable(err));
      // A part that ended before the form broke off arrived whole and is stored: its answer stands
      // (a 400 would leave it stored, and a client trying again would store it twice).
      if (result)
        result.then(
          (value) => settle(() => resolve(value)),
          () => settle(answer),
        );
      else settle(answer);
    });
    bb.on('close', () => {
      if (!result) settle(() => resolve(undefined));
      else
        result.then(
          (value) => settle(() => resolve(value)),
          () => undefined,
        );
    });
  });
}
