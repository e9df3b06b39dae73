import http from 'node:http';
import https from 'node:https';

/**
 * One outgoing HTTP request with a body on any method (upstream's webhooks send a JSON body even
 * with GET, which fetch refuses), a total time-out, and the response body discarded.
 */
export function httpCall(url: string, o: { method: string; headers: Record<string, string>; body: string; timeoutMs: number }): Promise<number> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const client = target.protocol === 'https:' ? https : http;
    const req = client.request(target, { method: o.method, headers: { ...o.headers, 'content-length': Buffer.byteLength(o.body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${o.timeoutMs} ms`)), o.timeoutMs);
    req.on('error', reject);
    req.on('close', () => clearTimeout(timer));
    req.end(o.body);
  });
}
