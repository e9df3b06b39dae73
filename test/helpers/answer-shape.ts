import { assertMatchesSpec } from './openapi.js';
import { header, type RawResponse } from './fuzz-http.js';

/**
 * What a client may rely on in any answer, whatever it sent: never a 5xx; on OCS paths (and
 * unknown ones) the OCS envelope in JSON or XML, with meta consistent with the HTTP status; on
 * WebDAV paths (everything under /remote.php) Sabre's `<d:error>` document; no body on HEAD and
 * 204. The few answers upstream makes outside the envelope are named one by one.
 * Returns the problems found (empty when the answer is fine).
 */

export type Envelope = { format: 'json' | 'xml'; statuscode: number };

/** What was seen, so a run can show that both formats were answered. */
export interface AnswerStats {
  json: number;
  xml: number;
  dav: number;
}

export function newStats(): AnswerStats {
  return { json: 0, xml: 0, dav: 0 };
}

// Upstream answers these outside the envelope: the raw OpenAPI document of our extensions, and
// file downloads (raw bytes, always as attachments).
const RAW_DOCUMENT = /^\/ocs\/v[12]\.php\/apps\/taskproc\/api\/v1\/openapi\/?$/;
// The health probes (api/routes/health-routes.ts): plain JSON, as Nextcloud's status.php and as probes expect.
const HEALTH = /^\/(?:status\.php|healthz|readyz)$/;
const DOWNLOAD = /^\/ocs\/v[12]\.php\/taskprocessing\/(?:tasks?\/[^/]+\/file\/[^/]+|tasks_provider\/[^/]+\/file\/[^/]+)\/?$/;

export function answerProblems(method: string, target: string, r: RawResponse, stats: AnswerStats = newStats()): string[] {
  const path = target.split('?')[0] ?? '';
  const problems: string[] = [];
  if (r.status >= 500) problems.push(`HTTP ${r.status}`);
  if (r.status < 200 || r.status > 599) problems.push(`HTTP ${r.status} is not a final status`);
  if (method === 'HEAD' || r.status === 204) return problems;
  const text = r.body.toString('utf8');
  // WebDAV's own paths answer as Sabre does; the rest of /remote.php is neither DAV nor OCS, and
  // may answer either way (the DAV plugin owns the prefix, the router's URL check does not).
  const dav = /^\/remote\.php\/(?:dav|webdav)(?:\/|$)/.test(path);
  if (dav || (path.startsWith('/remote.php') && !text.startsWith('{"ocs":') && !text.startsWith('<?xml version="1.0"?>\n<ocs>'))) {
    stats.dav++;
    return [...problems, ...davProblems(method, r)];
  }
  const type = header(r, 'content-type') ?? '';
  // ExApp required and the CSRF check: upstream's bare JSONResponse, whatever the format asked.
  if (r.status === 412 && type.startsWith('application/json') && isBareMessage(text)) return problems;
  if (r.status === 200 && method === 'GET' && RAW_DOCUMENT.test(path) && text.startsWith('{"openapi":')) {
    return parses(text) ? problems : [...problems, 'the OpenAPI document is not JSON'];
  }
  if ((r.status === 200 || (r.status === 503 && path === '/readyz')) && method === 'GET' && HEALTH.test(path) && type.startsWith('application/json')) {
    return parses(text) ? problems : [...problems, `${path} is not JSON`];
  }
  if (r.status === 200 && method === 'GET' && DOWNLOAD.test(path) && /^attachment;/.test(header(r, 'content-disposition') ?? '')) {
    return problems;
  }
  const version = /^\/ocs\/v1\.php(?:\/|$)/.test(path) ? 1 : 2;
  let envelope: Envelope | string;
  if (type === 'application/json; charset=utf-8') {
    envelope = jsonEnvelope(text, r.status, method, path, version);
    if (typeof envelope !== 'string') stats.json++;
  } else if (type === 'application/xml; charset=utf-8') {
    envelope = xmlEnvelope(text, version);
    if (typeof envelope !== 'string') stats.xml++;
  } else {
    envelope = `content-type ${JSON.stringify(type)} is not the envelope's; body ${JSON.stringify(text.slice(0, 200))}`;
  }
  if (typeof envelope === 'string') return [...problems, envelope];
  const expected = httpStatusOf(version, envelope.statuscode);
  if (!expected.includes(r.status)) {
    problems.push(`v${version} meta.statuscode ${envelope.statuscode} with HTTP ${r.status} (expected ${expected.join(' or ')})`);
  }
  return problems;
}

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function isBareMessage(text: string): boolean {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && Object.keys(v).join() === 'message' && typeof (v as { message: unknown }).message === 'string';
  } catch {
    return false;
  }
}

/**
 * The HTTP statuses V1Response / V2Response (api/ocs.ts) pair with a meta.statuscode. v1 answers
 * HTTP 200 (401 for 997) except where upstream gives a real status on both versions (405, 413,
 * 415, 429; and the protocol-level 400, 408, 431), where HTTP and statuscode are the same.
 */
function httpStatusOf(version: 1 | 2, statuscode: number): number[] {
  if (statuscode === 997) return [401];
  if (version === 1) return statuscode === 100 ? [200] : [200, statuscode];
  if (statuscode === 998) return [404];
  if (statuscode === 996 || statuscode === 999) return [500];
  if (statuscode < 200 || statuscode > 600) return [400];
  return [statuscode];
}

/** meta.status: v1 is "ok" only for 100, v2 for every 2xx. */
const isOk = (version: 1 | 2, statuscode: number): boolean => (version === 1 ? statuscode === 100 : statuscode >= 200 && statuscode < 300);

function jsonEnvelope(text: string, status: number, method: string, path: string, version: 1 | 2): Envelope | string {
  let body: any;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return `the body is not JSON (${(err as Error).message}): ${JSON.stringify(text.slice(0, 200))}`;
  }
  const meta = body?.ocs?.meta;
  if (typeof meta !== 'object' || meta === null || !Object.hasOwn(body.ocs, 'data') || Object.keys(body).length !== 1) {
    return `not an OCS envelope: ${text.slice(0, 200)}`;
  }
  if (typeof meta.statuscode !== 'number' || typeof meta.message !== 'string' || !['ok', 'failure'].includes(meta.status)) {
    return `malformed meta: ${JSON.stringify(meta)}`;
  }
  const ok = isOk(version, meta.statuscode);
  if (ok !== (meta.status === 'ok')) return `meta.status ${meta.status} with statuscode ${meta.statuscode}`;
  // A success on an upstream route must be what upstream's OpenAPI document promises.
  if (status === 200 && ok && path.includes('/taskprocessing/')) {
    try {
      assertMatchesSpec(method, path, 200, asSpecified(body));
    } catch (err) {
      const message = (err as Error).message;
      if (!message.startsWith('No OpenAPI operation')) return `a 200 that does not match the OpenAPI spec: ${message.slice(0, 300)}`;
    }
  }
  return { format: 'json', statuscode: meta.statuscode };
}

/**
 * The answer as upstream's OpenAPI document describes it, where upstream itself departs from it:
 * PHP encodes an empty array as [], so `types: []` when no type is available (guests, no provider),
 * where the document says object; and a RUNNING task's output is the worker's last intermediate
 * chunk as sent, unvalidated (docs/UPSTREAM.md), where the document says slot values.
 */
function asSpecified(body: any): unknown {
  const copy = structuredClone(body);
  const data = copy.ocs.data;
  if (Array.isArray(data?.types) && data.types.length === 0) data.types = {};
  const walk = (v: unknown): void => {
    if (typeof v !== 'object' || v === null) return;
    const o = v as Record<string, unknown>;
    if (o.status === 'STATUS_RUNNING' && Object.hasOwn(o, 'output')) o.output = null;
    for (const child of Object.values(o)) walk(child);
  };
  walk(data);
  return copy;
}

const XML_PROLOG = '<?xml version="1.0"?>\n';
const TAG = /<(\/?)([A-Za-z_:\u00C0-\uFFFF][-\w.:\u00B7\u00C0-\uFFFF]*)((?:\s+[^\s=/>]+="[^"<]*")*)\s*(\/?)>/gy;
const TEXT = /[^<]*/y;

/** Well-formed XML with `<ocs><meta>…<statuscode>` first: a small tokenizer, enough for what XMLWriter writes. */
function xmlEnvelope(text: string, version: 1 | 2): Envelope | string {
  if (!text.startsWith(XML_PROLOG)) return `the XML prolog is missing: ${JSON.stringify(text.slice(0, 100))}`;
  const stack: string[] = [];
  const seen: string[] = [];
  let statuscode: number | undefined;
  let status: string | undefined;
  let pos = XML_PROLOG.length;
  let lastText = '';
  while (pos < text.length) {
    TEXT.lastIndex = pos;
    const t = TEXT.exec(text)?.[0] ?? '';
    if (/&(?!(?:lt|gt|amp|quot|apos|#\d+|#x[0-9A-Fa-f]+);)/.test(t)) return `a bare & in XML text: ${JSON.stringify(t.slice(0, 80))}`;
    if (stack.length === 0 && t.trim() !== '') return `text outside the root element: ${JSON.stringify(t.slice(0, 80))}`;
    pos += t.length;
    if (t.trim() !== '') lastText = t;
    if (pos >= text.length) break;
    TAG.lastIndex = pos;
    const m = TAG.exec(text);
    if (!m) return `malformed XML at ${pos}: ${JSON.stringify(text.slice(pos, pos + 80))}`;
    const [whole, closing, name = '', , selfClosing] = m;
    pos += whole.length;
    if (closing) {
      if (stack.pop() !== name) return `unbalanced XML: </${name}>`;
      const parent = stack.join('/');
      if (parent === 'ocs/meta' && name === 'statuscode') statuscode = Number(lastText);
      if (parent === 'ocs/meta' && name === 'status') status = lastText;
      lastText = '';
      continue;
    }
    if (stack.length === 0 && seen.length > 0) return 'more than one root element';
    const where = [...stack, name].join('/');
    seen.push(where);
    if (!selfClosing) stack.push(name);
    lastText = '';
  }
  if (stack.length > 0) return `unclosed XML elements: ${stack.join('/')}`;
  if (seen[0] !== 'ocs' || seen[1] !== 'ocs/meta') return `not an OCS document: ${seen.slice(0, 3).join(', ')}`;
  if (!seen.includes('ocs/data')) return 'no <data> in the OCS document';
  if (statuscode === undefined || !Number.isInteger(statuscode)) return 'no <statuscode> in <meta>';
  const ok = isOk(version, statuscode);
  if ((status === 'ok') !== ok) return `<status>${status}</status> with statuscode ${statuscode}`;
  return { format: 'xml', statuscode };
}

/** WebDAV: Sabre's error document on failures; multistatus on 207; empty or raw bytes on other successes. */
function davProblems(method: string, r: RawResponse): string[] {
  const text = r.body.toString('utf8');
  if (r.status >= 400) {
    const ok =
      text.startsWith('<?xml version="1.0" encoding="utf-8"?>\n<d:error xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns">') &&
      /<s:exception>[^<]*<\/s:exception>\n {2}<s:message>[^<]*<\/s:message>\n<\/d:error>\n$/.test(text);
    return ok ? [] : [`a WebDAV ${r.status} without Sabre's error body: ${JSON.stringify(text.slice(0, 200))}`];
  }
  if (r.status === 207) return /<d:multistatus[\s>]/.test(text) ? [] : [`a 207 without a multistatus body: ${text.slice(0, 200)}`];
  if (method === 'GET' && r.status === 200) {
    return /^attachment;/.test(header(r, 'content-disposition') ?? '') ? [] : ['a WebDAV GET answered 200 without the attachment header'];
  }
  return text === '' ? [] : [`a WebDAV ${method} ${r.status} with a body: ${JSON.stringify(text.slice(0, 200))}`];
}
