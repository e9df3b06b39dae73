import { parseArgs } from 'node:util';
import { type App, createApp } from '../app.js';
import { buildConfig, type Config, CONFIG_FLAGS, ConfigError, processEnv } from '../config.js';
import { builtinProviders } from '../providers/builtin.js';

export const SERVE_USAGE = `Usage: taskproc serve [--host H] [--port P] [--data-dir DIR] [--database-url URL] [--db-pool-size N] [--redis-url URL]
                      [--admin-password PW] [--body-limit BYTES] [--max-upload BYTES] [--runner-concurrency N]
                      [--max-wait SECONDS] [--lease-seconds N] [--auth-cache-seconds N] [--task-cache-rows N]
                      [--pg-prepared-statements true|false]
                      [--offline-providers true|false] [--openai-base-url URL]
                      [--openai-api-key KEY] [--openai-model M] [--providers-config FILE]
                      [--log-level L] [--log-format json|pretty|auto] [--trust-proxy true|false] [--file-storage disk|database]
                      [--metrics-token T] [--metrics-port P] [--partial-write-ms MS]
                      [--event-streams-per-user N] [--event-streams-max N] [--event-heartbeat-seconds S]

Starts the server. Every flag has an environment variable: TASKPROC_ and the flag's name in capitals
with underscores (TASKPROC_PORT, TASKPROC_DATA_DIR, TASKPROC_MAX_WAIT, ...); flags win.`;

/** `taskproc serve`: start, print where, and shut down cleanly on SIGINT/SIGTERM (running tasks go back to the queue). */
export async function serveCommand(argv: string[]): Promise<number> {
  let config: Config;
  try {
    const { values } = parseArgs({ args: argv, options: { ...CONFIG_FLAGS, help: { type: 'boolean' } }, strict: true });
    if (values.help) {
      console.log(SERVE_USAGE);
      return 0;
    }
    config = buildConfig(values, processEnv());
  } catch (err) {
    console.error(`Error: ${(err as Error).message}`);
    return err instanceof ConfigError ? 1 : 2;
  }

  let app: App;
  try {
    app = await createApp({ config, providers: builtinProviders(config) });
  } catch (err) {
    const hint = permissionHint(err, config.databaseUrl);
    console.error(`Error: taskproc could not start: ${(err as Error).message}${hint === null ? '' : `\n${hint}`}`);
    return 1;
  }
  if (app.generatedAdminPassword) {
    console.log(`Created the admin user "admin" with the password: ${app.generatedAdminPassword}`);
    console.log('It is shown only this once. Set TASKPROC_ADMIN_PASSWORD on first start to choose it yourself.');
  }
  let url: string;
  try {
    url = await app.listen();
  } catch (err) {
    await app.close();
    console.error(`Error: taskproc could not listen on ${config.host}:${config.port}: ${(err as Error).message}`);
    return 1;
  }

  const stopped = new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      // One stop often arrives twice: npm passes on the signal it gets, and Ctrl-C (or systemd's
      // stop) reaches every process of the group as well. With the handler gone, the repeat would
      // kill the process half-way through, its tasks still leased.
      if (stopping) {
        console.log(`${signal}: already shutting down`);
        return;
      }
      stopping = true;
      console.log(`${signal}: shutting down`);
      app.close().then(
        () => resolve(0),
        (err) => {
          console.error(`Error during shutdown: ${(err as Error).message}`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  // Only now: a supervisor may send SIGTERM the moment it reads this line, and before the
  // handlers above exist that signal would kill the process without its orderly shutdown.
  console.log(`taskproc is listening on ${url} (data in ${config.dataDir})`);
  return stopped;
}

/** PostgreSQL's insufficient_privilege, anywhere in an error's cause chain; with its message. */
function insufficientPrivilege(err: unknown): string | null {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (code === '42501' && typeof message === 'string') return message;
  }
  return null;
}

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/**
 * What to grant when PostgreSQL refused the database user (docs/POSTGRESQL.md: CONNECT on the
 * database, CREATE on the schema, or on the database while the schema does not exist), so an
 * administrator can fix it without reading the code; null for any other failure.
 */
export function permissionHint(err: unknown, databaseUrl: string | null): string | null {
  const message = insufficientPrivilege(err);
  if (message === null || databaseUrl === null) return null;
  let user = 'the database user';
  let schema: string | null = null;
  let database = '<database>';
  try {
    const url = new URL(databaseUrl);
    if (url.username !== '') user = quoteIdent(decodeURIComponent(url.username));
    schema = url.searchParams.get('schema');
    if (url.pathname.length > 1) database = quoteIdent(decodeURIComponent(url.pathname.slice(1)));
  } catch {
    // The URL was checked at open; keep the placeholders.
  }
  const onDatabase = /^permission denied for database "?([^"]+)"?/.exec(message);
  const onSchema = /^permission denied for schema "?([^"]+)"?/.exec(message);
  const why = 'taskproc needs CONNECT on the database and CREATE on its schema (see docs/POSTGRESQL.md). As a superuser or the owner, run:';
  // Opening asks one question first: a refusal for the database then is CONNECT.
  if (onDatabase && /^Cannot use the PostgreSQL database/.test((err as Error).message)) {
    return `${why}\n  GRANT CONNECT ON DATABASE ${quoteIdent(onDatabase[1] as string)} TO ${user};`;
  }
  // While migrating, a refusal for the database is creating the ?schema= schema.
  if (onDatabase) {
    const target = schema === null ? '' : `\n  or create the schema for it: CREATE SCHEMA ${quoteIdent(schema)} AUTHORIZATION ${user};`;
    return `${why}\n  GRANT CREATE ON DATABASE ${quoteIdent(onDatabase[1] as string)} TO ${user};${target}`;
  }
  if (onSchema) return `${why}\n  GRANT USAGE, CREATE ON SCHEMA ${quoteIdent(onSchema[1] as string)} TO ${user};`;
  // Tables that exist but belong to another role (created by a different user): ours must own them.
  return `${why}\n  the tables of ${schema === null ? 'the schema' : `schema ${quoteIdent(schema)}`} in ${database} must belong to ${user} (ALTER TABLE … OWNER TO ${user};), or run taskproc as the role that created them.`;
}
