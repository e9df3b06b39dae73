import http from 'node:http';
import { randomBytes } from 'node:crypto';

/**
 * A task-processing worker that knows only HTTP, speaking as nc_py_api's ExApp client does
 * (nc_py_api/_session.py, ex_app/providers/task_processing.py): the AppAPI headers on every call,
 * `?format=json`, GET next/next_batch with a JSON body, registration on the v1 AppAPI route,
 * multipart uploads. Deliberately imports nothing from src/: what it sees is what a real ExApp sees.
 */

export interface WorkerResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The parsed body when it is JSON. */
  json: any;
  /** The raw body (file downloads). */
  bytes: Buffer;
}

export interface RequestOptions {
  /** Sent as application/json, on any method (GET included). */
  json?: unknown;
  /** Sent as multipart/form-data with one file part. */
  file?: { field: string; data: Buffer; filename: string; mime: string };
  /** Sent as application/x-www-form-urlencoded. */
  form?: string;
  /** Aborts the request (the server sees the client go away). */
  signal?: AbortSignal;
  /** Adds `?format=json` (the default, as nc_py_api does). */
  format?: boolean;
  /** Replaces the AppAPI headers (null: none at all). */
  headers?: Record<string, string> | null;
}

export interface ProviderSlot {
  name: string;
  description: string;
  shape_type: number;
}

/** The payload nc_py_api's TaskProcessingProvider.to_dict() sends: every key present. */
export interface ProviderPayload {
  id: string;
  name: string;
  task_type: string;
  expected_runtime: number;
  optional_input_shape: ProviderSlot[];
  optional_output_shape: ProviderSlot[];
  input_shape_enum_values: Record<string, { name: string; value: string }[]>;
  input_shape_defaults: Record<string, string | number>;
  optional_input_shape_enum_values: Record<string, { name: string; value: string }[]>;
  optional_input_shape_defaults: Record<string, string | number>;
  output_shape_enum_values: Record<string, { name: string; value: string }[]>;
  optional_output_shape_enum_values: Record<string, { name: string; value: string }[]>;
}

export interface CustomTaskTypePayload {
  id: string;
  name: string;
  description: string;
  input_shape: ProviderSlot[];
  output_shape: ProviderSlot[];
}

/** Shape type numbers as AppAPI payloads carry them (EShapeType). */
export const SHAPE = Object.freeze({ Number: 0, Text: 1, Image: 2, Audio: 3, Video: 4, File: 5, Enum: 6, ListOfTexts: 11, ListOfFiles: 15 });

export function providerPayload(p: Partial<ProviderPayload> & Pick<ProviderPayload, 'id' | 'task_type'>): ProviderPayload {
  return {
    name: p.id,
    expected_runtime: 0,
    optional_input_shape: [],
    optional_output_shape: [],
    input_shape_enum_values: {},
    input_shape_defaults: {},
    optional_input_shape_enum_values: {},
    optional_input_shape_defaults: {},
    output_shape_enum_values: {},
    optional_output_shape_enum_values: {},
    ...p,
  };
}

export class HttpWorker {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

  constructor(
    readonly baseUrl: string,
    readonly appId: string,
    private readonly secret: string,
    private readonly opts: { version?: string; userId?: string } = {},
  ) {}

  /** EXAPP.md §1, as nc_py_api sets them. */
  appApiHeaders(): Record<string, string> {
    return {
      'EX-APP-ID': this.appId,
      'EX-APP-VERSION': this.opts.version ?? '1.0.0',
      'AUTHORIZATION-APP-API': Buffer.from(`${this.opts.userId ?? ''}:${this.secret}`).toString('base64'),
      'AA-VERSION': '32.0.0',
      'OCS-APIRequest': 'true',
    };
  }

  request(method: string, path: string, o: RequestOptions = {}): Promise<WorkerResponse> {
    const url = new URL(path, this.baseUrl);
    if (o.format !== false) url.searchParams.set('format', 'json');
    const headers: Record<string, string> = o.headers === null ? {} : { ...this.appApiHeaders(), ...o.headers };
    let body: Buffer | undefined;
    if (o.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = Buffer.from(JSON.stringify(o.json));
    } else if (o.form !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = Buffer.from(o.form);
    } else if (o.file) {
      const boundary = `----worker${randomBytes(8).toString('hex')}`;
      headers['content-type'] = `multipart/form-data; boundary=${boundary}`;
      body = Buffer.concat([
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${o.file.field}"; filename="${o.file.filename}"\r\n` + `Content-Type: ${o.file.mime}\r\n\r\n`,
        ),
        o.file.data,
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ]);
    }
    if (body) headers['content-length'] = String(body.length);
    return new Promise((resolve, reject) => {
      const req = http.request(url, { method, headers, agent: this.agent, signal: o.signal }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const bytes = Buffer.concat(chunks);
          const text = bytes.toString('utf8');
          const json = (res.headers['content-type'] ?? '').includes('json') && text !== '' ? JSON.parse(text) : undefined;
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json, bytes });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Step 1: registration on AppAPI's v1 route (EXAPP.md §3). */
  register(provider: ProviderPayload, customTaskType?: CustomTaskTypePayload): Promise<WorkerResponse> {
    return this.request('POST', '/ocs/v1.php/apps/app_api/api/v1/ai_provider/task_processing', {
      json: customTaskType ? { provider, customTaskType } : { provider },
    });
  }

  /** Step 2, P1: the lists as a JSON body on GET, as nc_py_api sends them. */
  next(providerIds: string[], taskTypeIds: string[], o: { wait?: number; version?: 1 | 2; signal?: AbortSignal } = {}): Promise<WorkerResponse> {
    const json: Record<string, unknown> = { providerIds, taskTypeIds };
    if (o.wait !== undefined) json.wait = o.wait;
    return this.request('GET', `/ocs/v${o.version ?? 2}.php/taskprocessing/tasks_provider/next`, { json, signal: o.signal });
  }

  /** Step 2, P2. */
  nextBatch(providerIds: string[], taskTypeIds: string[], numberOfTasks: number, o: { wait?: number } = {}): Promise<WorkerResponse> {
    const json: Record<string, unknown> = { providerIds, taskTypeIds, numberOfTasks };
    if (o.wait !== undefined) json.wait = o.wait;
    return this.request('GET', '/ocs/v2.php/taskprocessing/tasks_provider/next_batch', { json });
  }

  /** Step 3, P3: raw bytes. */
  inputFile(taskId: number, fileId: number): Promise<WorkerResponse> {
    return this.request('GET', `/ocs/v2.php/taskprocessing/tasks_provider/${taskId}/file/${fileId}`);
  }

  /** Step 4, P5: nc_py_api sends the task id in the body too. */
  progress(taskId: number, progress: unknown): Promise<WorkerResponse> {
    return this.request('POST', `/ocs/v2.php/taskprocessing/tasks_provider/${taskId}/progress`, { json: { taskId, progress } });
  }

  /** Step 5, P4: multipart, part `file`. */
  upload(taskId: number, data: Buffer, filename = 'upload', mime = 'application/octet-stream'): Promise<WorkerResponse> {
    return this.request('POST', `/ocs/v2.php/taskprocessing/tasks_provider/${taskId}/file`, { file: { field: 'file', data, filename, mime } });
  }

  /** Step 6, P6. */
  result(taskId: number, output: unknown, errorMessage: string | null = null, userFacingErrorMessage: string | null = null): Promise<WorkerResponse> {
    return this.request('POST', `/ocs/v2.php/taskprocessing/tasks_provider/${taskId}/result`, {
      json: { taskId, output, errorMessage, userFacingErrorMessage },
    });
  }

  /** llm2's intermediate output. */
  streamResult(taskId: number, output: unknown): Promise<WorkerResponse> {
    return this.request('POST', `/ocs/v2.php/taskprocessing/tasks_provider/${taskId}/stream-result`, { json: { taskId, output } });
  }

  close(): void {
    this.agent.destroy();
  }
}
