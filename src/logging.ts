import pretty from 'pino-pretty';
import type { Config } from './config.js';
import { loadBackends } from './providers/openai/backends.js';

/**
 * What the server's logger (Fastify's pino) is given: the level, where lines go and in which
 * form, and what must never be written. Secrets are kept out twice: headers and fields that hold
 * them are redacted by path, and the configured secret values (admin password, API keys, the
 * passwords in database and Redis URLs) are cut out of every written line, wherever they turn up,
 * such as an error message in which a provider echoed the key it was sent.
 */

/** A place pino writes finished lines to. */
export interface LineSink {
  write(line: string): unknown;
}

/**
 * Paths pino replaces with "[redacted]". Request lines carry no headers (api/request-log.ts), so
 * these guard logs that hand over a request, a response or a client library's error: the
 * credentials in Basic/Bearer and AppAPI headers, cookies, and the headers and request
 * configuration HTTP clients attach to their errors.
 */
export const REDACTED_PATHS: readonly string[] = Object.freeze([
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["authorization-app-api"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'headers["authorization-app-api"]',
  'headers["set-cookie"]',
  'err.headers',
  'err.request',
  'err.config',
  'err.cause.headers',
  'err.cause.config',
  'password',
  'apiKey',
  'secret',
]);

/**
 * Secret values shorter than this are not cut out of lines: an admin password of "admin" would
 * otherwise turn every mention of the admin user into "[redacted]". They still never reach a log
 * through the paths above.
 */
export const MIN_SCRUBBED_LENGTH = 8;

/**
 * The secrets the configuration holds: the admin password, the OpenAI-compatible back ends' API
 * keys (the simple setting and the providers file), and the passwords in the database, Redis and
 * back-end URLs. A providers file that does not load gives none (the start fails on it anyway).
 */
export function configuredSecrets(config: Config): string[] {
  const out: (string | null)[] = [
    config.adminPassword,
    config.openaiApiKey,
    config.metricsToken,
    urlPassword(config.databaseUrl),
    urlPassword(config.redisUrl),
    urlPassword(config.openaiBaseUrl),
  ];
  try {
    for (const backend of loadBackends(config)) out.push(backend.apiKey, urlPassword(backend.baseUrl));
  } catch {
    // Reported where the back ends are built.
  }
  return [...new Set(out.filter((s): s is string => s !== null && s.length >= MIN_SCRUBBED_LENGTH))];
}

function urlPassword(url: string | null): string | null {
  if (url === null) return null;
  try {
    const password = new URL(url).password;
    return password === '' ? null : decodeURIComponent(password);
  } catch {
    return null;
  }
}

/**
 * A function that replaces each secret in a text with "[redacted]", as written and as it reads
 * inside a JSON string (quotes and backslashes escaped). Secrets are few and lines short, so a
 * search per secret costs less than formatting the line did.
 */
export function secretScrubber(secrets: readonly string[]): (text: string) => string {
  const forms = [...new Set(secrets.flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]))].filter((s) => s.length > 0);
  if (forms.length === 0) return (text) => text;
  return (text) => {
    let out = text;
    for (const form of forms) if (out.includes(form)) out = out.split(form).join('[redacted]');
    return out;
  };
}

/** Whether lines are written as JSON or for a person: `auto` asks whether stdout is a terminal. */
export function chooseLogFormat(format: Config['logFormat'], isTerminal: boolean): 'json' | 'pretty' {
  if (format !== 'auto') return format;
  return isTerminal ? 'pretty' : 'json';
}

/**
 * Fastify's `logger` option: false for `silent`, else pino options writing through the secret
 * scrubber, as JSON lines or (pretty) through pino-pretty, synchronously so that the last lines
 * before an exit are not lost.
 */
export function loggerOptions(config: Config, out: NodeJS.WriteStream = process.stdout): false | Record<string, unknown> {
  if (config.logLevel === 'silent') return false;
  const scrub = secretScrubber(configuredSecrets(config));
  const format = chooseLogFormat(config.logFormat, out.isTTY === true);
  const target: LineSink =
    format === 'pretty'
      ? pretty({ sync: true, destination: out, colorize: out.isTTY === true, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })
      : out;
  return {
    level: config.logLevel,
    redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
    stream: { write: (line: string) => target.write(scrub(line)) },
  };
}
