import type { FastifyRequest } from 'fastify';
import { DomainError } from '../core/errors.js';
import { parsePhpQuery } from './php-params.js';

/**
 * Fastify parses bodies only for methods that usually have one. Nextcloud parses a JSON body for
 * any method, and nc_py_api sends `GET tasks_provider/next` with a JSON body, so GET bodies are
 * read here, under the same size limit.
 */
export async function requestBody(req: FastifyRequest, limit: number): Promise<unknown> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return req.body;
  const length = Number(req.headers['content-length'] ?? 0);
  if (!(length > 0) && !req.headers['transfer-encoding']) return undefined;
  if (length > limit) throw new DomainError('body_too_large', `The request body is larger than the limit of ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req.raw) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new DomainError('body_too_large', `The request body is larger than the limit of ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return parseBody(req.headers['content-type'], Buffer.concat(chunks).toString('utf8'));
}

/** Decodes a body the way Nextcloud's Request does: JSON when the type says so, form encoding otherwise. */
export function parseBody(contentType: string | undefined, text: string): unknown {
  const type = (contentType ?? '').toLowerCase();
  if (type.includes('application/json')) return parseJsonBody(text);
  if (type.includes('application/x-www-form-urlencoded')) return parsePhpQuery(text);
  return undefined;
}

export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new DomainError('bad_request', `The request body is not valid JSON: ${(err as Error).message}`);
  }
}
