import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ERROR_TABLE, ROUTE_NOT_FOUND_MESSAGE, chooseFormat, renderError, renderOcs } from '../../src/api/ocs.js';
import { PhpFloat } from '../../src/api/php-json.js';
import { DomainError, ERROR_CODES, adminRequired, notLoggedIn, taskNotFound } from '../../src/core/errors.js';

const JSON_TYPE = 'application/json; charset=utf-8';
const XML_TYPE = 'application/xml; charset=utf-8';

describe('chooseFormat', () => {
  it('lets a format parameter of json or xml win', () => {
    assert.equal(chooseFormat('json', 'application/xml'), 'json');
    assert.equal(chooseFormat('xml', 'application/json'), 'xml');
  });

  it('ignores other format values', () => {
    assert.equal(chooseFormat('JSON', undefined), 'xml');
    assert.equal(chooseFormat(['json'], 'application/json'), 'json');
  });

  it('takes the first application/json or application/xml in Accept', () => {
    assert.equal(chooseFormat(undefined, 'application/json'), 'json');
    assert.equal(chooseFormat(undefined, 'text/html, application/json;q=0.9, application/xml'), 'json');
    assert.equal(chooseFormat(undefined, 'Application/XML, application/json'), 'xml');
    assert.equal(chooseFormat(undefined, 'application/json; charset=utf-8'), 'json');
  });

  it('defaults to xml, also for */*', () => {
    assert.equal(chooseFormat(undefined, '*/*'), 'xml');
    assert.equal(chooseFormat(undefined, 'text/json'), 'xml');
    assert.equal(chooseFormat(undefined, undefined), 'xml');
  });
});

describe('renderOcs', () => {
  it('gives the API.md §7 v1 answer for a controller 404', () => {
    const out = renderOcs({ version: 1, format: 'json', status: 404, data: { message: 'Task not found' } });
    assert.equal(out.httpStatus, 200);
    assert.equal(out.headers['content-type'], JSON_TYPE);
    assert.equal(
      out.body,
      '{"ocs":{"meta":{"status":"failure","statuscode":404,"message":"","totalitems":"","itemsperpage":""},"data":{"message":"Task not found"}}}',
    );
  });

  it('gives a v2 404 as HTTP 404 with only status, statuscode and message in meta', () => {
    const out = renderOcs({ version: 2, format: 'json', status: 404, data: { message: 'Task not found' } });
    assert.equal(out.httpStatus, 404);
    assert.equal(out.body, '{"ocs":{"meta":{"status":"failure","statuscode":404,"message":""},"data":{"message":"Task not found"}}}');
  });

  it('writes v1 success as statuscode 100 over HTTP 200', () => {
    const out = renderOcs({ version: 1, format: 'json', status: 200, data: { task: { progress: new PhpFloat(0.5) } } });
    assert.equal(out.httpStatus, 200);
    assert.equal(
      out.body,
      '{"ocs":{"meta":{"status":"ok","statuscode":100,"message":"OK","totalitems":"","itemsperpage":""},"data":{"task":{"progress":0.5}}}}',
    );
  });

  it('writes v2 success as statuscode 200 over HTTP 200', () => {
    const out = renderOcs({ version: 2, format: 'json', status: 200, data: { types: {} } });
    assert.equal(out.httpStatus, 200);
    assert.equal(out.body, '{"ocs":{"meta":{"status":"ok","statuscode":200,"message":"OK"},"data":{"types":{}}}}');
  });

  it('sends v2 204 with an empty body', () => {
    const out = renderOcs({ version: 2, format: 'json', status: 204, data: null });
    assert.equal(out.httpStatus, 204);
    assert.equal(out.body, '');
  });

  it('sends v1 204 as HTTP 200 with statuscode 204 and null data', () => {
    const out = renderOcs({ version: 1, format: 'json', status: 204, data: null });
    assert.equal(out.httpStatus, 200);
    assert.equal(out.body, '{"ocs":{"meta":{"status":"failure","statuscode":204,"message":"","totalitems":"","itemsperpage":""},"data":null}}');
  });

  it('treats 201 as success on v2 and as failure on v1', () => {
    assert.match(renderOcs({ version: 2, format: 'json', status: 201, data: [] }).body, /"status":"ok","statuscode":201,"message":"OK"/);
    const v1 = renderOcs({ version: 1, format: 'json', status: 201, data: [] });
    assert.equal(v1.httpStatus, 200);
    assert.match(v1.body, /"status":"failure","statuscode":201,"message":""/);
  });

  it('maps the special statuses to HTTP on v2 and keeps them in statuscode', () => {
    const cases: [number, number][] = [
      [997, 401],
      [998, 404],
      [996, 500],
      [999, 500],
      [100, 400],
      [601, 400],
      [412, 412],
    ];
    for (const [status, http] of cases) {
      const out = renderOcs({ version: 2, format: 'json', status, data: [] });
      assert.equal(out.httpStatus, http, `status ${status}`);
      assert.match(out.body, new RegExp(`"statuscode":${status},`));
    }
  });

  it('answers HTTP 200 on v1 except 401 for 997', () => {
    assert.equal(renderOcs({ version: 1, format: 'json', status: 997, data: [] }).httpStatus, 401);
    for (const status of [998, 500, 404, 412, 400]) {
      assert.equal(renderOcs({ version: 1, format: 'json', status, data: [] }).httpStatus, 200);
    }
  });

  it('forces the HTTP status and statuscode with an override, on both versions', () => {
    for (const version of [1, 2] as const) {
      const out = renderOcs({ version, format: 'json', status: 429, data: { message: 'Rate limit exceeded' }, httpStatusOverride: 429 });
      assert.equal(out.httpStatus, 429);
      assert.match(out.body, /"status":"failure","statuscode":429,"message":""/);
    }
  });

  it('keeps given headers and sets the content type', () => {
    const out = renderOcs({ version: 2, format: 'xml', status: 200, data: [], headers: { 'X-Thing': 'a', 'Content-Type': 'text/plain' } });
    assert.deepEqual(out.headers, { 'x-thing': 'a', 'content-type': XML_TYPE });
  });

  it('renders the v1 XML envelope', () => {
    const out = renderOcs({ version: 1, format: 'xml', status: 200, data: { ok: true } });
    assert.equal(
      out.body,
      '<?xml version="1.0"?>\n<ocs>\n <meta>\n  <status>ok</status>\n  <statuscode>100</statuscode>\n  <message>OK</message>\n' +
        '  <totalitems></totalitems>\n  <itemsperpage></itemsperpage>\n </meta>\n <data>\n  <ok>1</ok>\n </data>\n</ocs>\n',
    );
  });

  it('renders the v2 XML envelope without pagination fields', () => {
    const out = renderOcs({ version: 2, format: 'xml', status: 404, data: { message: 'Not found' } });
    assert.equal(out.httpStatus, 404);
    assert.equal(
      out.body,
      '<?xml version="1.0"?>\n<ocs>\n <meta>\n  <status>failure</status>\n  <statuscode>404</statuscode>\n  <message></message>\n' +
        ' </meta>\n <data>\n  <message>Not found</message>\n </data>\n</ocs>\n',
    );
  });
});

describe('renderError', () => {
  it('answers not logged in with 997 in meta and HTTP 401 on both versions', () => {
    const v1 = renderError(notLoggedIn(), 1, 'json');
    assert.equal(v1.httpStatus, 401);
    assert.equal(
      v1.body,
      '{"ocs":{"meta":{"status":"failure","statuscode":997,"message":"Current user is not logged in","totalitems":"","itemsperpage":""},"data":[]}}',
    );
    const v2 = renderError(notLoggedIn(), 2, 'json');
    assert.equal(v2.httpStatus, 401);
    assert.equal(v2.body, '{"ocs":{"meta":{"status":"failure","statuscode":997,"message":"Current user is not logged in"},"data":[]}}');
  });

  it('answers admin required with 403 in meta', () => {
    const v1 = renderError(adminRequired(), 1, 'json');
    assert.equal(v1.httpStatus, 200);
    assert.match(v1.body, /"statuscode":403,"message":"Logged in account must be an admin"/);
    assert.equal(renderError(adminRequired(), 2, 'json').httpStatus, 403);
  });

  it('answers ExApp required and CSRF failures with a bare JSON body, whatever the format', () => {
    for (const [code, message] of [
      ['exapp_required', 'ExApp required'],
      ['csrf_failed', 'CSRF check failed'],
    ] as const) {
      for (const version of [1, 2] as const) {
        const out = renderError(new DomainError(code, message), version, 'xml');
        assert.equal(out.httpStatus, 412);
        assert.equal(out.headers['content-type'], JSON_TYPE);
        assert.equal(out.body, `{"message":"${message}"}`);
      }
    }
  });

  it('puts controller error text in data.message', () => {
    const out = renderError(taskNotFound(), 2, 'json');
    assert.equal(out.httpStatus, 404);
    assert.equal(out.body, '{"ocs":{"meta":{"status":"failure","statuscode":404,"message":""},"data":{"message":"Task not found"}}}');
  });

  it('answers file_access_denied as a controller 401, not 997', () => {
    const v1 = renderError(new DomainError('file_access_denied', 'Not found'), 1, 'json');
    assert.equal(v1.httpStatus, 200);
    assert.match(v1.body, /"statuscode":401/);
    assert.equal(renderError(new DomainError('file_access_denied', 'Not found'), 2, 'json').httpStatus, 401);
  });

  it('answers rate limiting with HTTP 429 on v1 too, with Retry-After and the error headers', () => {
    const err = new DomainError('rate_limited', 'Rate limit exceeded');
    err.retryAfter = 60;
    err.headers = { 'X-RateLimit-Limit': '20' };
    const out = renderError(err, 1, 'json');
    assert.equal(out.httpStatus, 429);
    assert.equal(out.headers['retry-after'], '60');
    assert.equal(out.headers['x-ratelimit-limit'], '20');
    assert.equal(
      out.body,
      '{"ocs":{"meta":{"status":"failure","statuscode":429,"message":"","totalitems":"","itemsperpage":""},"data":{"message":"Rate limit exceeded"}}}',
    );
  });

  it('answers an unknown route with 998: HTTP 404 on v2, HTTP 200 on v1', () => {
    const err = new DomainError('route_not_found', ROUTE_NOT_FOUND_MESSAGE);
    const v2 = renderError(err, 2, 'json');
    assert.equal(v2.httpStatus, 404);
    assert.equal(
      v2.body,
      '{"ocs":{"meta":{"status":"failure","statuscode":998,"message":"Invalid query, please check the syntax. API specifications are here: http:\\/\\/www.freedesktop.org\\/wiki\\/Specifications\\/open-collaboration-services.\\n"},"data":[]}}',
    );
    const v1 = renderError(err, 1, 'json');
    assert.equal(v1.httpStatus, 200);
    assert.match(v1.body, /"status":"failure","statuscode":998,/);
  });

  it('answers middleware statuses as real HTTP statuses on v1', () => {
    const cases = [
      ['method_not_allowed', 405],
      ['body_too_large', 413],
      ['unsupported_media_type', 415],
      ['service_unavailable', 503],
    ] as const;
    for (const [code, http] of cases) {
      const out = renderError(new DomainError(code, 'x'), 1, 'json');
      assert.equal(out.httpStatus, http, code);
      assert.match(out.body, new RegExp(`"statuscode":${http},`));
    }
    assert.match(renderError(new DomainError('method_not_allowed', 'Method not allowed'), 2, 'json').body, /"message":"Method not allowed"},"data":\[\]/);
  });

  it('maps every error code and renders each on both versions in both formats', () => {
    assert.deepEqual(Object.keys(ERROR_TABLE).sort(), [...ERROR_CODES].sort());
    for (const code of ERROR_CODES) {
      for (const version of [1, 2] as const) {
        for (const format of ['json', 'xml'] as const) {
          const out = renderError(new DomainError(code, 'Some <text> & more'), version, format);
          assert.ok(out.httpStatus >= 400 || (version === 1 && out.httpStatus === 200), `${code} v${version} ${format}`);
          assert.ok(out.body.length > 0, `${code} v${version} ${format}`);
          assert.ok(out.headers['content-type'], `${code} v${version} ${format}`);
        }
      }
    }
  });
});
