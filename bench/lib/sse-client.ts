import http from 'node:http';

/** One server-sent event as it arrived, stamped with performance.now() when its blank line was read. */
export interface SseEvent {
  type: string;
  data: string;
  at: number;
}

/**
 * A raw SSE reader for the live scenario: one GET on its own socket (no agent, so a thousand can be
 * open at once), events parsed as the text/event-stream format says (fields up to a blank line,
 * comments skipped), each handed over the moment its last line is read. Raw on purpose: the delay
 * measured should be the server's, not a client library's.
 */
export class SseClient {
  readonly opened: Promise<void>;
  readonly closed: Promise<void>;
  private req: http.ClientRequest;
  private ended = false;

  constructor(url: string, headers: Record<string, string>, onEvent: (e: SseEvent) => void) {
    const u = new URL(url);
    let onOpen!: () => void;
    let onOpenError!: (err: Error) => void;
    let onClosed!: () => void;
    this.opened = new Promise<void>((resolve, reject) => {
      onOpen = resolve;
      onOpenError = reject;
    });
    this.closed = new Promise<void>((r) => (onClosed = r));
    this.req = http.get(
      { host: u.hostname, port: Number(u.port), path: `${u.pathname}${u.search}`, headers: { accept: 'text/event-stream', ...headers }, agent: false },
      (res) => {
        if (res.statusCode !== 200 || !String(res.headers['content-type']).startsWith('text/event-stream')) {
          let body = '';
          res.setEncoding('utf8').on('data', (s: string) => (body += s));
          res.on('end', () => onOpenError(new Error(`GET ${url} answered ${res.statusCode}: ${body.slice(0, 300)}`)));
          return;
        }
        onOpen();
        let buffer = '';
        let type = 'message';
        let data: string[] = [];
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const at = performance.now();
          buffer += chunk;
          let nl = buffer.indexOf('\n');
          while (nl >= 0) {
            const line = buffer.slice(0, nl).replace(/\r$/, '');
            buffer = buffer.slice(nl + 1);
            if (line === '') {
              if (data.length > 0) onEvent({ type, data: data.join('\n'), at });
              type = 'message';
              data = [];
            } else if (!line.startsWith(':')) {
              const colon = line.indexOf(':');
              const field = colon < 0 ? line : line.slice(0, colon);
              const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
              if (field === 'event') type = value;
              else if (field === 'data') data.push(value);
            }
            nl = buffer.indexOf('\n');
          }
        });
        res.on('close', onClosed);
      },
    );
    this.req.on('error', (err) => {
      onOpenError(err);
      onClosed();
    });
  }

  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.req.destroy();
  }
}
