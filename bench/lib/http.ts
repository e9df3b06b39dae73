import http from 'node:http';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A keep-alive HTTP/1.1 client for one base URL: what the sequential scenarios (pipeline, pickup, claim) send with. */
export class Http {
  private readonly agent: http.Agent;
  private readonly host: string;
  private readonly port: number;

  constructor(
    readonly baseUrl: string,
    readonly defaultHeaders: Record<string, string>,
    maxSockets = 64,
  ) {
    const u = new URL(baseUrl);
    this.host = u.hostname;
    this.port = Number(u.port);
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  request(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Reply> {
    const all: Record<string, string> = { ...this.defaultHeaders, ...headers };
    if (body !== undefined) {
      all['content-type'] ??= 'application/json';
      all['content-length'] = String(Buffer.byteLength(body));
    }
    return new Promise((resolve, reject) => {
      const req = http.request({ host: this.host, port: this.port, method, path, headers: all, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Like request, but a non-2xx answer throws with the body in the message. */
  async ok(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Reply> {
    const r = await this.request(method, path, body, headers);
    if (r.status < 200 || r.status > 299) throw new Error(`${method} ${path} answered ${r.status}: ${r.body.toString('utf8').slice(0, 500)}`);
    return r;
  }

  close(): void {
    this.agent.destroy();
  }
}

export const basicAuth = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** The AppAPI headers nc_py_api sends on every ExApp request (as test/helpers/http-worker.ts). */
export function appApiHeaders(appId: string, secret: string, userId = ''): Record<string, string> {
  return {
    'EX-APP-ID': appId,
    'EX-APP-VERSION': '1.0.0',
    'AUTHORIZATION-APP-API': Buffer.from(`${userId}:${secret}`).toString('base64'),
    'AA-VERSION': '32.0.0',
    'OCS-APIRequest': 'true',
  };
}
