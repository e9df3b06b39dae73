import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Authenticator } from '../../auth/authenticator.js';
import { DomainError, notFound, notLoggedIn } from '../../core/errors.js';
import { uploadTooLarge } from '../../files/blob-store.js';
import type { FileService, StoredFile } from '../../files/file-service.js';
import { normalizePath } from '../../files/paths.js';
import { readBody } from '../request-body.js';
import { noteCaller } from '../request-log.js';
import { DAV_METHODS, type DavMethod, sendDavError } from './dav-errors.js';
import { type DavUrl, hrefBase, hrefOf, isDavUrl, parseDavUrl } from './dav-paths.js';
import { httpDate, ocFileId, propsOf, quoted } from './dav-props.js';
import { type DavResponse, parsePropfind, renderMultistatus } from './dav-xml.js';

export interface WebdavDeps {
  files: FileService;
  authenticator: Authenticator;
  /** Largest file a PUT may store (bytes); larger ones get 413. Independent of the API body limit. */
  maxUpload: number;
  log: { error(o: object, m: string): void };
}

/** PROPFIND bodies are a few hundred bytes of XML; anything near this is not a PROPFIND. */
const PROPFIND_BODY_LIMIT = 1024 * 1024;

const XML = 'application/xml; charset=utf-8';

/** A request that passed authentication and the owner check. */
interface DavRequest {
  uid: string;
  url: DavUrl;
  path: string;
}

type Handler = (req: FastifyRequest, reply: FastifyReply, deps: WebdavDeps) => Promise<FastifyReply>;

/**
 * The slice of Nextcloud's WebDAV that clients use to upload a file and learn its id:
 * `/remote.php/dav/files/{user}/…` and the legacy `/remote.php/webdav/…`, with PUT, GET, HEAD,
 * DELETE, MKCOL, PROPFIND and OPTIONS. Left out: MOVE, COPY, PROPPATCH, LOCK, ranges, chunked
 * uploads. PROPFIND with Depth: infinity is answered as Depth 1, as Sabre behind Nextcloud does.
 *
 * Everything lives in an encapsulated plugin: its body handling (every body passed through as
 * an unread stream, so uploads are never buffered and the API body limit does not apply) and its
 * Sabre-style errors stay out of the OCS routes.
 */
export async function registerWebdav(app: FastifyInstance, deps: WebdavDeps): Promise<void> {
  // Fastify 5 only routes the methods it was told about; both carry bodies (PROPFIND's XML).
  for (const method of ['PROPFIND', 'MKCOL']) {
    if (!app.supportedMethods.includes(method)) app.addHttpMethod(method, { hasBody: true });
  }
  await app.register(
    async (dav) => {
      dav.removeAllContentTypeParsers();
      // A parser without parseAs gets the raw stream and is not subject to bodyLimit; handlers read it.
      dav.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
      dav.setErrorHandler((err, _req, reply) => sendDavError(reply, err, deps.log));
      dav.setNotFoundHandler((req, reply) => {
        if (!isDavUrl(req.url)) return sendDavError(reply, notFound(), deps.log);
        return sendDavError(reply, new DomainError('method_not_allowed', `${req.method} is not supported here`), deps.log);
      });
      for (const url of ['/dav/files/:user', '/dav/files/:user/*', '/webdav', '/webdav/*']) {
        dav.route({
          method: [...DAV_METHODS],
          url,
          exposeHeadRoute: false,
          handler: async (req, reply) => {
            try {
              return await HANDLERS[req.method as DavMethod](req, reply, deps);
            } catch (err) {
              return sendDavError(reply, uploadAborted(req) ? abortedError() : err, deps.log);
            }
          },
        });
      }
    },
    { prefix: '/remote.php' },
  );
}

const HANDLERS: Readonly<Record<DavMethod, Handler>> = {
  OPTIONS: options,
  PUT: put,
  GET: (req, reply, deps) => get(req, reply, deps, true),
  HEAD: (req, reply, deps) => get(req, reply, deps, false),
  DELETE: remove,
  MKCOL: mkcol,
  PROPFIND: propfind,
};

/**
 * Authenticates, then checks that the tree in the URL is the caller's. Another user's tree is
 * refused the same way whether or not that user exists.
 */
async function resolve(req: FastifyRequest, deps: WebdavDeps): Promise<DavRequest> {
  const authorization = req.headers.authorization;
  if (!authorization) throw notLoggedIn();
  const user = await deps.authenticator.authenticate(authorization, req.ip);
  noteCaller(req, user.id);
  const url = parseDavUrl(req.url);
  if (url.user !== null && url.user !== user.id) throw new DomainError('forbidden', "Access to another user's files is not allowed");
  return { uid: user.id, url, path: normalizePath(url.rawPath) };
}

async function mustStat(deps: WebdavDeps, r: DavRequest): Promise<StoredFile> {
  const file = await deps.files.stat(r.uid, r.path);
  if (file === undefined) throw notFound(`File with name ${r.path} could not be located`);
  return file;
}

/** Answered without credentials, as clients probe with it first; it says nothing about any file. */
async function options(_req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  return reply
    .code(200)
    .headers({ dav: '1, 3', allow: DAV_METHODS.join(', '), 'ms-author-via': 'DAV' })
    .send();
}

function fileHeaders(file: StoredFile): Record<string, string> {
  return {
    etag: quoted(file.etag),
    'oc-etag': quoted(file.etag),
    'oc-fileid': ocFileId(file.id),
  };
}

async function put(req: FastifyRequest, reply: FastifyReply, deps: WebdavDeps): Promise<FastifyReply> {
  const r = await resolve(req, deps);
  const length = contentLength(req);
  // Refused before the store is even asked, so an oversized upload costs one header parse.
  if (length !== undefined && length > deps.maxUpload) throw uploadTooLarge(deps.maxUpload);
  const { file, created } = await deps.files.put(r.uid, r.path, bodyStream(req), { expectedSize: length, mime: req.headers['content-type'] });
  return reply
    .code(created ? 201 : 204)
    .headers(fileHeaders(file))
    .send();
}

async function get(req: FastifyRequest, reply: FastifyReply, deps: WebdavDeps, withBody: boolean): Promise<FastifyReply> {
  const r = await resolve(req, deps);
  const found = await mustStat(deps, r);
  if (found.isFolder) {
    // Sabre answers HEAD on a collection with an empty 200, because some clients probe folders that way.
    if (!withBody) return reply.code(200).header('content-type', 'text/plain').send();
    throw new DomainError('method_not_allowed', 'GET is only implemented on File objects');
  }
  const opened = await deps.files.open(found.id);
  if (opened === undefined) throw notFound(`File with name ${r.path} could not be located`);
  const { file } = opened;
  reply.code(200).headers({
    ...fileHeaders(file),
    'content-type': file.mime,
    'content-length': String(file.size),
    'last-modified': httpDate(file.updatedAt),
    // The bytes are the user's own and may be HTML: a download, never a page on this origin.
    'content-disposition': `attachment; filename*=UTF-8''${rawUrlEncode(file.name)}; filename="${rawUrlEncode(file.name)}"`,
    'x-content-type-options': 'nosniff',
  });
  return reply.send(withBody ? opened.stream() : undefined);
}

async function remove(req: FastifyRequest, reply: FastifyReply, deps: WebdavDeps): Promise<FastifyReply> {
  const r = await resolve(req, deps);
  await deps.files.delete(r.uid, r.path);
  return reply.code(204).send();
}

async function mkcol(req: FastifyRequest, reply: FastifyReply, deps: WebdavDeps): Promise<FastifyReply> {
  const r = await resolve(req, deps);
  // Extended MKCOL (RFC 5689) sends XML bodies; nothing here would honour them, so none are accepted.
  if ((contentLength(req) ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined) {
    throw new DomainError('unsupported_media_type', 'The request body for the MKCOL request is not supported');
  }
  const folder = await deps.files.mkdir(r.uid, r.path);
  return reply.code(201).header('oc-fileid', ocFileId(folder.id)).send();
}

async function propfind(req: FastifyRequest, reply: FastifyReply, deps: WebdavDeps): Promise<FastifyReply> {
  const r = await resolve(req, deps);
  const depth = String(req.headers.depth ?? '1')
    .trim()
    .toLowerCase();
  const asked = parsePropfind((await readSmallBody(req, PROPFIND_BODY_LIMIT)).toString('utf8'));
  const target = await mustStat(deps, r);
  const nodes = depth !== '0' && target.isFolder ? [target, ...(await deps.files.list(r.uid, r.path))] : [target];
  const minimal = /\breturn=minimal\b/i.test(String(req.headers.prefer ?? '')) || req.headers.brief === 't';

  const base = hrefBase(r.url, r.uid);
  const responses = nodes.map((node): DavResponse => {
    const href = hrefOf(base, node.path ?? r.path, node.isFolder);
    const props = propsOf(node);
    if (asked.kind === 'allprop') return { href, found: props, missing: [] };
    if (asked.kind === 'propname') return { href, found: props.map(([name]) => [name, ''] as const), missing: [] };
    const values = new Map(props);
    return {
      href,
      found: asked.props.filter((p) => values.has(p)).map((p) => [p, values.get(p) ?? ''] as const),
      missing: minimal ? [] : asked.props.filter((p) => !values.has(p)),
    };
  });
  return reply.code(207).headers({ 'content-type': XML, dav: '1, 3', vary: 'Brief,Prefer' }).send(renderMultistatus(responses));
}

function contentLength(req: FastifyRequest): number | undefined {
  const raw = req.headers['content-length'];
  return raw === undefined ? undefined : Number(raw);
}

/** The body as the pass-through parser left it; without a Content-Type no parser ran, and it is still the request itself. */
function bodyStream(req: FastifyRequest): Readable {
  return req.body instanceof Readable ? req.body : req.raw;
}

/** Reads a small request body whole, or refuses with 413 when it is larger than `limit`. */
async function readSmallBody(req: FastifyRequest, limit: number): Promise<Buffer> {
  const tooLarge = () => new DomainError('body_too_large', `The request body is larger than the limit of ${limit} bytes`);
  if ((contentLength(req) ?? 0) > limit) throw tooLarge();
  return readBody(bodyStream(req), limit, tooLarge);
}

/** The client went away mid-upload; whatever the store threw, the answer (to nobody) is a plain 400. */
function uploadAborted(req: FastifyRequest): boolean {
  return req.raw.destroyed && !req.raw.complete;
}

const abortedError = () => new DomainError('bad_request', 'The client closed the connection before the upload was complete');

/** PHP's rawurlencode, which Nextcloud uses for Content-Disposition: encodeURIComponent plus !'()*. */
function rawUrlEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
