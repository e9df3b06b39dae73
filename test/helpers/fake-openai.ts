import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import busboy from 'busboy';
import { tinyPng } from './providers.js';

/**
 * A loopback server speaking the parts of the OpenAI API that taskproc uses, with failures
 * scripted per request. Tests point a back end at `${fake.url}/v1`.
 */

export type Endpoint = 'chat' | 'transcriptions' | 'images' | 'edits' | 'speech' | 'models';

/** What the next request to an endpoint gets; unscripted requests get a normal answer. */
export type Step =
  /** An error status with an OpenAI-shaped error body (and Retry-After when given). */
  | { kind: 'status'; status: number; retryAfter?: string; message?: string }
  /** 404 naming the requested model, as OpenAI and Ollama answer an unknown model. */
  | { kind: 'unknown-model' }
  /** Headers never come: for time-outs. */
  | { kind: 'hang' }
  /** Any body with any type: malformed JSON, an HTML page, wrong image bytes... */
  | { kind: 'raw'; status?: number; contentType: string; body: string | Buffer }
  /** A body of `bytes` bytes, its length declared or (chunked) not. */
  | { kind: 'huge'; bytes: number; declareLength: boolean }
  /** A chat answer: text and/or tool calls; streamed in pieces when asked to stream. */
  | {
      kind: 'chat';
      content?: string;
      toolCalls?: { id: string; name: string; arguments: string }[];
      finishReason?: string;
      chunkDelayMs?: number;
      stallAfterChunks?: number;
    }
  /** Image generation or editing answering these base64 strings instead of PNGs. */
  | { kind: 'images'; b64: string[] };

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  /** Parsed JSON body, when there was one. */
  json: any;
  /** Multipart fields and the uploaded file (transcriptions; the last one when there are several). */
  fields: Record<string, string>;
  file: { name: string; mime: string; bytes: Buffer } | null;
  /** Every uploaded file in order, with its part name (image edits: `image` or `image[]`). */
  files: { field: string; name: string; mime: string; bytes: Buffer }[];
  /** True when the client went away before the answer was complete (cancellation, time-out). */
  aborted: boolean;
}

export interface FakeOpenAI {
  /** `http://127.0.0.1:<port>` (the API lives under /v1). */
  url: string;
  requests: RecordedRequest[];
  /** Queues steps for the next requests to an endpoint, in order. */
  script(endpoint: Endpoint, ...steps: Step[]): void;
  /** Requests to an endpoint so far. */
  requestsTo(endpoint: Endpoint): RecordedRequest[];
  /** Resolves when a request to the endpoint (one that `matches`, if given) was aborted by the client. */
  abortedRequest(endpoint: Endpoint, matches?: (r: RecordedRequest) => boolean): Promise<RecordedRequest>;
  close(): Promise<void>;
}

const ROUTES: Record<string, Endpoint> = {
  'POST /v1/chat/completions': 'chat',
  'POST /v1/audio/transcriptions': 'transcriptions',
  'POST /v1/images/generations': 'images',
  'POST /v1/images/edits': 'edits',
  'POST /v1/audio/speech': 'speech',
  'GET /v1/models': 'models',
};

/** The bytes the fake speaks: an ID3 tag, an MPEG frame header, then the text. */
export function fakeSpeech(text: string): Buffer {
  return Buffer.concat([Buffer.from('ID3\x04\x00\x00\x00\x00\x00\x00', 'latin1'), Buffer.from([0xff, 0xfb, 0x90, 0x64]), Buffer.from(text)]);
}

/** The default image edit answer: a PNG that tells how many images the request carried. */
export function fakeEditedImage(inputImages: number): Buffer {
  return tinyPng(100 + inputImages);
}

/** The default chat answer: deterministic, and naming the model and the last user message. */
export function fakeReply(model: string, lastUser: string): string {
  return `[${model}] reply to: ${lastUser.slice(0, 60)}`;
}

export async function startFakeOpenAI(opts: { apiKey?: string; models?: string[] } = {}): Promise<FakeOpenAI> {
  const queues = new Map<Endpoint, Step[]>();
  const requests: (RecordedRequest & { endpoint: Endpoint | null })[] = [];
  const abortWaiters: { endpoint: Endpoint; matches: (r: RecordedRequest) => boolean; resolve: (r: RecordedRequest) => void }[] = [];

  const server = createServer((req, res) => {
    void handle(req, res).catch((err) => {
      if (!res.headersSent) res.writeHead(599).end(String(err));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0] ?? '';
    const endpoint = ROUTES[`${req.method} ${path}`] ?? null;
    const rec = {
      endpoint,
      method: req.method ?? '',
      path,
      headers: req.headers,
      json: undefined as any,
      fields: {},
      file: null,
      files: [],
      aborted: false,
    } as RecordedRequest & { endpoint: Endpoint | null };
    requests.push(rec);
    res.on('close', () => {
      if (!res.writableFinished) {
        rec.aborted = true;
        for (const w of abortWaiters.splice(0)) {
          if (w.endpoint === endpoint && w.matches(rec)) w.resolve(rec);
          else abortWaiters.push(w);
        }
      }
    });
    if ((req.headers['content-type'] ?? '').startsWith('multipart/form-data')) await readMultipart(req, rec);
    else {
      const body = await readBody(req);
      if (body.length > 0 && (req.headers['content-type'] ?? '').includes('json')) rec.json = JSON.parse(body.toString('utf8'));
    }
    if (endpoint === null) return json(res, 404, { error: { message: `No route ${req.method} ${path}`, type: 'invalid_request_error' } });
    if (opts.apiKey !== undefined && req.headers.authorization !== `Bearer ${opts.apiKey}`) {
      return json(res, 401, { error: { message: 'Incorrect API key provided', type: 'invalid_request_error', code: 'invalid_api_key' } });
    }
    const step = queues.get(endpoint)?.shift();
    const model = String(rec.json?.model ?? rec.fields.model ?? '');
    if (endpoint === 'edits' && (rec.files.length === 0 || rec.fields.prompt === undefined)) {
      // As OpenAI answers an edit without an image or a prompt.
      return json(res, 400, { error: { message: 'Missing required parameter: image and prompt', type: 'invalid_request_error' } });
    }
    if (step) {
      switch (step.kind) {
        case 'status': {
          const headers: Record<string, string> = step.retryAfter === undefined ? {} : { 'retry-after': step.retryAfter };
          return json(res, step.status, { error: { message: step.message ?? `Scripted failure ${step.status}`, type: 'server_error' } }, headers);
        }
        case 'unknown-model':
          return json(res, 404, {
            error: {
              message: `The model \`${model}\` does not exist or you do not have access to it.`,
              type: 'invalid_request_error',
              code: 'model_not_found',
            },
          });
        case 'hang':
          return; // the socket stays open until the client gives up or the fake closes
        case 'raw':
          res.writeHead(step.status ?? 200, { 'content-type': step.contentType });
          return void res.end(step.body);
        case 'huge': {
          const headers: Record<string, string | number> = { 'content-type': 'application/json' };
          if (step.declareLength) headers['content-length'] = step.bytes;
          res.writeHead(200, headers);
          const chunk = Buffer.alloc(64 * 1024, 0x20);
          let left = step.bytes;
          while (left > 0 && !res.destroyed) {
            const piece = chunk.subarray(0, Math.min(left, chunk.length));
            left -= piece.length;
            if (!res.write(piece)) await new Promise((r) => res.once('drain', r).once('close', r));
          }
          return void res.end();
        }
        case 'chat':
          return chat(res, rec, model, step);
        case 'images':
          return json(res, 200, { created: 1, data: step.b64.map((b64_json) => ({ b64_json })) });
      }
    }
    switch (endpoint) {
      case 'chat':
        return chat(res, rec, model, { kind: 'chat', content: fakeReply(model, lastUserText(rec.json?.messages)) });
      case 'models':
        return json(res, 200, { object: 'list', data: (opts.models ?? ['fake-model']).map((id) => ({ id, object: 'model', created: 0, owned_by: 'fake' })) });
      case 'images': {
        const n = Number(rec.json?.n ?? 1);
        return json(res, 200, { created: 1, data: Array.from({ length: n }, (_, i) => ({ b64_json: tinyPng(i).toString('base64') })) });
      }
      case 'edits':
        return json(res, 200, { created: 1, data: [{ b64_json: fakeEditedImage(rec.files.length).toString('base64') }] });
      case 'speech':
        res.writeHead(200, { 'content-type': 'audio/mpeg' });
        return void res.end(fakeSpeech(String(rec.json?.input ?? '')));
      case 'transcriptions':
        return json(res, 200, { text: `transcript of ${rec.file?.name} (${rec.file?.bytes.length} bytes): ${rec.file?.bytes.toString('utf8')}` });
    }
  }

  async function chat(res: ServerResponse, rec: RecordedRequest, model: string, step: Extract<Step, { kind: 'chat' }>): Promise<void> {
    const content = step.content ?? '';
    const toolCalls = step.toolCalls ?? [];
    const finish = step.finishReason ?? (toolCalls.length > 0 ? 'tool_calls' : 'stop');
    if (rec.json?.stream !== true) {
      const message: Record<string, unknown> = { role: 'assistant', content: content === '' && toolCalls.length > 0 ? null : content };
      if (toolCalls.length > 0) message.tool_calls = toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
      return json(res, 200, { id: 'chatcmpl-fake', object: 'chat.completion', created: 1, model, choices: [{ index: 0, message, finish_reason: finish }] });
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const chunk = (delta: Record<string, unknown>, finishReason: string | null = null) =>
      `data: ${JSON.stringify({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta, finish_reason: finishReason }] })}\n\n`;
    const events: string[] = [chunk({ role: 'assistant', content: '' })];
    for (let i = 0; i < content.length; i += 5) events.push(chunk({ content: content.slice(i, i + 5) }));
    for (const [index, c] of toolCalls.entries()) {
      // As OpenAI streams them: id and name first, then the arguments in fragments.
      events.push(chunk({ tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.name, arguments: '' } }] }));
      const half = Math.ceil(c.arguments.length / 2);
      events.push(chunk({ tool_calls: [{ index, function: { arguments: c.arguments.slice(0, half) } }] }));
      events.push(chunk({ tool_calls: [{ index, function: { arguments: c.arguments.slice(half) } }] }));
    }
    events.push(chunk({}, finish), 'data: [DONE]\n\n');
    for (const [i, event] of events.entries()) {
      if (res.destroyed) return;
      if (step.stallAfterChunks !== undefined && i >= step.stallAfterChunks) return; // keep the stream open, send nothing more
      res.write(event);
      if (step.chunkDelayMs) await new Promise((r) => setTimeout(r, step.chunkDelayMs));
    }
    res.end();
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    script(endpoint, ...steps) {
      queues.set(endpoint, [...(queues.get(endpoint) ?? []), ...steps]);
    },
    requestsTo(endpoint) {
      return requests.filter((r) => r.endpoint === endpoint);
    },
    abortedRequest(endpoint, matches = () => true) {
      const done = requests.find((r) => r.endpoint === endpoint && r.aborted && matches(r));
      if (done) return Promise.resolve(done);
      return new Promise((resolve) => abortWaiters.push({ endpoint, matches, resolve }));
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

function readMultipart(req: IncomingMessage, rec: RecordedRequest): Promise<void> {
  return new Promise((resolve, reject) => {
    const bb = busboy({ headers: req.headers });
    bb.on('field', (name, value) => {
      rec.fields[name] = value;
    });
    bb.on('file', (field, stream, info) => {
      const parts: Buffer[] = [];
      stream.on('data', (c: Buffer) => parts.push(c));
      stream.on('end', () => {
        rec.file = { name: info.filename ?? '', mime: info.mimeType, bytes: Buffer.concat(parts) };
        rec.files.push({ field, ...rec.file });
      });
    });
    bb.on('close', resolve);
    bb.on('error', reject);
    req.pipe(bb);
  });
}

function lastUserText(messages: unknown): string {
  if (!Array.isArray(messages)) return '';
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i] as { role?: string; content?: unknown };
    if (m.role !== 'user') continue;
    if (typeof m.content === 'string') return m.content;
    if (Array.isArray(m.content)) return m.content.map((p: { text?: string }) => p.text ?? '').join(' ');
  }
  return '';
}
