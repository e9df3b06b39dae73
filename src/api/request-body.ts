import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { DomainError } from '../core/errors.js';
import { parsePhpQuery } from './php-params.js';

const bodyTooLarge = (limit: number) => new DomainError('body_too_large', `The request body is larger than the limit of ${limit} bytes`);

/**
 * Whether part of the request body has not arrived yet. `complete` alone does not say: an answer
 * made at once (a 404) runs before Node has marked even a bodyless request complete.
 */
export function bodyPending(req: IncomingMessage): boolean {
  if (req.complete) return false;
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/** The client went away (or its body broke off) before the whole body arrived. Nobody reads the answer, but it is not a server fault. */
export const bodyCutShort = () => new DomainError('bad_request', 'The client closed the connection before the request body was complete');

/**
 * Fastify parses bodies only for methods that usually have one. Nextcloud parses a JSON body for
 * any method, and nc_py_api sends `GET tasks_provider/next` with a JSON body, so GET bodies (with
 * a length or chunked) are read here, under the same size limit.
 */
export async function requestBody(req: FastifyRequest, limit: number): Promise<unknown> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return req.body;
  const length = Number(req.headers['content-length'] ?? 0);
  if (!(length > 0) && !req.headers['transfer-encoding']) return undefined;
  if (length > limit) throw bodyTooLarge(limit);
  const body = await readBody(req.raw, limit, () => bodyTooLarge(limit));
  return parseBody(req.headers['content-type'], body.toString('utf8'));
}

/**
 * Reads a request body whole, or rejects with `tooLarge()` past `limit` bytes and with
 * `bodyCutShort()` when the client goes away first. Never destroys `stream`: destroying a request
 * closes its socket before the answer can be sent; what is left of an oversized body is drained
 * after the answer (api/http-connections.ts).
 */
export function readBody(stream: Readable, limit: number, tooLarge: () => DomainError): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onClose);
      stream.off('error', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        stop();
        // Nothing more is read until the answer is out; the lingering drain takes it from there.
        stream.pause();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      stop();
      resolve(Buffer.concat(chunks));
    };
    const onClose = () => {
      stop();
      reject(bodyCutShort());
    };
    if (stream.readableEnded) {
      resolve(Buffer.alloc(0));
      return;
    }
    if (stream.destroyed) {
      reject(bodyCutShort());
      return;
    }
    stream.on('data', onData);
    stream.once('end', onEnd);
    // 'close' without 'end' is a request cut short; an IncomingMessage emits 'error' only when listened to.
    stream.once('close', onClose);
    stream.once('error', onClose);
  });
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
