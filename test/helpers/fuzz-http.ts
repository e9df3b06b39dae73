import net from 'node:net';

/**
 * HTTP/1.1 over a bare TCP socket for the fuzz test, for requests that node:http and fetch refuse
 * to send: NUL bytes and raw UTF-8 in the request line and headers, duplicate Authorization
 * headers, bodies that lie about their length, chunked GETs. Parses the answers itself
 * (Content-Length, chunked, or up to the close), so that an answer cut short is told apart from
 * one that arrived.
 */

export interface RawRequest {
  method: string;
  /** The request target exactly as sent: path and query, any bytes. */
  target: string;
  /** In order, duplicates allowed; a Buffer value is sent as it is. Host is added unless given. */
  headers?: [string, string | Buffer][];
  body?: string | Buffer;
  /**
   * How the body is framed: a Content-Length that matches (the default when there is a body),
   * chunked, or none added (the headers say whatever the case wants).
   */
  framing?: 'length' | 'chunked' | 'none';
}

export interface RawResponse {
  status: number;
  /** Lower-case names; every value of a repeated header. */
  headers: Map<string, string[]>;
  body: Buffer;
}

/** What came back: an answer, or the connection ending (or stalling) before a whole one arrived. */
export type RawOutcome =
  | { kind: 'answer'; response: RawResponse }
  | { kind: 'dropped'; reason: string; received: string }
  | { kind: 'timeout'; received: string };

export function header(r: RawResponse, name: string): string | undefined {
  return r.headers.get(name)?.join(', ');
}

/** The bytes of a request as they are written. */
export function encodeRequest(req: RawRequest, host: string): Buffer {
  const headers = [...(req.headers ?? [])];
  if (!headers.some(([n]) => n.toLowerCase() === 'host')) headers.unshift(['Host', host]);
  const body = req.body === undefined ? undefined : Buffer.from(req.body);
  const framing = req.framing ?? (body === undefined ? 'none' : 'length');
  if (framing === 'length') headers.push(['Content-Length', String(body?.length ?? 0)]);
  if (framing === 'chunked') headers.push(['Transfer-Encoding', 'chunked']);
  const parts: Buffer[] = [Buffer.from(`${req.method} ${req.target} HTTP/1.1\r\n`, 'latin1')];
  for (const [name, value] of headers) parts.push(Buffer.from(`${name}: `), Buffer.from(value), Buffer.from('\r\n'));
  parts.push(Buffer.from('\r\n'));
  if (body !== undefined) {
    if (framing === 'chunked') {
      // Two chunks when there is enough to split, so the server has to join them.
      const half = Math.floor(body.length / 2);
      for (const piece of [body.subarray(0, half), body.subarray(half)]) {
        if (piece.length > 0) parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
      }
      parts.push(Buffer.from('0\r\n\r\n'));
    } else {
      parts.push(body);
    }
  }
  return Buffer.concat(parts);
}

/**
 * One client connection. Answers are read in order; `next()` resolves with the next whole answer,
 * or says how the connection failed before one arrived.
 */
export class FuzzConnection {
  private readonly socket: net.Socket;
  private buffer = Buffer.alloc(0);
  private ended = false;
  private failure: string | undefined;
  private wake: (() => void) | undefined;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.notify();
    });
    // A write into a connection the server has closed fails with EPIPE; the answer may still be readable.
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.failure ??= err.code ?? err.message;
      this.notify();
    });
    socket.once('close', () => {
      this.ended = true;
      this.notify();
    });
  }

  static open(port: number): Promise<FuzzConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      socket.once('connect', () => resolve(new FuzzConnection(socket)));
      socket.once('error', reject);
    });
  }

  /** True once the server has closed its side (or the socket failed). */
  get isEnded(): boolean {
    return this.ended || this.failure !== undefined;
  }

  write(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** Half-closes: the server sees the end of the request stream, as when a client stops mid-body. */
  endWriting(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Waits for more bytes or the end; false when the connection has ended or time ran out. */
  private async more(deadline: number): Promise<boolean> {
    if (this.isEnded) return false;
    const left = deadline - Date.now();
    if (left <= 0) return false;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.wake = resolve;
      timer = setTimeout(resolve, left);
    });
    clearTimeout(timer);
    return true;
  }

  private fail(): RawOutcome {
    const received = this.buffer.subarray(0, 300).toString('latin1');
    if (this.isEnded) return { kind: 'dropped', reason: this.failure ?? 'the server closed the connection', received };
    return { kind: 'timeout', received };
  }

  /** Waits until `pattern` occurs at or after `from`; its index, or -1 when the connection ended or time ran out. */
  private async find(pattern: string, from: number, deadline: number): Promise<number> {
    for (;;) {
      const at = this.buffer.indexOf(pattern, from);
      if (at >= 0) return at;
      if (!(await this.more(deadline))) return -1;
    }
  }

  /** Waits until at least `n` bytes are buffered. */
  private async fill(n: number, deadline: number): Promise<boolean> {
    while (this.buffer.length < n) if (!(await this.more(deadline))) return false;
    return true;
  }

  /** The next answer to a request of `method` (HEAD answers have no body), skipping 1xx ones. */
  async next(method: string, timeoutMs: number): Promise<RawOutcome> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = await this.find('\r\n\r\n', 0, deadline);
      if (end < 0) return this.fail();
      const lines = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
      const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0] ?? '');
      if (!status) return { kind: 'dropped', reason: `not an HTTP status line: ${JSON.stringify(lines[0])}`, received: '' };
      const code = Number(status[1]);
      const headers = new Map<string, string[]>();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim().toLowerCase();
        headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
      }
      const start = end + 4;
      if (code >= 100 && code < 200) {
        this.buffer = this.buffer.subarray(start);
        continue;
      }
      const response: RawResponse = { status: code, headers, body: Buffer.alloc(0) };
      let consumed = start;
      if (method === 'HEAD' || code === 204 || code === 304) {
        // No body whatever the headers say.
      } else if (/\bchunked\b/i.test(headers.get('transfer-encoding')?.join(',') ?? '')) {
        const chunks: Buffer[] = [];
        let pos = start;
        for (;;) {
          const lineEnd = await this.find('\r\n', pos, deadline);
          if (lineEnd < 0) return this.fail();
          const size = parseInt(this.buffer.subarray(pos, lineEnd).toString('latin1'), 16);
          if (Number.isNaN(size)) return { kind: 'dropped', reason: 'a malformed chunk size', received: '' };
          if (size === 0) {
            // Trailers (none expected) end with an empty line.
            let at = lineEnd + 2;
            let lineAt = await this.find('\r\n', at, deadline);
            while (lineAt !== at) {
              if (lineAt < 0) return this.fail();
              at = lineAt + 2;
              lineAt = await this.find('\r\n', at, deadline);
            }
            consumed = at + 2;
            break;
          }
          if (!(await this.fill(lineEnd + 2 + size + 2, deadline))) return this.fail();
          chunks.push(Buffer.from(this.buffer.subarray(lineEnd + 2, lineEnd + 2 + size)));
          pos = lineEnd + 2 + size + 2;
        }
        response.body = Buffer.concat(chunks);
      } else if (headers.has('content-length')) {
        const n = Number(headers.get('content-length')?.[0]);
        if (!(await this.fill(start + n, deadline))) return this.fail();
        response.body = Buffer.from(this.buffer.subarray(start, start + n));
        consumed = start + n;
      } else {
        // Neither: the body runs to the close.
        while (await this.more(deadline));
        if (!this.isEnded) return this.fail();
        response.body = Buffer.from(this.buffer.subarray(start));
        consumed = this.buffer.length;
      }
      this.buffer = this.buffer.subarray(consumed);
      return { kind: 'answer', response };
    }
  }
}
