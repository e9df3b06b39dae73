import type { FastifyReply } from 'fastify';
import type { FileHandle } from '../core/file-access.js';

/**
 * Sends a file's raw bytes, streamed, as upstream's download routes do: no envelope,
 * `Content-Disposition: attachment` with the file name, and the length known up front.
 */
export function sendFile(reply: FastifyReply, handle: FileHandle): FastifyReply {
  const { name, mime, size } = handle.file;
  // A quoted-string name for old clients, and the RFC 5987 form for names beyond ASCII.
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  reply.headers({
    'content-type': mime,
    'content-length': String(size),
    'content-disposition': `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`,
    'x-content-type-options': 'nosniff',
  });
  return reply.code(200).send(handle.stream());
}
