import { createHash } from 'node:crypto';
import type { RawRequest } from './fuzz-http.js';
import { providerPayload } from './http-worker.js';
import {
  fillPath,
  flatFields,
  type FuzzCase,
  type FuzzWorld,
  multipart,
  nested,
  nestedJson,
  OCS_API,
  OCS_ROUTES,
  pct,
  phpForm,
  realIds,
  rightAuth,
  ROUTE_PARAMS,
  routeKey,
  validParams,
} from './fuzz-routes.js';

const PROPFIND_OPEN = '<d:propfind xmlns:d="DAV:">';
const SLOW_CLAIM = { providerIds: ['fuzz-slow', 'fuzz-slower'], taskTypeIds: ['fuzz:slow', 'fuzz:slower'] };
/** Entities that expand (a billion laughs, small): a parser that expands them grows without bound. */
const ENTITIES = '<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>';

/**
 * The fixed corpus: requests that broke this server or servers like it, each named for what it
 * tries. Every one must get a 2xx/4xx answer in the envelope (or Sabre's on WebDAV), on a
 * connection that stays usable, except the few cut short on purpose.
 */
export function nastyCases(w: FuzzWorld): FuzzCase[] {
  const V2 = '/ocs/v2.php/taskprocessing';
  const V1 = '/ocs/v1.php/taskprocessing';
  const alice: [string, string][] = [OCS_API, ['Authorization', w.alice]];
  const asJson = (body: string | Buffer, type = 'application/json'): Pick<RawRequest, 'headers' | 'body'> => ({
    headers: [...alice, ['Content-Type', type]],
    body,
  });
  const schedule = (body: string | Buffer, type?: string, version = 2): RawRequest => ({
    method: 'POST',
    target: `/ocs/v${version}.php/taskprocessing/schedule?format=json`,
    ...asJson(body, type),
  });
  const form = (target: string, body: string, headers = alice): RawRequest => ({
    method: 'POST',
    target,
    headers: [...headers, ['Content-Type', 'application/x-www-form-urlencoded']],
    body,
  });
  const get = (target: string, headers: [string, string | Buffer][] = alice): RawRequest => ({ method: 'GET', target, headers });
  const withAuth = (value: string | Buffer, target = `${V2}/tasks?format=json`): RawRequest => get(target, [OCS_API, ['Authorization', value]]);
  const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
  const claimed = w.ids.claimed[1] ?? w.ids.scheduled;
  const worker = (user?: string): [string, string][] => [OCS_API, ...w.exApp(user)];
  const task = { type: w.taskType, appId: 'fuzz', input: { input: 'x', number: 1, choice: 'a', texts: [] } };
  const dav = (method: string, target: string, extra: [string, string][] = [], body?: string): RawRequest => ({
    method,
    target,
    headers: [['Authorization', w.alice], ...extra],
    ...(body !== undefined && { body }),
  });
  const boundary = 'xYzZy';
  const appApi = (version: string, credentials: string): [string, string][] => [
    ['EX-APP-ID', w.exAppId],
    ['EX-APP-VERSION', version],
    ['AUTHORIZATION-APP-API', credentials],
  ];
  const range = <T>(n: number, item: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => item(i));
  const base36 = (i: number) => i.toString(36);
  const json = (method: string, target: string, headers: [string, string | Buffer][], body: string): RawRequest => ({
    method,
    target,
    headers: [...headers, ['Content-Type', 'application/json']],
    body,
  });
  /** A worker's JSON POST about the claimed task (`progress`, `result`, `stream-result`). */
  const toWorker = (what: string, body: string, format = 'json') => json('POST', `${V2}/tasks_provider/${claimed}/${what}?format=${format}`, worker(), body);
  /** A valid schedule with more headers. */
  const scheduleWith = (...extra: [string, string][]): RawRequest => ({
    ...schedule(JSON.stringify(task)),
    headers: [...alice, ['Content-Type', 'application/json'], ...extra],
  });
  // Text that does not compress, as PostgreSQL would compress a repeated character inside an index.
  const noise = (n: number, seed = 0) =>
    Array.from({ length: Math.ceil(n / 64) }, (_, i) => createHash('sha256').update(`${seed}:${i}`).digest('hex'))
      .join('')
      .slice(0, n);
  const customType = (id: string) => ({
    id,
    name: 'Fuzz custom type',
    description: 'Registered by the fuzz corpus',
    input_shape: [{ name: 'input', description: 'Text', shape_type: 1 }],
    output_shape: [{ name: 'output', description: 'Text', shape_type: 1 }],
  });
  const register = (provider: Record<string, unknown>, customTaskType: unknown = null): RawRequest => ({
    method: 'POST',
    target: '/ocs/v2.php/apps/app_api/api/v1/ai_provider/task_processing?format=json',
    headers: [...worker(), ['Content-Type', 'application/json']],
    body: JSON.stringify({
      provider: providerPayload({ id: String(provider.id), task_type: String(provider.task_type), ...provider }),
      customTaskType,
    }),
  });
  const cases: [string, RawRequest, number?][] = [
    // Malformed JSON and forms
    ['JSON cut short', schedule('{"type":')],
    ['JSON with a trailing comma', schedule('[1,]')],
    ['JSON null', schedule('null')],
    ['JSON string', schedule('"schedule"')],
    ['JSON number', schedule('1e999')],
    ['JSON with a byte-order mark', schedule(`\ufeff${JSON.stringify(task)}`)],
    ['JSON in UTF-16', schedule(Buffer.from(JSON.stringify(task), 'utf16le'), 'application/json; charset=utf-16')],
    [
      'JSON with invalid UTF-8 bytes',
      schedule(Buffer.concat([Buffer.from('{"type":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('","appId":"a","input":{}}')])),
    ],
    ['JSON with an escaped NUL in every string', schedule(JSON.stringify({ ...task, appId: 'a\u0000', customId: '\u0000', input: { input: '\u0000' } }))],
    ['JSON with escaped lone surrogates', schedule('{"type":"\\ud800","appId":"\\udfff","customId":"\\ud800\\ud800","input":{"input":"\\udc00"}}')],
    ['JSON with a duplicate key', schedule('{"type":"a","type":{"x":1},"appId":"fuzz","input":{}}')],
    ['JSON nested 100 000 arrays deep', schedule(nestedJson(100_000))],
    ['JSON input nested 100 000 lists deep', schedule(`{"type":"${w.taskType}","appId":"fuzz","input":${nestedJson(100_000)}}`)],
    ['JSON input nested 40 000 objects deep', schedule(`{"type":"${w.taskType}","appId":"fuzz","input":{"input":${nestedJson(40_000, 'object')}}}`)],
    ['JSON input nested 600 deep', schedule(`{"type":"${w.taskType}","appId":"fuzz","input":{"input":${nestedJson(600)}}}`)],
    [
      'JSON with __proto__ and constructor keys',
      schedule('{"__proto__":{"type":"x"},"constructor":{"prototype":{}},"type":"t","appId":"a","input":{"__proto__":{"input":"x"}}}'),
    ],
    ['JSON as text/plain', schedule(JSON.stringify(task), 'text/plain')],
    ['JSON under an upper-case media type', schedule(JSON.stringify(task), 'APPLICATION/JSON; Charset=UTF-8')],
    ['JSON labelled as a form', schedule(JSON.stringify(task), 'application/x-www-form-urlencoded')],
    ['a form labelled as JSON', schedule('type=a&appId=b&input[input]=c')],
    ['a malformed form', form(`${V2}/schedule?format=json`, 'input[=x&type=%zz&&&=&[]=1&appId[&%=%%&input]]=2')],
    ['form names 10 000 brackets deep', form(`${V2}/schedule?format=json`, `type=t&appId=a&input${'[b]'.repeat(10_000)}=x`)],
    ['a form with 5000 variables', form(`${V2}/schedule?format=json`, Array.from({ length: 5000 }, (_, i) => `v${i}=${i}`).join('&'))],
    ['a form with NUL bytes in names and values', form(`${V2}/schedule?format=json`, 'type%00x=a&appId=b%00c&input[in%00put]=x')],
    ['a form with a bare name and an empty name', form(`${V2}/schedule?format=json`, 'type&=x&appId=&input')],
    [
      'multipart without a boundary',
      { method: 'POST', target: `${V2}/schedule?format=json`, headers: [...alice, ['Content-Type', 'multipart/form-data']], body: '--x\r\n' },
    ],
    [
      'multipart fields as parameters',
      {
        method: 'POST',
        target: `${V2}/schedule?format=xml`,
        headers: [...alice, ['Content-Type', `multipart/form-data; boundary=${boundary}`]],
        body: multipart(boundary, [
          ['type', w.taskType],
          ['appId', 'fuzz'],
          ['input[input]', 'x'],
          ['input[number]', '1'],
          ['input[choice]', 'a'],
        ]),
      },
    ],
    [
      'multipart fields with an empty name and no name',
      {
        method: 'POST',
        target: `${V2}/schedule?format=json`,
        headers: [...alice, ['Content-Type', `multipart/form-data; boundary=${boundary}`]],
        body:
          `--${boundary}\r\nContent-Disposition: form-data; name=""\r\n\r\nx\r\n` +
          `--${boundary}\r\nContent-Disposition: form-data\r\n\r\ny\r\n--${boundary}--\r\n`,
      },
    ],
    [
      'multipart without its closing boundary, whole by its length',
      {
        method: 'POST',
        target: `${V2}/schedule?format=json`,
        headers: [...alice, ['Content-Type', `multipart/form-data; boundary=${boundary}`]],
        body: `--${boundary}\r\nContent-Disposition: form-data; name="type"\r\n\r\nx`,
      },
    ],
    [
      'a worker upload without its closing boundary',
      {
        method: 'POST',
        target: `${V2}/tasks_provider/${claimed}/file?format=json`,
        headers: [...worker(), ['Content-Type', `multipart/form-data; boundary=${boundary}`]],
        body: `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nhalf a file`,
      },
    ],
    // Wrong types and odd values in the query
    ['a list where a string is expected', get(`${V2}/tasks?format=json&customId[]=x&taskType[a][b]=c`)],
    ['format as a list', get(`${V2}/tasks?format[]=json`)],
    ['format with NUL', get(`${V2}/tasks?format=json%00`)],
    ['format in upper case', get(`${V1}/tasks?format=XML`)],
    ['a query string of 1500 variables', get(`${V2}/tasks?format=json&${Array.from({ length: 1500 }, (_, i) => `a[]=${i}`).join('&')}`)],
    ['malformed percent escapes in the query', get(`${V2}/tasks?format=json&customId=%&taskType=%g0%`)],
    ['an undecodable escape in the query', get(`${V2}/tasks?format=json&customId=%ff%fe`)],
    ['wait past the limit', get(`${V2}/tasks_provider/next?format=json&providerIds[]=${w.provider}&taskTypeIds[]=${w.taskType}&wait=1e999`, worker())],
    [
      'queue_stats for 35 000 task types',
      // In base 36 the list fits the body limit: the types must reach the handler.
      json('GET', `${V2}/queue_stats?format=json`, [OCS_API, ['Authorization', w.admin]], JSON.stringify({ taskTypeIds: range(35_000, base36) })),
    ],
    [
      'a claim for 30 000 providers and task types',
      {
        method: 'GET',
        target: `${V2}/tasks_provider/next_batch?format=json`,
        headers: [...worker(), ['Content-Type', 'application/json']],
        body: JSON.stringify({ providerIds: range(15_000, (i) => `p${i}`), taskTypeIds: range(15_000, (i) => `t${i}`), numberOfTasks: 1000 }),
      },
    ],
    ...['1e999', 1.5, -1, '0x10', ' 7 ', 2 ** 53 + 2, '-0'].map((id): [string, RawRequest] => [
      `an input file id of ${JSON.stringify(id)}`,
      schedule(JSON.stringify({ ...task, input: { ...task.input, file: id, files: [id, w.fileId] } })),
    ]),
    ['an input of 35 000 file ids', schedule(JSON.stringify({ ...task, input: { ...task.input, files: range(35_000, (i) => i + 1) } }))],
    [
      'an output of 35 000 file ids',
      {
        method: 'POST',
        target: `${V2}/tasks_provider/${w.ids.claimed[2] ?? claimed}/result?format=json`,
        headers: [...worker(), ['Content-Type', 'application/json']],
        body: JSON.stringify({ output: { output: 'x', files: range(35_000, (i) => i + 1) } }),
      },
    ],
    ['numberOfTasks as a fraction', get(`${V2}/tasks_provider/next_batch?format=json&providerIds[]=a&taskTypeIds[]=b&numberOfTasks=1.5`, worker())],
    ['progress as NaN', form(`${V2}/tasks_provider/${claimed}/progress?format=json`, 'progress=NAN', worker())],
    ['progress as an escaped-NUL JSON string', toWorker('progress', '{"progress":"0.5\\u0000"}')],
    ['a partial output nested 510 deep', toWorker('stream-result', `{"output":{"output":${nestedJson(509)}}}`)],
    ['a partial output exactly 64 deep', toWorker('stream-result', `{"output":{"output":${nestedJson(63)}}}`)],
    ['the partial output 64 deep, read back', get(`/ocs/v2.php/apps/taskproc/api/v1/tasks/${claimed}/partial?format=json`)],
    ['the partial output nested 510 deep, read back', get(`/ocs/v2.php/apps/taskproc/api/v1/tasks/${claimed}/partial?format=json`)],
    ['the same in XML', get(`/ocs/v1.php/apps/taskproc/api/v1/tasks/${claimed}/partial?format=xml`)],
    ['a partial output nested 100 000 deep', toWorker('stream-result', `{"output":${nestedJson(100_000)}}`)],
    ['the partial output nested 100 000 deep, read back', get(`/ocs/v2.php/apps/taskproc/api/v1/tasks/${claimed}/partial?format=json`)],
    ['a partial output as a form nested 64 deep', form(`${V2}/tasks_provider/${claimed}/stream-result?format=xml`, `output${'[a]'.repeat(63)}=x`, worker())],
    ['the partial output as a form, read back', get(`/ocs/v2.php/apps/taskproc/api/v1/tasks/${claimed}/partial?format=xml`)],
    ['a partial output with keys that are not XML names', toWorker('stream-result', '{"output":{"my key":"x","0abc":"y","":"z"}}', 'xml')],
    ['a result with an error message of NULs and lone surrogates', toWorker('result', '{"errorMessage":"\\u0000\\ud800","userFacingErrorMessage":"\\udfff"}')],
    // Odd ids
    ...['-1', '0', '1e999', '0x10', '99999999999999999999', '9223372036854775808', '%00', '1.5', '%20', ' 1', '1%00', '%F0%9F%92%A9', 'NaN'].map(
      (id): [string, RawRequest] => [`task id ${id}`, get(`${V2}/task/${id}?format=json`)],
    ),
    ['a file id past 2^53', get(`${V2}/tasks/${w.ids.withFile}/file/9007199254740993?format=json`)],
    ['a worker file id of -0', get(`${V2}/tasks_provider/${w.ids.withFile}/file/-0?format=json`, worker())],
    ['a partial output of task 1e3', get(`/ocs/v2.php/apps/taskproc/api/v1/tasks/1e3/partial?format=json`)],
    // Encoded path tricks
    ['%2e%2e in an OCS path', get(`${V2}/task/%2e%2e/%2e%2e/cloud/capabilities?format=json`)],
    ['an encoded slash in an OCS path', get(`/ocs/v2.php/taskprocessing%2ftasks?format=json`)],
    ['a double-encoded id', get(`${V2}/task/%2531?format=json`)],
    ['dot segments', get(`/ocs/v2.php/taskprocessing/../../ocs/v1.php/cloud/capabilities?format=json`)],
    ['doubled slashes', get(`//ocs/v2.php//taskprocessing//tasks?format=json`)],
    ['an undecodable path', get(`${V2}/task/%zz?format=json`)],
    ['an absolute-form target', get(`http://127.0.0.1:${w.port}/ocs/v2.php/cloud/capabilities?format=json`)],
    ['a fragment in the target', get(`/ocs/v2.php/cloud/capabilities?format=json#frag`)],
    ['raw UTF-8 in the target', get(Buffer.from(`${V2}/tasks/app/ä💩?format=json`).toString('latin1'))],
    ['an OCS version that does not exist', get(`/ocs/v3.php/cloud/capabilities?format=json`)],
    ['the bare OCS entry point', get(`/ocs/v2.php`)],
    ["the status page (plain JSON, as Nextcloud's)", get(`/status.php`)],
    ['the root', get(`/`)],
    ['a method the route does not have', { method: 'PUT', target: `${V2}/tasks?format=xml`, headers: alice }],
    ['PATCH on a task', { method: 'PATCH', target: `${V2}/task/1?format=json`, headers: alice }],
    ['OPTIONS on an OCS route', { method: 'OPTIONS', target: `${V2}/schedule`, headers: alice }],
    ['HEAD on a GET route', { method: 'HEAD', target: `${V2}/tasks?format=json`, headers: alice }],
    ['HEAD on the capabilities', { method: 'HEAD', target: `/ocs/v1.php/cloud/capabilities`, headers: [] }],
    ['HEAD on an unknown path', { method: 'HEAD', target: `/nothing-here`, headers: [] }],
    // Duplicate and malformed headers, bad Basic encodings
    [
      'two Authorization headers, the valid one first',
      get(`${V2}/tasks?format=json`, [OCS_API, ['Authorization', w.alice], ['Authorization', 'Basic Zm9vOmJhcg==']]),
    ],
    [
      'two Authorization headers, the valid one last',
      get(`${V2}/tasks?format=json`, [OCS_API, ['Authorization', 'Basic Zm9vOmJhcg=='], ['Authorization', w.alice]]),
    ],
    ['Authorization: Basic !!!', withAuth('Basic !!!')],
    ['Basic of a value without a colon', withAuth(`Basic ${b64('alice')}`)],
    ['Basic of a lone colon', withAuth(`Basic ${b64(':')}`)],
    ['Basic with an empty password', withAuth(`Basic ${b64('alice:')}`)],
    ['Basic of invalid UTF-8', withAuth(`Basic ${b64(Buffer.from([0xff, 0x3a, 0xfe]))}`)],
    ['Basic with NUL in the login', withAuth(`Basic ${b64('ali\u0000ce:x')}`)],
    ['Basic with a lone surrogate in the login', withAuth(`Basic ${b64('\ud800:x')}`)],
    ['the scheme alone', withAuth('Basic')],
    ['Bearer of nothing', withAuth('Bearer ')],
    ['an unknown scheme', withAuth('Negotiate YII=')],
    ['the wrong password', withAuth(`Basic ${b64('alice:wrong-password')}`)],
    ['the login password', withAuth(w.alicePassword)],
    ['a Bearer app password', withAuth(w.aliceBearer)],
    ['an Authorization header of 12 KB', withAuth(`Basic ${'A'.repeat(12_000)}`)],
    ['raw UTF-8 in the Authorization header', withAuth(Buffer.from('Basic ÿ€💩'))],
    ['a NUL byte in the Authorization header', withAuth(Buffer.from('Basic a\u0000b'))],
    ['a header line without a colon', get(`${V2}/tasks?format=json`, [...alice, ['X-Broken', 'x\r\nno-colon-here']])],
    ['a header of 20 KB', get(`${V2}/tasks?format=json`, [...alice, ['X-Big', 'x'.repeat(20_000)]])],
    ['an X-Request-Id of 8 KB with odd characters', get(`${V2}/tasks?format=json`, [...alice, ['X-Request-Id', Buffer.from(`💩${'r'.repeat(8000)}\u00ff`)]])],
    ['a gzip Content-Encoding on a JSON body that is not gzip', scheduleWith(['Content-Encoding', 'gzip'])],
    ['an Expect header the server does not know', scheduleWith(['Expect', '200-ok'])],
    ['a Transfer-Encoding of gzip, chunked', { ...scheduleWith(['Transfer-Encoding', 'gzip, chunked']), framing: 'chunked' }],
    ['an Accept header of odd types', get(`${V2}/tasks`, [...alice, ['Accept', 'application/json;q=0, */*;q=0.1, text/html, ,;,']])],
    ['a Content-Length that is not a number', { ...scheduleWith(['Content-Length', 'abc']), body: '{}', framing: 'none' }],
    ['two different Content-Length headers', { ...scheduleWith(['Content-Length', '2'], ['Content-Length', '3']), body: '{}', framing: 'none' }],
    [
      'a GET with a chunked JSON body',
      {
        ...json('GET', `${V2}/tasks_provider/next?format=json`, worker(), JSON.stringify({ providerIds: [w.provider], taskTypeIds: [w.taskType] })),
        framing: 'chunked',
      },
    ],
    ['a POST with a chunked JSON body', { ...schedule(JSON.stringify(task)), framing: 'chunked' }],
    ['a JSON body over the body limit', schedule(JSON.stringify({ ...task, customId: 'x'.repeat(300 * 1024) }))],
    ['Expect: 100-continue', scheduleWith(['Expect', '100-continue'])],
    ['a body shorter than its Content-Length', { ...scheduleWith(['Content-Length', '100']), body: '{"type":"x"}', framing: 'none' }, 80],
    [
      'a multipart upload cut off mid-part',
      {
        method: 'POST',
        target: `${V2}/tasks_provider/${claimed}/file?format=json`,
        headers: [...worker(), ['Content-Type', `multipart/form-data; boundary=${boundary}`], ['Content-Length', '5000']],
        body: `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n${'x'.repeat(100)}`,
        framing: 'none',
      },
      400,
    ],
    // ExApp headers
    ['EX-APP-ID alone', get(`${V2}/tasks_provider/next?format=json`, [OCS_API, ['EX-APP-ID', w.exAppId]])],
    ['AppAPI credentials that are not base64', get(`${V2}/tasks_consumer/tasktypes?format=json`, [OCS_API, ...appApi('1.0.0', '!!!')])],
    ['AppAPI credentials for a user that does not exist', get(`${V2}/tasks_consumer/tasktypes?format=json`, [OCS_API, ...w.exApp('nobody')])],
    ['AppAPI credentials on a user route', get(`${V2}/tasks?format=json`, [OCS_API, ...w.exApp('alice')])],
    ['AppAPI credentials without a user on an admin route', get(`${V2}/queue_stats?format=json`, [OCS_API, ...w.exApp()])],
    ['an odd EX-APP-VERSION', get(`${V2}/tasks_consumer/tasktypes?format=json`, [OCS_API, ...appApi('1.0.0-💩.+..--', b64(`:${w.exAppSecret}`))])],
    ['two EX-APP-ID headers', get(`${V2}/tasks_consumer/tasktypes?format=json`, [OCS_API, ['EX-APP-ID', 'nope'], ...w.exApp()])],
    [
      'a registration of odd shapes',
      json(
        'POST',
        '/ocs/v1.php/apps/app_api/api/v1/ai_provider/task_processing?format=json',
        worker(),
        JSON.stringify({ provider: { id: 5, name: [], task_type: {}, expected_runtime: 'x', optional_input_shape: [null] }, customTaskType: 'x' }),
      ),
    ],
    ['a registration with a provider id of 3000 characters', register({ id: noise(3000), task_type: 'core:text2text:headline' })],
    [
      'a registration with a custom type id of 3000 characters',
      register({ id: 'fuzz-long-type', task_type: `t${noise(3000)}` }, customType(`t${noise(3000)}`)),
    ],
    [
      'a registration with a display name of 100 000 characters',
      register({ id: 'fuzz-long-name', name: 'n'.repeat(100_000), task_type: 'core:text2text:headline' }),
    ],
    [
      'a registration with an expected runtime of 1e308',
      register({ id: 'fuzz-slow', task_type: 'fuzz:slow', expected_runtime: 1e308 }, customType('fuzz:slow')),
    ],
    [
      'a registration with an expected runtime of 2^62',
      register({ id: 'fuzz-slower', task_type: 'fuzz:slower', expected_runtime: 2 ** 62 }, customType('fuzz:slower')),
    ],
    ['a schedule for the type that takes 1e308 seconds', schedule(JSON.stringify({ type: 'fuzz:slow', appId: 'fuzz', input: { input: 'x' } }))],
    ['a schedule for the type that takes 2^62 seconds', schedule(JSON.stringify({ type: 'fuzz:slower', appId: 'fuzz', input: { input: 'x' } }))],
    ['a claim of tasks that take 1e308 and 2^62 seconds', get(`${V2}/tasks_provider/next_batch?format=json&numberOfTasks=5&${phpForm(SLOW_CLAIM)}`, worker())],
    // Webhooks the runner will call when the task ends: none reachable, none may break the server.
    ...[
      ['HTTP:POST', 'http://[::1'],
      ['HTTP:GET', 'http://127.0.0.1:1/x'],
      ['AppAPI:fuzzapp:POST', '/hook'],
      ['AppAPI:nobody:PUT', '/hook'],
      ['AppAPI::POST', ''],
      ['HTTP:TRACE', 'javascript:alert(1)'],
    ].map(([method, uri]): [string, RawRequest] => [
      `a webhook ${method} to ${uri}`,
      schedule(JSON.stringify({ type: 'core:text2text', appId: 'fuzz', input: { input: 'hook' }, webhookMethod: method, webhookUri: uri })),
    ]),
    // Anonymous callers
    [
      'an anonymous cookie without OCS-APIRequest',
      {
        ...schedule(JSON.stringify(task)),
        headers: [
          ['Cookie', `taskproc_anon=${w.anonCookie}`],
          ['Content-Type', 'application/json'],
        ],
      },
    ],
    [
      'a malformed cookie header',
      get(`${V2}/task/1?format=json`, [OCS_API, ['Cookie', `;;=;taskproc_anon;taskproc_anon==${'z'.repeat(64)}; ${'\u00ff'.repeat(10)}`]]),
    ],
    // WebDAV
    ['DAV: %2e%2e above the root', dav('GET', `/remote.php/dav/files/alice/%2e%2e/%2e%2e/etc/passwd`)],
    ['DAV: an encoded slash and dot-dot', dav('PUT', `/remote.php/dav/files/alice/a%2f..%2f..%2fx`, [], 'x')],
    ['DAV: a double-encoded dot-dot', dav('PROPFIND', `/remote.php/dav/files/alice/%252e%252e`, [['Depth', '1']])],
    ['DAV: NUL in a name', dav('PUT', `/remote.php/dav/files/alice/a%00b`, [], 'x')],
    ['DAV: an undecodable name', dav('GET', `/remote.php/webdav/%zz`)],
    ['DAV: an undecodable name below /remote.php/dav', dav('PROPFIND', `/remote.php/dav/%zz`)],
    ['DAV: another user', dav('PROPFIND', `/remote.php/dav/files/${pct('böb')}/`)],
    [
      'DAV: malformed PROPFIND XML',
      dav(
        'PROPFIND',
        `/remote.php/webdav/`,
        [
          ['Content-Type', 'application/xml'],
          ['Depth', 'infinity'],
        ],
        `${PROPFIND_OPEN}<d:prop><x:y/></d:prop`,
      ),
    ],
    [
      'DAV: PROPFIND with entities',
      dav('PROPFIND', `/remote.php/webdav/`, [['Content-Type', 'application/xml']], `${ENTITIES}${PROPFIND_OPEN}<d:prop>&b;</d:prop></d:propfind>`),
    ],
    ['DAV: an odd Depth', dav('PROPFIND', `/remote.php/webdav/`, [['Depth', '-1 💩']])],
    ['DAV: MKCOL with a body', dav('MKCOL', `/remote.php/webdav/newdir`, [['Content-Type', 'application/xml']], '<x/>')],
    ['DAV: a method it does not know', dav('LOCK', `/remote.php/webdav/`)],
    ['DAV: HEAD on a missing file', dav('HEAD', `/remote.php/webdav/missing`)],
    ['DAV: a PUT over the upload limit', dav('PUT', `/remote.php/webdav/big.bin`, [['Content-Type', 'application/octet-stream']], 'x'.repeat(1100 * 1024))],
    ['DAV: a chunked PUT', { ...dav('PUT', `/remote.php/webdav/chunked.txt`, [], 'chunk'.repeat(100)), framing: 'chunked' }],
    // Twelve folders of 250 bytes each, then a file in the deepest: a path of 3000 bytes that does not compress.
    ...Array.from({ length: 12 }, (_, i): [string, RawRequest] => [
      `DAV: folder ${i + 1} of a path 3000 bytes long`,
      dav('MKCOL', `/remote.php/webdav/${Array.from({ length: i + 1 }, (_v, j) => noise(250, j)).join('/')}`),
    ]),
    ['DAV: a file at the end of a path 3000 bytes long', dav('PUT', `/remote.php/webdav/${range(12, (j) => noise(250, j)).join('/')}/f`, [], 'x')],
    ['DAV: a path outside the DAV routes', dav('GET', `/remote.php/nothing`)],
    ['DAV: Basic !!!', { method: 'PROPFIND', target: '/remote.php/webdav/', headers: [['Authorization', 'Basic !!!']] }],
  ];
  const pipelined: FuzzCase[] = [
    { name: 'a malformed request pipelined after a valid one', request: get(`${V2}/tasks?format=json`), pipelined: 'GARBAGE\r\n\r\n' },
    { name: 'a malformed request pipelined after the capabilities', request: get('/ocs/v2.php/cloud/capabilities'), pipelined: 'GARBAGE\r\n\r\n' },
    { name: 'a malformed request pipelined after an unknown path', request: get('/nothing'), pipelined: 'GARBAGE\r\n\r\n' },
    // What a CR LF smuggled into a header value leaves on the connection: header lines where a request line belongs.
    { name: 'header lines pipelined as a request', request: get(`${V2}/tasks?format=json`), pipelined: 'EX-APP-VERSION: 1.0.0\r\nX: y\r\n\r\n' },
    {
      name: 'two valid requests pipelined',
      request: get(`${V2}/tasks?format=xml`),
      pipelined: 'GET /ocs/v1.php/cloud/capabilities HTTP/1.1\r\nHost: x\r\n\r\n',
    },
  ];
  return [...cases.map(([name, request, cutAfter]) => ({ name, request, ...(cutAfter !== undefined && { cutAfter }) })), ...pipelined];
}

/** Values of every type but the expected one, and the extremes of the expected ones. */
export const WRONG_VALUES: readonly [string, unknown][] = [
  ['a list', ['x', ['y']]],
  ['a map', { a: { b: 'c' } }],
  ['a huge number', 1e308],
  ['a negative number', -1],
  ['a fraction', 0.5],
  ['true', true],
  ['false', false],
  ['null', null],
  ['an empty string', ''],
  ['a string with NUL', 'a\u0000b'],
  ['a lone surrogate', '\ud800x\udfff'],
  ['odd Unicode', '\u202e\u200b\ufeff\uffff💩e\u0301'],
  ['a numeric string past float range', '1e999'],
  ['a hex string', '0x10'],
  ['a 20-digit string', '99999999999999999999'],
  ['a long string', 'x'.repeat(70_000)],
  ['a list nested 70 deep', nested(70)],
  ['a map nested 600 deep', nested(600, 'object')],
  ['a list of 5000 items', Array.from({ length: 5000 }, (_, i) => i)],
];

/** For each route, each parameter it reads, each wrong value: one request, encodings and formats rotating. */
export function wrongTypeCases(w: FuzzWorld): FuzzCase[] {
  const cases: FuzzCase[] = [];
  let n = 0;
  for (const route of OCS_ROUTES) {
    const names = ROUTE_PARAMS[routeKey(route)] ?? [];
    for (const name of [...names, 'format']) {
      for (const [label, value] of WRONG_VALUES) {
        n++;
        const version = n % 2 === 0 ? 1 : 2;
        const format = n % 3 === 0 ? 'xml' : 'json';
        const params = { ...validParams(w), [name]: value };
        if (name !== 'format') params.format = format;
        const path = `/ocs/v${version}.php${fillPath(route.path, realIds(w, route))}`;
        const headers: [string, string][] = [OCS_API, ...rightAuth(w, route)];
        // GETs take parameters from the query or a JSON body (which nc_py_api sends on GET too).
        const size = JSON.stringify(value)?.length ?? 0;
        // Large values go in a body: a query string that long would only meet the header size limit.
        const ways = route.method === 'GET' ? (['query', 'json'] as const) : (['json', 'form', 'query', 'multipart'] as const);
        const picked = ways[n % ways.length] ?? 'json';
        const via = picked === 'query' && size > 4000 ? 'json' : picked;
        let request: RawRequest;
        if (via === 'query') {
          request = { method: route.method, target: `${path}?${phpForm(params)}`, headers };
        } else if (via === 'json') {
          request = { method: route.method, target: path, headers: [...headers, ['Content-Type', 'application/json']], body: JSON.stringify(params) };
        } else if (via === 'form') {
          const type: [string, string] = ['Content-Type', 'application/x-www-form-urlencoded'];
          request = { method: route.method, target: path, headers: [...headers, type], body: phpForm(params) };
        } else {
          const boundary = 'fuzzboundary';
          request = {
            method: route.method,
            target: path,
            headers: [...headers, ['Content-Type', `multipart/form-data; boundary=${boundary}`]],
            body: multipart(boundary, flatFields(params)),
          };
        }
        cases.push({ name: `${routeKey(route)}: ${name} as ${label} (${via}, v${version})`, request });
      }
    }
  }
  return cases;
}
