import { type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { chooseFormat, type OcsVersion, renderOcs } from './ocs.js';
import { bodyPending } from './request-body.js';
import { sabreProtocolError } from './webdav/dav-errors.js';

/** How much of an unread request body is read and thrown away after the answer, and for how long. */
export interface LingerLimits {
  bytes: number;
  ms: number;
}

/** An answer made outside the routes: status, lower-case headers, body (not sent to HEAD). */
export interface ProtocolAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * What happens on a connection around the routes:
 * - the lingering drain of request bodies left unread by an early answer (see `drain`);
 * - answers to requests Node's parser refuses (a malformed request line, bad header syntax,
 *   headers too large, a broken chunked body), in the OCS envelope or as a Sabre error on WebDAV
 *   paths, instead of Fastify's bare JSON, and without writing into an answer already under way.
 */
export class HttpConnections {
  /** Answers begun or queued per connection and not yet finished (pipelined requests queue). */
  private readonly answering = new WeakMap<Socket, Set<ServerResponse>>();
  /** Connections whose answer is out and whose request body is being drained. */
  private readonly draining = new WeakSet<Socket>();
  /** Connections already answered for a parse error: the parser reports every later byte again. */
  private readonly refused = new WeakSet<Socket>();

  constructor(private readonly limits: LingerLimits) {}

  install(server: Server): void {
    // Ahead of Fastify's own listener, which may answer before it returns (a Content-Length over the limit).
    server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => this.track(req, res));
    // Node answers an Expect other than 100-continue with a bare 417 unless told otherwise.
    server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
      this.track(req, res);
      const answer = protocolAnswer(417, 'The server supports no expectation but "Expect: 100-continue"', req.url ?? '', req.headers.accept);
      const length = String(Buffer.byteLength(answer.body));
      res.writeHead(answer.status, { ...answer.headers, 'content-length': length, ...(bodyPending(req) && { connection: 'close' }) });
      res.end(answer.body);
    });
  }

  private track(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    let pending = this.answering.get(socket);
    if (!pending) {
      pending = new Set();
      this.answering.set(socket, pending);
    }
    pending.add(res);
    // An answer that never finishes goes with its socket, and the WeakMap entry with that.
    // 'prefinish' comes as the answer is ended, before Node's own 'finish' handler, which would
    // otherwise dump a body nobody read: dumped bytes are dropped unseen and could not be counted.
    res.once('prefinish', () => {
      if (bodyPending(req) && !req.destroyed) this.drain(req, res);
    });
    res.once('finish', () => pending.delete(res));
  }

  /**
   * nginx's lingering close, for answers sent before the request body was all read: a 413, a
   * multipart body that failed to parse, a 401 on an upload. Such answers say `Connection: close`
   * (the rest of the body will not be parsed as requests), but closing the socket at once, as
   * Node does after them, resets a client that writes its whole body before reading (Node's http
   * and fetch, Python's http.client): its next write fails with EPIPE and the kernel drops the
   * answer it had not read yet. So the rest of the body is read and discarded, up to `bytes` and
   * `ms` from the answer; the connection closes when the body ends, or at either bound.
   */
  private drain(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    let closing = false;
    let left = this.limits.bytes;
    const finish = (cut: boolean) => {
      clearTimeout(timer);
      this.draining.delete(socket);
      res.off('finish', onAnswered);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onEnd);
      if (!cut && !closing) return;
      // Not before the answer is out: destroying drops what the socket has not sent yet.
      if (res.writableFinished) socket.destroy();
      else res.once('close', () => socket.destroy());
    };
    const onData = (chunk: Buffer) => {
      left -= chunk.length;
      if (left < 0) finish(true);
    };
    const onEnd = () => finish(false);
    // Node ends the socket of an answer that closes the connection, and destroys it as soon as
    // the FIN is out (net's destroySoon), which resets a client still sending. Its read side
    // stays open until the body is drained instead, then the connection is closed here.
    const onAnswered = () => {
      closing = socket.writableEnded;
      if (closing) socket.removeListener('finish', socket.destroy);
    };
    const timer = setTimeout(() => finish(true), this.limits.ms);
    timer.unref();
    this.draining.add(socket);
    // Added after Node's own: runs once Node has ended (or kept) the connection.
    res.once('finish', onAnswered);
    // Whoever read the body before the answer (a parser that stopped at its limit) no longer does.
    req.unpipe();
    req.removeAllListeners('data');
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('close', onEnd);
    req.resume();
  }

  /**
   * Fastify's `clientErrorHandler`: Node's parser refused what came on `socket`. The connection
   * cannot go on (the parser is stuck), so the answer says close. Answers already under way on the
   * connection are let finish first (bytes written into them would corrupt them), and so are those
   * to requests that arrived whole before the broken bytes, begun or not: giving them up would cut
   * off well-formed requests (a Node client sends a GET's body with no length, so its bytes follow
   * the GET as a broken request: the GET still gets its answer, then the 400). A request whose own
   * body broke off is not waited for: its handler waits for that body, which the close ends.
   */
  onClientError(err: Error & { code?: string; rawPacket?: unknown }, socket: Socket): void {
    if (err.code === 'ECONNRESET' || socket.destroyed || this.refused.has(socket)) return;
    this.refused.add(socket);
    const request = readRequestHead(err.rawPacket);
    const answer = protocolAnswer(clientErrorStatus(err.code), clientErrorMessage(err), request?.target ?? '', request?.accept);
    const head = [`HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? ''}`];
    for (const [name, value] of Object.entries({ ...answer.headers, 'content-length': String(Buffer.byteLength(answer.body)), connection: 'close' })) {
      head.push(`${name}: ${value}`);
    }
    const bytes = `${head.join('\r\n')}\r\n\r\n${request?.method === 'HEAD' ? '' : answer.body}`;
    const send = () => {
      // Node ended the connection with the answer before (it said close): nothing can follow it.
      if (socket.destroyed || socket.writableEnded) return;
      if (this.draining.has(socket)) {
        // What does not parse is the body being drained after its answer: nothing is left to answer.
        socket.destroy();
        return;
      }
      const pending = [...(this.answering.get(socket) ?? [])].find((res) => !res.writableFinished && (res.headersSent || res.req.complete));
      if (pending) {
        pending.once('finish', send);
        pending.once('close', send);
        return;
      }
      socket.end(bytes);
      // Closed once the client has read it and closed too, or after the linger time at most: what
      // it still sends reaches a parser that refuses it, but no reset cuts the answer off.
      const timer = setTimeout(() => socket.destroy(), this.limits.ms);
      timer.unref();
      socket.once('close', () => clearTimeout(timer));
      socket.once('end', () => socket.destroy());
    };
    send();
  }
}

/**
 * A refused request or URL in the shape its path asks for: Sabre's XML error on WebDAV paths, the
 * OCS envelope elsewhere (v1 or v2 by the path, JSON or XML by the `format` parameter or Accept,
 * XML v2 when neither can be told). The HTTP status is the real one on both versions: these are
 * answered before any OCS controller, like upstream's 405 and 413.
 */
export function protocolAnswer(status: number, message: string, target: string, accept: string | undefined): ProtocolAnswer {
  const path = target.split('?')[0] ?? '';
  // Everything below /remote.php is the WebDAV plugin's, which answers Sabre's errors even where no route matches.
  if (path === '/remote.php' || path.startsWith('/remote.php/')) return { status, ...sabreProtocolError(status, message) };
  const version: OcsVersion = path.startsWith('/ocs/v1.php') ? 1 : 2;
  const format = chooseFormat(new URLSearchParams(target.split('?')[1] ?? '').get('format'), accept);
  const out = renderOcs({ version, format, status, httpStatusOverride: status, data: [], message });
  return { status: out.httpStatus, headers: out.headers, body: out.body };
}

function clientErrorStatus(code: string | undefined): number {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return 431;
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return 413;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 408;
    default:
      return 400;
  }
}

function clientErrorMessage(err: Error & { code?: string; reason?: string }): string {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return 'The request headers are larger than the server accepts';
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return 'The chunk extensions of the request body are larger than the server accepts';
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 'The request did not arrive in time';
    default:
      // llhttp's reason names what was wrong ("Invalid header value char", "Invalid method encountered").
      return `The request is not valid HTTP: ${err.reason ?? err.message}`;
  }
}

/**
 * The request line and Accept header of what the parser refused, when they are in the bytes it
 * reports (they are not when the headers overflowed across several reads): enough to choose the
 * answer's shape, nothing more is trusted.
 */
function readRequestHead(packet: unknown): { method: string; target: string; accept: string | undefined } | undefined {
  if (!Buffer.isBuffer(packet)) return undefined;
  const text = packet.subarray(0, 64 * 1024).toString('latin1');
  const line = /^([A-Za-z]+) (\S+) HTTP\/\d\.\d\r?\n/.exec(text);
  if (!line) return undefined;
  const headers = text.slice(line[0].length).split(/\r?\n\r?\n/)[0] ?? '';
  const accept = /^accept[ \t]*:[ \t]*(.*?)[ \t]*\r?$/im.exec(headers)?.[1];
  return { method: (line[1] ?? '').toUpperCase(), target: line[2] ?? '', accept };
}
