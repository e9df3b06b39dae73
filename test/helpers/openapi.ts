import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Ajv, { type ValidateFunction } from 'ajv';

/**
 * Validates a 200 body against ../shared/spec/openapi-taskprocessing.json, the contract rebuilt
 * from upstream. Paths of the documentation page and v1 are mapped to the v2 path they alias.
 */
// A copy of ../shared/spec/openapi-taskprocessing.json, kept in the repository so the tests need nothing beside it.
const specPath = fileURLToPath(new URL('../fixtures/openapi-taskprocessing.json', import.meta.url));
const doc = JSON.parse(readFileSync(specPath, 'utf8')) as { paths: Record<string, Record<string, unknown>> };
const ajv = new Ajv.default({ strict: false, allErrors: true, formats: { int64: true, float: true, double: true } });
ajv.addSchema(openApiNullable(doc), 'openapi');
const cache = new Map<string, ValidateFunction>();

const ALIASES: [RegExp, string, string?][] = [
  [/^\/task\/[^/]+\/cancel$/, '/tasks/{taskId}/cancel', 'post'],
  [/^\/task\/[^/]+\/file\/[^/]+$/, '/tasks/{taskId}/file/{fileId}', 'get'],
  [/^\/task\/[^/]+\/progress$/, '/tasks_provider/{taskId}/progress', 'post'],
  [/^\/task\/[^/]+\/result$/, '/tasks_provider/{taskId}/result', 'post'],
  [/^\/task\/[^/]+$/, '/task/{id}', undefined],
];

function templateFor(method: string, path: string): { template: string; method: string } {
  const rest = path.replace(/^\/ocs\/v[12]\.php\/taskprocessing/, '').split('?')[0] as string;
  for (const [re, template, m] of ALIASES) {
    if (re.test(rest)) {
      const verb = m ?? (method === 'post' ? 'get' : method);
      if (doc.paths[`/ocs/v2.php/taskprocessing${template}`]?.[verb]) return { template, method: verb };
    }
  }
  for (const key of Object.keys(doc.paths)) {
    const t = key.replace('/ocs/v2.php/taskprocessing', '');
    const re = new RegExp(`^${t.replace(/\{[^}]+\}/g, '[^/]+')}$`);
    if (re.test(rest) && doc.paths[key]?.[method]) return { template: t, method };
  }
  throw new Error(`No OpenAPI operation for ${method.toUpperCase()} ${path}`);
}

/** OpenAPI 3.0's `nullable` next to a `$ref` (no `type`) is not JSON Schema: rewrite it as anyOf with null. */
function openApiNullable(node: unknown): any {
  if (Array.isArray(node)) return node.map(openApiNullable);
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) out[k] = openApiNullable(v);
  if (out.nullable === true && out.type === undefined) {
    delete out.nullable;
    return { anyOf: [out, { type: 'null' }] };
  }
  return out;
}

/** Throws with ajv's errors when `body` does not match the spec's response schema. */
export function assertMatchesSpec(method: string, path: string, status: number, body: unknown): void {
  const { template, method: verb } = templateFor(method.toLowerCase(), path);
  const key = `${verb} ${template} ${status}`;
  let validate = cache.get(key);
  if (!validate) {
    const pointer = ['paths', `/ocs/v2.php/taskprocessing${template}`, verb, 'responses', String(status), 'content', 'application/json', 'schema']
      .map((s) => s.replace(/~/g, '~0').replace(/\//g, '~1'))
      .join('/');
    validate = ajv.compile({ $ref: `openapi#/${pointer}` });
    cache.set(key, validate);
  }
  if (!validate(body)) {
    throw new Error(`${method} ${path} → ${status} does not match the OpenAPI spec: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body)}`);
  }
}
