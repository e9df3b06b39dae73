/**
 * The live scenario's ceiling: a bare node:http server, in its own child process, doing the least a
 * server can do to pass a worker's chunk to a watcher. `GET /events/<key>` opens a text/event-stream
 * response and keeps it; `POST /stream/<key>` reads the body and writes it, as it came, as one
 * `output` event to every response open for that key, then answers with a fixed small JSON body.
 * No parsing, no authentication, no state beyond the open responses. Any other GET is answered with
 * the canned answer set over IPC ({type:'canned', status, headers, body}), so the GET-throughput part
 * measures this same process with and without streams flowing through it.
 */
import http from 'node:http';

const streams = new Map<string, Set<http.ServerResponse>>();
let canned: { status: number; headers: Record<string, string>; body: string } = { status: 404, headers: {}, body: 'no canned answer\n' };
const ACK = '{"ocs":{"meta":{"status":"ok","statuscode":200,"message":"OK"},"data":{}}}';

function keyOf(url: string, prefix: string): string | null {
  if (!url.startsWith(prefix)) return null;
  const q = url.indexOf('?');
  return url.slice(prefix.length, q < 0 ? undefined : q);
}

const server = http.createServer((req, res) => {
  const url = req.url ?? '/';
  const eventsKey = req.method === 'GET' ? keyOf(url, '/events/') : null;
  if (eventsKey !== null) {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform' });
    res.write('retry: 2000\n\n');
    let set = streams.get(eventsKey);
    if (!set) {
      set = new Set();
      streams.set(eventsKey, set);
    }
    const s = set;
    s.add(res);
    res.on('close', () => {
      s.delete(res);
      if (s.size === 0 && streams.get(eventsKey) === s) streams.delete(eventsKey);
    });
    return;
  }
  const streamKey = req.method === 'POST' ? keyOf(url, '/stream/') : null;
  if (streamKey !== null) {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const event = `event: output\ndata: ${Buffer.concat(chunks).toString('utf8')}\n\n`;
      for (const r of streams.get(streamKey) ?? []) r.write(event);
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(ACK) });
      res.end(ACK);
    });
    return;
  }
  req.resume();
  req.on('end', () => {
    res.writeHead(canned.status, { ...canned.headers, 'content-length': Buffer.byteLength(canned.body) });
    res.end(canned.body);
  });
});
server.keepAliveTimeout = 72_000;

process.on('message', (msg: { type: string; status?: number; headers?: Record<string, string>; body?: string }) => {
  if (msg.type === 'canned') {
    canned = { status: msg.status ?? 200, headers: msg.headers ?? {}, body: msg.body ?? '' };
    process.send?.({ type: 'ok' });
  } else if (msg.type === 'open') {
    let n = 0;
    for (const s of streams.values()) n += s.size;
    process.send?.({ type: 'open', count: n });
  }
});
process.on('disconnect', () => process.exit(0));

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ type: 'listening', port: typeof address === 'object' && address ? address.port : 0 });
});
