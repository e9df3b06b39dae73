import net from 'node:net';

/**
 * One HTTP/1.1 connection driven by hand, as a client that writes its whole request before reading
 * a byte of the answer (Node's http, Python's http.client): unlike fuzz-http.ts (the fuzz test's),
 * nothing is read until asked, and each write says whether the server took it or broke the
 * connection (EPIPE, ECONNRESET). Imports nothing from src/.
 */

export interface WireResponse {
  status: number;
  /** Lower-case names; the last value of a repeated header. */
  headers: Record<string, string>;
  body: Buffer;
  text: string;
  /** The parsed body when it is JSON. */
  json: any;
}

export class WireConnection {
  private buffer = Buffer.alloc(0);
  private reading = false;
  private wake: (() => void) | undefined;
  /** Set once the server has closed the connection (or it broke); what it sent before stays readable. */
  closed = false;
  error: (Error & { code?: string }) | undefined;
  readonly whenClosed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    // Nothing is read until startReading(): a client that writes its whole body first does the same.
    socket.pause();
    this.whenClosed = new Promise((resolve) => {
      socket.once('close', () => {
        this.closed = true;
        this.poke();
        resolve();
      });
    });
    socket.on('error', (err) => {
      this.error ??= err;
    });
  }

  static open(baseUrl: string): Promise<WireConnection> {
    const url = new URL(baseUrl);
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(url.port), url.hostname, () => resolve(new WireConnection(socket)));
      socket.once('error', reject);
    });
  }

  /** Writes and waits until the bytes are handed to the kernel; rejects when the server broke the connection meanwhile. */
  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(data, (err) => (err ? reject(err) : resolve()));
    });
  }

  startReading(): void {
    if (this.reading) return;
    this.reading = true;
    this.socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.poke();
    });
    this.socket.resume();
  }

  /** The next whole answer (framed by Content-Length; `head`: no body follows). Rejects if the connection ends first. */
  async response(opts: { head?: boolean } = {}): Promise<WireResponse> {
    this.startReading();
    for (;;) {
      const parsed = this.take(opts.head ?? false);
      if (parsed) return parsed;
      if (this.closed)
        throw new Error(
          `the connection closed before a whole answer (${this.error?.code ?? 'no error'}); got ${JSON.stringify(this.buffer.toString('latin1').slice(0, 300))}`,
        );
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** Everything the server sends until it closes the connection. */
  async rest(): Promise<Buffer> {
    this.startReading();
    await this.whenClosed;
    const all = this.buffer;
    this.buffer = Buffer.alloc(0);
    return all;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private take(head: boolean): WireResponse | undefined {
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const lines = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1]);
    // Interim answers (100 Continue) are skipped.
    if (status >= 100 && status < 200) {
      this.buffer = this.buffer.subarray(end + 4);
      return this.take(head);
    }
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = head || status === 204 || status === 304 ? 0 : Number(headers['content-length'] ?? 0);
    if (this.buffer.length < end + 4 + length) return undefined;
    const body = this.buffer.subarray(end + 4, end + 4 + length);
    this.buffer = this.buffer.subarray(end + 4 + length);
    const text = body.toString('utf8');
    const json = (headers['content-type'] ?? '').includes('json') && text !== '' ? JSON.parse(text) : undefined;
    return { status, headers, body, text, json };
  }
}

/** A request's bytes: request line, headers (Host added), blank line, body. */
export function requestBytes(method: string, target: string, headers: Record<string, string>, body: string | Buffer = ''): Buffer {
  const head = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), Buffer.isBuffer(body) ? body : Buffer.from(body)]);
}

/** `data` in chunked transfer coding, in pieces of at most `size` bytes, with the closing chunk. */
export function chunked(data: Buffer, size = 64 * 1024): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < data.length; at += size) {
    const piece = data.subarray(at, at + size);
    parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}
