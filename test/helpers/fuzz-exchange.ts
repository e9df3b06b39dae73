import { type AnswerStats, answerProblems } from './answer-shape.js';
import { encodeRequest, FuzzConnection, header, type RawOutcome, type RawRequest, type RawResponse } from './fuzz-http.js';
import type { FuzzCase } from './fuzz-routes.js';

/** Sending fuzz cases and judging what came back, and watching the server for errors nobody caught. */

const ANSWER_MS = 15_000;

/** A plain request that must work on any connection the server has kept open. */
const FOLLOW_UP: RawRequest = { method: 'GET', target: '/ocs/v2.php/cloud/capabilities?format=json', headers: [['OCS-APIRequest', 'true']] };

function outcomeText(o: Exclude<RawOutcome, { kind: 'answer' }>): string {
  return o.kind === 'timeout'
    ? `no answer within ${ANSWER_MS} ms (received ${JSON.stringify(o.received)})`
    : `the connection was dropped without an answer (${o.reason}; received ${JSON.stringify(o.received)})`;
}

/**
 * Sends one case on a fresh connection and returns what is wrong with the outcome: no answer, an
 * answer a client cannot rely on, or a connection left unusable (the next request on it must be
 * answered unless the server said `Connection: close`).
 */
export async function exchange(port: number, c: FuzzCase, stats: AnswerStats): Promise<string[]> {
  const conn = await FuzzConnection.open(port);
  const host = `127.0.0.1:${port}`;
  const { method, target } = c.request;
  try {
    const bytes = encodeRequest(c.request, host);
    if (c.cutAfter !== undefined) {
      conn.write(bytes.subarray(0, c.cutAfter));
      conn.endWriting();
      const outcome = await conn.next(method, ANSWER_MS);
      if (outcome.kind === 'answer') return answerProblems(method, target, outcome.response, stats);
      // A client that stopped mid-request is owed nothing, but the connection must not be left hanging.
      return outcome.kind === 'timeout' ? [outcomeText(outcome)] : [];
    }
    conn.write(c.pipelined === undefined ? bytes : Buffer.concat([bytes, Buffer.from(c.pipelined, 'latin1')]));
    const outcome = await conn.next(method, ANSWER_MS);
    if (outcome.kind !== 'answer') return [outcomeText(outcome)];
    const problems = answerProblems(method, target, outcome.response, stats);
    if (/\bclose\b/i.test(header(outcome.response, 'connection') ?? '')) return problems;
    if (c.pipelined !== undefined) {
      // What came next on the connection is owed an answer too, before anything else is sent.
      const second = await conn.next('GET', ANSWER_MS);
      if (second.kind !== 'answer') return [...problems, `the request pipelined after it: ${outcomeText(second)}`];
      const [secondMethod = 'GET', secondTarget = '/'] = c.pipelined.split('\r\n')[0]?.split(' ') ?? [];
      const secondProblems = answerProblems(secondMethod, secondTarget, second.response, stats);
      problems.push(...secondProblems.map((p) => `the request pipelined after it: ${p}`));
      if (/\bclose\b/i.test(header(second.response, 'connection') ?? '')) return problems;
    }
    conn.write(encodeRequest(FOLLOW_UP, host));
    const next = await conn.next('GET', ANSWER_MS);
    if (next.kind !== 'answer') {
      problems.push(`after HTTP ${outcome.response.status} without Connection: close, the next request on the connection: ${outcomeText(next)}`);
    } else if (next.response.status !== 200 || !next.response.body.toString('utf8').startsWith('{"ocs":')) {
      problems.push(`the next request on the connection got HTTP ${next.response.status}: ${next.response.body.toString('utf8').slice(0, 120)}`);
    }
    return problems;
  } finally {
    conn.destroy();
  }
}

/** Sends one request on a fresh connection and returns its answer (for requests fetch cannot make: GET with a body). */
export async function sendRaw(port: number, request: RawRequest): Promise<RawResponse> {
  const conn = await FuzzConnection.open(port);
  try {
    conn.write(encodeRequest(request, `127.0.0.1:${port}`));
    const outcome = await conn.next(request.method, ANSWER_MS);
    if (outcome.kind !== 'answer') throw new Error(outcomeText(outcome));
    return outcome.response;
  } finally {
    conn.destroy();
  }
}

/**
 * Errors nothing handled, while the server runs in this process: in production each would stop
 * the server (an `error` event nobody listens to, a rejected promise nobody awaits). Listening
 * here records them, so the case that caused one fails, instead of the process dying.
 */
export class CrashWatch {
  readonly errors: string[] = [];
  private readonly record = (err: unknown) => {
    this.errors.push(err instanceof Error ? (err.stack ?? err.message) : String(err));
  };

  start(): void {
    process.on('uncaughtException', this.record);
    process.on('unhandledRejection', this.record);
  }

  stop(): void {
    process.off('uncaughtException', this.record);
    process.off('unhandledRejection', this.record);
  }

  /** What was recorded since `mark` (a previous `errors.length`). */
  since(mark: number): string[] {
    return this.errors.slice(mark).map((e) => `the server threw and nothing caught it: ${e.split('\n').slice(0, 4).join(' / ')}`);
  }
}

/** A short printable description of a request, for failure messages. */
export function describeRequest(r: RawRequest): string {
  const show = (b: string | Buffer, n: number) => JSON.stringify(Buffer.from(b).subarray(0, n).toString('latin1'));
  const headers = (r.headers ?? []).map(([k, v]) => `${k}: ${show(v, 60)}`).join('; ');
  const body = r.body === undefined ? '' : ` body ${Buffer.from(r.body).length} B ${show(r.body, 120)}`;
  return `${r.method} ${show(r.target, 160)} [${headers}]${body}${r.framing === 'chunked' ? ' (chunked)' : ''}`;
}
