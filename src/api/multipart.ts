import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { DomainError } from '../core/errors.js';
import { parsePhpQuery } from './php-params.js';

type Headers = Record<string, string | string[] | undefined>;

function parser(headers: Headers, limits: busboy.Limits): busboy.Busboy {
  try {
    return busboy({ headers: headers as busboy.BusboyConfig['headers'], limits });
  } catch (err) {
    throw new DomainError('bad_request', `The multipart body cannot be read: ${(err as Error).message}`);
  }
}

/**
 * The form fields of a multipart body as request parameters (PHP-style names such as `a[]`),
 * with file parts skipped: Nextcloud reads multipart parameters on POST.
 */
export function multipartFields(headers: Headers, body: Readable, limit: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const bb = parser(headers, { fieldSize: limit, files: 0 });
    const pairs: string[] = [];
    let size = 0;
    bb.on('field', (name, value) => {
      size += name.length + value.length;
      if (size > limit) reject(new DomainError('body_too_large', `The request body is larger than the limit of ${limit} bytes`));
      pairs.push(`${encodeURIComponent(name)}=${encodeURIComponent(value)}`);
    });
    bb.on('file', (_name, stream) => stream.resume());
    bb.on('error', (err) => reject(new DomainError('bad_request', `The multipart body cannot be read: ${(err as Error).message}`)));
    bb.on('close', () => resolve(parsePhpQuery(pairs.join('&'))));
    body.pipe(bb);
  });
}

export interface MultipartFile {
  stream: Readable;
  filename: string;
  mimeType: string;
}

/**
 * Hands the first file part named `field` to `consume` as a stream (never buffered), and skips
 * everything else. Resolves to undefined when the body has no such part.
 */
export function withMultipartFile<T>(headers: Headers, body: Readable, field: string, consume: (file: MultipartFile) => Promise<T>): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const bb = parser(headers, { files: 10 });
    let result: Promise<T> | undefined;
    bb.on('file', (name, stream, info) => {
      if (name !== field || result) {
        stream.resume();
        return;
      }
      result = consume({ stream, filename: info.filename ?? '', mimeType: info.mimeType });
      // Keep the parser going even if the consumer fails, so the request body is drained.
      result.catch(() => stream.resume());
    });
    bb.on('error', (err) => reject(new DomainError('bad_request', `The multipart body cannot be read: ${(err as Error).message}`)));
    bb.on('close', () => (result ? result.then(resolve, reject) : resolve(undefined)));
    body.pipe(bb);
  });
}
