import { parseArgs } from 'node:util';
import { createApp } from '../app.js';
import { buildConfig, CONFIG_FLAGS, ConfigError, processEnv } from '../config.js';
import { builtinProviders } from '../providers/builtin.js';

export const SERVE_USAGE = `Usage: taskproc serve [--host H] [--port P] [--data-dir DIR] [--database-url URL] [--db-pool-size N] [--redis-url URL]
                      [--admin-password PW] [--body-limit BYTES] [--max-upload BYTES] [--runner-concurrency N]
                      [--max-wait SECONDS] [--offline-providers true|false] [--openai-base-url URL]
                      [--openai-api-key KEY] [--openai-model M] [--providers-config FILE]
                      [--log-level L] [--trust-proxy true|false]

Starts the server. Every flag has an environment variable: TASKPROC_ and the flag's name in capitals
with underscores (TASKPROC_PORT, TASKPROC_DATA_DIR, TASKPROC_MAX_WAIT, ...); flags win.`;

/** `taskproc serve`: start, print where, and shut down cleanly on SIGINT/SIGTERM (running tasks go back to the queue). */
export async function serveCommand(argv: string[]): Promise<number> {
  let config;
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

  let app;
  try {
    app = await createApp({ config, providers: builtinProviders(config) });
  } catch (err) {
    console.error(`Error: taskproc could not start: ${(err as Error).message}`);
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
  console.log(`taskproc is listening on ${url} (data in ${config.dataDir})`);

  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      console.log(`${signal}: shutting down`);
      app.close().then(
        () => resolve(0),
        (err) => {
          console.error(`Error during shutdown: ${(err as Error).message}`);
          resolve(1);
        },
      );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
